#!/usr/bin/env python
"""Hot-path figures for `make bench` (issue 12): each with its goal and its ratio to the raw
full claim measured in the same run (``raw_per_s``, from scripts/bench.py).

- dispatch: 64 simulated pilots through real gunicorn, each job ``report running`` then
  ``report finished`` carrying the claim of the next job (report-and-claim); jobs/s
  dispatched and completed, and server-side latency (gunicorn's own request time, ``%(D)s``
  in its access log) of the claim-carrying requests, p50/p99;
- wake-up: file announced -> idle long-polling pilot holds the job (scripts/bench.py);
- heartbeats: 200 simulated pilots as fast as they can (scripts/bench_heartbeat.py), per
  second and p99;
- scale: the full claim (statement + event + pilot) with 1,000 / 100,000 / 1,000,000
  waiting jobs, p50/p99 and ``EXPLAIN (ANALYZE, BUFFERS)`` of the statement. The queues are
  bulk-inserted once (``generate_series``) into databases that are kept and reused
  (``p3s_bench_scale_<n>``); each run claims a few hundred jobs and puts them back.

    python scripts/bench_hotpath.py [--quick] [--only dispatch|heartbeat|scale]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402 - the helpers of scripts/bench.py
import bench_heartbeat  # noqa: E402

GOALS = {
    "jobs_per_s": 250.0,
    "claim_p50_ms": 5.0,
    "claim_p99_ms": 50.0,
    "wakeup_median_ms": 5.0,
    "heartbeats_per_s": 2000.0,
    "heartbeat_p99_ms": 50.0,
    "scale_ratio": 1.5,
}
SCALES = (1_000, 100_000, 1_000_000)
ACCESS_FORMAT = "%(m)s %(U)s?%(q)s %(s)s %(D)s"


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


# -- dispatch with report-and-claim ------------------------------------------------------


def _cpu_of(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by these processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _server_pids(master: int) -> list[int]:
    """The gunicorn master and its workers."""
    kids = Path(f"/proc/{master}/task/{master}/children")
    return [master, *(int(p) for p in kids.read_text().split())] if kids.exists() else [master]


def _database_pids(name: str) -> list[int]:
    """PostgreSQL's backends serving database ``name`` (by their process title)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                title = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if f" {name} ".encode() in title:
                pids.append(int(proc.name))
    return pids


def _machine_busy() -> float:
    """CPU seconds the whole machine spent busy so far (every process: /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait


def _rc_pilots(url: str, token: str, nthreads: int, seconds: float, results) -> None:
    import requests

    done: list[int] = []
    errors: list[int] = []

    def one() -> None:
        s = requests.Session()
        s.headers["Authorization"] = f"Token {token}"
        for _ in range(10):  # a shared, overloaded database may answer 503 for a while
            r = s.post(
                f"{url}/api/v1/pilots/",
                json={"host": socket.gethostname(), "queues": ["default"]},
                timeout=60,
            )
            if r.status_code != 503:
                break
            errors.append(503)
            time.sleep(1.0)
        r.raise_for_status()
        pid = r.json()["id"]
        s.headers["X-P3S-Pilot-Key"] = r.json()["key"]

        def claim() -> dict | None:
            r = s.post(f"{url}/api/v1/pilots/{pid}/claim/", json={"wait": 0}, timeout=60)
            return r.json() if r.status_code == 200 else None

        job = claim()
        n = 0
        end = time.monotonic() + seconds
        while job is not None and time.monotonic() < end:
            jid = job["id"]
            s.post(f"{url}/api/v1/jobs/{jid}/report/", json={"state": "running"}, timeout=60)
            # "?rc" only labels the request in the access log; the server ignores it.
            r = s.post(
                f"{url}/api/v1/jobs/{jid}/report/?rc",
                json={"state": "finished", "outputs": [], "claim": {}},
                timeout=60,
            )
            if r.status_code != 200:
                errors.append(r.status_code)
                break
            n += 1
            answer = r.json()
            # A server without report-and-claim (the baseline) sends no "next": claim.
            job = answer["next"] if "next" in answer else claim()
        done.append(n)

    threads = [threading.Thread(target=one) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = os.times()
    results.put((sum(done), len(errors), cpu.user + cpu.system))


def _server_times(log: Path) -> dict[str, list[float]]:
    """Server-side request times (ms) by kind, from gunicorn's access log."""
    kinds: dict[str, list[float]] = {
        "report_claim": [],
        "report": [],
        "claim": [],
        "hb": [],
        "announce": [],
    }
    for line in log.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[0] != "POST" or not parts[-1].isdigit():
            continue
        path, ms = parts[1], int(parts[-1]) / 1000.0
        if path.endswith("/report/?rc"):
            kinds["report_claim"].append(ms)
        elif path.endswith("/report/?"):
            kinds["report"].append(ms)
        elif path.endswith("/claim/?"):
            kinds["claim"].append(ms)
        elif path.endswith("/heartbeat/?"):
            kinds["hb"].append(ms)
        elif path.endswith("/files/?"):
            kinds["announce"].append(ms)
    return kinds


def bench_dispatch(quick: bool, n_pilots: int = 64) -> dict:
    name = f"p3s_bench_hot_{os.getpid()}"
    db_url = bench.fresh_database(name)
    port = bench.free_port()
    var = bench.OUT / "hot-var"
    env = bench.server_env(db_url, var, port)
    access = var / "access.log"
    var.mkdir(parents=True, exist_ok=True)
    env["P3S_ACCESS_LOG"] = str(access)
    env["GUNICORN_CMD_ARGS"] = f"--access-logformat '{ACCESS_FORMAT}'"
    bench.manage(env, "migrate", "-v0")
    token = bench.manage(env, "p3s_token", "--role", "pilot", "bench-hot")
    bench.fill(env, 20_000, 1, "hot")
    gunicorn = bench.start_gunicorn(env, port, var)
    url = f"http://127.0.0.1:{port}"
    try:
        seconds = 8.0 if quick else 20.0
        bench.log(f"hotpath: {n_pilots} pilots, report-and-claim, {seconds:.0f} s")
        access.write_text("")
        server = _server_pids(gunicorn.pid)
        backends0 = {p: _cpu_of([p]) for p in _database_pids(name)}
        cpu0, busy0 = _cpu_of(server), _machine_busy()
        got, elapsed = bench.run_pilot_processes(_rc_pilots, url, token, n_pilots, seconds)
        cpu, busy = _cpu_of(server) - cpu0, _machine_busy() - busy0
        db_cpu = sum(_cpu_of([p]) - backends0.get(p, 0.0) for p in _database_pids(name))
        time.sleep(0.5)  # let the access log flush
        times = _server_times(access)
        jobs = sum(g[0] for g in got)
        client = sum(g[2] for g in got)
        out: dict = {
            "pilots": n_pilots,
            "seconds": round(elapsed, 2),
            "jobs_completed": jobs,
            "jobs_per_s": round(jobs / elapsed, 1),
            "requests_per_job": round((sum(len(v) for v in times.values())) / max(jobs, 1), 2),
            "errors": sum(g[1] for g in got),
            "claim_p50_ms": pct(times["report_claim"], 0.5),
            "claim_p99_ms": pct(times["report_claim"], 0.99),
            "plain_claim_p50_ms": pct(times["claim"], 0.5),
            "plain_claim_p99_ms": pct(times["claim"], 0.99),
            "plain_claims": len(times["claim"]),
            "report_p50_ms": pct(times["report"], 0.5),
            "report_p99_ms": pct(times["report"], 0.99),
            "samples": len(times["report_claim"]),
            # CPU per job: the gunicorn processes, the simulated pilots (Python requests, on
            # the same cores), and the whole machine (PostgreSQL and anyone else included).
            "server_cpu_ms_per_job": round(1000 * cpu / max(jobs, 1), 2),
            "client_cpu_ms_per_job": round(1000 * client / max(jobs, 1), 2),
            "database_cpu_ms_per_job": round(1000 * db_cpu / max(jobs, 1), 2),
            "machine_cpu_ms_per_job": round(1000 * busy / max(jobs, 1), 2),
            "client_cpu_share": round(client / busy, 2) if busy else None,
        }
        bench.log(f"hotpath: {out['jobs_per_s']} jobs/s, claim p50 {out['claim_p50_ms']} ms")
        access.write_text("")
        out["wakeup"] = bench.bench_wakeup(env, port, token)
        time.sleep(0.5)
        # Of the wake-up, the announcement itself (its request, server side): the rest is
        # the commit's NOTIFY reaching the waiting claim, the claim, and the answer.
        out["wakeup"]["announce_p50_ms"] = pct(_server_times(access)["announce"], 0.5)
        bench.log(f"hotpath: wake-up median {out['wakeup']['median_ms']} ms")
        out["heartbeat"] = bench_heartbeats(url, env, quick, access, server)
    finally:
        gunicorn.terminate()
        gunicorn.wait(20)
        bench.drop_database(name)
        shutil.rmtree(var, ignore_errors=True)
    return out


def bench_heartbeats(
    url: str, env: dict[str, str], quick: bool, access: Path, server: list[int]
) -> dict:
    token = bench.manage(env, "p3s_token", "--role", "pilot", "bench-hb")
    pilots, procs_n = 200, 4
    seconds = 6.0 if quick else 15.0
    bench.log(f"hotpath: {pilots} pilots heartbeating for {seconds:.0f} s")
    access.write_text("")
    results: mp.Queue = mp.Queue()
    procs = [
        mp.Process(
            target=bench_heartbeat._pilots, args=(url, token, pilots // procs_n, seconds, results)
        )
        for _ in range(procs_n)
    ]
    cpu0, busy0 = _cpu_of(server), _machine_busy()
    for p in procs:
        p.start()
    got = [results.get(timeout=seconds + 300) for _ in procs]
    cpu, busy = _cpu_of(server) - cpu0, _machine_busy() - busy0
    for p in procs:
        p.join()
    client = sorted(x * 1000 for lat, _, _ in got for x in lat)
    client_cpu = sum(c for _, _, c in got)
    served = _server_times(access)["hb"]
    return {
        "pilots": pilots,
        "heartbeats_per_s": round(len(client) / seconds, 1),
        "p50_ms": round(pct(client, 0.5) or 0, 1),
        "p99_ms": round(pct(client, 0.99) or 0, 1),
        "server_p99_ms": pct(served, 0.99),
        "server_cpu_ms_per_beat": round(1000 * cpu / max(len(client), 1), 3),
        "machine_cpu_ms_per_beat": round(1000 * busy / max(len(client), 1), 3),
        "client_cpu_ms_per_beat": round(1000 * client_cpu / max(len(client), 1), 3),
        "client_cpu_share": round(client_cpu / busy, 2) if busy else None,
        "errors": sum(e for _, e, _ in got),
    }


# -- claim latency against the queue depth ------------------------------------------------

SCALE_SETUP = r"""
import os, django
django.setup()
from datetime import datetime, timezone
from p3s.dags import flow, spec
from p3s.dags.models import DagRun, DataFile, StageSettings
from p3s.accounts.models import ApiToken
from p3s.pilots import services
t = flow.apply_spec(spec.load(os.environ["BENCH_DAG"]), actor="bench").template
st = StageSettings.objects.get(template=t)
f = DataFile.objects.create(url="file:///bench/scale.h5", name="scale.h5", stream="bench",
                            run=1, data_ts=datetime(2026, 1, 1, tzinfo=timezone.utc))
run = DagRun.objects.create(template=t, version=t.current_version, file=f, data_ts=f.data_ts)
token, _ = ApiToken.issue("bench", "pilot")
pilot = services.register(token, {"host": "scale", "queues": ["default"]})[0]
print(run.pk, st.pk, pilot.pk)
"""

BULK = """
INSERT INTO jobs_job (dagrun_id, stage, settings_id, payload, args, queue, priority, data_ts,
    state, attempt, event_fraction, inputs, parents, outputs, message, log_tail, drop_reason,
    created, updated)
SELECT %(run)s, 's' || g, %(st)s, 'diag', '[]', 'default', g %% 3,
    timestamptz '2026-01-01' + g * interval '1 second', 'waiting', 1, 1.0, '[]', '{}', '[]',
    '', '', '', now(), now()
FROM generate_series(1, %(n)s) AS g
"""


def scale_setup(env: dict[str, str]) -> tuple[int, int, int]:
    """Run SCALE_SETUP against the database of ``env``: (DAG run, stage settings, pilot) ids."""
    out = subprocess.run(
        [sys.executable, "-c", SCALE_SETUP],
        env={**env, "DJANGO_SETTINGS_MODULE": "p3s.settings", "BENCH_DAG": bench.BENCH_DAG},
        cwd=bench.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    run, st, pilot = (int(x) for x in out[-3:])
    return run, st, pilot


def _scale_db(n: int) -> tuple[str, int]:
    """A database with ``n`` waiting jobs, made once and reused; (url, pilot id)."""
    import psycopg2

    name = f"p3s_bench_scale_{n}"
    url = bench.BASE_URL.rsplit("/", 1)[0] + "/" + name
    try:
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM jobs_job WHERE state = 'waiting'")
            waiting = cur.fetchone()[0]
            cur.execute("SELECT id FROM pilots_pilot ORDER BY id LIMIT 1")
            pilot = cur.fetchone()[0]
        conn.close()
        if waiting == n:  # kept from an earlier run: brought up to the code's schema
            bench.manage(bench.server_env(url, bench.OUT / "scale-var", 0), "migrate", "-v0")
            return url, pilot
    except Exception:  # noqa: BLE001 - absent or half made: make it afresh
        pass
    bench.log(f"scale: bulk-inserting {n:,} waiting jobs into {name} (kept for next runs)")
    bench.fresh_database(name)
    env = bench.server_env(url, bench.OUT / "scale-var", 0)
    bench.manage(env, "migrate", "-v0")
    run, st, pilot = scale_setup(env)
    conn = bench.admin_conn_to(url)
    with conn.cursor() as cur:
        cur.execute(BULK, {"run": run, "st": st, "n": n})
        cur.execute("VACUUM ANALYZE")
    conn.close()
    return url, pilot


def claim_latencies(url: str, pilot: int, claims: int) -> tuple[list[float], str]:
    """``claims`` claims (the one statement: job, event row, pilot row; commit) on the database at ``url``:
    their latencies in ms and the EXPLAIN ANALYZE of one more. The claimed jobs are put back
    afterwards, so the next measurement sees the same queue."""
    import psycopg2

    from p3s.jobs.claim import EXECUTE_POSTGRES, prepare_postgres

    lat = []
    conn = psycopg2.connect(url)
    cur = conn.cursor()
    cur.execute(prepare_postgres())
    conn.commit()
    for _ in range(claims):
        t0 = time.perf_counter()
        cur.execute(EXECUTE_POSTGRES, [pilot, datetime.now(UTC), None, ["default"], 30.0, "bench"])
        cur.fetchone()
        conn.commit()
        lat.append((time.perf_counter() - t0) * 1000)
    args = (pilot, datetime.now(UTC), None, ["default"], 30.0, "bench")
    cur.execute("EXPLAIN (ANALYZE, BUFFERS) EXECUTE p3s_claim(%s, %s, %s, %s, %s, %s)", args)
    plan = "\n".join(r[0] for r in cur.fetchall())
    conn.rollback()
    cur.execute(
        "UPDATE jobs_job SET state='waiting', pilot_id=NULL, deadline=NULL, "
        "dispatched_at=NULL, timeout=NULL WHERE state='dispatched'"
    )
    cur.execute("DELETE FROM jobs_jobevent WHERE actor = 'bench'")
    conn.commit()
    conn.autocommit = True
    cur.execute("VACUUM ANALYZE jobs_job")
    conn.close()
    return lat, plan


def bench_scale(quick: bool) -> dict:
    claims = 200 if quick else 500
    # The machine is shared: the sizes are measured in interleaved rounds, so that a burst
    # of someone else's load falls on all of them alike.
    rounds = 3
    lat: dict[int, list[float]] = {n: [] for n in SCALES}
    plans: dict[int, str] = {}
    dbs = {n: _scale_db(n) for n in SCALES}
    for _ in range(rounds):
        for n in SCALES:
            url, pilot = dbs[n]
            more, plans[n] = claim_latencies(url, pilot, claims // rounds)
            lat[n] += more
    rows = []
    for n in SCALES:
        exec_ms = re.search(r"Execution Time: ([0-9.]+) ms", plans[n])
        rows.append(
            {
                "waiting": n,
                "claims": len(lat[n]),
                "p50_ms": round(statistics.median(lat[n]), 2),
                "p99_ms": round(pct(lat[n], 0.99) or 0, 2),
                "explain_execution_ms": float(exec_ms.group(1)) if exec_ms else None,
                "explain": plans[n],
            }
        )
        bench.log(f"scale: {n:,} waiting: claim p50 {rows[-1]['p50_ms']} ms")
    base = rows[0]["p50_ms"]
    for r in rows:
        r["ratio_to_smallest"] = round(r["p50_ms"] / base, 2)
    return {"runs": rows}


# -- the report section -------------------------------------------------------------------


def run(quick: bool, raw_per_s: float | None = None, only: set[str] | None = None) -> dict:
    only = only or {"dispatch", "scale"}
    out: dict = {"goals": GOALS, "raw_full_claim_per_s": raw_per_s}
    if "dispatch" in only:
        out["dispatch"] = bench_dispatch(quick)
        if raw_per_s:
            out["ratio_jobs_to_raw"] = round(out["dispatch"]["jobs_per_s"] / raw_per_s, 3)
    if "scale" in only:
        out["scale"] = bench_scale(quick)
    return out


def _fig(value, goal, better: str) -> str:
    if value is None:
        return "n/a"
    ok = value >= goal if better == "high" else value <= goal
    return f"{value:g} (goal {'>=' if better == 'high' else '<='} {goal:g}: {'met' if ok else 'not met'})"


def report_lines(h: dict) -> list[str]:
    raw = h.get("raw_full_claim_per_s")

    def ratio(v: float | None) -> str:
        return f"{v / raw:.3f}" if v and raw else "n/a"

    lines = ["## The pilot hot path (issue 12)", ""]
    if raw:
        lines += [f"Ratios are to the raw full claim of this run, 8 connections: {raw:,}/s.", ""]
    lines += ["| figure | value | ratio to raw claim |", "|---|---|---|"]
    d = h.get("dispatch")
    if d:
        hb = d["heartbeat"]
        lines += [
            f"| jobs/s dispatched and completed, {d['pilots']} pilots, report-and-claim | "
            f"{_fig(d['jobs_per_s'], GOALS['jobs_per_s'], 'high')} | {ratio(d['jobs_per_s'])} |",
            f"| claim latency server side (report finished + claim), p50 ms | "
            f"{_fig(d['claim_p50_ms'], GOALS['claim_p50_ms'], 'low')} | |",
            f"| claim latency server side, p99 ms | "
            f"{_fig(d['claim_p99_ms'], GOALS['claim_p99_ms'], 'low')} | |",
            f"| plain claim requests server side ({d['plain_claims']}), p50 / p99 ms | "
            f"{d['plain_claim_p50_ms']} / {d['plain_claim_p99_ms']} | |",
            f"| requests per job | {d['requests_per_job']} | |",
            f"| CPU ms per job: server (gunicorn) / PostgreSQL / simulated pilots / whole machine | "
            f"{d['server_cpu_ms_per_job']} / {d['database_cpu_ms_per_job']} / "
            f"{d['client_cpu_ms_per_job']} / "
            f"{d['machine_cpu_ms_per_job']} (pilots: {d['client_cpu_share']:.0%} of the machine) | |",
            f"| report running server side, p50 / p99 ms | {d['report_p50_ms']} / {d['report_p99_ms']} | |",
            f"| wake-up median ms (of it, the announcement request server side: "
            f"{d['wakeup'].get('announce_p50_ms')}) | "
            f"{_fig(d['wakeup']['median_ms'], GOALS['wakeup_median_ms'], 'low')} | |",
            f"| heartbeats/s, {hb['pilots']} pilots | "
            f"{_fig(hb['heartbeats_per_s'], GOALS['heartbeats_per_s'], 'high')} | {ratio(hb['heartbeats_per_s'])} |",
            f"| heartbeat p99 ms (client; server {hb['server_p99_ms']}) | "
            f"{_fig(hb['p99_ms'], GOALS['heartbeat_p99_ms'], 'low')} | |",
            f"| CPU ms per heartbeat: server (gunicorn) / simulated pilots / whole machine | "
            f"{hb['server_cpu_ms_per_beat']} / {hb.get('client_cpu_ms_per_beat')} / "
            f"{hb['machine_cpu_ms_per_beat']} (pilots: {hb.get('client_cpu_share') or 0:.0%} "
            f"of the machine) | |",
            f"| errors | {d['errors']} + {hb['errors']} | |",
        ]
    s = h.get("scale")
    if s:
        for r in s["runs"]:
            lines.append(
                f"| full claim with {r['waiting']:,} waiting, p50 / p99 ms | {r['p50_ms']} / "
                f"{r['p99_ms']} (x{r['ratio_to_smallest']} of the smallest, goal <= 1.5); "
                f"statement {r['explain_execution_ms']} ms in EXPLAIN ANALYZE | |"
            )
        lines += ["", "EXPLAIN (ANALYZE, BUFFERS) of the claim with 1,000,000 waiting:", "", "```"]
        lines += s["runs"][-1]["explain"].splitlines()
        lines += ["```"]
    lines.append("")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["dispatch", "scale"], action="append")
    parser.add_argument("--raw", type=float, default=None, help="raw full claim/s to compare")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p3s.settings")
    import django

    django.setup()
    out = run(args.quick, args.raw, set(args.only or ["dispatch", "scale"]))
    bench.OUT.mkdir(parents=True, exist_ok=True)
    (bench.OUT / "hotpath.json").write_text(json.dumps(out, indent=1))
    print("\n".join(report_lines(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
