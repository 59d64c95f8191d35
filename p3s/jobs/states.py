"""Job states and the transitions allowed between them: written down once, here.

waiting -> dispatched -> running -> finished | failed | timeout
(a lost pilot, a failure with attempts left, a released job, an operator retry: back to waiting)
dropped: not worth running any more (prescaled out, too old, queue too deep)
cancelled: an operator said so
"""

from __future__ import annotations

from django.db import models


class JobState(models.TextChoices):
    WAITING = "waiting"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    TIMEOUT = "timeout"
    DROPPED = "dropped"
    CANCELLED = "cancelled"


S = JobState

ALLOWED: dict[str, frozenset[str]] = {
    S.WAITING: frozenset({S.DISPATCHED, S.DROPPED, S.CANCELLED}),
    # A fast job may report finished before its "running" report arrives.
    S.DISPATCHED: frozenset({S.RUNNING, S.FINISHED, S.FAILED, S.TIMEOUT, S.WAITING, S.CANCELLED}),
    S.RUNNING: frozenset({S.FINISHED, S.FAILED, S.TIMEOUT, S.WAITING, S.CANCELLED}),
    S.FINISHED: frozenset(),
    # Back to waiting: automatic retry (attempts left) or an operator's retry.
    S.FAILED: frozenset({S.WAITING}),
    S.TIMEOUT: frozenset({S.WAITING}),
    S.DROPPED: frozenset({S.WAITING}),
    S.CANCELLED: frozenset({S.WAITING}),
}

LIVE = frozenset({S.WAITING, S.DISPATCHED, S.RUNNING})
ON_PILOT = frozenset({S.DISPATCHED, S.RUNNING})
TERMINAL = frozenset({S.FINISHED, S.FAILED, S.TIMEOUT, S.DROPPED, S.CANCELLED})


def can_move(src: str, dst: str) -> bool:
    return dst in ALLOWED[JobState(src)]
