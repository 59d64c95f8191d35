"""The sweeper's staging unit: probe the areas, move new work, raise or clear the alarms.

:func:`check_staging` runs every sweeper pass but probes only every
``P3S_STAGING_PROBE_INTERVAL`` seconds, and no probe is waited on for longer than
``P3S_STAGING_PROBE_TIMEOUT`` (:mod:`p3s.staging.probe`). What the probes say goes into the
:class:`~p3s.staging.models.StagingArea` rows; :func:`p3s.staging.rules.decide` says whether
new work moves, and a move is one :class:`~p3s.staging.models.StagingSwitch` row. Two alarm
series per area go through the project's alarm rules (:func:`p3s.dqm.alarms.check_metrics`,
as :mod:`p3s.quality.sweep` does for DAQ silence): ``staging_down`` (1 when the probe failed)
and ``staging_used_fraction`` (used / total bytes, when the area gives its usage), against
the rules ``staging-down`` and ``staging-full`` this module keeps in place.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from p3s.dqm import alarms
from p3s.dqm.models import AlarmRule, Metric, Severity
from p3s.staging import areas as staging_areas
from p3s.staging import probe, rules
from p3s.staging.models import Role, StagingArea, StagingSwitch

log = logging.getLogger("p3s.staging")

DOWN_RULE, FULL_RULE = "staging-down", "staging-full"


def sync_areas() -> dict[str, StagingArea]:
    """Rows for the configured areas (a changed URL starts from no probe); exactly one in use."""
    wanted = staging_areas.configured()
    rows = {a.role: a for a in StagingArea.objects.all()}
    for role, row in list(rows.items()):
        if role not in wanted:
            if row.in_use:
                _record(
                    row.role,
                    row.url,
                    Role.PRIMARY,
                    wanted[Role.PRIMARY],
                    "the fallback area is no longer configured",
                )
            row.delete()
            rows.pop(role)
    for role, url in wanted.items():
        row = rows.get(role)
        if row is None:
            rows[role] = StagingArea.objects.create(role=role, url=url)
        elif row.url != url:
            StagingArea.objects.filter(pk=row.pk).update(
                url=url,
                healthy=None,
                good_streak=0,
                bad_streak=0,
                last_error="",
                total_bytes=None,
                free_bytes=None,
            )
            row.refresh_from_db()
    if not any(r.in_use for r in rows.values()):
        StagingArea.objects.filter(role=Role.PRIMARY).update(in_use=True)
        rows[Role.PRIMARY].in_use = True
    return rows


def _record(from_role: str, from_url: str, to_role: str, to_url: str, reason: str) -> StagingSwitch:
    with transaction.atomic():
        StagingArea.objects.exclude(role=to_role).update(in_use=False)
        StagingArea.objects.filter(role=to_role).update(in_use=True)
        switch = StagingSwitch.objects.create(
            from_role=from_role, from_url=from_url, to_role=to_role, to_url=to_url, reason=reason
        )
    log.warning(
        "staging: new work moves from the %s (%s) to the %s (%s): %s",
        from_role,
        from_url,
        to_role,
        to_url,
        reason,
    )
    return switch


def _due(rows: dict[str, StagingArea], now: datetime) -> bool:
    interval = timedelta(seconds=settings.STAGING["PROBE_INTERVAL"])
    return any(r.last_probe is None or r.last_probe <= now - interval for r in rows.values())


def _apply(row: StagingArea, result: probe.Probe, now: datetime) -> None:
    row.last_probe = now
    row.probe_seconds = result.seconds
    row.healthy = result.ok
    if result.ok:
        row.good_streak, row.bad_streak = row.good_streak + 1, 0
        row.last_ok, row.last_error = now, ""
        row.total_bytes, row.free_bytes = result.total, result.free
    else:
        row.good_streak, row.bad_streak = 0, row.bad_streak + 1
        row.last_error = result.error[:2000]
    row.save(
        update_fields=[
            "last_probe",
            "probe_seconds",
            "healthy",
            "good_streak",
            "bad_streak",
            "last_ok",
            "last_error",
            "total_bytes",
            "free_bytes",
        ]
    )


def _state(row: StagingArea | None) -> rules.AreaState | None:
    if row is None:
        return None
    return rules.AreaState(row.healthy, row.good_streak, row.bad_streak, row.last_error)


def ensure_rules() -> None:
    """The two staging alarm rules exist; ``staging-full`` has the configured threshold.
    An expert may disable them in the admin: they stay disabled."""
    full = settings.STAGING["FULL_FRACTION"]
    AlarmRule.objects.get_or_create(
        name=DOWN_RULE,
        defaults={
            "metric": "staging_down",
            "comparison": "gt",
            "threshold": 0.5,
            "severity": Severity.CRITICAL,
            "description": "A staging area does not answer its probe (writing a marker file). "
            "New outputs go to the other area if it answers; see docs/storage.md, 'In an outage'.",
        },
    )
    rule, created = AlarmRule.objects.get_or_create(
        name=FULL_RULE,
        defaults={
            "metric": "staging_used_fraction",
            "comparison": "ge",
            "threshold": full,
            "severity": Severity.WARNING,
            "description": "A staging area is nearly full (P3S_STAGING_FULL_FRACTION). Free "
            "space (retention) or add room before it fills; see docs/storage.md.",
        },
    )
    if not created and rule.threshold != full:
        AlarmRule.objects.filter(pk=rule.pk).update(threshold=full)


def _alarm_events(rows: dict[str, StagingArea], now: datetime) -> int:
    ensure_rules()
    metrics = []
    for row in rows.values():
        labels = {"staging": row.role}
        metrics.append(
            Metric(
                name="staging_down",
                value=0.0 if row.healthy else 1.0,
                labels=labels,
                run=0,
                data_ts=now,
            )
        )
        if row.healthy and row.used_fraction is not None:
            metrics.append(
                Metric(
                    name="staging_used_fraction",
                    value=row.used_fraction,
                    labels=labels,
                    run=0,
                    data_ts=now,
                )
            )
    return len(alarms.check_metrics(metrics))


def check_staging(now: datetime | None = None) -> int:
    """One staging pass: probe if due, switch if the rules say so, alarms. Returns the
    switches plus alarm events it made."""
    now = now or timezone.now()
    rows = sync_areas()
    if not _due(rows, now):
        return 0
    results = probe.probe_all([r.url for r in rows.values()], settings.STAGING["PROBE_TIMEOUT"])
    for row in rows.values():
        _apply(row, results[row.url], now)
        if not row.healthy:
            log.warning("staging: the %s %s did not answer: %s", row.role, row.url, row.last_error)
    current = next(r.role for r in rows.values() if r.in_use)
    switch = rules.decide(
        current,
        _state(rows[Role.PRIMARY]),
        _state(rows.get(Role.FALLBACK)),
        settings.STAGING["DOWN_AFTER"],
        settings.STAGING["UP_AFTER"],
    )
    done = 0
    if switch is not None:
        _record(current, rows[current].url, switch.to, rows[switch.to].url, switch.reason)
        done += 1
    return done + _alarm_events(rows, now)
