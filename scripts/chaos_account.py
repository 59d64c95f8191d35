"""The chaos run's accounting: what was lost, what ran or was stored twice, how fast a dead
pilot's job ran again. Read from the database (SQL on the p3s tables) and from the records
the diag payload writes per attempt (``payloads/diag.py --record``)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TERMINAL = ("succeeded", "failed", "partial", "cancelled")


@dataclass
class Attempt:
    job: int
    attempt: int
    pid: int
    start: float
    end: float  # the last line written: stop, or the last tick of a killed payload
    stopped: bool
    cwd: str


def read_records(directory: Path) -> list[Attempt]:
    out = []
    for path in sorted(directory.glob("job*-a*-*.rec")):
        job, attempt, pid = path.stem.removeprefix("job").replace("-a", "-").split("-")
        start = end = None
        stopped, cwd = False, ""
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split(" ", 2)
            if len(parts) < 2:
                continue  # a line cut by the kill
            try:
                t = float(parts[1])
            except ValueError:
                continue
            if parts[0] == "start":
                start, cwd = t, parts[2] if len(parts) > 2 else ""
            end = t
            stopped = stopped or parts[0] == "stop"
        if start is not None and end is not None:
            out.append(Attempt(int(job), int(attempt), int(pid), start, end, stopped, cwd))
    return out


def overlapping_jobs(attempts: list[Attempt]) -> dict[int, list[tuple[int, int]]]:
    """Jobs two of whose attempts were alive at the same time -> the pairs of attempts."""
    by_job: dict[int, list[Attempt]] = {}
    for a in attempts:
        by_job.setdefault(a.job, []).append(a)
    found = {}
    for job, runs in by_job.items():
        runs.sort(key=lambda a: a.start)
        pairs = [
            (x.attempt, y.attempt)
            for i, x in enumerate(runs)
            for y in runs[i + 1 :]
            if y.start < x.end
        ]
        if pairs:
            found[job] = pairs
    return found


@dataclass
class Line:
    what: str
    value: Any
    goal: str
    ok: bool | None  # None: a figure, not a pass/fail count
    note: str = ""


@dataclass
class Accounting:
    lines: list[Line] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(line.ok is not False for line in self.lines)

    def table(self) -> str:
        rows = [("what", "value", "goal", "")] + [
            (
                ln.what,
                str(ln.value),
                ln.goal,
                (("" if ln.ok is None else "ok" if ln.ok else "FAIL") + f" {ln.note}").strip(),
            )
            for ln in self.lines
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        return "\n".join(
            f"| {r[0].ljust(widths[0])} | {r[1].rjust(widths[1])} | {r[2].ljust(widths[2])} | {r[3]}"
            for r in rows
        )


def _rows(cur, sql: str, args=()) -> list[tuple]:
    cur.execute(sql, args)
    return cur.fetchall()


def account(
    conn,
    records: Path,
    announced: dict[str, list[str]],
    expected: dict[str, dict[str, tuple[int, int]]],
    kills: list[dict[str, Any]],
    data_root: Path,
    goal_requeue: float,
) -> Accounting:
    """``announced``: file URL -> the templates whose DAG run it must start (every enabled
    template it triggers, scripts/chaos_watch.py); ``expected``: template -> stage ->
    (metrics, products) a finished job of it stores (templates not named there are checked
    for duplicates and missing files only); ``kills``: ``{"t", "job", "attempt"}``."""
    acc = Accounting()
    cur = conn.cursor()
    runs = {
        (url, tpl): state
        for url, tpl, state in _rows(
            cur,
            "SELECT f.url, t.name, r.state FROM dags_dagrun r JOIN dags_datafile f ON f.id = r.file_id"
            " JOIN dags_dagtemplate t ON t.id = r.template_id",
        )
    }
    pairs = [(u, t) for u, tpls in announced.items() for t in tpls]
    missing = [p for p in pairs if p not in runs]
    unfinished = [p for p in pairs if runs.get(p, "succeeded") not in TERMINAL]
    failed = [p for p in pairs if runs.get(p) in ("failed", "partial", "cancelled")]
    acc.details.update(missing=missing, unfinished=unfinished, failed=failed)
    per_tpl: dict[str, list[int]] = {}
    for p in pairs:
        n = per_tpl.setdefault(p[1], [0, 0, 0])
        n[0] += 1
        n[1] += runs.get(p) in TERMINAL
        n[2] += p in failed
    acc.lines.append(Line("DAG runs announced (all templates)", len(pairs), "", None))
    for tpl, (n, done, bad) in sorted(per_tpl.items()):
        acc.lines.append(Line(f"  {tpl}: ended / failed", f"{done} / {bad}", f"{n} / 0", None))
    acc.lines.append(
        Line("DAG runs lost (announced, never started)", len(missing), "0", not missing)
    )
    acc.lines.append(
        Line(
            "DAG runs not ended when settling stopped",
            len(unfinished),
            "0",
            not unfinished,
            "see settle: stuck, or the machine too slow for the bound" if unfinished else "",
        )
    )
    acc.lines.append(Line("DAG runs failed", len(failed), "0", not failed))

    attempts = read_records(records)
    twice = overlapping_jobs(attempts)
    acc.details["ran_twice"] = {str(k): v for k, v in twice.items()}
    acc.lines.append(Line("payload attempts recorded (diag)", len(attempts), "", None))
    acc.lines.append(Line("jobs that ran twice at once", len(twice), "0", not twice))

    dup_children = _rows(
        cur,
        "SELECT dagrun_id, stage, count(*) FROM jobs_job GROUP BY dagrun_id, stage HAVING count(*) > 1",
    )
    dup_created = _rows(
        cur,
        "SELECT job_id, count(*) FROM jobs_jobevent WHERE from_state = '' GROUP BY job_id"
        " HAVING count(*) > 1",
    )
    stages = {tpl: len(s) for tpl, s in expected.items()}
    short_runs = [
        (rid, tpl, n)
        for rid, tpl, n in _rows(
            cur,
            "SELECT r.id, t.name, count(j.id) FROM dags_dagrun r JOIN dags_dagtemplate t"
            " ON t.id = r.template_id LEFT JOIN jobs_job j ON j.dagrun_id = r.id"
            " WHERE r.state = 'succeeded' GROUP BY r.id, t.name",
        )
        if tpl in stages and n != stages[tpl]
    ]
    acc.details.update(dup_children=dup_children, dup_created=dup_created, short_runs=short_runs)
    acc.lines.append(
        Line(
            "children created twice",
            len(dup_children) + len(dup_created),
            "0",
            not dup_children and not dup_created,
        )
    )
    acc.lines.append(
        Line("children missing in succeeded runs", len(short_runs), "0", not short_runs)
    )

    lost_m = dup_m = lost_p = dup_p = 0
    finished = _rows(
        cur,
        "SELECT j.id, t.name, j.stage, j.attempt,"
        " (SELECT count(*) FROM dqm_metric m WHERE m.job_id = j.id),"
        " (SELECT count(*) FROM dqm_metric m WHERE m.job_id = j.id) - (SELECT count(*) FROM"
        "  (SELECT DISTINCT m.name, m.labels::text FROM dqm_metric m WHERE m.job_id = j.id) d),"
        " (SELECT count(*) FROM dqm_product p WHERE p.job_id = j.id),"
        " (SELECT count(*) FROM dqm_product p WHERE p.job_id = j.id) - (SELECT count(*) FROM"
        "  (SELECT DISTINCT p.kind, p.title, p.labels::text FROM dqm_product p"
        "   WHERE p.job_id = j.id) d)"
        " FROM jobs_job j JOIN dags_dagrun r ON r.id = j.dagrun_id"
        " JOIN dags_dagtemplate t ON t.id = r.template_id WHERE j.state = 'finished'",
    )
    wrong: list[dict[str, Any]] = []  # the jobs behind any non-zero count below
    for jid, tpl, stage, att, n_m, same_m, n_p, same_p in finished:
        counts = [0, same_m, 0, same_p]  # metrics lost, duplicated; products lost, duplicated
        if tpl in expected:
            want_m, want_p = expected[tpl][stage]
            counts[0] = max(0, want_m - n_m)
            counts[1] += max(0, n_m - same_m - want_m)
            counts[2] = max(0, want_p - n_p)
            counts[3] += max(0, n_p - same_p - want_p)
        lost_m, dup_m = lost_m + counts[0], dup_m + counts[1]
        lost_p, dup_p = lost_p + counts[2], dup_p + counts[3]
        if any(counts):
            wrong.append({"job": jid, "template": tpl, "stage": stage, "attempt": att,
                          "metrics_lost_dup": counts[:2], "products_lost_dup": counts[2:]})  # fmt: skip
    acc.details["wrong_jobs"] = wrong
    stale = _rows(
        cur,
        "SELECT p.id FROM dqm_product p JOIN jobs_job j ON j.id = p.job_id"
        " WHERE j.state = 'finished' AND p.attempt <> j.attempt",
    )
    files = _rows(cur, "SELECT p.id, p.file, p.size FROM dqm_product p")
    no_file = [
        pid
        for pid, name, size in files
        if not (data_root / "products" / name).is_file()
        or (data_root / "products" / name).stat().st_size != size
    ]
    n_metrics = sum(r[4] for r in finished)
    n_products = sum(r[6] for r in finished)
    acc.details.update(stale_products=[r[0] for r in stale], products_without_file=no_file)
    acc.lines.append(Line("metrics stored (finished jobs)", n_metrics, "", None))
    acc.lines.append(
        Line("metrics lost / duplicated", f"{lost_m} / {dup_m}", "0 / 0", not lost_m and not dup_m)
    )
    acc.lines.append(Line("products stored (finished jobs)", n_products, "", None))
    acc.lines.append(
        Line(
            "products lost / duplicated / of an old attempt",
            f"{lost_p} / {dup_p} / {len(stale)}",
            "0 / 0 / 0",
            not lost_p and not dup_p and not stale,
        )
    )
    acc.lines.append(
        Line("products whose file is missing or short", len(no_file), "0", not no_file)
    )

    figures: dict[bool, tuple[list[float], list[float]]] = {False: ([], []), True: ([], [])}
    for k in kills:
        to_requeue, to_run = figures[bool(k.get("after_outage"))]
        row = _rows(
            cur,
            "SELECT extract(epoch FROM min(at)) FROM jobs_jobevent WHERE job_id = %s"
            " AND to_state = 'waiting' AND from_state IN ('running', 'dispatched')"
            " AND attempt > %s",
            [k["job"], k["attempt"]],
        )
        if row and row[0][0] is not None:
            to_requeue.append(float(row[0][0]) - k["t"])
        starts = [a.start for a in attempts if a.job == k["job"] and a.attempt > k["attempt"]]
        if starts:
            to_run.append(min(starts) - k["t"])
    acc.details.update(kill_figures={str(k): v for k, v in figures.items()})
    acc.lines.append(Line("pilots SIGKILLed mid-job", len(kills), "", None))
    for after, (to_requeue, to_run) in figures.items():
        when = " (< 35 s after an outage)" if after else ""
        if to_requeue:
            acc.lines.append(
                Line(
                    f"pilot death -> job re-queued{when}, median / max s",
                    f"{statistics.median(to_requeue):.1f} / {max(to_requeue):.1f}",
                    f"<= {goal_requeue:g} (3 beats + 1 sweep)" if not after else "+ outage grace",
                    None,
                    "" if after else "met" if max(to_requeue) <= goal_requeue else "not met",
                )
            )
        if to_run:
            acc.lines.append(
                Line(
                    f"pilot death -> job running again{when}, median / max s",
                    f"{statistics.median(to_run):.1f} / {max(to_run):.1f}",
                    "",
                    None,
                )
            )
    return acc
