"""An alarm follows a detector element across runs: it opens once, records where it opened and
where it was last seen, and clears when newer data of the element are back in range."""

from __future__ import annotations

import pytest

from p3s.dqm.models import Alarm, AlarmRule
from p3s.dqm.series import element_key, element_labels
from p3s.dqm.services import record_metrics

from .quality_world import media, new_job, tpc_template  # noqa: F401


@pytest.fixture
def rule(db):
    tpc_template()
    return AlarmRule.objects.create(
        name="rms-high", metric="adc_rms_mean", comparison="gt", threshold=6.0, severity="critical"
    )


def feed(run: int, value: float, minutes: float, plane: str = "x"):
    job = new_job(run, minutes)
    labels = {"apa": "2", "plane": plane, "run": str(run), "subrun": "1", "stream": "tpc"}
    record_metrics(job, [{"name": "adc_rms_mean", "value": value, "labels": labels}])
    return job


def test_context_labels_are_not_part_of_the_element():
    labels = {"run": "7", "subrun": "2", "file": "f.h5", "event": "3", "job": "9", "apa": "1",
              "plane": "u", "freq_khz": "310"}  # fmt: skip
    assert element_labels(labels) == {"apa": "1", "plane": "u", "freq_khz": "310"}
    assert element_key(labels) == element_key({"plane": "u", "apa": 1, "freq_khz": 310, "run": 8})


def test_an_alarm_opened_on_run_n_clears_when_run_n_plus_1_is_in_range(rule):
    opened = feed(5001, 9.0, minutes=0)
    feed(5001, 9.5, minutes=5)
    assert Alarm.objects.get().state == "open"
    back = feed(5002, 4.0, minutes=10)
    alarm = Alarm.objects.get()
    assert alarm.state == "cleared" and alarm.cleared_at is not None
    assert (alarm.run, alarm.job_id) == (5001, opened.pk)
    assert (alarm.last_run, alarm.last_job_id, alarm.last_value) == (5002, back.pk, 4.0)
    assert alarm.labels == {"apa": "2", "plane": "x", "stream": "tpc"}


def test_an_alarm_stays_one_alarm_across_runs_while_the_element_is_out_of_range(rule):
    first = feed(5001, 9.0, minutes=0)
    for i, run in enumerate((5002, 5003, 5004), start=1):
        last = feed(run, 9.0 + i, minutes=5 * i)
    alarm = Alarm.objects.get()
    assert alarm.state == "open" and Alarm.objects.count() == 1
    assert (alarm.run, alarm.job_id, alarm.value) == (5001, first.pk, 9.0)
    assert (alarm.last_run, alarm.last_job_id, alarm.last_value) == (5004, last.pk, 12.0)
    assert alarm.last_data_ts > alarm.data_ts


def test_other_elements_keep_their_own_alarms_across_runs(rule):
    feed(5001, 9.0, minutes=0, plane="x")
    feed(5002, 9.0, minutes=5, plane="u")
    feed(5002, 4.0, minutes=6, plane="x")
    assert dict(Alarm.objects.values_list("labels__plane", "state")) == {
        "x": "cleared",
        "u": "open",
    }


def test_older_data_of_the_previous_run_do_not_reopen_a_cleared_alarm(rule):
    feed(5001, 9.0, minutes=0)
    feed(5002, 4.0, minutes=10)
    feed(5001, 9.0, minutes=5)  # a late file of run 5001, processed after newer data
    assert not Alarm.objects.filter(state="open").exists()
