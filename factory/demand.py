"""How many pilots to submit (or trim) this cycle: pure arithmetic, no I/O.

For each queue the factory serves::

    want     = claimable + hot                     (hot only for the hottest queue)
    starting = max(0, running_in_batch - registered)   (running in batch, not yet known to the server)
    supply   = idle_registered + queued_in_batch + starting
    deficit  = max(0, want - supply)
    submit   = min(deficit,
                   target - alive_in_batch,        (alive = queued + running, of this factory)
                   cap left this cycle,            (shared by all queues)
                   queue_limit - queued_in_batch)  (shared by all queues)

and nothing is ever negative. Queues are served hottest first (highest top priority, then
the most claimable jobs, then by name), so the cap and the queue limit go where they matter.
When a lowered target leaves more pilots alive than allowed, the surplus that is still only
queued in the batch system is removed (running pilots are never killed: they exit by
themselves when idle). Held pilots never run and are always removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Demand:
    """What the server says about one queue."""

    claimable: int = 0
    """Jobs a pilot of this queue could claim right now."""
    top_priority: int | None = None
    """Highest priority among those jobs (None: no jobs)."""
    idle: int = 0
    """Registered pilots of this queue waiting for work."""
    busy: int = 0
    """Registered pilots of this queue running a job."""


@dataclass(frozen=True)
class Supply:
    """Pilots of this factory in the batch system, for one queue."""

    queued: int = 0
    running: int = 0
    held: int = 0


@dataclass(frozen=True)
class Limits:
    target: int
    """Maximum pilots alive (queued + running in batch) per queue."""
    cap: int | None = None
    """Maximum pilots submitted per cycle, all queues together (None: no cap)."""
    queue_limit: int | None = None
    """Maximum pilots of this factory queued in the batch system, all queues together."""
    hot: int = 0
    """Idle pilots kept ready for the hottest queue even without demand."""

    def __post_init__(self) -> None:
        for name in ("target", "cap", "queue_limit", "hot"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")


@dataclass
class QueuePlan:
    """The decision for one queue, with every number that led to it."""

    queue: str
    claimable: int
    hot: int
    idle: int
    busy: int
    queued: int
    running: int
    held: int
    want: int
    starting: int
    supply: int
    deficit: int
    submit: int = 0
    trim: int = 0
    """Queued (not yet running) pilots to remove because more are alive than the target."""
    reasons: list[str] = field(default_factory=list)

    @property
    def alive(self) -> int:
        return self.queued + self.running


@dataclass
class Plan:
    queues: list[QueuePlan]

    @property
    def submit(self) -> int:
        return sum(q.submit for q in self.queues)

    @property
    def trim(self) -> int:
        return sum(q.trim for q in self.queues)

    def for_queue(self, queue: str) -> QueuePlan:
        for q in self.queues:
            if q.queue == queue:
                return q
        raise KeyError(queue)


def hottest_queue(queues: Iterable[str], demand: Mapping[str, Demand]) -> str | None:
    """The queue whose waiting work has the highest priority; the first queue when none waits."""
    ordered = list(queues)
    if not ordered:
        return None
    with_work = [
        q
        for q in ordered
        if demand.get(q, Demand()).top_priority is not None
        and demand.get(q, Demand()).claimable > 0
    ]
    if not with_work:
        return ordered[0]
    return max(
        with_work, key=lambda q: (demand[q].top_priority, demand[q].claimable, -ordered.index(q))
    )


def _order(queues: list[str], demand: Mapping[str, Demand]) -> list[str]:
    def key(q: str) -> tuple[int, int, int, str]:
        d = demand.get(q, Demand())
        prio = d.top_priority if (d.top_priority is not None and d.claimable > 0) else -(2**31)
        return (-prio, -d.claimable, queues.index(q), q)

    return sorted(queues, key=key)


def plan_pilots(
    queues: Iterable[str],
    demand: Mapping[str, Demand],
    supply: Mapping[str, Supply],
    limits: Limits,
) -> Plan:
    """Decide, per queue, how many pilots to submit and how many queued ones to trim.

    ``demand`` and ``supply`` may lack a queue (it then counts as zero). The result lists the
    queues in the order they were served, each with its numbers and one reason per limit
    that bit.
    """
    names = list(dict.fromkeys(queues))
    hot_queue = hottest_queue(names, demand) if limits.hot else None
    cap_left = limits.cap
    queued_total = sum(supply.get(q, Supply()).queued for q in names)
    queue_room = None if limits.queue_limit is None else max(0, limits.queue_limit - queued_total)

    plans: list[QueuePlan] = []
    for name in _order(names, demand):
        d = demand.get(name, Demand())
        s = supply.get(name, Supply())
        hot = limits.hot if name == hot_queue else 0
        want = max(0, d.claimable) + hot
        starting = max(0, s.running - (d.idle + d.busy))
        supply_now = d.idle + s.queued + starting
        deficit = max(0, want - supply_now)
        p = QueuePlan(
            queue=name,
            claimable=d.claimable,
            hot=hot,
            idle=d.idle,
            busy=d.busy,
            queued=s.queued,
            running=s.running,
            held=s.held,
            want=want,
            starting=starting,
            supply=supply_now,
            deficit=deficit,
        )
        p.reasons.append(
            f"want {want} (claimable {d.claimable} + hot {hot}), supply {supply_now} "
            f"(idle {d.idle} + queued {s.queued} + starting {starting}) -> deficit {deficit}"
        )
        target_room = max(0, limits.target - p.alive)
        if p.alive > limits.target:
            p.trim = min(s.queued, p.alive - limits.target)
            p.reasons.append(
                f"{p.alive} alive > target {limits.target}: remove {p.trim} queued"
                + (
                    ""
                    if p.trim == p.alive - limits.target
                    else " (the rest run; they exit when idle)"
                )
            )
        n = deficit
        if deficit == 0 and supply_now > want:
            p.reasons.append(f"over-supplied by {supply_now - want}: submit nothing")
        if n > target_room:
            p.reasons.append(f"target {limits.target} with {p.alive} alive: at most {target_room}")
            n = target_room
        if cap_left is not None and n > cap_left:
            p.reasons.append(f"cycle cap {limits.cap}: {cap_left} left")
            n = cap_left
        if queue_room is not None and n > queue_room:
            p.reasons.append(
                f"queue limit {limits.queue_limit} with {queued_total} queued: {queue_room} left"
            )
            n = queue_room
        p.submit = n
        if cap_left is not None:
            cap_left -= n
        if queue_room is not None:
            queue_room -= n
        plans.append(p)
    return Plan(plans)
