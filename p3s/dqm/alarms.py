"""Alarm rules checked as metrics arrive: open once per breach, clear when back in range.

:func:`check_metrics` is registered on :data:`p3s.dqm.services.metric_listeners` (see
``DqmConfig.ready``). A *series* is the metric on one detector element: its labels without the
context labels (run, subrun, file, event, job; :mod:`p3s.dqm.series`). A rule has at most one
active (open or acknowledged) alarm per series, enforced by a partial unique index, so a metric
that stays out of range for hours, across runs, makes one alarm, not one per file or run; the
alarm records where it opened (run, job, data time) and where it was last seen.

Prompt processing runs the newest data first, so metrics arrive out of data-time order. A
value older than what an alarm has already seen for its series changes nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from p3s.bus import outbox
from p3s.dqm.models import ACTIVE_ALARM_STATES, Alarm, AlarmRule, AlarmState, Metric
from p3s.dqm.series import element_labels, series_key
from p3s.exceptions import IllegalTransition

log = logging.getLogger(__name__)


def webhook_timeout() -> float:
    """Seconds a webhook may take (``P3S_ALARM_WEBHOOK_TIMEOUT``, default 3)."""
    raw = getattr(settings, "P3S_ALARM_WEBHOOK_TIMEOUT", None) or os.environ.get(
        "P3S_ALARM_WEBHOOK_TIMEOUT", "3"
    )
    try:
        value = float(raw)
    except ValueError:
        log.error("P3S_ALARM_WEBHOOK_TIMEOUT=%r is not a number of seconds; using 3", raw)
        return 3.0
    return max(0.1, value)


def check_metrics(rows: Iterable[Metric]) -> list[tuple[str, Alarm]]:
    """Apply the enabled rules to new metric rows. Returns the (event, alarm) pairs it made."""
    rows = list(rows)
    if not rows:
        return []
    names = {m.name for m in rows}
    rules = list(AlarmRule.objects.filter(enabled=True, metric__in=names))
    if not rules:
        return []
    # Oldest data first, so that within one batch the newest value has the last word.
    rows.sort(key=lambda m: m.data_ts)
    events: list[tuple[str, Alarm]] = []
    by_metric: dict[str, list[AlarmRule]] = {}
    for rule in rules:
        by_metric.setdefault(rule.metric, []).append(rule)
    active = {
        (a.rule_id, a.series): a
        for a in Alarm.objects.filter(rule__in=rules, state__in=ACTIVE_ALARM_STATES)
    }
    for metric in rows:
        for rule in by_metric.get(metric.name, ()):
            if not rule.matches(metric.labels):
                continue
            key = series_key(metric.labels)
            alarm = active.get((rule.pk, key))
            if alarm is not None:
                event = _update(alarm, rule, metric)
            elif rule.breaks(metric.value):
                alarm = _open(rule, key, metric)
                event = "opened" if alarm is not None else None
            else:
                event = None
            if alarm is None:
                continue
            if alarm.active:
                active[(rule.pk, key)] = alarm
            else:
                active.pop((rule.pk, key), None)
            if event:
                events.append((event, alarm))
    for event, alarm in events:
        outbox.emit(f"alarm.{event}", message_of(event, alarm))  # the bus (off by default)
    for event, alarm in events:
        notify(event, alarm)
    return events


def _update(alarm: Alarm, rule: AlarmRule, metric: Metric) -> str | None:
    """A new value for a series with an active alarm: note it, or clear when back in range."""
    if metric.data_ts < alarm.last_data_ts:
        return None  # older data than the alarm has seen: not news
    seen = {
        "last_value": metric.value,
        "last_data_ts": metric.data_ts,
        "last_run": metric.run,
        "last_job_id": metric.job_id,
    }
    for field, value in seen.items():
        setattr(alarm, field, value)
    if rule.breaks(metric.value):
        Alarm.objects.filter(pk=alarm.pk).update(**seen)
        return None
    now = timezone.now()
    changed = Alarm.objects.filter(pk=alarm.pk, state__in=ACTIVE_ALARM_STATES).update(
        state=AlarmState.CLEARED, cleared_at=now, **seen
    )
    alarm.state, alarm.cleared_at = AlarmState.CLEARED, now
    return "cleared" if changed else None


def _open(rule: AlarmRule, key: str, metric: Metric) -> Alarm | None:
    """Open an alarm for a series, unless newer data already showed it in range or one exists."""
    latest = Alarm.objects.filter(rule=rule, series=key).order_by("-id").first()
    if latest is not None and latest.last_data_ts > metric.data_ts:
        return None  # newer data of this series were seen (and were in range): stale news
    try:
        with transaction.atomic():
            return Alarm.objects.create(
                rule=rule,
                series=key,
                labels=element_labels(metric.labels),
                severity=rule.severity,
                condition=rule.condition,
                value=metric.value,
                last_value=metric.value,
                run=metric.run,
                job_id=metric.job_id,
                data_ts=metric.data_ts,
                last_data_ts=metric.data_ts,
                last_run=metric.run,
                last_job_id=metric.job_id,
            )
    except IntegrityError:
        # Another intake opened it a moment ago: that one is the alarm.
        return None


def acknowledge(alarm_id: int, actor: str) -> Alarm:
    """An operator saw the alarm. It stays active (and is not reopened) until it clears."""
    with transaction.atomic():
        alarm = Alarm.objects.select_for_update().select_related("rule").get(pk=alarm_id)
        if alarm.state == AlarmState.ACKNOWLEDGED:
            return alarm
        if alarm.state != AlarmState.OPEN:
            raise IllegalTransition(
                f"alarm {alarm_id} is {alarm.state}: only open alarms can be acknowledged"
            )
        alarm.state = AlarmState.ACKNOWLEDGED
        alarm.acked_at = timezone.now()
        alarm.acked_by = actor[:150]
        alarm.save(update_fields=["state", "acked_at", "acked_by"])
        return alarm


def clear_alarms_of(rule: AlarmRule) -> int:
    """Clear the active alarms of a rule that was disabled (nothing would ever clear them)."""
    return Alarm.objects.filter(rule=rule, state__in=ACTIVE_ALARM_STATES).update(
        state=AlarmState.CLEARED, cleared_at=timezone.now()
    )


def send_test(rule: AlarmRule) -> bool:
    """POST a test message to a rule's webhook; True when it answered 2xx/3xx."""
    fake = Alarm(
        rule=rule,
        series="{}",
        labels=dict(rule.labels),
        state=AlarmState.OPEN,
        severity=rule.severity,
        condition=rule.condition,
        value=rule.threshold,
        last_value=rule.threshold,
        data_ts=timezone.now(),
        last_data_ts=timezone.now(),
    )
    fake.opened_at = timezone.now()
    return notify("test", fake)


def message_of(event: str, alarm: Alarm) -> dict[str, Any]:
    rule = alarm.rule
    return {
        "event": event,
        "alarm": alarm.pk,
        "rule": rule.name,
        "severity": alarm.severity,
        "state": alarm.state,
        "metric": rule.metric,
        "condition": alarm.condition,
        "labels": alarm.labels,
        "value": alarm.last_value,
        "run": alarm.run,
        "job": alarm.job_id,
        "last_run": alarm.last_run,
        "last_job": alarm.last_job_id,
        "data_ts": _iso(alarm.last_data_ts),
        "opened_at": _iso(alarm.opened_at),
        "text": f"[{alarm.severity}] {rule.name} {event}: {alarm.condition} "
        f"({', '.join(f'{k}={v}' for k, v in alarm.labels.items()) or 'all'}) value {alarm.last_value:g}",
    }


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts else None


def notify(event: str, alarm: Alarm) -> bool:
    """POST the alarm to its rule's webhook. Failures are logged, never raised."""
    url = alarm.rule.webhook
    if not url:
        return False
    try:
        resp = requests.post(url, json=message_of(event, alarm), timeout=webhook_timeout())
        if resp.status_code >= 400:
            log.warning(
                "alarm webhook %s answered %s for alarm %s", url, resp.status_code, alarm.pk
            )
            return False
        return True
    except Exception as exc:  # a webhook must never break metric intake
        log.warning("alarm webhook %s failed for alarm %s: %s", url, alarm.pk, exc)
        return False
