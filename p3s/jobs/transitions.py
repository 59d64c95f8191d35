"""The one function through which every job state change goes."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from p3s.exceptions import IllegalTransition
from p3s.jobs import wakeup
from p3s.jobs.models import Job, JobEvent
from p3s.jobs.states import JobState, can_move


def move(job: Job, to: str, *, actor: str, reason: str = "", **fields: Any) -> Job:
    """Move a (locked) job to state ``to``, set ``fields``, and record the event.

    The caller holds the row lock (``select_for_update`` in a transaction). Illegal moves
    raise IllegalTransition and change nothing.
    """
    src = job.state
    if not can_move(src, to):
        raise IllegalTransition(f"job {job.pk} cannot go from {src} to {to}")
    now = timezone.now()
    job.state = to
    changed = {"state", "updated", *fields}  # only these columns are written
    for name, value in fields.items():
        setattr(job, name, value)
    if to in (
        JobState.FINISHED,
        JobState.FAILED,
        JobState.TIMEOUT,
        JobState.DROPPED,
        JobState.CANCELLED,
    ):
        job.ended_at = now
        changed.add("ended_at")
    if to == JobState.WAITING:
        job.pilot = None
        job.deadline = None
        job.dispatched_at = None
        job.started_at = None
        job.ended_at = None
        changed.update(("pilot", "deadline", "dispatched_at", "started_at", "ended_at"))
        wakeup.notify_claimable()
    job.updated = now
    job.save(update_fields=changed)
    JobEvent.objects.create(
        job=job, from_state=src, to_state=to, actor=actor, reason=reason[:2000], attempt=job.attempt
    )
    return job


def record_new(job: Job, *, actor: str, reason: str = "") -> None:
    """The creation event of a job (from nothing to its first state)."""
    JobEvent.objects.create(
        job=job, from_state="", to_state=job.state, actor=actor, reason=reason, attempt=job.attempt
    )
    if job.state == JobState.WAITING:
        wakeup.notify_claimable()
