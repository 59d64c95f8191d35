"""Storing a job's log (fenced by attempt, idempotent by key) and finding it again."""

from __future__ import annotations

from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone

from p3s.jobs.models import Job
from p3s.logs import store
from p3s.logs.models import JobLog
from p3s.logs.store import BadLog

__all__ = ["BadLog", "latest", "store_log"]


def _stored(job: Job, attempt: int) -> JobLog | None:
    done = JobLog.objects.filter(job=job, attempt=attempt).first()
    if done is not None:
        done.replayed = True  # type: ignore[attr-defined]
    return done


def store_log(
    job: Job,
    upload,
    cut: int,
    attempt: int,
    key: str = "",
    fence: Callable[[Job], None] | None = None,
) -> JobLog:
    """Save an uploaded gzip log of ``attempt`` and its row; one log per attempt.

    A retry (the same attempt, whatever its key: the pilot makes one key per log and keeps
    it in its spool) returns the stored row marked ``replayed``. ``fence(job)`` runs under
    the job's row lock just before the row is written; whatever refuses the row removes the
    file. Raises BadLog for an upload that is not a complete gzip log within the limit.
    """
    if (done := _stored(job, attempt)) is not None:
        return done
    name = store.new_name(job.pk, attempt, timezone.now())
    written = store.write_checked(upload, name)  # file I/O outside any transaction
    row = JobLog(
        job=job,
        attempt=attempt,
        key=key,
        name=name,
        size=written.size,
        compressed_size=written.compressed_size,
        cut_bytes=cut,
        lines=written.lines,
        sha256=written.sha256,
    )
    try:
        with transaction.atomic():
            if fence is not None:
                fence(Job.objects.select_for_update().get(pk=job.pk))
            row.save()
    except IntegrityError:
        store.remove_file(name)
        if (done := _stored(job, attempt)) is None:
            raise
        return done  # a parallel identical upload won the race
    except BaseException:
        store.remove_file(name)  # refused (fenced): no file left behind
        raise
    row.replayed = False  # type: ignore[attr-defined]
    return row


def latest(job: Job, attempt: int | None = None) -> JobLog | None:
    """The log of ``attempt``, or of the job's latest attempt that has one."""
    qs = JobLog.objects.filter(job=job)
    if attempt is not None:
        qs = qs.filter(attempt=attempt)
    return qs.order_by("-attempt").first()
