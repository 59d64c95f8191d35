"""What pilots, operators and the sweeper do to jobs. Views only translate HTTP into these.

Each function locks the job row, checks who is asking, moves the state through
:func:`p3s.jobs.transitions.move`, and lets the DAG logic react, all in one transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from p3s.dags import flow
from p3s.exceptions import Conflict, IllegalTransition, NotYours
from p3s.jobs import breaker, rows
from p3s.jobs.models import Job
from p3s.jobs.states import ON_PILOT, JobState
from p3s.jobs.transitions import move

# What a pilot may report (the API's choices and schema enum come from here).
REPORTABLE = ("running", "finished", "failed", "timeout", "released")


@dataclass
class Report:
    state: str
    outputs: list[str] = field(default_factory=list)
    exit_code: int | None = None
    message: str = ""
    log_tail: str = ""
    attempt: int | None = None  # the attempt the pilot ran; None: whatever it was given last


@functools.cache
def _locked_sql(for_update: bool) -> str:
    lock = " FOR UPDATE" if for_update else ""  # SQLite: the transaction holds the write lock
    return f"SELECT {rows.columns(Job, 'j')} FROM {Job._meta.db_table} j WHERE j.id = %s{lock}"


def _locked(job_id: int) -> Job:
    """The job's row, locked until the transaction ends: a report's first read, by hand
    (:mod:`p3s.jobs.rows`), as every pilot report makes it."""
    row = rows.fetch_one(_locked_sql(connection.features.has_select_for_update), [job_id])
    if row is None:
        raise Job.DoesNotExist(f"no job {job_id}")
    return rows.from_row(Job, row)


def _tail(text: str) -> str:
    limit = settings.P3S["LOG_TAIL_CHARS"]
    return text[-limit:] if text else ""


def report(
    job_id: int,
    pilot_id: int,
    rep: Report,
    actor: str,
    on_finished: Callable[[Job], None] | None = None,
) -> Job:
    """Apply a pilot's report. Repeats are harmless; a job no longer this pilot's is a Conflict.

    ``on_finished(job)`` runs in the same transaction when this report finishes the job
    (the report's metrics are stored so, :func:`p3s.dqm.services.apply_report`)."""
    if rep.state not in REPORTABLE:
        raise IllegalTransition(
            f"unknown report state {rep.state!r}: use one of {', '.join(sorted(REPORTABLE))}"
        )
    with transaction.atomic():
        job = _locked(job_id)
        if rep.attempt is not None and rep.attempt != job.attempt:
            # A late report of an older attempt: harmless if it repeats how that attempt ended.
            mine = job.events.filter(actor=actor, attempt=rep.attempt)
            last = mine.exclude(to_state=JobState.DISPATCHED).order_by("-id").first()
            if last is not None and rep.attempt < job.attempt and _same_end(last.to_state, rep):
                return job
            raise Conflict(
                f"job {job_id}: attempt {rep.attempt} is over (the job is at attempt "
                f"{job.attempt}, {job.state}); drop this report"
            )
        if job.pilot_id != pilot_id:
            # A repeat of the report that ended this pilot's attempt is harmless.
            mine = job.events.filter(actor=actor)
            if not mine.filter(to_state=JobState.DISPATCHED).exists():
                raise NotYours(f"job {job_id} was never given to pilot {pilot_id}")
            last = mine.exclude(to_state=JobState.DISPATCHED).order_by("-id").first()
            if last is not None and _same(last.to_state, rep.state, job):
                return job
            raise Conflict(
                f"job {job_id} is not running on pilot {pilot_id} any more (it is {job.state}); drop it"
            )
        if _same(job.state, rep.state, job):
            return job
        now = timezone.now()
        if rep.state == "running":
            if job.state != JobState.DISPATCHED:
                raise Conflict(f"job {job_id} is {job.state}, it cannot start running")
            deadline = now + timedelta(seconds=(job.timeout or 0) + settings.P3S["TIMEOUT_GRACE"])
            return move(job, JobState.RUNNING, actor=actor, started_at=now, deadline=deadline)
        if job.state not in ON_PILOT:
            raise Conflict(f"job {job_id} is already {job.state}")
        _free_pilot(job, done=rep.state in ("finished", "failed", "timeout"))
        if rep.state == "finished":
            outputs = list(rep.outputs)
            if job.released_at is not None:  # released outputs stay; any new ones follow
                outputs = [*job.outputs, *(o for o in outputs if o not in job.outputs)]
            move(
                job,
                JobState.FINISHED,
                actor=actor,
                outputs=outputs,
                log_tail=_tail(rep.log_tail),
                exit_code=0,
                message="",
            )
            from p3s.dqm.services import drop_superseded_metrics, drop_superseded_products

            drop_superseded_products(job)  # (imported here: dqm imports this module)
            drop_superseded_metrics(job)
            if on_finished is not None:
                on_finished(job)
            flow.on_job_finished(job, actor)
            return job
        if rep.state == "released":
            move(job, JobState.WAITING, actor=actor, reason=rep.message or "released by its pilot")
            flow.settle_dagrun_of(job)
            return job
        if rep.state == "timeout":
            move(
                job,
                JobState.TIMEOUT,
                actor=actor,
                reason=rep.message or "killed at its time limit",
                message=rep.message or "killed by the pilot at its time limit",
                log_tail=_tail(rep.log_tail),
                exit_code=rep.exit_code,
            )
            flow.settle_dagrun_of(job)
            return job
        # failed
        move(
            job,
            JobState.FAILED,
            actor=actor,
            reason=rep.message[:500],
            exit_code=rep.exit_code,
            message=rep.message,
            log_tail=_tail(rep.log_tail),
        )
        if not breaker.deterministic(job):
            _retry_if_attempts_left(job, actor)
        breaker.check_stage(job)
        flow.settle_dagrun_of(job)
        return job


def release_outputs(
    job_id: int, pilot_id: int, outputs: list[str], attempt: int | None, actor: str
) -> tuple[Job, list[Job]]:
    """A running job hands its data outputs to its children before it finishes (its
    payload goes on making products): the children whose parents are now all ready are
    created at once. Returns the job and the children made.

    The outputs are final: the job's later products, metrics and end change nothing its
    children read. A repeat with the same outputs is harmless, other outputs are a Conflict,
    and so is a release by a pilot whose attempt is over. A job that ended already (the
    release's answer was lost and the job finished since) is returned as it is: its end
    made its children. A new attempt (a retry, a lost pilot) releases its own outputs.
    """
    with transaction.atomic():
        job = _locked(job_id)
        check_current_attempt(job, pilot_id, attempt)
        if job.state not in ON_PILOT:
            return job, []
        if job.released_at is not None:
            if list(job.outputs) != list(outputs):
                raise Conflict(
                    f"job {job_id}: attempt {job.attempt} released other outputs already; "
                    "released outputs are final"
                )
            return job, []
        job.outputs, job.released_at = list(outputs), timezone.now()
        Job.objects.filter(pk=job.pk).update(outputs=job.outputs, released_at=job.released_at)
        return job, flow.on_job_finished(job, actor)


def _same_end(recorded: str, rep: Report) -> bool:
    return recorded == {"released": JobState.WAITING}.get(rep.state, rep.state)


def check_current_attempt(job: Job, pilot_id: int, attempt: int | None) -> None:
    """Fencing for uploads: only the pilot of the job's current attempt may add results.

    Raises NotYours (403) when the job was never this pilot's, Conflict (409) when this
    pilot's attempt is over (the job was re-queued, possibly to another pilot).
    """
    actor = f"pilot:{pilot_id}"
    dispatches = job.events.filter(to_state=JobState.DISPATCHED).order_by("-id")
    last = dispatches.first()
    if last is None or not dispatches.filter(actor=actor).exists():
        raise NotYours(f"job {job.pk} was never given to pilot {pilot_id}")
    over = (
        last.actor != actor
        or last.attempt != job.attempt
        or job.state == JobState.WAITING
        or (attempt is not None and attempt != job.attempt)
    )
    if over:
        which = f"attempt {attempt}" if attempt is not None else f"pilot {pilot_id}'s attempt"
        raise Conflict(
            f"job {job.pk}: {which} is over (the job is at attempt {job.attempt}, "
            f"{job.state}); results of an old attempt are refused"
        )


def _same(current: str, asked: str, job: Job) -> bool:
    if asked == "released":
        return current == JobState.WAITING
    if asked == "failed":
        # A failure that was retried automatically shows as waiting with a higher attempt.
        return current == JobState.FAILED
    return current == asked


# The pilot lets go of the job (if it still holds it: it may hold its next one already) and
# is idle again; written by hand, as every finished report makes it (SET sees the old row).
_FREE_PILOT = """
    UPDATE pilots_pilot SET
        job_id = CASE WHEN job_id = %(job)s THEN NULL ELSE job_id END,
        state = CASE WHEN job_id = %(job)s AND state = %(busy)s THEN %(idle)s ELSE state END,
        last_seen = %(now)s, jobs_done = jobs_done + %(done)s
    WHERE id = %(pilot)s
"""


def _free_pilot(job: Job, done: bool) -> None:
    from p3s.pilots.models import PilotState

    if job.pilot_id is None:
        return
    params = {
        "job": job.pk,
        "pilot": job.pilot_id,
        "busy": PilotState.BUSY,
        "idle": PilotState.IDLE,
        "now": timezone.now(),
        "done": int(done),
    }
    with connection.cursor() as cur:
        cur.execute(_FREE_PILOT, params)


def _retry_if_attempts_left(job: Job, actor: str) -> bool:
    max_attempts = job.settings.max_attempts
    if job.attempt < max_attempts:
        move(
            job,
            JobState.WAITING,
            actor="system",
            reason=f"automatic retry {job.attempt + 1}/{max_attempts} after failure",
            attempt=job.attempt + 1,
        )
        return True
    return False


def requeue_lost(job: Job, actor: str, reason: str) -> None:
    """A job whose pilot vanished goes back to waiting with its attempt raised (lock held)."""
    _free_pilot(job, done=False)
    if job.attempt >= job.settings.max_attempts:
        move(
            job,
            JobState.FAILED,
            actor=actor,
            reason=f"{reason}; no attempts left",
            message=f"{reason}; no attempts left",
        )
    else:
        move(job, JobState.WAITING, actor=actor, reason=reason, attempt=job.attempt + 1)
    flow.settle_dagrun_of(job)


def expire(job: Job, actor: str) -> None:
    """A job past its deadline: set aside as timeout, not retried automatically (lock held)."""
    _free_pilot(job, done=False)
    move(
        job,
        JobState.TIMEOUT,
        actor=actor,
        reason=f"past its stage timeout of {job.timeout:g} s",
        message=f"no result within the stage timeout of {job.timeout:g} s",
    )
    flow.settle_dagrun_of(job)


def drop(job: Job, actor: str, why: str, reason: str) -> None:
    move(job, JobState.DROPPED, actor=actor, reason=reason, drop_reason=why)
    flow.settle_dagrun_of(job)


# -- operator actions -------------------------------------------------------------------


def retry(job_id: int, actor: str) -> Job:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.state not in (
            JobState.FAILED,
            JobState.TIMEOUT,
            JobState.DROPPED,
            JobState.CANCELLED,
        ):
            raise IllegalTransition(
                f"job {job_id} is {job.state}: only failed, timeout, dropped or cancelled jobs can be retried"
            )
        move(
            job,
            JobState.WAITING,
            actor=actor,
            reason="retried by an operator",
            attempt=job.attempt + 1,
            drop_reason="",
            exit_code=None,
            message="",
        )
        flow.settle_dagrun_of(job)
        return job


def cancel(job_id: int, actor: str) -> Job:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.state not in (JobState.WAITING, JobState.DISPATCHED, JobState.RUNNING):
            raise IllegalTransition(
                f"job {job_id} is {job.state}: only waiting, dispatched or running jobs can be cancelled"
            )
        _free_pilot(job, done=False)
        move(job, JobState.CANCELLED, actor=actor, reason="cancelled by an operator")
        flow.settle_dagrun_of(job)
        return job


def set_priority(job_id: int, priority: int, actor: str) -> Job:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        old = job.priority
        Job.objects.filter(pk=job_id).update(priority=priority, updated=timezone.now())
        job.priority = priority
        from p3s.jobs.models import JobEvent

        JobEvent.objects.create(
            job=job,
            from_state=job.state,
            to_state=job.state,
            actor=actor,
            reason=f"priority {old} -> {priority}",
            attempt=job.attempt,
        )
        return job
