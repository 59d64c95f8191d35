#!/usr/bin/env python
"""`make bench`: broker and payload figures, each next to a baseline measured in the same run.

Writes var/bench/report.md and var/bench/report.json. Needs PostgreSQL on 127.0.0.1:5432
(runs scripts/ensure-postgres.sh when none answers). ``--quick`` for a short run.

Sections
- claim: the raw claim statement alone (jobs_job UPDATE ... FOR UPDATE SKIP LOCKED), and the
  full claim (statement + event row + pilot update), with 1 and N parallel connections;
- http: claims through real gunicorn by 64 concurrent simulated pilots on diag jobs
  (claim, report running, report finished), and its ratio to the raw limit;
- wake-up: from a file announcement to an idle long-polling pilot holding the job;
- hotpath: report-and-claim jobs/s, server-side claim latency, wake-up, heartbeats, and the
  claim at 1k/100k/1M waiting jobs (scripts/bench_hotpath.py);
- warm: file arrival to last product, warm vs cold pilots, and a 6-APA file on six pilots
  split by APA (scripts/bench_warm.py; ``--modes whole6`` there for the same file unsplit);
- payloads: from scripts/bench_payloads.py when present;
- replay: scripts/replay.py --short (scripts/bench_replay.py), DQM latency at 2x capacity.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = Path(os.environ.get("P3S_BENCH_OUT") or ROOT / "var" / "bench")  # tests point it elsewhere
BASE_URL = os.environ.get("P3S_BENCH_DATABASE_URL", "postgres://p3s:p3s@127.0.0.1:5432/p3s")
BIN = Path(sys.executable).parent
BENCH_DAG = """
name: bench
trigger: {stream: bench}
stages:
  only: {payload: diag, timeout: 600, max_attempts: 1}
"""


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pg_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), 1).close()
        return True
    except OSError:
        return False


def admin_conn():
    import psycopg2

    conn = psycopg2.connect(BASE_URL)
    conn.autocommit = True
    return conn


def fresh_database(name: str) -> str:
    conn = admin_conn()
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return BASE_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(name: str) -> None:
    conn = admin_conn()
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def server_env(db_url: str, var: Path, port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "P3S_DATABASE_URL": db_url,
        "P3S_VAR_DIR": str(var),
        "P3S_DATA_ROOT": str(var / "data"),
        "P3S_SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "P3S_BIND": f"127.0.0.1:{port}",
        # gunicorn's processes x threads (p3s/gunicorn.conf.py); the bench can try others.
        "P3S_WORKERS": os.environ.get("P3S_BENCH_WORKERS", "4"),
        "P3S_THREADS": os.environ.get("P3S_BENCH_THREADS", "20"),
        "P3S_LOG_LEVEL": "WARNING",
        "P3S_CONN_MAX_AGE": "600",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


# -- filling the queue (in a subprocess, with Django) -----------------------------------------

FILL = r"""
import os, sys, django
from datetime import datetime, timedelta, timezone
django.setup()
from p3s.dags import flow, spec
from p3s.dags.models import DagRun, DataFile, StageSettings
from p3s.jobs.models import Job
from p3s.accounts.models import ApiToken
from p3s.pilots import services
n, npilots = int(sys.argv[1]), int(sys.argv[2])
FILL_SQL = os.environ["BENCH_FILL_SQL"]
t = flow.apply_spec(spec.load(os.environ["BENCH_DAG"]), actor="bench").template
st = StageSettings.objects.get(template=t)
t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
tag = os.environ.get("BENCH_TAG", "x")
from django.db import connection
if connection.vendor == "postgresql":  # one file, run and job each, in three statements
    with connection.cursor() as cur:
        cur.execute(FILL_SQL, {"n": n, "tag": tag, "t": t.pk, "v": t.current_version_id, "st": st.pk})
else:
  for start in range(0, n, 5000):
    k = range(start, min(n, start + 5000))
    files = DataFile.objects.bulk_create(DataFile(url=f"file:///bench/{tag}/{i}.h5", name=f"{i}.h5", stream="bench", run=1, subrun=i, data_ts=t0 + timedelta(seconds=i)) for i in k)
    runs = DagRun.objects.bulk_create(DagRun(template=t, version=t.current_version, file=f, data_ts=f.data_ts) for f in files)
    Job.objects.bulk_create(Job(dagrun=r, stage="only", settings=st, payload="diag", priority=i % 3, data_ts=r.data_ts) for i, r in zip(k, runs))
token, _ = ApiToken.issue("bench", "pilot")
ids = [services.register(token, {"host": f"b{i}", "queues": ["default"]})[0].pk for i in range(npilots)]
from django.db import connection
if connection.vendor == "postgresql":
    with connection.cursor() as cur:
        cur.execute("ANALYZE")  # as autovacuum would have done on a table that grew over time
print(",".join(map(str, ids)))
"""


# The same rows as the ORM loop of FILL (its SQLite path), made by PostgreSQL itself: a
# third of the claim part's time went into 60,000 bulk_create round trips.
FILL_SQL = """
INSERT INTO dags_datafile (url, name, stream, run, subrun, data_ts, events, size, checksum,
    replicas, created)
SELECT 'file:///bench/' || %(tag)s || '/' || g || '.h5', g || '.h5', 'bench', 1, g,
    timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second', 0, 0, '', '[]', now()
FROM generate_series(0, %(n)s - 1) AS g;
INSERT INTO dags_dagrun (state, data_ts, created, template_id, version_id, file_id, generation)
SELECT 'running', f.data_ts, now(), %(t)s, %(v)s, f.id, 0
FROM dags_datafile f WHERE f.url LIKE 'file:///bench/' || %(tag)s || '/%%';
INSERT INTO jobs_job (dagrun_id, stage, settings_id, payload, args, queue, priority, data_ts,
    state, attempt, event_fraction, inputs, parents, outputs, message, log_tail, drop_reason,
    created, updated)
SELECT r.id, 'only', %(st)s, 'diag', '[]', 'default', f.subrun %% 3, r.data_ts, 'waiting', 1,
    1.0, '[]', '{}', '[]', '', '', '', now(), now()
FROM dags_dagrun r JOIN dags_datafile f ON f.id = r.file_id
WHERE f.url LIKE 'file:///bench/' || %(tag)s || '/%%';
"""


def fill(env: dict[str, str], n: int, npilots: int, tag: str) -> list[int]:
    out = (
        subprocess.run(
            [sys.executable, "-c", FILL, str(n), str(npilots)],
            env={
                **env,
                "DJANGO_SETTINGS_MODULE": "p3s.settings",
                "BENCH_DAG": BENCH_DAG,
                "BENCH_TAG": tag,
                "BENCH_FILL_SQL": FILL_SQL,
            },
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    return [int(x) for x in out.split(",")]


# -- 1. the claim statement alone --------------------------------------------------------------


# The claim's pick-and-mark alone, without its event row and pilot update (the server's
# statement, p3s.jobs.claim, does all three in one round trip).
BARE_CLAIM = """
    PREPARE p3s_bare_claim(bigint, timestamptz, float8, text[], float8) AS
    WITH picked AS (
        SELECT j.id FROM jobs_job j JOIN dags_stagesettings s ON s.id = j.settings_id
        WHERE j.state = 'waiting' AND j.queue = ANY($4) AND NOT s.paused
          AND ($3 IS NULL OR s.timeout <= $3)
        ORDER BY j.priority DESC, j.data_ts DESC, j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED)
    UPDATE jobs_job AS j
    SET state = 'dispatched', pilot_id = $1, dispatched_at = $2, updated = $2,
        timeout = s.timeout, deadline = $2 + make_interval(secs => s.timeout + $5)
    FROM picked, dags_stagesettings s WHERE j.id = picked.id AND s.id = j.settings_id
    RETURNING j.id, j.attempt
"""
EXECUTE_BARE = "EXECUTE p3s_bare_claim(%s, %s, %s, %s, %s)"


def raw_claim_rate(
    db_url: str, pilot_ids: list[int], conns: int, seconds: float, full: bool
) -> dict:
    import psycopg2

    from p3s.jobs.claim import EXECUTE_POSTGRES, prepare_postgres

    counts = [0] * conns
    empty = threading.Event()
    barrier = threading.Barrier(conns + 1)

    def worker(i: int) -> None:
        conn = psycopg2.connect(db_url)
        cur = conn.cursor()
        pid = pilot_ids[i % len(pilot_ids)]
        cur.execute(prepare_postgres() if full else BARE_CLAIM)
        conn.commit()
        barrier.wait()
        end = time.monotonic() + seconds
        args = [pid, None, None, ["default"], 30.0] + ([f"pilot:{pid}"] if full else [])
        while time.monotonic() < end and not empty.is_set():
            args[1] = datetime.now(UTC)
            cur.execute(EXECUTE_POSTGRES if full else EXECUTE_BARE, args)
            row = cur.fetchone()
            if row is None:
                empty.set()
                conn.commit()
                break
            conn.commit()
            counts[i] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(conns)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.monotonic()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    total = sum(counts)
    return {
        "connections": conns,
        "claims": total,
        "seconds": round(elapsed, 2),
        "per_s": round(total / elapsed, 1),
        "ran_dry": empty.is_set(),
    }


def bench_claim(quick: bool) -> dict:
    name = "p3s_bench_claim"
    db_url = fresh_database(name)
    var = OUT / "claim-var"
    env = server_env(db_url, var, 0)
    manage(env, "migrate", "-v0")
    n = 20_000 if quick else 60_000
    log(f"claim: filling {n} jobs")
    pilots = fill(env, n, 16, "claim")
    results = []
    seconds = 3.0 if quick else 6.0
    for full in (False, True):
        for conns in (1, 8):
            r = raw_claim_rate(db_url, pilots, conns, seconds, full)
            r["what"] = (
                "full claim (one statement: job + event + pilot)"
                if full
                else "claim statement alone"
            )
            log(f"claim: {r['what']}, {conns} conn: {r['per_s']}/s")
            results.append(r)
            # Put the claimed jobs back so each measurement sees the same queue depth.
            conn = admin_conn_to(db_url)
            with conn.cursor() as cur:
                cur.execute(
                    "UPDATE jobs_job SET state='waiting', pilot_id=NULL, deadline=NULL WHERE state='dispatched'"
                )
                cur.execute("DELETE FROM jobs_jobevent WHERE to_state='dispatched'")
                cur.execute("VACUUM ANALYZE jobs_job")
            conn.close()
    drop_database(name)
    shutil.rmtree(var, ignore_errors=True)
    return {"queue_depth": n, "runs": results}


def admin_conn_to(db_url: str):
    import psycopg2

    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    return conn


# -- 2. HTTP claims through gunicorn with 64 simulated pilots -----------------------------------


def _pilot_proc(url: str, token: str, nthreads: int, seconds: float, results) -> None:
    import requests

    done = []
    errors = []

    def one() -> None:
        s = requests.Session()
        s.headers["Authorization"] = f"Token {token}"
        r = s.post(
            f"{url}/api/v1/pilots/",
            json={"host": socket.gethostname(), "queues": ["default"]},
            timeout=30,
        )
        r.raise_for_status()
        pid, key = r.json()["id"], r.json()["key"]
        s.headers["X-P3S-Pilot-Key"] = key
        n = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r = s.post(f"{url}/api/v1/pilots/{pid}/claim/", json={"wait": 0}, timeout=60)
            if r.status_code == 204:
                break
            if r.status_code != 200:
                errors.append(r.status_code)
                continue
            jid = r.json()["id"]
            s.post(
                f"{url}/api/v1/jobs/{jid}/report/", json={"state": "running"}, timeout=60
            ).raise_for_status()
            s.post(
                f"{url}/api/v1/jobs/{jid}/report/",
                json={"state": "finished", "outputs": []},
                timeout=60,
            ).raise_for_status()
            n += 1
        done.append(n)

    threads = [threading.Thread(target=one) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put((sum(done), len(errors)))


def run_pilot_processes(
    target, url: str, token: str, n_pilots: int, seconds: float, procs_n: int = 4
) -> tuple[list, float]:
    """``n_pilots`` simulated pilots in ``procs_n`` processes, each running
    ``target(url, token, n_pilots // procs_n, seconds, results)``; returns what each put on
    ``results`` and the wall time."""
    results: mp.Queue = mp.Queue()
    procs = [
        mp.Process(target=target, args=(url, token, n_pilots // procs_n, seconds, results))
        for _ in range(procs_n)
    ]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    got = [results.get(timeout=seconds + 180) for _ in procs]
    elapsed = time.monotonic() - t0
    for p in procs:
        p.join()
    return got, elapsed


def start_gunicorn(env: dict[str, str], port: int, var: Path) -> subprocess.Popen:
    import requests

    var.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", str(ROOT / "p3s/gunicorn.conf.py"), "p3s.wsgi"],
        env=env,
        cwd=ROOT,
        stdout=open(var / "gunicorn.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    for _ in range(300):
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return proc
        except requests.RequestException:  # not listening yet, or slow to answer its first request
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gunicorn did not start: " + (var / "gunicorn.log").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_http(quick: bool, n_pilots: int = 64) -> dict:
    name = "p3s_bench_http"
    db_url = fresh_database(name)
    port = free_port()
    var = OUT / "http-var"
    env = server_env(db_url, var, port)
    manage(env, "migrate", "-v0")
    token = manage(env, "p3s_token", "--role", "pilot", "bench-pilots")
    n = 20_000
    fill(env, n, 1, "http")
    gunicorn = start_gunicorn(env, port, var)
    seconds = 8.0 if quick else 20.0
    log(f"http: {n_pilots} simulated pilots for {seconds:.0f} s through gunicorn")
    got, elapsed = run_pilot_processes(
        _pilot_proc, f"http://127.0.0.1:{port}", token, n_pilots, seconds
    )
    jobs = sum(g[0] for g in got)
    errors = sum(g[1] for g in got)
    wake = bench_wakeup(env, port, token)
    gunicorn.terminate()
    gunicorn.wait(20)
    drop_database(name)
    shutil.rmtree(var, ignore_errors=True)
    return {
        "pilots": n_pilots,
        "seconds": round(elapsed, 2),
        "jobs_completed": jobs,
        "jobs_per_s": round(jobs / elapsed, 1),
        "requests_per_s": round(3 * jobs / elapsed, 1),
        "errors": errors,
        "wakeup": wake,
    }


def bench_wakeup(env: dict[str, str], port: int, pilot_token: str, samples: int = 15) -> dict:
    """Announce a file while a pilot long-polls; time until the claim returns the job."""
    import requests

    url = f"http://127.0.0.1:{port}"
    daq = manage(env, "p3s_token", "--role", "daq", "bench-daq")
    # Drain what is left so the next claim must wait.
    conn = admin_conn_to(env["P3S_DATABASE_URL"])
    with conn.cursor() as cur:
        cur.execute("UPDATE jobs_job SET state='dropped' WHERE state='waiting'")
    conn.close()
    s = requests.Session()
    s.headers["Authorization"] = f"Token {pilot_token}"
    r = s.post(
        f"{url}/api/v1/pilots/", json={"host": "wake", "queues": ["default"]}, timeout=10
    ).json()
    s.headers["X-P3S-Pilot-Key"] = r["key"]
    lat = []
    for _ in range(samples):
        box: dict = {}

        def poll(box: dict = box) -> None:
            box["r"] = s.post(
                f"{url}/api/v1/pilots/{r['id']}/claim/", json={"wait": 30}, timeout=60
            )
            box["t"] = time.monotonic()

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        requests.post(
            f"{url}/api/v1/files/",
            headers={"Authorization": f"Token {daq}"},
            timeout=10,
            json={
                "url": f"file:///wake/{uuid.uuid4().hex}.h5",
                "stream": "bench",
                "run": 2,
                "timestamp": datetime.now(UTC).isoformat(),
            },
        ).raise_for_status()
        t.join(40)
        if box.get("r") is not None and box["r"].status_code == 200:
            lat.append(box["t"] - t0)
            jid = box["r"].json()["id"]
            s.post(f"{url}/api/v1/jobs/{jid}/report/", json={"state": "finished"}, timeout=10)
    lat.sort()
    return {
        "samples": len(lat),
        "median_ms": round(1000 * statistics.median(lat), 1) if lat else None,
        "max_ms": round(1000 * lat[-1], 1) if lat else None,
    }


# -- report -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parts = ["claim", "http", "hotpath", "warm", "payloads", "replay", "storage", "prune"]
    parser.add_argument("--only", choices=parts, action="append")
    args = parser.parse_args()
    only = set(args.only or parts)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p3s.settings")
    import django

    django.setup()  # only to import the claim statement from p3s.jobs.claim
    if only & {"claim", "http"} and not pg_answers():
        subprocess.run([str(ROOT / "scripts/ensure-postgres.sh")], check=True)
    data: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    part_started: dict[str, float] = {}
    bench_started = time.monotonic()
    part_started["claim"] = time.monotonic()
    if "claim" in only:
        data["claim"] = bench_claim(args.quick)
    part_started["http"] = time.monotonic()
    if "http" in only:
        data["http"] = bench_http(args.quick)
    if "claim" in data and "http" in data:
        raw = next(
            r["per_s"]
            for r in data["claim"]["runs"]
            if r["connections"] == 8 and "full" in r["what"]
        )
        data["ratio_http_to_raw"] = round(data["http"]["jobs_per_s"] / raw, 3)
        data["ratio_to_panda_node"] = round(data["http"]["jobs_per_s"] / 2.0, 1)
    sys.path.insert(0, str(ROOT / "scripts"))
    part_started["hotpath"] = time.monotonic()
    if "hotpath" in only:  # issue 12: scripts/bench_hotpath.py
        import bench_hotpath  # type: ignore[import-not-found]

        runs = data.get("claim", {}).get("runs", [])
        raw8 = next(
            (r["per_s"] for r in runs if r["connections"] == 8 and "full" in r["what"]), None
        )
        data["hotpath"] = bench_hotpath.run(args.quick, raw8)
    part_started["warm"] = time.monotonic()
    if "warm" in only:  # issue 12: scripts/bench_warm.py
        import bench_warm  # type: ignore[import-not-found]

        # the 6-APA file unsplit ("whole6") only on request: bench_warm.py --modes
        modes = ("warm", "cold", "split6")
        data["warm"] = bench_warm.run(2 if args.quick else 3, modes, 1)
    part_started["payloads"] = time.monotonic()
    if "payloads" in only:
        try:
            import bench_payloads  # type: ignore[import-not-found]

            data["payloads"] = bench_payloads.run(quick=args.quick)
        except ImportError as exc:
            log(f"payloads: skipped ({exc})")
    part_started["replay"] = time.monotonic()
    if "replay" in only:  # scripts/bench_replay.py: the short replay, its own process
        sys.path.insert(0, str(ROOT / "scripts"))
        import bench_replay  # type: ignore[import-not-found]

        data["replay"] = bench_replay.run(OUT, quick=args.quick)
    part_started["storage"] = time.monotonic()
    if "storage" in only:
        sys.path.insert(0, str(ROOT / "scripts"))
        import bench_storage  # type: ignore[import-not-found]  # scripts/ is on the path

        try:
            data["storage"] = bench_storage.run(quick=args.quick)
        except (RuntimeError, OSError, ImportError) as exc:
            log(f"storage: skipped ({exc})")
    part_started["prune"] = time.monotonic()
    if "prune" in only:  # issue 11: scripts/bench_prune.py, claim before/after pruning
        import bench_prune  # type: ignore[import-not-found]

        # 250,000 ended rows here (issue 12: make bench under 10 min); the million of issue 11
        # is `python scripts/bench_prune.py --rows 1000000` (its default), about 4 min more
        data["prune"] = bench_prune.run(rows=100_000 if args.quick else 250_000)
    # wall seconds of each part: one part's start to the next one's (issue 12: under 10 min)
    marks = sorted(part_started.items(), key=lambda kv: kv[1]) + [("", time.monotonic())]
    data["part_seconds"] = {
        part: round(marks[i + 1][1] - t, 1)
        for i, (part, t) in enumerate(marks[:-1])
        if part in only
    }
    data["bench_seconds"] = round(time.monotonic() - bench_started, 1)
    import bench_report  # type: ignore[import-not-found]  # scripts/ is on the path

    bench_report.write_report(data, OUT)
    if "replay" in data:
        with open(OUT / "report.md", "a") as fh:
            fh.write("\n" + "\n".join(bench_replay.markdown(OUT)))
    print((OUT / "report.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
