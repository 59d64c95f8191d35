"""One factory cycle: read demand, count supply, decide, act, and log every decision."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from factory.backends.base import Backend, BatchPilot, PilotSpec
from factory.demand import Limits, Plan, Supply, plan_pilots
from factory.server import demand_from_summary, fetch_summary

log = logging.getLogger("p3s.factory")


@dataclass
class CycleResult:
    plan: Plan
    submitted: dict[str, list[str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    dry_run: bool = False


def count_supply(pilots: list[BatchPilot]) -> dict[str, Supply]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"queued": 0, "running": 0, "held": 0})
    for p in pilots:
        counts[p.queue][p.state] += 1
    return {q: Supply(**c) for q, c in counts.items()}


def run_cycle(
    *,
    server: str,
    token: str,
    backend: Backend,
    queues: list[str],
    limits: Limits,
    spec_for: Callable[[str], PilotSpec],
    dry_run: bool = False,
    fetch: Callable[[str, str], Mapping[str, Any]] = fetch_summary,
) -> CycleResult:
    """Do one cycle. Server or batch errors propagate before anything is submitted."""
    summary = fetch(server, token)
    demand = demand_from_summary(summary)
    pilots = backend.query()
    supply = count_supply(pilots)
    others = sorted(set(supply) - set(queues))
    if others:
        log.info("ignoring pilots of queues this cycle does not serve: %s", ", ".join(others))
    plan = plan_pilots(queues, demand, supply, limits)
    result = CycleResult(plan=plan, dry_run=dry_run)
    verb = "would" if dry_run else "will"

    for q in plan.queues:
        log.info(
            "queue %s: claimable %d, hot %d, registered idle %d busy %d, batch queued %d "
            "running %d held %d -> %s submit %d, trim %d",
            q.queue,
            q.claimable,
            q.hot,
            q.idle,
            q.busy,
            q.queued,
            q.running,
            q.held,
            verb,
            q.submit,
            q.trim,
        )
        for reason in q.reasons:
            log.info("queue %s: %s", q.queue, reason)

    by_queue: dict[str, list[BatchPilot]] = defaultdict(list)
    for p in pilots:
        by_queue[p.queue].append(p)
    to_remove: list[str] = []
    for q in plan.queues:
        held = [p.id for p in by_queue[q.queue] if p.state == "held"]
        if held:
            log.info(
                "queue %s: %s remove %d held pilots (they never run): %s",
                q.queue,
                verb,
                len(held),
                " ".join(held),
            )
            to_remove += held
        if q.trim:
            # The newest queued pilots go first: the oldest are closest to starting.
            queued = [p.id for p in by_queue[q.queue] if p.state == "queued"]
            trimmed = sorted(queued, key=_id_key)[-q.trim :]
            log.info(
                "queue %s: %s remove %d queued pilots over the target: %s",
                q.queue,
                verb,
                len(trimmed),
                " ".join(trimmed),
            )
            to_remove += trimmed

    if dry_run:
        for q in plan.queues:
            if q.submit:
                log.info(
                    "queue %s: dry run, would submit:\n%s",
                    q.queue,
                    backend.describe(q.submit, spec_for(q.queue)),
                )
        log.info("dry run: nothing submitted, nothing removed")
        return result

    if to_remove:
        backend.remove(to_remove)
        result.removed = to_remove
    for q in plan.queues:
        if q.submit:
            ids = backend.submit(q.submit, spec_for(q.queue))
            result.submitted[q.queue] = ids
            log.info("queue %s: submitted %d pilots: %s", q.queue, len(ids), " ".join(ids))
    if not result.submitted and not result.removed:
        log.info("nothing to do")
    return result


def _id_key(pilot_id: str) -> list[tuple[int, int, str]]:
    """Sort batch ids numerically where they are numbers ("9.1" before "10.0")."""
    return [(0, int(x), "") if x.isdigit() else (1, 0, x) for x in pilot_id.split(".")]
