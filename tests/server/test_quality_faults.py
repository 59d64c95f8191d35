"""The shipped checks flag injected detector faults, on generator data analysed by the payload
functions and posted through the real intake, against a reference run of the same detector.
The runs have noise, pickup and bad channels but no cosmic tracks, so that "only the faulty
element is flagged" is exact (false flags with tracks are counted in test_quality_false_flags)."""

from __future__ import annotations

import pytest

from p3s.quality.catalogue import load_checks
from p3s.quality.models import CheckResult
from p3s.quality.tree import apa_plane_grid

from . import quality_data as qd
from .quality_world import media, new_job, post_apa, real_reference, tpc_template  # noqa: F401

REF_RUN, RUN = 100, 101
APAS = (0, 1)


@pytest.fixture
def judged(db):
    """judged(fault) -> {(check, element_key): flag} of the non-good results of run 101,
    against a reference made from run 100 by make_reference and the shipped conditions."""
    load_checks()
    tpc_template()
    per_apa = {a: qd.products(REF_RUN, a, tracks=False) for a in APAS}
    real_reference(REF_RUN, per_apa, {RUN: qd.known_bad_of(RUN, APAS)})

    def judge(fault: qd.Fault) -> dict:
        job = new_job(RUN)
        for apa in APAS:
            post_apa(job, apa, qd.products(RUN, apa, fault, tracks=False))
        return {
            (
                r.check_ref.name,
                r.element["apa"],
                r.element.get("plane"),
                r.element.get("femb"),
            ): r.flag
            for r in CheckResult.objects.exclude(flag="good").select_related("check_ref")
        }

    return judge


def flagged(found: dict, check: str) -> dict:
    return {k[1:]: v for k, v in found.items() if k[0] == check}


def test_a_noise_rise_on_one_plane_is_flagged_on_that_plane_only(judged):
    found = judged(qd.Fault("noise_plane", apa=0, plane="v", size=1.4))
    assert flagged(found, "noise-rms-plane-reference") == {("0", "v", None): "bad"}
    assert flagged(found, "rms-hist-reference") == {("0", "v", None): "bad"}
    assert flagged(found, "noise-rms-plane") == {("0", "v", None): "warning"}
    assert {k[1:3] for k in found} == {("0", "v")}
    cell = apa_plane_grid()["cells"]
    assert cell[(0, "v")]["flag"] == "bad" and cell[(0, "u")]["flag"] == "good"
    assert cell[(1, "v")]["flag"] == "good"


def test_a_pedestal_shift_on_one_asic_is_flagged_on_that_asic(judged):
    found = judged(qd.Fault("asic_pedestal", apa=0, femb=7, asic=3, size=500.0))
    shifted = flagged(found, "pedestal-shift-asic")
    assert set(shifted.values()) == {"bad"} and {k[2] for k in shifted} == {"7"}
    assert {k[1] for k in shifted} == {"u", "v", "x"}  # an ASIC reads channels of each plane
    assert {k[0] for k in found} == {"pedestal-shift-asic"}


def test_a_dead_femb_is_flagged_missing_dead_and_new_bad(judged):
    found = judged(qd.Fault("dead_femb", apa=0, femb=12))
    assert flagged(found, "femb-missing") == {("0", None, "12"): "bad"}
    assert flagged(found, "dead-fraction-femb") == {("0", p, "12"): "bad" for p in "uvx"}
    assert flagged(found, "bad-channels-new") == {("0", p, None): "bad" for p in "uvx"}
    assert {k[1] for k in found} == {"0"}
    cells = apa_plane_grid()["cells"]
    assert all(cells[(0, p)]["flag"] == "bad" for p in "uvx")


@pytest.mark.parametrize("amplitude", [4.0, 6.0])
def test_a_pickup_line_on_part_of_a_plane_is_flagged(judged, amplitude):
    found = judged(qd.Fault("pickup", apa=0, plane="x", fembs=(4, 5, 6), size=amplitude))
    assert flagged(found, "spectrum-reference") == {("0", "x", None): "bad"}
    assert {(k[1], k[2]) for k in found} == {("0", "x")}
    if amplitude >= 6:
        lines = flagged(found, "line-amplitude-femb")
        assert {k[2] for k in lines} == {"4", "5", "6"}
