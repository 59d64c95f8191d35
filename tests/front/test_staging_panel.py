"""The dashboard's staging panel: each area with its state and disk use, where new work goes,
and the last switch with its reason (p3s/staging/templates/staging/panel.html)."""

from __future__ import annotations

import pytest

from p3s.staging.step import check_staging

pytestmark = pytest.mark.django_db


def test_the_dashboard_shows_each_area_its_disk_use_and_the_last_switch(
    settings, tmp_path, operator, client_of
):
    primary, fallback = tmp_path / "primary", tmp_path / "fallback"
    fallback.mkdir()
    primary.write_text("a file where the area should be: it cannot take outputs")
    settings.STAGING = {
        **settings.STAGING,
        "PRIMARY": primary.as_uri(),
        "FALLBACK": fallback.as_uri(),
        "PROBE_INTERVAL": 0.0,
    }
    page = client_of(operator()).get("/").content.decode()
    assert 'id="staging"' in page and "Not probed yet" in page
    check_staging()
    page = client_of(operator("o2")).get("/").content.decode()
    primary_row = page.split('id="staging-primary"', 1)[1].split("</tr>", 1)[0]
    fallback_row = page.split('id="staging-fallback"', 1)[1].split("</tr>", 1)[0]
    assert "down" in primary_row and "in use" not in primary_row
    assert "answers" in fallback_row and "in use" in fallback_row
    assert "<meter" in fallback_row and "% used" in fallback_row
    last = page.split('id="staging-last-switch"', 1)[1].split("</p>", 1)[0]
    assert "from the <b>primary</b> to the <b>fallback</b>" in last
    assert "the primary failed 1 probe in a row" in last
