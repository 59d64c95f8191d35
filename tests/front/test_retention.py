"""Retention rules delete old products (files too), metrics and cleared alarms, in batches."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from p3s.dqm.models import Alarm, Metric, Product, RetentionRule
from p3s.dqm.retention import apply_retention


@pytest.fixture
def world(dqm_world):
    return dqm_world(files=2)


def test_nothing_is_deleted_without_rules(world):
    assert apply_retention(now=timezone.now() + timedelta(days=999)) == 0


def test_old_products_of_a_kind_go_with_their_files(world):
    RetentionRule.objects.create(target="products", days=7, kind="png")
    paths = [Path(p.file.path) for p in Product.objects.filter(kind="png")]
    assert paths and all(p.exists() for p in paths)
    assert apply_retention(now=timezone.now() + timedelta(days=1)) == 0
    n = apply_retention(now=timezone.now() + timedelta(days=8))
    assert n == len(paths)
    assert (
        not Product.objects.filter(kind="png").exists()
        and Product.objects.filter(kind="bokeh").exists()
    )
    assert not any(p.exists() for p in paths)


def test_metrics_by_name_and_stream_in_batches(world):
    total = Metric.objects.count()
    RetentionRule.objects.create(target="metrics", days=1, metric="adc_rms", stream="bi")
    assert apply_retention(now=timezone.now() + timedelta(days=2)) == 0  # our files are tpc
    RetentionRule.objects.create(target="metrics", days=1, metric="adc_rms", stream="tpc")
    later = timezone.now() + timedelta(days=2)
    assert apply_retention(now=later, limit=5) == 5
    assert Metric.objects.count() == total - 5
    while apply_retention(now=later, limit=5):
        pass
    assert not Metric.objects.filter(name="adc_rms").exists()


def test_cleared_alarms_only(world):
    RetentionRule.objects.create(target="alarms", days=30)
    later = timezone.now() + timedelta(days=31)
    assert apply_retention(now=later) == 0  # the alarm is open
    Alarm.objects.update(state="cleared", cleared_at=timezone.now())
    assert apply_retention(now=later) == 1


def test_disabled_rules_do_nothing(world):
    RetentionRule.objects.create(target="metrics", days=1, enabled=False)
    assert apply_retention(now=timezone.now() + timedelta(days=5)) == 0
