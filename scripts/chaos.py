"""The chaos run: every fault at once on a real p3s, then the accounting.

Real gunicorn on a private PostgreSQL cluster, the real sweeper, a fleet of real pilots
(processes, replaced when killed, as a factory would), a few hundred DAG runs of a diag
template (plus a few of real payloads on synthetic raw files) announced over time by a
DAQ-like client that retries. Meanwhile, at random moments: pilots SIGKILLed in the middle
of a job, the server restarted twice (one SIGKILL, one SIGTERM), PostgreSQL restarted once
(an immediate stop, as a crash), the staging disk filled to ENOSPC for a while. At the end
it prints (and returns non-zero unless every count is 0):

    DAG runs lost, DAG runs failed, jobs that ran twice at once (overlapping per-attempt
    start..last-record intervals written by the diag payload), children created twice or
    missing, metrics and products lost or duplicated, and the time from a pilot's death to
    its job being re-queued and running again (goal: 3 heartbeat intervals + one sweep).

Needs root (the private cluster runs as ``postgres`` through ``su``; the staging disk is a
tmpfs mount). ``python scripts/chaos.py --help``; ``make chaos`` runs the full form, the test
suite a short one (tests/e2e/test_chaos.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_account import Line, account  # noqa: E402
from chaos_env import PrivateCluster, Staging, Unavailable  # noqa: E402
from chaos_watch import (  # noqa: E402
    Settler,
    enabled_templates,
    expected_runs,
    live_work,
    served_queues,
)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# 1 s heartbeats proved too tight for a loaded 2-core machine (a pilot busy uploading
# 2,000 metrics was declared lost after 3 s); production runs 10 s.
HEARTBEAT, LOST_AFTER, SWEEP = 2.0, 3, 0.5

DIAG_TEMPLATE = """
name: chaos-diag
trigger: {{stream: chaos}}
stages:
  a: {{payload: diag, args: {{seconds: 1.0, bytes: 20000, record: "{rec}", product: true}}, timeout: 120, max_attempts: 8}}
  b: {{payload: diag, parents: [a], args: {{seconds: 0.6, metric: 1.5, record: "{rec}", product: true}}, timeout: 120, max_attempts: 8}}
  c: {{payload: diag, parents: [a], args: {{seconds: 0.6, bytes: 20000, record: "{rec}"}}, timeout: 120, max_attempts: 8}}
  d: {{payload: diag, parents: [b, c], args: {{seconds: 0.3, record: "{rec}", product: true}}, timeout: 120, max_attempts: 8}}
"""
# Per stage: (metrics, products) one finished job stores (payloads/diag.py).
EXPECTED = {"chaos-diag": {"a": (1, 1), "b": (2, 1), "c": (1, 0), "d": (1, 1)}}
REAL_TEMPLATE = """
name: chaos-tpc
trigger: {stream: tpc, pattern: "*.h5"}
stages:
  daq: {payload: dqm-daq, timeout: 300, max_attempts: 8}
  adcfft: {payload: dqm-adcfft, timeout: 600, max_attempts: 8}
"""


def say(msg: str) -> None:
    print(f"[chaos {datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class World:
    """The processes of one chaos run and the means to hurt them."""

    def __init__(self, workdir: Path, db_url: str, data_root: Path) -> None:
        self.workdir = workdir
        self.more_coming = lambda: False  # DAQ has files left to announce (main sets it)
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "P3S_DATABASE_URL": db_url,
            "P3S_VAR_DIR": str(workdir / "var"),
            "P3S_DATA_ROOT": str(data_root),
            "P3S_SECRET_KEY": "chaos-" + os.urandom(16).hex(),
            "P3S_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "P3S_HEARTBEAT_INTERVAL": str(HEARTBEAT),
            "P3S_LOST_AFTER_BEATS": str(LOST_AFTER),
            "P3S_DISPATCH_GRACE": "20",
            "P3S_TIMEOUT_GRACE": "5",
            "P3S_BIND": f"127.0.0.1:{port}",
            "P3S_WORKERS": "2",
            "P3S_THREADS": "16",
            "P3S_SERVER": self.url,
            "PYTHONUNBUFFERED": "1",
        }
        for var in ("P3S_TEST_DATABASE_URL", "DJANGO_SETTINGS_MODULE"):
            self.env.pop(var, None)
        self.tokens: dict[str, str] = {}
        self.server: subprocess.Popen | None = None
        self.sweeper: subprocess.Popen | None = None
        self.pilots: dict[str, subprocess.Popen] = {}
        self.dead: list[subprocess.Popen] = []
        self.exited: list[str] = []
        self.queues = ["default"]  # set from the loaded templates (chaos_watch.served_queues)
        self._n = 0

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=self.env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=600,
        ).stdout  # fmt: skip

    def _spawn(self, argv: list[str], log: str) -> subprocess.Popen:
        fh = open(self.logs / log, "ab")
        return subprocess.Popen(
            argv, env=self.env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def setup(self, records: Path) -> None:
        self.manage("migrate", "-v0")
        self.manage("p3s_load_dags")
        for role in ("daq", "pilot", "operator", "expert"):
            self.tokens[role] = self.manage("p3s_token", "--role", role, f"chaos-{role}").strip()
        (self.workdir / "pilot.token").write_text(self.tokens["pilot"] + "\n")
        os.chmod(self.workdir / "pilot.token", 0o600)
        # The shipped TPC template would run SIG and RECO on the real files too: too heavy here.
        self.manage(
            "shell", "-c",
            "from p3s.dags.models import DagTemplate;"
            " DagTemplate.objects.filter(name='tpc-dqm').update(enabled=False)",
        )  # fmt: skip
        self.start_server()
        for text in (DIAG_TEMPLATE.format(rec=records), REAL_TEMPLATE):
            r = self.post(
                "/api/v1/dags/", "expert", data=text, headers={"Content-Type": "text/yaml"}
            )
            assert r.status_code in (200, 201), r.text

    # -- the server ----------------------------------------------------------------------
    def start_server(self) -> None:
        argv = [str(BIN / "gunicorn"), "-c", str(ROOT / "p3s/gunicorn.conf.py"), "p3s.wsgi"]
        self.server = self._spawn(argv, "gunicorn.log")
        end = time.monotonic() + 120
        while time.monotonic() < end:
            if self.server.poll() is not None:
                raise RuntimeError("gunicorn died; see " + str(self.logs / "gunicorn.log"))
            try:
                if requests.get(self.url + "/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer /healthz within 120 s")

    def stop_server(self, sig: int) -> None:
        assert self.server is not None
        os.killpg(self.server.pid, sig)
        self.server.wait(60)

    def start_sweeper(self) -> None:
        argv = [
            sys.executable,
            str(ROOT / "manage.py"),
            "p3s_sweep",
            "--loop",
            "--interval",
            str(SWEEP),
        ]
        self.sweeper = self._spawn(argv, "sweeper.log")

    # -- pilots --------------------------------------------------------------------------
    def start_pilot(self) -> str:
        self._n += 1
        name = f"p{self._n:03d}"
        argv = [
            str(BIN / "p3s-pilot"), "--server", self.url,
            "--token-file", str(self.workdir / "pilot.token"),
            "--workdir", str(self.workdir / "pilots" / name),
            "--idle-exit", "3600", "--give-up", "600", "--wait", "20", "--min-disk-mb", "1",
            "--kill-grace", "2", "--queue", ",".join(self.queues),
        ]  # fmt: skip
        self.pilots[name] = self._spawn(argv, f"{name}.log")
        return name

    def replace_exited(self) -> list[str]:
        """Pilots that ended by themselves (none should): noted and replaced, as a factory would."""
        gone = [name for name, proc in self.pilots.items() if proc.poll() is not None]
        for name in gone:
            self.dead.append(self.pilots.pop(name))
            self.start_pilot()
        self.exited += gone
        return gone

    def exit_notes(self) -> dict[str, str]:
        """Why each pilot that ended by itself did: its exit code and last log line."""
        out = {}
        for name in self.exited:
            log = (self.logs / f"{name}.log").read_text(errors="replace").strip().splitlines()
            out[name] = (log[-1] if log else "(empty log)")[-300:]
        return out

    def kill_pilot(self, name: str) -> float:
        proc = self.pilots.pop(name)
        t = time.time()
        os.kill(proc.pid, signal.SIGKILL)  # the pilot only: its payload must die by itself
        proc.wait(10)
        self.dead.append(proc)
        return t

    def stop_all(self) -> None:
        procs = list(self.pilots.values()) + [self.sweeper, self.server]
        for proc in procs:
            if proc is not None and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)
        for proc in self.dead:  # what a killed pilot left behind (there should be nothing)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    # -- HTTP ----------------------------------------------------------------------------
    def post(self, path: str, role: str, **kw) -> requests.Response:
        headers = {"Authorization": f"Token {self.tokens[role]}", **kw.pop("headers", {})}
        return requests.post(self.url + path, headers=headers, timeout=30, **kw)


class Announcer(threading.Thread):
    """DAQ: announces each file, retrying on errors and silence (announcing is idempotent)."""

    def __init__(self, world: World, bodies: list[dict], spread: float) -> None:
        super().__init__(daemon=True)
        self.world, self.bodies, self.spread = world, bodies, spread
        self.retries = 0

    def run(self) -> None:
        gap = self.spread / max(1, len(self.bodies))
        for body in self.bodies:
            while True:
                try:
                    r = self.world.post("/api/v1/files/", "daq", json=body)
                    if r.status_code in (200, 201):
                        break
                    if r.status_code < 500:
                        raise RuntimeError(f"announcement refused: {r.status_code} {r.text[:300]}")
                except requests.RequestException:
                    pass
                self.retries += 1
                time.sleep(0.5)
            time.sleep(gap)


def diag_bodies(n: int) -> list[dict]:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    return [
        {
            "url": f"file:///chaos/diag-{i:05d}.dat",
            "stream": "chaos",
            "run": 900,
            "subrun": i,
            "timestamp": (t0 + timedelta(seconds=i)).isoformat(),
        }
        for i in range(1, n + 1)
    ]


def real_bodies(world: World, n: int) -> list[dict]:
    if n <= 0:
        return []
    import h5py

    from payloads.daqsim.writer import adler32_of

    out = world.workdir / "raw"
    subprocess.run(
        [str(BIN / "p3s-daqsim"), "--out", str(out), "--files", str(n), "--events", "1",
         "--apas", "1", "--run", "901", "--seed", "7", "--quiet"],
        env=world.env, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    bodies = []
    for path in sorted(out.glob("*.h5")):
        with h5py.File(path, "r") as h5:
            attrs = dict(h5.attrs)
        bodies.append(
            {
                "url": path.resolve().as_uri(),
                "stream": "tpc",
                "run": 901,
                "subrun": int(attrs["subrun"]),
                "timestamp": str(attrs["timestamp"]),
                "events": int(attrs["n_events"]),
                "size": path.stat().st_size,
                "checksum": adler32_of(path),
            }
        )
    return bodies


def running_victims(records: Path, world: World) -> list[tuple[str, int, int]]:
    """(pilot, job, attempt) of diag payloads alive right now: a tick in the last second (one
    every 50 ms; a loaded machine may hold a process that long) and no stop line yet."""
    now, found = time.time(), []
    for entry in os.scandir(records):
        if entry.stat().st_mtime < now - 1.0:
            continue
        lines = Path(entry.path).read_text(errors="replace").splitlines()
        if not lines or lines[-1].startswith("stop") or not lines[0].startswith("start"):
            continue
        cwd = Path(lines[0].split(" ", 2)[2])
        rel = (
            cwd.relative_to(world.workdir / "pilots")
            if world.workdir / "pilots" in cwd.parents
            else None
        )
        if rel is None or rel.parts[0] not in world.pilots:
            continue
        job, attempt, _ = (
            entry.name.removeprefix("job").removesuffix(".rec").replace("-a", "-").split("-")
        )
        found.append((rel.parts[0], int(job), int(attempt)))
    return found


def connect(url: str):
    import psycopg2

    for _ in range(120):
        try:
            conn = psycopg2.connect(url)
            conn.autocommit = True
            return conn
        except psycopg2.OperationalError:
            time.sleep(0.5)
    raise RuntimeError("cannot connect to the private cluster")


def fault_plan(args: argparse.Namespace, rng: random.Random) -> list[str]:
    """The faults in order: the kills interleaved from the start (they need jobs running,
    which the start has most of), the outages and the full disk shuffled in between."""
    others = (
        ["server-kill", "server-term"][: args.server_restarts]
        + ["postgres"] * args.pg_restarts
        + ["disk-full"] * args.disk_fills
    )
    rng.shuffle(others)
    plan: list[str] = []
    kills = args.kills
    while kills or others:
        if kills:
            plan.append("kill")
            kills -= 1
        if others:
            plan.append(others.pop(0))
    return plan


def kill_one(args, rng, world: World, records: Path, conn, last_outage: float) -> dict:
    """Wait for a diag job that is running on a pilot, SIGKILL that pilot, start its
    replacement, wait until the job runs again. Gives up only when no work is left."""
    t = time.time()
    end = time.monotonic() + args.kill_wait
    while not (victims := running_victims(records, world)):
        # Files still to be announced are work to come: a lull between two is no reason to
        # skip (it skipped the second kill of a short run once, right after a server restart).
        if time.monotonic() > end or not (live_work(conn) or world.more_coming()):
            return {"fault": "kill", "t": t, "note": "no diag job running: skipped"}
        world.replace_exited()
        time.sleep(0.05)
    name, job, attempt = rng.choice(victims)
    t = world.kill_pilot(name)
    after = t - last_outage < 35  # inside an outage's extra grace (at most 30 s)
    world.start_pilot()  # the factory's replacement
    # No other fault until the job runs again: its figure is the kill's alone.
    end = time.monotonic() + 60
    while time.monotonic() < end and not list(records.glob(f"job{job}-a{attempt + 1}-*.rec")):
        time.sleep(0.1)
    return {
        "fault": "kill",
        "t": t,
        "note": f"{name} on job {job} attempt {attempt}",
        "kill": {"t": t, "pilot": name, "job": job, "attempt": attempt, "after_outage": after},
    }


def hurt(args, rng, world: World, cluster, staging, records: Path, conn, faults, kills):
    """Run the fault plan; returns the (re-made) database connection."""
    last_outage = 0.0
    for fault in fault_plan(args, rng):
        end = time.monotonic() + rng.uniform(0.5, 1.5) * args.gap
        while time.monotonic() < end:
            world.replace_exited()
            time.sleep(0.2)
        t = time.time()
        if fault == "kill":
            done = kill_one(args, rng, world, records, conn, last_outage)
            if "kill" in done:
                kills.append(done.pop("kill"))
            faults.append(done)
        elif fault.startswith("server"):
            sig = signal.SIGKILL if fault == "server-kill" else signal.SIGTERM
            world.stop_server(sig)
            time.sleep(args.down)
            world.start_server()
            last_outage = time.time()
            faults.append({"fault": fault, "t": t, "note": f"down {time.time() - t:.1f} s"})
        elif fault == "postgres":
            conn.close()
            cluster.stop("immediate")
            time.sleep(args.pg_down)
            cluster.start()
            conn = connect(cluster.url)
            last_outage = time.time()
            faults.append({"fault": fault, "t": t, "note": f"down {time.time() - t:.1f} s"})
        elif fault == "disk-full":
            if not staging.mounted:
                faults.append({"fault": fault, "t": t, "note": "not tried: " + staging.why_not})
                continue
            n = staging.fill()
            time.sleep(args.disk_hold)
            free = staging.free()
            staging.unfill()
            note = f"{n / 1e6:.0f} MB filler, {free:.2f} MB free for {args.disk_hold:g} s"
            faults.append({"fault": fault, "t": t, "note": note})
        say(f"{fault}: {faults[-1]['note']}")
    return conn


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="p3s-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    records = workdir / "records"
    records.mkdir(exist_ok=True)
    os.chmod(records, 0o777)
    cluster = PrivateCluster(free_port())
    staging = Staging(workdir / "staging", args.staging_mb)
    world = World(workdir, cluster.url, staging.path)
    faults: list[dict] = []
    kills: list[dict] = []
    try:
        say(f"private PostgreSQL on port {cluster.port} in {cluster.dir}")
        cluster.create()
        say(
            f"staging area {staging.path}: "
            + (
                f"tmpfs of {args.staging_mb} MB"
                if staging.mounted
                else f"plain directory ({staging.why_not})"
            )
        )
        world.setup(records)
        conn = connect(cluster.url)
        templates = enabled_templates(conn)
        world.queues = served_queues(templates)
        world.start_sweeper()
        for _ in range(args.pilots):
            world.start_pilot()
        bodies = diag_bodies(args.runs)
        real = real_bodies(world, args.real)
        announced = expected_runs(templates, bodies + real)
        mixed = bodies + real
        rng.shuffle(mixed)
        announcer = Announcer(world, mixed, args.spread)
        t_start = time.monotonic()
        announcer.start()
        world.more_coming = announcer.is_alive
        per_tpl = {t.name: sum(t.name in v for v in announced.values()) for t in templates}
        say(
            f"{args.pilots} pilots on queue(s) {', '.join(world.queues)}; announcing"
            f" {len(mixed)} files over {args.spread:g} s, which start "
            + ", ".join(f"{n} {name}" for name, n in sorted(per_tpl.items()) if n)
        )
        conn = hurt(args, rng, world, cluster, staging, records, conn, faults, kills)
        announcer.join(args.settle)
        settler = Settler(floor=args.settle_floor, cap=args.settle)
        extra = max((t.longest_wait for t in templates if per_tpl.get(t.name)), default=0.0)
        progress, settle = settler.wait(
            conn, announced, time.monotonic() - t_start, extra, world.replace_exited
        )
        say(
            f"{progress.ended} of {progress.expected} DAG runs ended, {progress.live_jobs}"
            f" job(s) live; settle {settle['why']} after {settle['waited']:g} s"
            f" (bound {settle['bound']:g} s); stopping the fleet"
        )
        world.stop_all()
        acc = account(
            conn, records, announced, EXPECTED, kills, staging.path,
            goal_requeue=LOST_AFTER * HEARTBEAT + SWEEP,
        )  # fmt: skip
        conn.close()
        acc.lines.append(
            Line("pilots that exited by themselves", len(world.exited), "0", not world.exited)
        )
        tracebacks = {
            p.name: p.read_text(errors="replace").count("Traceback")
            for p in world.logs.glob("*.log")
        }
        acc.details.update(
            faults=faults, kills=kills, tracebacks=tracebacks, retries=announcer.retries,
            settle=settle, exited=world.exit_notes(),
        )  # fmt: skip
        print()
        print("faults:")
        for f in faults:
            print(f"  {datetime.fromtimestamp(f['t'], UTC):%H:%M:%S} {f['fault']:<12} {f['note']}")
        print(f"announcement retries (DAQ side): {announcer.retries}")
        print(f"settle: {settle['why']} after {settle['waited']:g} s (bound {settle['bound']:g} s)")
        for name, note in world.exit_notes().items():
            print(f"pilot {name} exited by itself: {note}")
        print(
            "tracebacks in logs: "
            + ", ".join(f"{k} {v}" for k, v in sorted(tracebacks.items()) if v)
        )
        print()
        print(acc.table())
        for w in acc.details["wrong_jobs"]:
            print(f"  job {w['job']} ({w['template']}/{w['stage']}, attempt {w['attempt']}):"
                  f" metrics lost/dup {w['metrics_lost_dup']}, products {w['products_lost_dup']}")  # fmt: skip
        if args.json:
            Path(args.json).write_text(
                json.dumps(
                    {"lines": [ln.__dict__ for ln in acc.lines], **acc.details},
                    indent=1,
                    default=str,
                )
            )
        say(f"logs and records in {workdir}")
        return 0 if acc.ok else 1
    finally:
        world.stop_all()
        cluster.destroy()
        staging.destroy()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=300, help="diag DAG runs (4 jobs each)")
    p.add_argument("--real", type=int, default=4, help="DAG runs of real payloads (daq, adcfft)")
    p.add_argument("--pilots", type=int, default=6)
    p.add_argument("--kills", type=int, default=12, help="pilots SIGKILLed mid-job")
    p.add_argument("--server-restarts", type=int, default=2, choices=(0, 1, 2))
    p.add_argument("--pg-restarts", type=int, default=1)
    p.add_argument("--disk-fills", type=int, default=1)
    p.add_argument("--spread", type=float, default=240, help="seconds over which files arrive")
    p.add_argument("--gap", type=float, default=12, help="mean seconds between faults")
    p.add_argument("--down", type=float, default=3, help="seconds the server stays down")
    p.add_argument("--pg-down", type=float, default=8, help="seconds PostgreSQL stays down")
    p.add_argument("--disk-hold", type=float, default=8, help="seconds the staging disk stays full")
    p.add_argument("--staging-mb", type=int, default=64)
    p.add_argument(
        "--settle", type=float, default=900, help="at most this many seconds to become quiet after"
    )
    p.add_argument(
        "--settle-floor", type=float, default=90,
        help="the settle bound (3x the time the remaining runs need at the measured pace, plus"
        " the longest match wait) is never below this",
    )  # fmt: skip
    p.add_argument(
        "--kill-wait", type=float, default=120,
        help="seconds a kill may wait for a diag job to be running on a pilot",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=10)
    p.add_argument("--workdir", help="keep everything here (default: a new temp dir)")
    p.add_argument("--json", help="write the accounting as JSON here too")
    args = p.parse_args(argv)
    try:
        return run(args)
    except Unavailable as exc:
        print(f"chaos: cannot run here: {exc}", file=sys.stderr)
        return 77


if __name__ == "__main__":
    sys.exit(main())
