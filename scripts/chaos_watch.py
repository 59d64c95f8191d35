"""What the chaos run (scripts/chaos.py) watches while it runs: which DAG runs each announced
file must start (every enabled template it triggers, per template), which queues the fleet
must serve, whether the system is quiet, and how long settling may take at the pace measured.

All read with SQL on the p3s tables of the private cluster, as the accounting is
(scripts/chaos_account.py)."""

from __future__ import annotations

import fnmatch
import json
import time
from dataclasses import dataclass, field
from typing import Any

# The queue a matched stage waits on (p3s.dags.matching.HOLD_QUEUE): no pilot serves it; the
# job moves to its real queue when its files arrive or its wait is over.
HOLD_PREFIX = "~"
LIVE_JOBS = ("waiting", "dispatched", "running")


@dataclass
class Template:
    name: str
    stream: str
    pattern: str
    queues: set[str]
    longest_wait: float  # the longest match wait of its stages (0 without matching)

    def triggered_by(self, body: dict[str, Any]) -> bool:
        name = body["url"].rsplit("/", 1)[-1]
        return body["stream"] == self.stream and (
            not self.pattern or fnmatch.fnmatch(name, self.pattern)
        )


def enabled_templates(conn) -> list[Template]:
    """The templates a new file may start, with the queues their stages run on."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT t.name, t.trigger_stream, t.trigger_pattern, v.graph FROM dags_dagtemplate t"
            " JOIN dags_dagversion v ON v.id = t.current_version_id WHERE t.enabled"
        )
        rows = cur.fetchall()
    out = []
    for name, stream, pattern, graph in rows:
        graph = json.loads(graph) if isinstance(graph, str) else graph  # Django's cursor: text
        stages = graph.get("stages") or {}  # DagVersion.graph: {"order": [...], "stages": {...}}
        queues = {str(s.get("queue") or "default") for s in stages.values() if isinstance(s, dict)}
        waits = [
            float((s.get("match") or {}).get("wait") or 0)
            for s in stages.values()
            if isinstance(s, dict)
        ]
        out.append(Template(name, stream, pattern or "", queues, max(waits, default=0.0)))
    return out


def expected_runs(templates: list[Template], bodies: list[dict]) -> dict[str, list[str]]:
    """File URL -> the templates whose DAG run its announcement must start."""
    return {b["url"]: sorted(t.name for t in templates if t.triggered_by(b)) for b in bodies}


def served_queues(templates: list[Template]) -> list[str]:
    """Every queue a loaded template's stage runs on (never the matching hold queue)."""
    return sorted({q for t in templates for q in t.queues if not q.startswith(HOLD_PREFIX)})


@dataclass
class Progress:
    """One look at the runs the chaos run announced."""

    expected: int
    ended: int
    live_jobs: int  # waiting, dispatched or running jobs in those runs
    events: int  # job events so far: moves while nothing ends are progress too

    @property
    def quiet(self) -> bool:
        return self.ended >= self.expected and self.live_jobs == 0


def look(conn, runs: dict[str, list[str]]) -> Progress:
    pairs = [(url, tpl) for url, tpls in runs.items() for tpl in tpls]
    urls = [u for u, _ in pairs]
    tpls = [t for _, t in pairs]
    with conn.cursor() as cur:
        cur.execute(
            "WITH want AS (SELECT * FROM unnest(%s::text[], %s::text[]) AS w(url, tpl)),"
            " mine AS (SELECT r.id, r.state FROM dags_dagrun r"
            "  JOIN dags_datafile f ON f.id = r.file_id JOIN dags_dagtemplate t ON t.id = r.template_id"
            "  JOIN want ON want.url = f.url AND want.tpl = t.name)"
            " SELECT (SELECT count(*) FROM mine WHERE state <> 'running'),"
            " (SELECT count(*) FROM jobs_job j JOIN mine ON mine.id = j.dagrun_id"
            "  WHERE j.state = ANY(%s)),"
            " (SELECT count(*) FROM jobs_jobevent)",
            [urls, tpls, list(LIVE_JOBS)],
        )
        ended, live, events = cur.fetchone()
    return Progress(len(pairs), ended, live, events)


@dataclass
class Settler:
    """Waits for quiescence: every expected DAG run ended and no job live in them.

    The bound scales with the pace measured while the faults ran: the time the remaining
    runs need at that pace, times ``slack``, plus the longest match wait of the templates (a
    held stage sits that long before it runs), never below ``floor`` nor above ``cap``
    seconds. Past the bound it still waits while something moves (a job event within the
    last ``still`` seconds), up to ``cap``."""

    floor: float = 90.0
    cap: float = 900.0
    slack: float = 3.0
    still: float = 45.0
    started: float = field(default_factory=time.monotonic)

    def bound(self, progress: Progress, elapsed: float, extra_wait: float) -> float:
        remaining = max(0, progress.expected - progress.ended)
        pace = progress.ended / elapsed if elapsed > 0 and progress.ended else 0.0
        need = remaining / pace if pace else self.cap
        return min(self.cap, max(self.floor, self.slack * need + extra_wait))

    def wait(self, conn, runs, elapsed: float, extra_wait: float, tick) -> tuple[Progress, dict]:
        """Poll until quiet or out of time; ``tick()`` runs each second (replace pilots).
        Returns the last look and what the wait was: bound, waited, why it stopped."""
        t0 = time.monotonic()
        progress = look(conn, runs)
        bound = self.bound(progress, elapsed, extra_wait)
        last_events, last_move = progress.events, t0
        while not progress.quiet:
            now = time.monotonic()
            if progress.events != last_events:
                last_events, last_move = progress.events, now
            over = now - t0
            if over >= self.cap or (over >= bound and now - last_move >= self.still):
                break
            tick()
            time.sleep(1.0)
            progress = look(conn, runs)
        waited = time.monotonic() - t0
        why = "quiet" if progress.quiet else "bound reached with nothing moving"
        if not progress.quiet and waited >= self.cap:
            why = "cap reached"
        return progress, {"bound": round(bound, 1), "waited": round(waited, 1), "why": why}


def live_work(conn) -> int:
    """Jobs waiting, dispatched or running anywhere (work a pilot kill can still hit)."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM jobs_job WHERE state = ANY(%s)", [list(LIVE_JOBS)])
        return cur.fetchone()[0]
