"""The dashboard leads with detector health: the APA x plane grid, what is checked, freshness."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from p3s.conditions.models import ReferenceSet
from p3s.conditions.references import make_reference
from p3s.dags.models import DataFile
from p3s.dqm.models import Product
from p3s.front import health


def test_the_dashboard_shows_an_apa_by_plane_grid_each_cell_opening_its_checks(
    dqm_world, operator, client_of
):
    dqm_world()
    html = client_of(operator()).get("/").content.decode()
    assert 'id="apa-grid"' in html
    for apa in range(6):
        for plane in "uvx":
            assert f'id="cell-{apa}-{plane}"' in html
            assert f"/checks/?apa={apa}&amp;plane={plane}" in html


def test_with_no_check_enabled_the_dashboard_says_the_detector_is_not_checked(
    dqm_world, operator, client_of
):
    dqm_world(rule=False)
    # Nothing else is wrong: no alarm, no failure. The page must not say "All quiet".
    if health.enabled_checks():
        from p3s.quality.models import Check

        Check.objects.update(enabled=False)
    html = client_of(operator()).get("/").content.decode()
    assert "no checks enabled: the detector is not being checked" in html
    assert "All quiet" not in html
    assert "no alarm rule is enabled" in html


def test_the_dashboard_says_how_old_the_last_file_and_the_newest_product_are(
    dqm_world, operator, client_of
):
    dqm_world()
    ago = timezone.now() - timedelta(seconds=95)
    DataFile.objects.update(created=ago)
    Product.objects.update(data_ts=ago - timedelta(seconds=30))  # the age of the newest data
    html = client_of(operator()).get("/").content.decode()
    fresh = health.freshness()
    assert 94 <= fresh["last_file_s"] < 200 and 124 <= fresh["newest_product_s"] < 230
    assert re.search(r"Last file from DAQ (9[4-9]|1[0-9][0-9]) s ago", html)
    assert re.search(r"newest product (12[4-9]|1[3-9][0-9]|2[0-2][0-9]) s old", html)


def test_when_daq_is_silent_during_a_run_and_products_are_stale_the_dashboard_says_so(
    dqm_world, operator, client_of
):
    dqm_world()
    # during a run (a file less than P3S_RUN_GAP ago), but none for longer than P3S_DAQ_SILENCE,
    # and the newest data older than the latency budget
    DataFile.objects.update(created=timezone.now() - timedelta(seconds=400))
    Product.objects.update(data_ts=timezone.now() - timedelta(seconds=700))
    html = client_of(operator()).get("/").content.decode()
    assert "DAQ has been silent during a run" in html
    assert "DQM is behind" in html


def test_an_expired_reference_raises_a_warning_on_the_dashboard(hist_world, operator, client_of):
    hist_world(runs=(5001,))
    ref = make_reference("tpc-dqm", "tpc", runs=[5001])
    c = client_of(operator())
    assert 'id="reference-expired"' not in c.get("/").content.decode()
    ReferenceSet.objects.filter(pk=ref.pk).update(valid_until=timezone.now() - timedelta(days=1))
    html = c.get("/").content.decode()
    assert 'id="reference-expired"' in html and "reference expired" in html
