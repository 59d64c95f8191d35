"""The one function through which every job state change goes."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, connection
from django.db.models.sql import InsertQuery, UpdateQuery
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
        job.released_at = None  # a new attempt releases its own outputs
        changed.update(
            ("pilot", "deadline", "dispatched_at", "started_at", "ended_at", "released_at")
        )
        wakeup.notify_claimable()
    job.updated = now
    event = (src, to, actor, reason[:2000])
    if connection.vendor == "postgresql":
        _write_postgres(job, changed, event, now)
    else:
        job.save(update_fields=changed)
        JobEvent.objects.create(
            job=job, from_state=src, to_state=to, actor=actor, reason=event[3], attempt=job.attempt
        )
    return job


def _write_postgres(job: Job, changed: set[str], event: tuple[str, ...], now) -> None:
    """The job's changed columns and its event row in one statement (one round trip; every
    report makes a move). The UPDATE is the ORM's own, compiled from the fields."""
    query = UpdateQuery(Job)
    query.add_filter("pk", job.pk)
    fields = [Job._meta.get_field(name) for name in sorted(changed)]
    query.add_update_fields([(f, None, getattr(job, f.attname)) for f in fields])
    update, params = query.get_compiler(connection=connection).as_sql()
    sql = (
        f"WITH moved AS ({update} RETURNING 1) INSERT INTO {JobEvent._meta.db_table}"
        " (job_id, at, from_state, to_state, actor, reason, attempt)"
        " SELECT %s, %s, %s, %s, %s, %s, %s FROM moved"
    )
    with connection.cursor() as cur:
        cur.execute(sql, [*params, job.pk, now, *event, job.attempt])
        if cur.rowcount != 1:  # as Model.save(update_fields=...) says
            raise DatabaseError(f"job {job.pk}: the move did not affect any rows")


def create(*, actor: str, reason: str = "", **fields: Any) -> Job:
    """A new job with its creation event (from nothing to its first state).

    On PostgreSQL the row, its event and, for a waiting job, the wake-up notice are one
    statement: the ORM's own compiled INSERT in a CTE that feeds the event's INSERT (every
    announced file and every finished parent creates jobs, inside its transaction)."""
    job = Job(**fields)
    reason = reason[:2000]  # as move() cuts it
    if connection.vendor != "postgresql":
        job.save(force_insert=True)
        JobEvent.objects.create(
            job=job,
            from_state="",
            to_state=job.state,
            actor=actor,
            reason=reason,
            attempt=job.attempt,
        )
        if job.state == JobState.WAITING:
            wakeup.notify_claimable()
        return job
    query = InsertQuery(Job)
    query.insert_values([f for f in Job._meta.local_concrete_fields if not f.primary_key], [job])
    [(insert, params)] = query.get_compiler(connection=connection).as_sql()
    notice = ", pg_notify(%s, '')" if job.state == JobState.WAITING else ""
    sql = (
        f"WITH made AS ({insert} RETURNING id, attempt), event AS ("
        f"INSERT INTO {JobEvent._meta.db_table}"
        " (job_id, at, from_state, to_state, actor, reason, attempt)"
        " SELECT id, %s, '', %s, %s, %s, attempt FROM made) SELECT id" + notice + " FROM made"
    )
    extra = [job.created, job.state, actor, reason]  # created: set by as_sql's pre_save
    with connection.cursor() as cur:
        cur.execute(sql, [*params, *extra, *([wakeup.CHANNEL] if notice else [])])
        job.pk = cur.fetchone()[0]
    job._state.adding = False
    job._state.db = connection.alias
    if notice:
        wakeup.notified_in_statement()
    return job
