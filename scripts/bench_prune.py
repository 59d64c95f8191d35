"""Bench part ``prune`` (issue 11): after pruning a million old job rows the claim costs what
it cost before.

A database with ``waiting`` claimable jobs (scripts/bench_hotpath.py's set-up) gets ``n``
ENDED job rows (1,000 per DAG run, runs ended 400 days ago; ``generate_series``, seconds).
Claim latency (statement + event row + pilot row + commit, one connection) is measured with
the old rows in place, ``p3s_archive --until-done`` prunes them under a 30-day rule (the
real command, in batches of P3S_PRUNE_BATCH), ``VACUUM ANALYZE`` runs as autovacuum would,
and the claim is measured again; the report gives p50/p99 before and after, their ratio,
the prune time and the table sizes, with both EXPLAINs.

    python scripts/bench.py --only prune          # or: python scripts/bench_prune.py --rows N
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402 - the helpers of scripts/bench.py
import bench_hotpath  # noqa: E402 - its claim set-up and claim loop

OLD = """
INSERT INTO dags_datafile (url, name, stream, run, subrun, data_ts, events, size, checksum,
    replicas, created)
SELECT 'file:///bench/old/' || g || '.h5', g || '.h5', 'bench', 1, g,
    now() - interval '400 days' + g * interval '1 second', 0, 0, '', '[]',
    now() - interval '400 days'
FROM generate_series(1, %(runs)s) AS g;
INSERT INTO dags_dagrun (state, data_ts, created, ended, template_id, version_id, file_id,
    generation)
SELECT 'succeeded', f.data_ts, f.created, f.created + interval '1 minute', r.template_id,
    r.version_id, f.id, 0
FROM dags_datafile f, dags_dagrun r WHERE r.id = %(live)s AND f.url LIKE 'file:///bench/old/%%';
INSERT INTO jobs_job (dagrun_id, stage, settings_id, payload, args, queue, priority, data_ts,
    state, attempt, event_fraction, inputs, parents, outputs, message, log_tail, drop_reason,
    created, updated, ended_at)
SELECT d.id, 's' || g, %(st)s, 'diag', '[]', 'default', 0, d.data_ts, 'finished', 1, 1.0,
    '[]', '{}', '[]', '', '', '', d.created, d.ended, d.ended
FROM dags_dagrun d CROSS JOIN generate_series(1, %(per_run)s) AS g WHERE d.id <> %(live)s;
"""
PER_RUN = 1000


def _setup(n: int, waiting: int, name: str) -> tuple[str, dict, int]:
    """A fresh database ``name`` with ``waiting`` claimable jobs and ``n`` ended ones."""
    url = bench.fresh_database(name)
    env = bench.server_env(url, bench.OUT / "prune-var", 0)
    bench.manage(env, "migrate", "-v0")
    out = subprocess.run(
        [sys.executable, "-c", bench_hotpath.SCALE_SETUP],
        env={**env, "DJANGO_SETTINGS_MODULE": "p3s.settings", "BENCH_DAG": bench.BENCH_DAG},
        cwd=bench.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    live, st, pilot = (int(x) for x in out[-3:])
    per_run = min(PER_RUN, n)
    conn = bench.admin_conn_to(url)
    with conn.cursor() as cur:
        cur.execute(bench_hotpath.BULK, {"run": live, "st": st, "n": waiting})
        cur.execute(OLD, {"runs": max(1, n // per_run), "per_run": per_run, "live": live, "st": st})
        cur.execute("VACUUM ANALYZE")
    conn.close()
    return url, env, pilot


def _sizes(url: str) -> dict:
    import psycopg2

    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), pg_total_relation_size('jobs_job') FROM jobs_job")
        rows, size = cur.fetchone()
    conn.close()
    return {"job_rows": rows, "jobs_table_mb": round(size / 2**20, 1)}


def _figures(lat: list[float], plan: str) -> dict:
    exec_ms = re.search(r"Execution Time: ([0-9.]+) ms", plan)
    return {
        "claims": len(lat),
        "p50_ms": round(statistics.median(lat), 3),
        "p99_ms": round(bench_hotpath.pct(lat, 0.99) or 0, 3),
        "explain_execution_ms": float(exec_ms.group(1)) if exec_ms else None,
        "explain": plan,
    }


def run(
    rows: int = 1_000_000, waiting: int = 10_000, claims: int = 400, db: str = "p3s_bench_prune"
) -> dict:
    t0 = time.perf_counter()
    url, env, pilot = _setup(rows, waiting, db)
    fill_s = time.perf_counter() - t0
    bench.log(f"prune: {rows:,} ended job rows and {waiting:,} waiting in {fill_s:.0f} s")
    before_sizes = _sizes(url)
    before = _figures(*bench_hotpath.claim_latencies(url, pilot, claims))
    conn = bench.admin_conn_to(url)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO archive_prunerule (days, keep_dqm, enabled) VALUES (30, true, true)"
        )
    conn.close()
    t0 = time.perf_counter()
    said = bench.manage(env, "p3s_archive", "--until-done")
    prune_s = time.perf_counter() - t0
    bench.log(f"prune: {said} in {prune_s:.0f} s")
    conn = bench.admin_conn_to(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.close()
    after_sizes = _sizes(url)
    after = _figures(*bench_hotpath.claim_latencies(url, pilot, claims))
    bench.drop_database(db)
    return {
        "ended_rows": rows,
        "waiting": waiting,
        "fill_seconds": round(fill_s, 1),
        "prune_seconds": round(prune_s, 1),
        "pruned_rows_per_s": round(rows / prune_s) if prune_s else None,
        "command": said,
        "before": {**before, **before_sizes},
        "after": {**after, **after_sizes},
        "ratio_p50_after_to_before": round(after["p50_ms"] / before["p50_ms"], 2),
        "ratio_p99_after_to_before": round(after["p99_ms"] / before["p99_ms"], 2),
    }


def markdown(p: dict) -> list[str]:
    b, a = p["before"], p["after"]
    return [
        f"## Claim before and after pruning {p['ended_rows']:,} ended job rows (issue 11)",
        "",
        f"{p['waiting']:,} waiting jobs; pruned by `p3s_archive --until-done` in "
        f"{p['prune_seconds']} s ({p['pruned_rows_per_s']} rows/s), then VACUUM ANALYZE. "
        "Same run, same machine: read the ratio, not the absolute times.",
        "",
        "| | job rows | jobs table | claim p50 | claim p99 | EXPLAIN execution |",
        "|---|---|---|---|---|---|",
        f"| before | {b['job_rows']:,} | {b['jobs_table_mb']} MB | {b['p50_ms']} ms | "
        f"{b['p99_ms']} ms | {b['explain_execution_ms']} ms |",
        f"| after | {a['job_rows']:,} | {a['jobs_table_mb']} MB | {a['p50_ms']} ms | "
        f"{a['p99_ms']} ms | {a['explain_execution_ms']} ms |",
        f"| after / before | | | {p['ratio_p50_after_to_before']} | "
        f"{p['ratio_p99_after_to_before']} | |",
        "",
        "Claim plan before pruning:",
        "",
        "```",
        b["explain"],
        "```",
        "",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--claims", type=int, default=400)
    args = parser.parse_args()
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p3s.settings")
    import django

    django.setup()
    data = run(args.rows, args.waiting, args.claims)
    print(json.dumps({k: v for k, v in data.items() if k not in ("before", "after")}, indent=1))
    print("\n".join(markdown(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
