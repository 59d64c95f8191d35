"""The checks of one APA plane: what its grid cell rolls up, failing checks first, with plots."""

from __future__ import annotations

import pytest

from p3s.conditions.references import make_reference
from p3s.quality.catalogue import load_checks


@pytest.fixture
def noisy_world(hist_world):
    """Run 5001 good and the reference; run 5002 with APA 2 plane x noisier (7 ADC)."""
    load_checks()
    hist_world(runs=(5001,))
    make_reference("tpc-dqm", "tpc", runs=[5001])
    return hist_world(runs=(5002,), good_runs=0)


def test_the_grid_cell_of_the_noisy_plane_is_red_and_the_others_green(
    noisy_world, operator, client_of
):
    resp = client_of(operator()).get("/")
    rows = {r["apa"]: r["cells"] for r in resp.context["grid_rows"]}
    flags = {(apa, c["plane"]): c["flag"] for apa, cells in rows.items() for c in cells}
    assert flags[(2, "x")] == "bad"
    assert all(flags[(a, p)] == "good" for a in (1, 2) for p in "uvx" if (a, p) != (2, "x"))
    assert all(flags[(a, p)] == "undefined" for a in (0, 3, 4, 5) for p in "uvx")
    assert "bad: APA 2 plane x" in resp.content.decode()


def test_the_checks_page_lists_the_failing_check_and_draws_the_plane_over_the_reference(
    noisy_world, operator, client_of
):
    resp = client_of(operator()).get("/checks/?apa=2&plane=x")
    failing = resp.context["failing"]
    names = {r.check_ref.name for r in failing}
    assert {"noise-rms-plane", "noise-rms-plane-reference", "rms-hist-reference"} <= names
    assert all(r.flag in ("bad", "warning") for r in failing)
    html = resp.content.decode()
    assert 'id="overlays"' in html and 'class="reference"' in html and 'class="ratio"' in html


def test_a_good_plane_has_no_failing_check(noisy_world, operator, client_of):
    resp = client_of(operator()).get("/checks/?apa=1&plane=u")
    assert resp.context["failing"] == []
    assert resp.context["passing"], "the good plane's results are listed too"


@pytest.mark.parametrize("query", ["", "?apa=2", "?apa=x&plane=u", "?apa=1&plane=w"])
def test_the_checks_page_needs_an_apa_number_and_a_plane(operator, client_of, query):
    assert client_of(operator()).get(f"/checks/{query}").status_code == 404


def test_the_checks_page_says_when_nothing_is_checked(dqm_world, operator, client_of):
    dqm_world()
    html = client_of(operator()).get("/checks/?apa=1&plane=u").content.decode()
    assert "no checks enabled: the detector is not being checked" in html
