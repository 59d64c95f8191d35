"""Freshness (last file from DAQ, newest product) and the sweeper's system-health alarms: DAQ
silent during a run, DQM results older than the latency budget; both clear when data flow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from p3s.dags.models import DataFile
from p3s.dqm.models import Alarm, Product
from p3s.dqm.services import store_product
from p3s.jobs import sweep
from p3s.quality.catalogue import load_checks
from p3s.quality.freshness import freshness
from p3s.quality.sweep import system_health

from .quality_world import media, new_job, tpc_template  # noqa: F401


@pytest.fixture
def world(db):
    tpc_template()
    load_checks()  # the shipped daq-silent and dqm-latency rules


def age_files(seconds: float) -> None:
    DataFile.objects.update(created=timezone.now() - timedelta(seconds=seconds))


def product(job, data_age_s: float) -> Product:
    job.data_ts = timezone.now() - timedelta(seconds=data_age_s)
    upload = SimpleUploadedFile("p.json", b'{"a": 1}', "application/json")
    return store_product(job, upload, "json", "summary", {"apa": "1"})


def test_freshness_is_unknown_before_any_data(world):
    f = freshness()
    assert f == {"last_file_s": None, "newest_product_s": None, "budget_s": 600.0,
                 "daq_silent": False, "stale": False}  # fmt: skip


def test_freshness_measures_the_last_file_and_the_newest_products_data(world):
    job = new_job(1)
    product(job, data_age_s=120)
    age_files(30)
    f = freshness()
    assert 29 < f["last_file_s"] < 40 and 119 < f["newest_product_s"] < 130
    assert not f["daq_silent"] and not f["stale"]


def test_daq_silent_during_a_run_opens_an_alarm_that_clears_when_files_come(world):
    job = new_job(1)
    product(job, data_age_s=10)
    age_files(400)
    assert freshness()["daq_silent"]
    assert system_health() >= 1
    alarm = Alarm.objects.get(rule__name="daq-silent")
    assert alarm.state == "open" and alarm.value > 300 and alarm.severity == "critical"
    new_job(1, minutes=1)  # DAQ is back
    system_health()
    alarm.refresh_from_db()
    assert alarm.state == "cleared"


def test_a_gap_longer_than_the_run_gap_is_the_end_of_a_run_not_a_silent_daq(world, settings):
    new_job(1)
    age_files(settings.P3S["RUN_GAP"] + 10)
    f = freshness()
    assert not f["daq_silent"] and not f["stale"]
    system_health()
    assert not Alarm.objects.filter(state="open").exists()


def test_results_older_than_the_latency_budget_raise_the_dqm_latency_alarm(world, settings):
    settings.P3S = {**settings.P3S, "LATENCY_BUDGET": 600.0}
    job = new_job(1)
    product(job, data_age_s=900)
    age_files(5)
    assert freshness()["stale"]
    sweep.sweep_once()  # the unit runs in the sweeper
    alarm = Alarm.objects.get(rule__name="dqm-latency")
    assert alarm.state == "open" and alarm.last_value > 600
    product(job, data_age_s=20)
    system_health()
    alarm.refresh_from_db()
    assert alarm.state == "cleared"
    assert Alarm.objects.filter(rule__name="daq-silent").count() == 0
