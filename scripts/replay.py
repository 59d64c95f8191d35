#!/usr/bin/env python
"""`make replay`: DAQ announces synthetic files at a chosen rate while N local pilots run the
real TPC chain; reports DQM latency, completeness, drops by reason and queue depth over time.

Real components: gunicorn, the sweeper loop (prompt policy and adaptive prescale), real pilots
running the real payloads (tpc-dqm: daq, adcfft, sig, reco, vis) on real synthetic raw files,
PostgreSQL (a fresh database ``p3s_replay``) or SQLite (``--db sqlite``, embedded).

1. Calibration: a burst of files is announced at once; the pilots' capacity is the number of
   files over the time to process them all (``--capacity`` skips it).
2. One segment per rate factor (``--rates 0.5,1,2``): files announced at factor x capacity for
   ``--seconds``, then a drain. DQM latency = file arrival (its ``created``) to the end of its
   DAG run (the last product).

Writes ``replay.md``, ``replay.json`` and ``replay.png`` into ``--out`` (var/bench). The
template is tpc-dqm with a policy: ``max_age`` and the adaptive prescale of sig (off with
``--no-adaptive``) against ``--budget``. ``--short`` is the form ``make bench`` runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
import bench  # noqa: E402 - server helpers of scripts/bench.py
import replay_report  # noqa: E402

BIN = Path(sys.executable).parent
TEMPLATE = ROOT / "p3s" / "dags" / "defaults" / "tpc-dqm.yaml"
BUDGET_OVER_ALONE = 4  # default budget: 4x the DQM latency of one file alone
RUN0 = 9000  # run numbers of the replay's files: calibration RUN0, segment k RUN0 + 1 + k


def log(msg: str) -> None:
    print(f"[replay {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def replay_template(budget: float, adaptive: bool) -> str:
    """tpc-dqm with the replay's policy: data older than 60 % of the budget are dropped, and
    (adaptive) the prescale of sig falls when the latency nears the budget."""
    import yaml

    doc = yaml.safe_load(TEMPLATE.read_text())
    doc["name"] = "replay-tpc"
    doc["policy"] = {"max_age": round(0.6 * budget, 1), "max_waiting": 1000}
    if adaptive:
        doc["policy"]["adaptive_prescale"] = {
            "budget": budget,
            "stages": ["sig"],
            "floor": 0.05,
            "high": 0.45,
            "low": 0.3,
            "interval": max(2.0, budget / 15),
            "window": max(10.0, budget / 2),
        }
    return yaml.safe_dump(doc, sort_keys=False)


class World:
    """The running system: server, sweeper, pilots, and the DAQ's token."""

    def __init__(self, args):
        self.args = args
        self.var = args.out / "replay-var"
        shutil.rmtree(self.var, ignore_errors=True)
        (self.var / "logs").mkdir(parents=True)
        self.port = bench.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if args.db == "postgres":
            self.db_name = f"p3s_replay_{os.getpid()}"
            self.db_url = bench.fresh_database(self.db_name)
        else:
            self.db_url = f"sqlite:///{self.var / 'replay.sqlite3'}"
        self.env = bench.server_env(self.db_url, self.var, self.port)
        self.env |= {"P3S_SERVER": self.url, "P3S_HEARTBEAT_INTERVAL": "5"}
        if args.db == "sqlite":
            self.env |= {"P3S_WORKERS": "1", "P3S_THREADS": "16"}
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self) -> None:
        a = self.args
        log(f"database {self.db_url.split('@')[-1]}; migrating")
        bench.manage(self.env, "migrate", "-v0")
        self.load_template()
        self.daq_token = bench.manage(self.env, "p3s_token", "--role", "daq", "replay-daq")
        pilot_file = self.var / "pilot.token"
        bench.manage(
            self.env, "p3s_token", "--role", "pilot", "replay-pilots", "--file", str(pilot_file)
        )
        self.procs.append(("server", bench.start_gunicorn(self.env, self.port, self.var)))
        self._spawn("sweeper", [sys.executable, str(ROOT / "manage.py"), "p3s_sweep", "--loop"])
        for i in range(a.pilots):
            self._spawn(
                f"pilot{i}",
                [
                    str(BIN / "p3s-pilot"),
                    "--server",
                    self.url,
                    "--token-file",
                    str(pilot_file),
                    "--workdir",
                    str(self.var / f"pilot{i}"),
                    "--min-disk-mb",
                    "10",
                ],
            )
        log(f"server at {self.url}, sweeper and {a.pilots} pilot(s) started")

    def load_template(self) -> None:
        """The replay's template (again, live, once the budget is known)."""
        tfile = self.var / "replay-tpc.yaml"
        tfile.write_text(replay_template(self.args.budget or 600.0, self.args.adaptive))
        bench.manage(self.env, "p3s_load_dags", "--force", str(tfile))

    def _spawn(self, name: str, argv: list[str]) -> None:
        env = {**self.env, "P3S_SWEEP_INTERVAL": "1"}
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=open(self.var / "logs" / f"{name}.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append((name, proc))

    def stop(self) -> None:
        for name in ("pilot", "sweeper", "server"):
            group = [p for n, p in self.procs if n.startswith(name)]
            for p in group:
                if p.poll() is None:
                    p.terminate()
            for p in group:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        if self.args.db == "postgres":
            bench.drop_database(self.db_name)


class Daq:
    """Announces copies (hard links) of a small pool of real synthetic raw files."""

    def __init__(self, world: World, pool_size: int, apas: int):
        import requests

        from payloads.daqsim import writer

        self.world = world
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {world.daq_token}"
        self.out = world.var / "data" / "raw"
        pool = world.var / "data" / "pool"
        pool.mkdir(parents=True, exist_ok=True)
        self.pool = [
            writer.write_tpc_file(
                pool,
                seed=100 + i,
                run=RUN0,
                subrun=i,
                n_events=1,
                apas=list(range(apas)),
                start=datetime.now(UTC),
            )
            for i in range(pool_size)
        ]
        self.n = 0

    def announce(self, run: int) -> None:
        src = self.pool[self.n % len(self.pool)]
        self.n += 1
        dest = self.out / f"run{run}" / f"replay-{run}-{self.n:05d}.h5"
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.link(src.path, dest)
        body = src.announcement()
        now = datetime.now(UTC)
        if "data_ts_end" in body:  # the same data range, moved to now
            length = datetime.fromisoformat(body["data_ts_end"]) - datetime.fromisoformat(
                body["timestamp"]
            )
            body["data_ts_end"] = (now + length).isoformat()
        body |= {
            "url": dest.resolve().as_uri(),
            "run": run,
            "subrun": self.n,
            "timestamp": now.isoformat(),
        }
        r = self.http.post(f"{self.world.url}/api/v1/files/", json=body, timeout=30)
        r.raise_for_status()


def orm():
    """Django on the replay's database, in this process (after World set the environment)."""
    import django

    if not getattr(orm, "ready", False):
        django.setup()
        orm.ready = True
    from p3s.dags.models import DagRun, StageSettings
    from p3s.jobs.models import Job

    return DagRun, Job, StageSettings


def running(run: int) -> int:
    DagRun, _, _ = orm()
    return DagRun.objects.filter(file__run=run, state="running").count()


def sample(run: int, t0: float) -> dict:
    _, Job, StageSettings = orm()
    waiting = Job.objects.filter(dagrun__file__run=run, state="waiting").count()
    live = Job.objects.filter(dagrun__file__run=run, state__in=["dispatched", "running"]).count()
    factor = (
        StageSettings.objects.filter(template__name="replay-tpc", stage="sig")
        .values_list("adaptive_factor", flat=True)
        .first()
    )
    return {
        "t": round(time.monotonic() - t0, 2),
        "waiting": waiting,
        "live": live,
        "factor": factor,
    }


def single_file(daq: Daq, timeout: float) -> tuple[float, float]:
    """One file alone: (its DQM latency, the pilot seconds its jobs took)."""
    DagRun, Job, _ = orm()
    daq.announce(RUN0)
    t0 = time.monotonic()
    time.sleep(1)
    while running(RUN0) and time.monotonic() - t0 < timeout:
        time.sleep(0.5)
    run = DagRun.objects.filter(file__run=RUN0).select_related("file").first()
    if run is None or run.ended is None:
        raise RuntimeError(f"the calibration file was not processed within {timeout:g} s")
    busy = sum(
        (end - start).total_seconds()
        for start, end in Job.objects.filter(dagrun=run, state="finished").values_list(
            "started_at", "ended_at"
        )
        if start and end
    )
    return (run.ended - run.file.created).total_seconds(), busy


def burst(daq: Daq, n: int, timeout: float) -> float:
    """Files per second the pilots sustain on the full chain: a burst of n, timed to the end."""
    log(f"calibration: {n} files at once")
    t0 = time.monotonic()
    for _ in range(n):
        daq.announce(RUN0)
    time.sleep(1)
    while running(RUN0) and time.monotonic() - t0 < timeout:
        time.sleep(0.5)
    elapsed = time.monotonic() - t0
    log(f"capacity {n / elapsed:.3f} files/s ({n} files in {elapsed:.1f} s)")
    return n / elapsed


def calibrate(world: World, daq: Daq, data: dict) -> float:
    """The chain's latency alone (which sets the default budget) and the pilots' capacity:
    measured with a burst, or (``--short``) estimated from one file's pilot seconds."""
    args = world.args
    if args.capacity and args.budget:  # both given: nothing to measure (the smoke test)
        world.load_template()
        return args.capacity
    alone, busy = single_file(daq, timeout=600)
    log(f"one file alone: DQM latency {alone:.1f} s, {busy:.1f} pilot seconds")
    data["one_file_latency_s"], data["one_file_pilot_s"] = round(alone, 2), round(busy, 2)
    if args.budget is None:
        args.budget = round(max(30.0, BUDGET_OVER_ALONE * alone))
    world.load_template()
    log(f"budget {args.budget:g} s")
    if args.capacity:
        return args.capacity
    if args.short:
        capacity = args.pilots / busy
        log(f"capacity estimated {capacity:.3f} files/s ({args.pilots} pilots / {busy:.1f} s)")
        data["capacity_method"] = "pilots / one file's pilot seconds"
        return capacity
    data["capacity_method"] = f"burst of {2 * args.pilots} files"
    return burst(daq, 2 * args.pilots, timeout=1200)


def reset_factor() -> None:
    _, _, StageSettings = orm()
    StageSettings.objects.filter(template__name="replay-tpc").update(adaptive_factor=1.0)


def segment(world: World, daq: Daq, k: int, factor: float, capacity: float, args) -> dict:
    run = RUN0 + 1 + k
    rate = factor * capacity
    reset_factor()
    log(f"segment {k}: {factor:g}x capacity = {rate:.3f} files/s for {args.seconds:g} s")
    samples = []
    t0 = time.monotonic()
    next_file, next_sample = t0, t0
    while time.monotonic() - t0 < args.seconds:
        now = time.monotonic()
        if now >= next_file:
            daq.announce(run)
            next_file += 1.0 / rate
        if now >= next_sample:
            samples.append(sample(run, t0))
            next_sample += 1.0
        time.sleep(max(0.0, min(next_file, next_sample) - time.monotonic()))
    drain_end = time.monotonic() + args.budget * 1.5 + 30
    while running(run) and time.monotonic() < drain_end:
        samples.append(sample(run, t0))
        time.sleep(1.0)
    samples.append(sample(run, t0))
    stats = replay_report.segment_stats(run, budget=args.budget)
    stats |= {"factor": factor, "rate_per_s": round(rate, 4), "samples": samples}
    log(
        f"segment {k}: {stats['files']} files, p50/p90/p99 {stats['latency_p50_s']}/"
        f"{stats['latency_p90_s']}/{stats['latency_p99_s']} s, fully processed "
        f"{stats['fully_processed']:.0%}, drops {stats['drops']}"
    )
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="0.5,1,2", help="rate factors of the measured capacity")
    p.add_argument("--seconds", type=float, default=90.0, help="announcing time per segment")
    p.add_argument("--pilots", type=int, default=2)
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help=f"DQM latency budget (s); default {BUDGET_OVER_ALONE}x that of one file alone",
    )
    p.add_argument("--apas", type=int, default=1, help="APAs per file (one event each)")
    p.add_argument("--capacity", type=float, default=None, help="files/s; skip calibration")
    p.add_argument("--adaptive", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--db", choices=["auto", "postgres", "sqlite"], default="auto")
    p.add_argument("--out", type=Path, default=bench.OUT)
    p.add_argument(
        "--short", action="store_true", help="the make-bench form: one 2x segment, short"
    )
    args = p.parse_args(argv)
    if args.short:
        args.rates, args.seconds = "2", min(args.seconds, 30.0)
    if args.db == "auto":
        args.db = "postgres" if bench.pg_answers() else "sqlite"
    factors = [float(x) for x in args.rates.split(",")]

    def stop(signum, _frame):  # SIGTERM/SIGINT: stop what was started (the finally below)
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    world = World(args)
    os.environ |= {"P3S_DATABASE_URL": world.db_url, "DJANGO_SETTINGS_MODULE": "p3s.settings"}
    os.environ["P3S_VAR_DIR"] = str(world.var)
    data: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.uname().nodename}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "pilots": args.pilots,
        "budget_s": args.budget,
        "adaptive": args.adaptive,
        "db": args.db,
        "apas": args.apas,
        "id": uuid.uuid4().hex[:8],
    }
    try:
        world.start()
        daq = Daq(world, pool_size=3, apas=args.apas)
        capacity = calibrate(world, daq, data)
        data["capacity_files_per_s"] = round(capacity, 4)
        data["budget_s"] = args.budget
        data["segments"] = [
            segment(world, daq, k, f, capacity, args) for k, f in enumerate(factors)
        ]
    finally:
        world.stop()
    data["load_after"] = round(os.getloadavg()[0], 1)
    replay_report.write(data, args.out)
    print((args.out / "replay.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
