#!/usr/bin/env python
"""`make demo`: the main job on the embedded default (SQLite), on one machine.

Migrates var/p3s.sqlite3, loads the default DAG templates, starts the server (gunicorn on
127.0.0.1:8000), the sweeper and two local pilots, writes and announces a few synthetic
protoDUNE-like raw files, and runs the full TPC DQM chain on them. Prints where to look and
serves until Ctrl-C; with --exit-when-done it stops once every DAG run has ended and exits 0
only if all succeeded.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
VAR = Path(os.environ.get("P3S_VAR_DIR") or ROOT / "var")


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def manage(env, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout.strip()


def ensure_person(env, name: str = "demo", operator: bool = False) -> tuple[str, str]:
    """An account to log in to the pages with (the expert ``demo``, or the operator
    ``demo-operator``: what a shifter sees); its password is kept in var/."""
    pw_file = VAR / ("demo-password" if name == "demo" else f"{name}-password")
    if not pw_file.exists():
        pw_file.write_text(secrets.token_urlsafe(12))
        os.chmod(pw_file, 0o600)
    password = pw_file.read_text().strip()
    role = (
        "from django.contrib.auth.models import Group; "
        "u.groups.add(Group.objects.get_or_create(name='operator')[0]); "
        if operator
        else "u.is_staff = True; u.is_superuser = True; "
    )
    code = (
        "from django.contrib.auth import get_user_model; U = get_user_model(); "
        f"u, _ = U.objects.get_or_create(username={name!r}); {role}"
        f"u.set_password({password!r}); u.save()"
    )
    manage(env, "shell", "-c", code)
    return name, password


def next_run(env) -> int:
    """A run number no file has yet: each demo start takes fresh runs (the good one and the
    faulty one after it), so runs never collect copies of the same subruns."""
    code = (
        "from django.db.models import Max; from p3s.dags.models import DataFile; "
        "print(DataFile.objects.aggregate(m=Max('run'))['m'] or 0)"
    )
    return int(manage(env, "shell", "-c", code).splitlines()[-1]) + 1


class Stop(Exception):  # noqa: N818 - a request, like KeyboardInterrupt
    """SIGTERM or SIGINT: stop everything the demo started."""


def _stop_on_signal(signum, _frame) -> None:
    raise Stop(signal.Signals(signum).name)


def port_taken(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:port (an old demo, another server)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def stop_in_order(groups: list[tuple[str, list[subprocess.Popen]]], grace: float = 20.0) -> None:
    """SIGTERM each group and wait for it before the next: pilots first (they hand back
    their jobs and say goodbye while the server still listens), then the sweeper, then the
    server. Whatever does not stop within ``grace`` is killed."""
    for name, group in groups:
        live = [p for p in group if p.poll() is None]
        for proc in live:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in live:
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop within {grace:g} s: killing it")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--exit-when-done", action="store_true", help="stop once every DAG run has ended"
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("P3S_DEMO_PORT", "8000")))
    parser.add_argument("--files", type=int, default=3)
    parser.add_argument("--events", type=int, default=2)
    parser.add_argument("--apas", type=int, default=2)
    parser.add_argument("--pilots", type=int, default=2)
    parser.add_argument(
        "--timeout", type=float, default=900, help="with --exit-when-done: give up after this"
    )
    parser.add_argument(
        "--run",
        type=int,
        default=None,
        help="run number of the good files (default: the next run no file has yet)",
    )
    parser.add_argument(
        "--xrootd",
        action="store_true",
        help="serve the good run's raw files from a private XRootD server and announce them as "
        "root:// URLs: the payloads read them over XRootD (needs xrootd: scripts/ensure-xrootd.sh)",
    )
    parser.add_argument(
        "--fault",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after the good run, make it the reference and write run+1 with a noise rise on one "
        "APA plane that the checks must flag (default: on)",
    )
    args = parser.parse_args()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop_on_signal)
    if port_taken(args.port):
        print(
            f"[demo] port {args.port} is already in use (an earlier demo or another server?): "
            f"stop it, or choose another port with --port or P3S_DEMO_PORT",
            file=sys.stderr,
        )
        return 2

    VAR.mkdir(exist_ok=True)
    url = f"http://127.0.0.1:{args.port}"
    env = {
        **os.environ,
        "P3S_BIND": f"127.0.0.1:{args.port}",
        "P3S_SERVER": url,
        "P3S_WORKERS": "1",
        "P3S_THREADS": "16",
        "PYTHONUNBUFFERED": "1",
    }
    env.setdefault("P3S_HEARTBEAT_INTERVAL", "5")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    say(f"database: {env.get('P3S_DATABASE_URL', 'sqlite:///' + str(VAR / 'p3s.sqlite3'))}")
    manage(env, "migrate", "-v0")
    say(manage(env, "p3s_load_dags").replace("\n", "; "))
    user, password = ensure_person(env)
    op_user, op_password = ensure_person(env, "demo-operator", operator=True)
    if args.run is None:
        args.run = next_run(env)
    say(f"run {args.run}" + (f" (and run {args.run + 1} with the fault)" if args.fault else ""))
    tokens = VAR / "demo"
    tokens.mkdir(exist_ok=True)
    daq_token = manage(env, "p3s_token", "--role", "daq", "demo-daq")
    pilot_file = tokens / "pilot.token"
    manage(env, "p3s_token", "--role", "pilot", "demo-pilots", "--file", str(pilot_file))
    op_token = manage(env, "p3s_token", "--role", "operator", "demo-operator")

    logs = VAR / "demo" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    roles: dict[str, list[subprocess.Popen]] = {"pilots": [], "sweeper": [], "server": []}

    def start(name: str, argv: list[str], role: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=open(logs / f"{name}.log", "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(proc)
        roles[role].append(proc)
        return proc

    def stop_all() -> None:
        # Signals are ignored from here on: a second Ctrl-C must not leave things half-stopped.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        stop_in_order([(name, roles[name]) for name in ("pilots", "sweeper", "server")])
        if XRD:
            XRD[0].cleanup()

    try:
        server = start(
            "server",
            [str(BIN / "gunicorn"), "-c", str(ROOT / "p3s/gunicorn.conf.py"), "p3s.wsgi"],
            "server",
        )
        for _ in range(200):
            if server.poll() is not None:
                sys.exit(
                    f"the server did not start (port {args.port} busy?): see {logs / 'server.log'}"
                )
            try:
                if requests.get(url + "/healthz", timeout=5).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        say(f"server up at {url}")
        start(
            "sweeper", [sys.executable, str(ROOT / "manage.py"), "p3s_sweep", "--loop"], "sweeper"
        )
        for i in range(args.pilots):
            start(
                f"pilot{i + 1}",
                [
                    str(BIN / "p3s-pilot"),
                    "--server",
                    url,
                    "--token-file",
                    str(pilot_file),
                    "--workdir",
                    str(VAR / "demo" / f"pilot{i + 1}"),
                ],
                "pilots",
            )
        say(f"sweeper and {args.pilots} pilots started (logs in {logs})")

        announced = announce_files(args, env, url, daq_token)
        say(f"announced {len(announced)} file(s)")
        say(
            f"dashboard: {url}/   (log in as {user!r}, password in {VAR / 'demo-password'}: {password})"
        )
        say(
            f"           as a shifter: {op_user!r}, password in "
            f"{VAR / (op_user + '-password')}: {op_password}   failures: {url}/failures/"
        )
        say(f"products:  {url}/products/    strip charts: {url}/charts/    alarms: {url}/alarms/")
        say(f"API docs:  {url}/api/docs/    Prometheus: {url}/metrics    admin: {url}/admin/")
        ok = watch(url, op_token, announced, args)
        if args.fault and announced and importlib.util.find_spec("payloads.daqsim") is not None:
            ok = demo_fault(args, env, url, daq_token, op_token) and ok
        if args.exit_when_done:
            return 0 if ok else 1
        say("serving until Ctrl-C (or SIGTERM)")
        while True:
            signal.pause()
    except (Stop, KeyboardInterrupt) as why:
        say(f"{why or 'interrupted'}: stopping pilots, then the sweeper, then the server")
        return 0
    finally:
        say("stopping")
        stop_all()


XRD: list = []  # the demo's XRootD server, with --xrootd
#: The synthetic detector of this demo (pedestals, bad channels, pickup): one per seed, shared by
#: the good run and the fault run, new at each demo.
DETECTOR_SEED = int(time.time()) % 100000


def announce_files(args, env, url: str, daq_token: str) -> list[str]:
    """Write synthetic raw files and announce them; falls back to diag files without daqsim."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = Path(env.get("P3S_DATA_ROOT", VAR / "data")) / "raw" / f"demo-{stamp}"
    base = []
    if args.xrootd:
        from storage.xrdserver import XrootdServer

        XRD.append(XrootdServer().start())
        out = XRD[0].data / "raw" / f"demo-{stamp}"
        base = ["--url-base", XRD[0].url(f"raw/demo-{stamp}")]
        say(f"XRootD server on port {XRD[0].port} serving {XRD[0].data}: raw files go there")
    if importlib.util.find_spec("payloads.daqsim") is not None:
        cmd = [
            str(BIN / "p3s-daqsim"),
            "--out",
            str(out),
            "--files",
            str(args.files),
            "--events",
            str(args.events),
            "--apas",
            str(args.apas),
            "--seed",
            str(DETECTOR_SEED),
            "--run",
            str(args.run),
            "--start",
            streams_start(fault_free_start(args)),
            "--history",  # one clock: the BI and CRT files below match these
            *base,
            "--announce",
            "--server",
            url,
        ]
        # The token goes in the environment, never on a command line: there it would show in
        # process listings, and one that starts with "-" would be taken for an option.
        daq_env = {**env, "P3S_TOKEN": daq_token}
        announce_streams(cmd, args, daq_env)  # first: small, and the TPC stages match at once
        say("writing synthetic raw files: " + " ".join(cmd[1:]) + " ...")
        subprocess.run(cmd, env=daq_env, check=True)
        files = sorted(out.rglob("*.h5"))
        if XRD:
            return [XRD[0].url(p.relative_to(XRD[0].data).as_posix()) for p in files]
        return [p.resolve().as_uri() for p in files]
    say("payloads.daqsim not installed: announcing diag files instead")
    urls = []
    for i in range(args.files):
        u = f"file://{out}/diag-{uuid.uuid4().hex[:8]}.dat"
        r = requests.post(
            f"{url}/api/v1/files/",
            headers={"Authorization": f"Token {daq_token}"},
            timeout=10,
            json={
                "url": u,
                "stream": "diag",
                "run": args.run,
                "subrun": i,
                "timestamp": (datetime.now(UTC) - timedelta(seconds=args.files - i)).isoformat(),
            },
        )
        r.raise_for_status()
        urls.append(u)
    return urls


# -- the injected fault (``--fault``) ----------------------------------------------------------

FAULT_FACTOR = 3.0  # noise x3 on one plane: ~4 ADC -> ~12 ADC, far outside the bands (DETECTOR.md)


def inject_noise(path: Path, apa: int, plane: str, factor: float = FAULT_FACTOR) -> int:
    """Scale the noise of one APA plane in every event of a raw TPC file, in place.

    Each channel's samples move away from their median by ``factor`` (a noise rise, as a
    failing FEMB ground would give); returns how many channels were changed.
    """
    import h5py
    import numpy as np

    from payloads.detector import DEFAULT

    sl = DEFAULT.plane_slice(plane)  # offline channels of the plane (DETECTOR.md)
    lo, hi = sl.start, sl.stop
    with h5py.File(path, "r+") as h5:
        offline = h5["channel_map"][()]
        rows = np.flatnonzero((offline >= lo) & (offline < hi))
        for name in h5:
            if not name.startswith("event_") or f"apa_{apa}" not in h5[name]:
                continue
            ds = h5[name][f"apa_{apa}"]
            adc = ds[()].astype(np.float32)
            med = np.median(adc[rows], axis=1, keepdims=True)
            adc[rows] = med + factor * (adc[rows] - med)
            ds[...] = np.clip(np.rint(adc), -32768, 32767).astype(np.int16)
    return int(rows.size)


def streams_start(start: str) -> str:
    """The last trigger of the SPS spill before ``start`` (payloads/daqsim/history.py): the
    first TPC file then holds a beam-on and a beam-off event (issue 13's matched streams)."""
    from payloads.daqsim import history as hist

    h = hist.HistoryConfig()
    t = datetime.fromisoformat(start).timestamp()
    s0, s1 = hist.spills(h, t - 2 * h.cycle_s, t - h.cycle_s)[-1]
    grid = h.trigger_spacing_s
    return datetime.fromtimestamp((s1 - 0.01) // grid * grid, UTC).isoformat()


def announce_streams(tpc_cmd: list[str], args, env: dict[str, str]) -> None:
    """The BI (one file per SPS supercycle) and CRT files of the TPC files' times, from the
    same history, so that the streams-dqm template matches them (p3s/dags/matching.py)."""
    span = 60.0 * args.files  # writer.SUBRUN_SECONDS per TPC file
    cycles = int(span // 32.4) + 2
    base = list(tpc_cmd)
    for option in ("--apas", "--files"):
        i = base.index(option)
        del base[i : i + 2]
    for stream, files in (("crt", args.files), ("bi", cycles)):
        cmd = [*base, "--stream", stream, "--files", str(files), "--quiet"]
        say(f"writing and announcing {files} {stream} file(s) on the same clock")
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    say(
        "matched streams: the streams-dqm runs' products (beam-on/off activity, CRT residuals); "
        "strip charts ?metric=tpc_activity_on_off_ratio and ?metric=crt_tpc_match_fraction"
    )


def fault_free_start(args) -> str:
    """Data time of the good run's first file: far enough in the past that all of its files
    (one a minute) are older than the faulty run's, which is stamped now, so the dashboard's
    latest data are the faulty run's."""
    start = datetime.now(UTC) - timedelta(seconds=60 * (args.files + 1))
    return start.isoformat(timespec="seconds")


def demo_fault(args, env, url: str, daq_token: str, op_token: str) -> bool:
    """Make the good run the reference, then write and announce run+1 with one noisy APA plane.

    Prints which APA and plane the dashboard grid should show red and the run page's URL.
    """
    import h5py

    from payloads.daqsim.writer import adler32_of

    bad_run, apa, plane = args.run + 1, min(1, args.apas - 1), "x"
    ref = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "p3s_reference", "--template", "tpc-dqm"]
        + ["--run", str(args.run), "--force", "--name", f"demo: run {args.run}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    say(f"reference from run {args.run}: " + (ref.stdout.strip() or ref.stderr.strip()))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = Path(env.get("P3S_DATA_ROOT", VAR / "data")) / "raw" / f"demo-fault-{stamp}"
    cmd = [str(BIN / "p3s-daqsim"), "--out", str(out), "--files", "1", "--quiet"]
    cmd += ["--events", str(args.events), "--apas", str(args.apas), "--run", str(bad_run)]
    # the same detector as the good run (p3s-daqsim draws a detector per seed; run enters the
    # events only), so the reference fits and only the injected fault shows
    subprocess.run(cmd + ["--seed", str(DETECTOR_SEED)], env=env, check=True)
    path = next(out.glob("*.h5"))
    n = inject_noise(path, apa, plane)
    say(
        f"injected fault: noise x{FAULT_FACTOR:g} on APA {apa} plane {plane} ({n} channels) of {path.name}"
    )
    with h5py.File(path, "r") as h5:
        attrs = dict(h5.attrs)
    body = {
        "url": path.resolve().as_uri(),
        "stream": "tpc",
        "run": bad_run,
        "subrun": int(attrs["subrun"]),
        "timestamp": str(attrs["timestamp"]),
        "events": int(attrs["n_events"]),
        "size": path.stat().st_size,
        "checksum": adler32_of(path),
    }
    r = requests.post(
        f"{url}/api/v1/files/",
        json=body,
        headers={"Authorization": f"Token {daq_token}"},
        timeout=30,
    )
    r.raise_for_status()
    ok = watch(url, op_token, [body["url"]], args)
    quality = requests.get(
        f"{url}/api/v1/runs/{bad_run}/quality/",
        headers={"Authorization": f"Token {op_token}"},
        timeout=10,
    )
    body = quality.json() if quality.ok else {}
    verdict = body.get("automatic") or f"HTTP {quality.status_code}"
    flagged = sorted(
        {
            f"APA {f['element'].get('apa')} plane {f['element'].get('plane')}"
            for f in body.get("flags", [])
            if f["flag"] == "bad" and f["element"].get("plane")
        }
    )
    say(
        f"run {bad_run} carries the fault: APA {apa} plane {plane} should be RED on the dashboard grid"
    )
    say(
        f"automatic verdict of run {bad_run}: {verdict}; planes flagged bad: {', '.join(flagged) or 'none'}"
    )
    say(f"run page (sign it off there): {url}/runs/{bad_run}/")
    say(
        f"its checks: {url}/checks/?apa={apa}&plane={plane}    compare: {url}/compare/?a={bad_run}&b={args.run}"
    )
    return ok


def watch(url: str, token: str, files: list[str], args) -> bool:
    """Print progress until every DAG run of the announced files has ended."""
    headers = {"Authorization": f"Token {token}"}
    end = time.monotonic() + args.timeout
    last = ""
    while time.monotonic() < end:
        r = requests.get(
            f"{url}/api/v1/files/", params={"limit": 500}, headers=headers, timeout=10
        ).json()
        runs = [d for item in r["results"] if item["url"] in files for d in item["dagruns"]]
        states = {}
        for d in runs:
            states[d["state"]] = states.get(d["state"], 0) + 1
        line = ", ".join(f"{k}: {v}" for k, v in sorted(states.items())) or "no DAG runs yet"
        if line != last:
            say(f"DAG runs: {line}")
            last = line
        if runs and "running" not in states:
            ok = set(states) == {"succeeded"}
            say("all DAG runs ended: " + ("all succeeded" if ok else "NOT all succeeded"))
            return ok
        time.sleep(1)
    say(f"gave up after {args.timeout:.0f} s")
    return False


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Stop as why:  # a signal before anything was started
        sys.exit(f"[demo] {why}: stopped before starting anything")
