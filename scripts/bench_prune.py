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
    live, st, pilot = bench_hotpath.scale_setup(env)
    per_run = min(PER_RUN, n)
    conn = bench.admin_conn_to(url)
    with conn.cursor() as cur:
        cur.execute(bench_hotpath.BULK, {"run": live, "st": st, "n": waiting})
        if n:
            cur.execute(
                OLD, {"runs": max(1, n // per_run), "per_run": per_run, "live": live, "st": st}
            )
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


def _measure(dbs: dict[str, tuple[str, int]], claims: int, rounds: int = 4) -> dict:
    """Claim figures per database, measured in interleaved rounds: a burst of the shared
    machine's load falls on both alike."""
    lat: dict[str, list[float]] = {k: [] for k in dbs}
    plans: dict[str, str] = {}
    for _ in range(rounds):
        for key, (url, pilot) in dbs.items():
            more, plans[key] = bench_hotpath.claim_latencies(url, pilot, max(1, claims // rounds))
            lat[key] += more
    return {k: {**_figures(lat[k], plans[k]), **_sizes(dbs[k][0])} for k in dbs}


def _vacuum(url: str) -> None:
    conn = bench.admin_conn_to(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.close()


def run(
    rows: int = 1_000_000, waiting: int = 10_000, claims: int = 400, db: str = "p3s_bench_prune"
) -> dict:
    """The pruned database (``waiting`` + ``rows`` ended jobs) against a control with the same
    waiting jobs only, before and after pruning: the ratio pruned/control is the figure."""
    t0 = time.perf_counter()
    url, env, pilot = _setup(rows, waiting, db)
    fill_s = time.perf_counter() - t0
    bench.log(f"prune: {rows:,} ended job rows and {waiting:,} waiting in {fill_s:.0f} s")
    control_url, _, control_pilot = _setup(0, waiting, db + "_control")
    dbs = {"control": (control_url, control_pilot), "pruned": (url, pilot)}
    before = _measure(dbs, claims)
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
    _vacuum(url)  # as autovacuum would, soon after
    _vacuum(control_url)
    after = _measure(dbs, claims)
    bench.drop_database(db)
    bench.drop_database(db + "_control")

    def ratio(side: dict, key: str) -> float:
        return round(side["pruned"][key] / side["control"][key], 2)

    return {
        "ended_rows": rows,
        "waiting": waiting,
        "fill_seconds": round(fill_s, 1),
        "prune_seconds": round(prune_s, 1),
        "pruned_rows_per_s": round(rows / prune_s) if prune_s else None,
        "command": said,
        "before": before["pruned"],
        "after": after["pruned"],
        "control_before": before["control"],
        "control_after": after["control"],
        "ratio_to_control_p50_before": ratio(before, "p50_ms"),
        "ratio_to_control_p50_after": ratio(after, "p50_ms"),
        "ratio_to_control_p99_before": ratio(before, "p99_ms"),
        "ratio_to_control_p99_after": ratio(after, "p99_ms"),
        "ratio_p50_after_to_before": round(
            after["pruned"]["p50_ms"] / before["pruned"]["p50_ms"], 2
        ),
        "ratio_p99_after_to_before": round(
            after["pruned"]["p99_ms"] / before["pruned"]["p99_ms"], 2
        ),
    }


def markdown(p: dict) -> list[str]:
    def row(name: str, f: dict, ratio: str = "") -> str:
        return (
            f"| {name} | {f['job_rows']:,} | {f['jobs_table_mb']} MB | {f['p50_ms']} ms | "
            f"{f['p99_ms']} ms | {f['explain_execution_ms']} ms | {ratio} |"
        )

    return [
        f"## Claim before and after pruning {p['ended_rows']:,} ended job rows (issue 11)",
        "",
        f"{p['waiting']:,} waiting jobs in both databases; the control has no old rows. Pruned "
        f"by `p3s_archive --until-done` in {p['prune_seconds']} s "
        f"({p['pruned_rows_per_s']} rows/s), then VACUUM ANALYZE. The two databases are "
        "measured in interleaved rounds: read the ratios to the control, not absolute times "
        "(the machine is shared).",
        "",
        "| | job rows | jobs table | claim p50 | claim p99 | EXPLAIN execution | p50 / control |",
        "|---|---|---|---|---|---|---|",
        row("control, before", p["control_before"]),
        row("old rows in place", p["before"], str(p["ratio_to_control_p50_before"])),
        row("control, after", p["control_after"]),
        row("after pruning", p["after"], str(p["ratio_to_control_p50_after"])),
        "",
        f"p99 / control: {p['ratio_to_control_p99_before']} before, "
        f"{p['ratio_to_control_p99_after']} after. The table keeps its size after a plain "
        "VACUUM (the space is reused by new rows; VACUUM FULL or pg_repack gives it back).",
        "",
        "Claim plan with the old rows in place:",
        "",
        "```",
        p["before"]["explain"],
        "```",
        "",
        "Claim plan after pruning:",
        "",
        "```",
        p["after"]["explain"],
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
