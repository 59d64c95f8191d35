"""The sweeper's units of work. Each does one kind of clean-up on a bounded batch and
returns how many things it changed; ``sweep_once`` runs them all, ``p3s_sweep --loop``
repeats that. Tests call the units directly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from p3s.archive.sweep import archive_and_prune
from p3s.dags.matching import release_expired
from p3s.dags.models import DagTemplate
from p3s.dags.overload import adapt_prescale
from p3s.jobs import actions
from p3s.jobs.models import Job
from p3s.jobs.states import ON_PILOT, JobState
from p3s.pilots import beacon
from p3s.pilots.models import Pilot, PilotState
from p3s.quality.sweep import system_health
from p3s.staging.step import check_staging

log = logging.getLogger("p3s.sweep")
BATCH = 500
ACTOR = "sweeper"


def _locked(ids: list[int], states) -> list[Job]:
    return list(
        Job.objects.select_for_update(skip_locked=True)
        .select_related("settings")
        .filter(pk__in=ids, state__in=states)
    )


def expire_timeouts(now: datetime | None = None) -> int:
    """Jobs past their stage timeout (plus grace) become ``timeout``."""
    now = now or timezone.now()
    ids = list(
        Job.objects.filter(state__in=ON_PILOT, deadline__lt=now).values_list("id", flat=True)[
            :BATCH
        ]
    )
    done = 0
    for job_id in ids:
        with transaction.atomic():
            for job in _locked([job_id], ON_PILOT):
                if job.deadline and job.deadline < now:
                    actions.expire(job, ACTOR)
                    log.info("job %s (%s) timed out", job.pk, job.stage)
                    done += 1
    return done


def requeue_undispatched(now: datetime | None = None) -> int:
    """Jobs dispatched but never reported running within DISPATCH_GRACE go back to waiting."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=settings.P3S["DISPATCH_GRACE"])
    ids = list(
        Job.objects.filter(state=JobState.DISPATCHED, dispatched_at__lt=limit).values_list(
            "id", flat=True
        )[:BATCH]
    )
    done = 0
    for job_id in ids:
        with transaction.atomic():
            for job in _locked([job_id], [JobState.DISPATCHED]):
                actions.requeue_lost(
                    job, ACTOR, f"dispatched to pilot {job.pilot_id} but never started"
                )
                log.info("job %s re-queued: never started", job.pk)
                done += 1
    return done


def find_lost_pilots(now: datetime | None = None) -> int:
    """Pilots silent for more than LOST_AFTER_BEATS heartbeats are lost; their jobs re-queued."""
    now = now or timezone.now()
    beats = settings.P3S["LOST_AFTER_BEATS"]
    since = beacon.listening_since(now)
    if since is None:
        log.warning(
            "the API server is not beating: no pilot is declared lost while it cannot hear them"
        )
        return 0
    live = Pilot.objects.filter(state__in=[PilotState.IDLE, PilotState.BUSY])
    # last_seen + beats * interval < now, evaluated per pilot (intervals may differ).
    candidates = [
        p
        for p in live.filter(last_seen__lt=now - timedelta(seconds=0.1)).only(
            "id", "last_seen", "heartbeat_interval"
        )[:BATCH]
        if max(p.last_seen, since) + timedelta(seconds=beats * p.heartbeat_interval) < now
    ]
    done = 0
    for cand in candidates:
        with transaction.atomic():
            pilot = (
                Pilot.objects.select_for_update(skip_locked=True)
                .filter(pk=cand.pk, state__in=[PilotState.IDLE, PilotState.BUSY])
                .first()
            )
            if (
                pilot is None
                or max(pilot.last_seen, since) + timedelta(seconds=beats * pilot.heartbeat_interval)
                >= now
            ):
                continue
            silent = (now - pilot.last_seen).total_seconds()
            pilot.state = PilotState.LOST
            pilot.exit_reason = f"silent for {silent:.0f} s"
            pilot.save(update_fields=["state", "exit_reason"])
            jobs = list(
                Job.objects.select_for_update()
                .select_related("settings")
                .filter(pilot=pilot, state__in=ON_PILOT)
            )
            for job in jobs:
                actions.requeue_lost(job, ACTOR, f"pilot {pilot.pk} lost (silent {silent:.0f} s)")
            log.info(
                "pilot %s on %s lost after %.0f s; %d job(s) re-queued",
                pilot.pk,
                pilot.host,
                silent,
                len(jobs),
            )
            done += 1
    return done


def drop_stale(now: datetime | None = None) -> int:
    """Prompt policy: drop waiting jobs on data older than max_age, and beyond max_waiting."""
    now = now or timezone.now()
    done = 0
    for template in DagTemplate.objects.filter(
        Q(max_age__isnull=False) | Q(max_waiting__isnull=False)
    ):
        if template.max_age:
            cutoff = now - timedelta(seconds=template.max_age)
            ids = list(
                Job.objects.filter(
                    settings__template=template, state=JobState.WAITING, data_ts__lt=cutoff
                )
                .exclude(dagrun__generation__gt=0)  # reprocessing: old data on purpose
                .values_list("id", flat=True)[:BATCH]
            )
            done += _drop(
                ids, "too-old", f"data older than the policy's max_age of {template.max_age:g} s"
            )
        if template.max_waiting:
            deep = (
                Job.objects.filter(settings__template=template, state=JobState.WAITING)
                .values("settings")
                .annotate(n=Count("id"))
                .filter(n__gt=template.max_waiting)
            )
            for row in deep:
                ids = list(
                    Job.objects.filter(settings_id=row["settings"], state=JobState.WAITING)
                    .order_by(F("data_ts").desc(), "-id")
                    .values_list("id", flat=True)[
                        template.max_waiting : template.max_waiting + BATCH
                    ]
                )
                done += _drop(
                    ids,
                    "queue-depth",
                    f"more than {template.max_waiting} waiting: oldest data dropped",
                )
    return done


def _drop(ids: list[int], why: str, reason: str) -> int:
    done = 0
    for job_id in ids:
        with transaction.atomic():
            for job in _locked([job_id], [JobState.WAITING]):
                actions.drop(job, ACTOR, why, reason)
                done += 1
    if done:
        log.info("dropped %d waiting job(s): %s", done, reason)
    return done


_retention_last: datetime | None = None


def apply_retention(now: datetime | None = None) -> int:
    """Retention rules (p3s.dqm.retention), at most once per P3S_RETENTION_INTERVAL."""
    global _retention_last
    from p3s.dqm.retention import apply_retention as apply

    now = now or timezone.now()
    interval = timedelta(seconds=settings.P3S["RETENTION_INTERVAL"])
    if _retention_last is not None and now - _retention_last < interval:
        return 0
    _retention_last = now
    return apply(now)


UNITS = [find_lost_pilots, requeue_undispatched, expire_timeouts, drop_stale, apply_retention]
UNITS.append(system_health)  # p3s.quality: DAQ silence and DQM latency alarms
UNITS.append(adapt_prescale)  # p3s.dags.overload: the adaptive prescale
UNITS.append(release_expired)  # p3s.dags.matching: held stages whose wait is over
UNITS.append(archive_and_prune)  # p3s.archive: archive, delete ended runs' outputs, prune
UNITS.append(check_staging)  # p3s.staging: probe the staging areas, fail over, alarms


@dataclass
class SweepResult:
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def sweep_once(now: datetime | None = None) -> SweepResult:
    counts = {}
    for unit in UNITS:
        counts[unit.__name__] = unit(now)
    return SweepResult(counts)


BEAT_NAME = "sweeper"


def record_beat(errors: int = 0, last_error: str = "", name: str = BEAT_NAME) -> None:
    """Note a completed pass (and the database errors met since the previous one)."""
    from django.db.models import F

    from p3s.jobs.models import LoopBeat

    now = timezone.now()
    fields: dict = {"last_ok": now, "passes": F("passes") + 1}
    if errors:
        fields |= {"errors": F("errors") + errors, "last_error": last_error[:2000]}
        fields["last_error_at"] = now
    if not LoopBeat.objects.filter(name=name).update(**fields):
        LoopBeat.objects.get_or_create(
            name=name,
            defaults={
                "last_ok": now,
                "passes": 1,
                "errors": errors,
                "last_error": last_error[:2000],
                "last_error_at": now if errors else None,
            },
        )


def beat_age(name: str = BEAT_NAME, now: datetime | None = None) -> float | None:
    """Seconds since the loop's last completed pass; None when it never completed one."""
    from p3s.jobs.models import LoopBeat

    beat = LoopBeat.objects.filter(name=name).only("last_ok").first()
    if beat is None:
        return None
    return ((now or timezone.now()) - beat.last_ok).total_seconds()
