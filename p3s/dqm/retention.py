"""Retention: delete DQM results older than the rules say. The sweeper calls apply_retention.

Deletion goes in batches of at most ``limit`` rows per rule and call, so one call stays short
and the sweeper loop keeps its pace; a later call continues where this one stopped.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from p3s.dqm.models import Alarm, AlarmState, Metric, Product, RetentionRule, RetentionTarget
from p3s.dqm.thumbs import delete_thumbnail

log = logging.getLogger(__name__)
BATCH = 2000


def apply_retention(now: datetime | None = None, limit: int = BATCH) -> int:
    """Apply every enabled retention rule once; return how many rows were deleted."""
    now = now or timezone.now()
    total = 0
    for rule in RetentionRule.objects.filter(enabled=True):
        cutoff = now - timedelta(days=rule.days)
        if rule.target == RetentionTarget.PRODUCTS:
            total += _delete_products(rule, cutoff, limit)
        elif rule.target == RetentionTarget.METRICS:
            total += _delete_rows(_metrics(rule, cutoff), limit)
        elif rule.target == RetentionTarget.ALARMS:
            qs = Alarm.objects.filter(state=AlarmState.CLEARED, cleared_at__lt=cutoff)
            total += _delete_rows(qs, limit)
        elif rule.target == RetentionTarget.LOGS:
            total += _delete_rows(logs_due(rule, cutoff), limit)
    return total


def _metrics(rule: RetentionRule, cutoff: datetime):
    qs = Metric.objects.filter(created__lt=cutoff)
    if rule.metric:
        qs = qs.filter(name=rule.metric)
    if rule.stream:
        qs = qs.filter(job__dagrun__file__stream=rule.stream)
    return qs


def logs_due(rule: RetentionRule, cutoff: datetime):
    """Full job logs (p3s.logs); each file goes when its row's deletion commits."""
    from p3s.logs.models import JobLog

    qs = JobLog.objects.filter(created__lt=cutoff)
    if rule.stream:
        qs = qs.filter(job__dagrun__file__stream=rule.stream)
    return qs


def _delete_rows(qs, limit: int) -> int:
    ids = list(qs.order_by().values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    deleted, _ = qs.model.objects.filter(pk__in=ids).delete()
    return deleted


def _delete_products(rule: RetentionRule, cutoff: datetime, limit: int) -> int:
    qs = Product.objects.filter(created__lt=cutoff)
    if rule.kind:
        qs = qs.filter(kind=rule.kind)
    if rule.stream:
        qs = qs.filter(job__dagrun__file__stream=rule.stream)
    batch = list(qs.order_by().values_list("pk", "file")[:limit])
    if not batch:
        return 0
    with transaction.atomic():
        deleted, _ = Product.objects.filter(pk__in=[pk for pk, _ in batch]).delete()
    # Files go after the rows: a file without a row is harmless, a row without its file is not.
    storage = Product._meta.get_field("file").storage
    for pk, name in batch:
        if name:
            try:
                storage.delete(name)
            except OSError as exc:
                log.warning("retention could not delete product file %s: %s", name, exc)
        delete_thumbnail(storage, pk)
    return deleted
