"""Matching streams in the DAG: a stage asks for the files of other streams overlapping its
file's data time range, waits for them up to a limit, then runs with what has arrived.

A template stage opts in with (validated by :func:`validate_spec`)::

    match: {streams: [bi, crt], window: 2.0, wait: 300}

``window`` (seconds) widens the file's range [data_ts, data_ts_end] on both sides; ``wait``
(seconds) is how long the job may wait for the other streams. The job is created as usual
(joins, prescale, priorities unchanged) but parked on :data:`HOLD_QUEUE`, a queue no pilot can
serve (pilot queue names start with a letter or digit), with a :class:`StreamMatch` row. It is
released to its real queue as soon as every asked stream has files whose ranges cover the
file's range (checked at each announcement, :func:`on_file_announced`), or by the sweeper once
``wait`` has passed (:func:`release_expired`), with what has arrived. Either way the job gets

* the matched URLs appended to its ``inputs``;
* ``--matched JSON`` (stream -> URLs, oldest data first) and ``--match-missing JSON`` (stream ->
  the uncovered [start, end] intervals, ISO 8601) appended to its ``args``;
* a job event (waiting -> waiting) saying what was matched and what was missing.

While held the job is ``waiting``, so its DAG run stays running and the prompt policy
(max_age, max_waiting) applies to it as to any waiting job.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from django.db import transaction
from django.utils import timezone

from p3s.dags.matching_models import StreamMatch
from p3s.dags.models import DataFile
from p3s.exceptions import InvalidDag
from p3s.jobs import wakeup
from p3s.jobs.models import Job, JobEvent
from p3s.jobs.states import JobState

log = logging.getLogger("p3s.matching")
HOLD_QUEUE = "~matching"
ACTOR = "matching"
MAX_STREAMS = 8
MAX_WINDOW = 3600.0
MAX_WAIT = 86400.0
BATCH = 200
COVER_SLACK = 0.001  # seconds: files whose ranges touch within this cover a range together


# -- the template key -------------------------------------------------------------------


def validate_spec(where: str, value: Any, own_name_re) -> dict[str, Any]:
    """The ``match`` key of a stage, normalised: {streams, window, wait}."""
    if not isinstance(value, dict) or set(value) - {"streams", "window", "wait"}:
        raise InvalidDag(
            f"{where}.match must be a mapping {{streams: [...], window: seconds, wait: seconds}}"
        )
    streams = value.get("streams")
    if isinstance(streams, str):
        streams = [streams]
    if (
        not isinstance(streams, list)
        or not streams
        or len(streams) > MAX_STREAMS
        or not all(isinstance(s, str) and own_name_re.match(s) for s in streams)
        or len(set(streams)) != len(streams)
    ):
        raise InvalidDag(
            f"{where}.match.streams must list 1 to {MAX_STREAMS} distinct stream names"
        )
    out: dict[str, Any] = {"streams": streams}
    for key, default, hi in (("window", 0.0, MAX_WINDOW), ("wait", 300.0, MAX_WAIT)):
        v = value.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= hi:
            raise InvalidDag(f"{where}.match.{key} must be a number of seconds in [0, {hi:g}]")
        out[key] = float(v)
    return out


# -- the data time range ------------------------------------------------------------------


def derive_end(url: str) -> datetime | None:
    """The end of a local HDF5 file's data range from its attributes (``time_end``), or None.

    Cheap on purpose: only ``file://`` URLs of files that exist here, attributes only."""
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    path = Path(unquote(parsed.path))
    try:
        import h5py

        if not path.is_file():
            return None
        with h5py.File(path, "r") as h5:
            value = h5.attrs.get("time_end")
        if value is None:
            return None
        text = value.decode() if isinstance(value, bytes) else str(value)
        end = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return end if end.tzinfo else end.replace(tzinfo=UTC)
    except (OSError, ValueError, ImportError):
        return None


def overlapping(
    stream: str, start: datetime, end: datetime
) -> list[tuple[str, datetime, datetime]]:
    """(url, start, end) of the files of a stream whose data range meets [start, end]."""
    rows = DataFile.objects.filter(stream=stream, data_ts__lte=end).order_by("data_ts", "id")
    rows = rows.values_list("url", "data_ts", "data_ts_end")
    return [(u, s, e or s) for u, s, e in rows if (e or s) >= start]


def uncovered(
    spans: list[tuple[datetime, datetime]], start: datetime, end: datetime, slack: float
) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end] that no span covers (gaps up to ``slack`` seconds ignored)."""
    if not spans:
        return [(start, end)] if end >= start else []
    gaps = []
    cursor = start
    tol = timedelta(seconds=slack)
    for s, e in sorted(spans):
        if s - cursor > tol:
            gaps.append((cursor, min(s, end)))
        cursor = max(cursor, e)
        if cursor >= end:
            break
    if end - cursor > tol:
        gaps.append((cursor, end))
    return [(a, b) for a, b in gaps if b >= a]


def _survey(match: StreamMatch, own_start: datetime, own_end: datetime):
    found: dict[str, list[str]] = {}
    missing: dict[str, list[list[str]]] = {}
    for stream in match.streams:
        files = overlapping(stream, match.range_start, match.range_end)
        found[stream] = [u for u, _, _ in files]
        gaps = uncovered([(s, e) for _, s, e in files], own_start, own_end, COVER_SLACK)
        if gaps:
            missing[stream] = [[a.isoformat(), b.isoformat()] for a, b in gaps]
    return found, missing


# -- holding and releasing ---------------------------------------------------------------


def hold(job: Job, spec: dict[str, Any], datafile: DataFile, actor: str) -> StreamMatch:
    """Park a new job until the files it asks for arrive (or release it now if they have)."""
    window = timedelta(seconds=spec["window"])
    match = StreamMatch(
        job=job,
        streams=list(spec["streams"]),
        window=spec["window"],
        range_start=datafile.data_ts - window,
        range_end=datafile.data_end + window,
        deadline=timezone.now() + timedelta(seconds=spec["wait"]),
        queue=job.queue,
    )
    match.found, match.missing = _survey(match, datafile.data_ts, datafile.data_end)
    if match.missing:
        Job.objects.filter(pk=job.pk).update(queue=HOLD_QUEUE)
        job.queue = HOLD_QUEUE
        match.save()
        JobEvent.objects.create(
            job=job,
            from_state=job.state,
            to_state=job.state,
            actor=actor,
            attempt=job.attempt,
            reason=f"waiting up to {spec['wait']:g} s for {', '.join(sorted(match.missing))} "
            f"files overlapping {datafile.data_ts.isoformat()} .. {datafile.data_end.isoformat()}",
        )
    else:
        match.save()
        _release(match, job, StreamMatch.COMPLETE, actor)
    return match


def _release(match: StreamMatch, job: Job, state: str, actor: str) -> bool:
    """Give the held job its matched files and its real queue; False if it left the queue."""
    extra = [u for s in match.streams for u in match.found.get(s, [])]
    args = list(job.args) + [
        "--matched",
        json.dumps(match.found, sort_keys=True),
        "--match-missing",
        json.dumps(match.missing, sort_keys=True),
    ]
    inputs = list(job.inputs) + [u for u in extra if u not in job.inputs]
    moved = Job.objects.filter(pk=job.pk, state=JobState.WAITING).update(
        queue=match.queue, args=args, inputs=inputs, updated=timezone.now()
    )
    match.state = state if moved else StreamMatch.CLOSED
    match.released_at = timezone.now()
    match.save(update_fields=["state", "released_at", "found", "missing"])
    if not moved:
        return False
    job.queue, job.args, job.inputs = match.queue, args, inputs
    got = ", ".join(f"{s}: {len(match.found.get(s, []))} file(s)" for s in match.streams)
    gap = (
        "; missing " + "; ".join(f"{s} {iv}" for s, iv in sorted(match.missing.items()))
        if match.missing
        else ""
    )
    why = "matched" if state == StreamMatch.COMPLETE else "match wait over, running with a gap"
    JobEvent.objects.create(
        job=job,
        from_state=JobState.WAITING,
        to_state=JobState.WAITING,
        actor=actor,
        attempt=job.attempt,
        reason=f"{why}: {got}{gap}"[:2000],
    )
    wakeup.notify_claimable()
    return True


def on_file_announced(datafile: DataFile) -> int:
    """A file arrived: release the held jobs it completes. Runs in the announcing transaction."""
    ids = list(
        StreamMatch.objects.filter(
            state=StreamMatch.WAITING,
            range_start__lte=datafile.data_end,
            range_end__gte=datafile.data_ts,
        ).values_list("id", "streams")
    )
    ids = [i for i, streams in ids if datafile.stream in streams]
    done = 0
    for match in (
        StreamMatch.objects.select_for_update(skip_locked=True)
        .select_related("job", "job__dagrun__file")
        .filter(pk__in=ids, state=StreamMatch.WAITING)
    ):
        f = match.job.dagrun.file
        match.found, match.missing = _survey(match, f.data_ts, f.data_end)
        if match.missing:
            match.save(update_fields=["found", "missing"])
        else:
            done += _release(match, match.job, StreamMatch.COMPLETE, ACTOR)
    return done


def release_expired(now: datetime | None = None) -> int:
    """Sweeper unit: release the held jobs whose wait is over, with what has arrived."""
    now = now or timezone.now()
    ids = list(
        StreamMatch.objects.filter(state=StreamMatch.WAITING, deadline__lt=now).values_list(
            "id", flat=True
        )[:BATCH]
    )
    done = 0
    for match_id in ids:
        with transaction.atomic():
            for match in (
                StreamMatch.objects.select_for_update(skip_locked=True)
                .select_related("job", "job__dagrun__file")
                .filter(pk=match_id, state=StreamMatch.WAITING)
            ):
                f = match.job.dagrun.file
                match.found, match.missing = _survey(match, f.data_ts, f.data_end)
                state = StreamMatch.TIMED_OUT if match.missing else StreamMatch.COMPLETE
                done += _release(match, match.job, state, "sweeper")
    if done:
        log.info("released %d matched job(s) whose wait was over", done)
    return done
