"""The sweeper's staging unit on real directories: a primary that stops answering sends new
claims to the fallback, the switch is recorded with its reason, the staging-down alarm opens
and clears, new work goes back after N good probes; the claim names both places."""

from __future__ import annotations

import time

import pytest

from p3s.dqm.models import Alarm, AlarmRule, AlarmState
from p3s.staging import areas as staging_areas
from p3s.staging.models import StagingArea, StagingSwitch
from p3s.staging.probe import MARKER
from p3s.staging.step import check_staging

pytestmark = pytest.mark.django_db
FILE = {"url": "file:///d/s1.h5", "stream": "diag", "run": 3, "timestamp": "2026-11-22T00:00:00Z"}


def claim(daq, new_pilot, make_dag):
    make_dag()
    daq.post(
        "/api/v1/files/", {**FILE, "url": f"file:///d/s{time.monotonic_ns()}.h5"}, format="json"
    )
    pilot = new_pilot()
    r = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {}, format="json")
    assert r.status_code == 200, r.content
    return r.json()


def active(role):
    return Alarm.objects.filter(rule__name="staging-down", labels={"staging": role}).exclude(
        state=AlarmState.CLEARED
    )


def test_by_default_outputs_stay_under_the_data_root_with_no_fallback(
    settings, tmp_path, daq, new_pilot, make_dag
):
    settings.DATA_ROOT = tmp_path
    job = claim(daq, new_pilot, make_dag)
    assert job["output_dir"].startswith(str(tmp_path / "outputs" / "run000003"))
    assert job["output_fallback"] == ""
    check_staging()
    (area,) = StagingArea.objects.all()
    assert area.role == "primary" and area.in_use and area.healthy
    assert area.url == (tmp_path / "outputs").as_uri()
    assert (tmp_path / "outputs" / MARKER).is_file()
    assert area.total_bytes > 0 and 0 <= area.free_bytes <= area.total_bytes


def test_a_primary_that_stops_answering_sends_new_claims_to_the_fallback_and_back(
    areas, daq, new_pilot, make_dag
):
    primary, fallback = areas
    check_staging()
    job = claim(daq, new_pilot, make_dag)
    assert job["output_dir"].startswith(str(primary.path))
    assert job["output_fallback"].startswith(str(fallback.path))
    assert (
        job["output_dir"][len(str(primary.path)) :]
        == job["output_fallback"][len(str(fallback.path)) :]
    )

    primary.down()
    assert check_staging() >= 2  # the switch and the alarm that opened
    switch = StagingSwitch.objects.get()
    assert (switch.from_role, switch.to_role, switch.to_url) == (
        "primary",
        "fallback",
        fallback.url,
    )
    assert "the primary failed 1 probe in a row" in switch.reason
    area = StagingArea.objects.get(role="primary")
    assert area.healthy is False and area.bad_streak == 1 and area.last_error
    assert active("primary").count() == 1 and not active("fallback").exists()
    job = claim(daq, new_pilot, make_dag)
    assert job["output_dir"].startswith(str(fallback.path))
    assert job["output_fallback"].startswith(str(primary.path))

    primary.up()
    check_staging()  # one good probe: not yet (UP_AFTER=2)
    assert StagingSwitch.objects.count() == 1
    assert not active("primary").exists()  # the alarm clears as soon as it answers
    assert claim(daq, new_pilot, make_dag)["output_dir"].startswith(str(fallback.path))
    check_staging()
    back = StagingSwitch.objects.first()
    assert (back.from_role, back.to_role) == ("fallback", "primary")
    assert back.reason == "the primary answered 2 probes in a row"
    assert claim(daq, new_pilot, make_dag)["output_dir"].startswith(str(primary.path))
    assert Alarm.objects.get(rule__name="staging-down").state == AlarmState.CLEARED


def test_with_both_areas_down_nothing_switches_and_both_alarms_open(areas):
    primary, fallback = areas
    check_staging()
    primary.down()
    fallback.down()
    check_staging()
    check_staging()
    assert not StagingSwitch.objects.exists()
    assert staging_areas.in_use() == "primary"
    assert active("primary").count() == 1 and active("fallback").count() == 1


def test_the_probe_runs_only_once_per_interval(areas, settings):
    settings.STAGING = {**settings.STAGING, "PROBE_INTERVAL": 3600.0}
    check_staging()
    first = StagingArea.objects.get(role="primary").last_probe
    areas[0].down()
    assert check_staging() == 0
    area = StagingArea.objects.get(role="primary")
    assert area.last_probe == first and area.healthy


def test_a_nearly_full_area_raises_the_full_alarm_and_it_clears_when_the_limit_is_above(
    areas, settings
):
    settings.STAGING = {**settings.STAGING, "FULL_FRACTION": 1e-6}  # any real disk is fuller
    check_staging()
    full = Alarm.objects.filter(rule__name="staging-full").exclude(state=AlarmState.CLEARED)
    assert {a.labels["staging"] for a in full} == {"primary", "fallback"}
    area = StagingArea.objects.get(role="primary")
    assert full.get(labels={"staging": "primary"}).last_value == pytest.approx(area.used_fraction)
    settings.STAGING = {**settings.STAGING, "FULL_FRACTION": 1.0}
    check_staging()
    assert AlarmRule.objects.get(name="staging-full").threshold == 1.0
    assert not full.all().exists()  # (a fresh query: the first one is cached)


def test_a_disabled_staging_rule_stays_disabled(areas):
    check_staging()
    AlarmRule.objects.filter(name="staging-down").update(enabled=False)
    areas[0].down()
    check_staging()
    assert not AlarmRule.objects.get(name="staging-down").enabled
    assert not active("primary").exists()


def test_a_hung_server_costs_the_sweeper_at_most_the_probe_timeout(areas, settings, silent_server):
    pytest.importorskip("storage.xroot")  # (sets the client's retries first)
    hung = f"root://127.0.0.1:{silent_server.port}//staging"
    settings.STAGING = {**settings.STAGING, "PRIMARY": hung, "PROBE_TIMEOUT": 0.5}
    t0 = time.monotonic()
    check_staging()
    first = time.monotonic() - t0
    check_staging()  # the first probe is still hung: not started again, still down
    area = StagingArea.objects.get(role="primary")
    assert area.healthy is False and area.bad_streak == 2
    assert "still waiting" in area.last_error
    assert first < 5, first  # a bound, not a timing figure: the hang itself lasts 30 s
    assert StagingSwitch.objects.get().to_role == "fallback"


def test_a_changed_url_starts_the_area_from_no_probe(areas, settings, tmp_path):
    check_staging()
    other = tmp_path / "other"
    settings.STAGING = {**settings.STAGING, "FALLBACK": other.as_uri()}
    check_staging()
    area = StagingArea.objects.get(role="fallback")
    assert area.url == other.as_uri() and area.good_streak == 1  # its first probe
    settings.STAGING = {**settings.STAGING, "FALLBACK": ""}
    check_staging()
    assert list(StagingArea.objects.values_list("role", flat=True)) == ["primary"]
