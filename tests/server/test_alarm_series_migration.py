"""The migration that keys alarms by detector element: per-run duplicates merge into the oldest
active alarm, cleared history keeps its rows with the new key."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps

from p3s.dqm.models import Alarm, AlarmRule

migration = importlib.import_module("p3s.dqm.migrations.0004_alarm_series_by_element")
T0 = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)


def old_alarm(rule, run: int, state: str, minutes: int, value: float = 9.0) -> Alarm:
    """An alarm as round 1 stored it: the run inside the series key and the labels."""
    labels = {"apa": "2", "plane": "x", "run": str(run)}
    return Alarm.objects.create(
        rule=rule,
        series=f'{{"apa": "2", "plane": "x", "run": "{run}"}}',
        labels=labels,
        state=state,
        severity="critical",
        condition="adc_rms > 6",
        value=value,
        last_value=value + 1,
        run=run,
        data_ts=T0 + timedelta(minutes=minutes),
        last_data_ts=T0 + timedelta(minutes=minutes + 1),
    )


@pytest.mark.django_db
def test_per_run_alarms_of_one_element_merge_into_the_oldest_active_one():
    rule = AlarmRule.objects.create(name="rms", metric="adc_rms", threshold=6.0)
    history = old_alarm(rule, 1, "cleared", 0)
    oldest = old_alarm(rule, 2, "acknowledged", 10)
    old_alarm(rule, 3, "open", 20, value=11.0)
    newest = old_alarm(rule, 4, "open", 30, value=12.0)
    migration.rekey_alarms(apps, None)
    active = Alarm.objects.get(state__in=["open", "acknowledged"])
    assert active.pk == oldest.pk and active.state == "acknowledged"
    assert active.series == '{"apa": "2", "plane": "x"}' and active.labels == {
        "apa": "2",
        "plane": "x",
    }
    assert (active.last_value, active.last_run) == (newest.last_value, 4)
    assert active.last_data_ts == newest.last_data_ts
    kept = Alarm.objects.get(pk=history.pk)
    assert kept.series == active.series and kept.last_run == 1
    assert Alarm.objects.count() == 2


@pytest.mark.django_db
def test_alarms_of_different_elements_are_not_merged():
    rule = AlarmRule.objects.create(name="rms", metric="adc_rms", threshold=6.0)
    a = old_alarm(rule, 1, "open", 0)
    b = Alarm.objects.create(
        rule=rule, series='{"apa": "3", "run": "1"}', labels={"apa": "3", "run": "1"},
        state="open", severity="warning", condition="c", value=1, last_value=1, run=1,
        data_ts=T0, last_data_ts=T0,
    )  # fmt: skip
    migration.rekey_alarms(apps, None)
    assert set(Alarm.objects.values_list("pk", "series")) == {
        (a.pk, '{"apa": "2", "plane": "x"}'),
        (b.pk, '{"apa": "3"}'),
    }
