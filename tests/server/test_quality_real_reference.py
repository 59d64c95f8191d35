"""The checks judge a faulty run against a REAL reference: the reference run's metrics and
hists posted through the intake, the reference made by make_reference, the known-bad list a
condition version (no stand-in)."""

from __future__ import annotations

import pytest

from p3s.conditions import services
from p3s.conditions.references import make_reference
from p3s.quality.catalogue import load_checks
from p3s.quality.models import CheckResult

from . import quality_data as qd
from .quality_world import media, new_job, post_apa, tpc_template  # noqa: F401

REF_RUN, RUN = 100, 101
APAS = (0, 1)


@pytest.mark.django_db
def test_a_noise_rise_is_flagged_on_its_plane_only_against_a_made_reference():
    load_checks()
    tpc_template()
    ref_job = new_job(REF_RUN)
    for apa in APAS:
        post_apa(ref_job, apa, qd.products(REF_RUN, apa, tracks=False))
    CheckResult.objects.all().delete()
    make_reference("tpc-dqm", "tpc", runs=[REF_RUN], owner="test")
    services.new_version("bad-channels", qd.known_bad_of(RUN, APAS), owner="test")
    job = new_job(RUN)
    fault = qd.Fault("noise_plane", apa=0, plane="v", size=1.4)
    for apa in APAS:
        post_apa(job, apa, qd.products(RUN, apa, fault, tracks=False))
    found = {
        (r.check_ref.name, r.element["apa"], r.element.get("plane"), r.element.get("femb")): r.flag
        for r in CheckResult.objects.filter(run=RUN)
        .exclude(flag="good")
        .select_related("check_ref")
    }
    assert found.get(("noise-rms-plane-reference", "0", "v", None)) == "bad"
    assert found.get(("rms-hist-reference", "0", "v", None)) == "bad"
    assert {k[1:3] for k in found} == {("0", "v")}


@pytest.mark.django_db
def test_a_reference_valid_from_a_later_run_does_not_judge_an_earlier_one():
    """The reference's run validity holds in the checks and in the run verdict, not only in
    the conditions API."""
    from p3s.quality.verdict import run_quality

    load_checks()
    tpc_template()
    ref_job = new_job(REF_RUN)
    post_apa(ref_job, 0, qd.products(REF_RUN, 0, tracks=False))
    CheckResult.objects.all().delete()
    make_reference("tpc-dqm", "tpc", runs=[REF_RUN], owner="test", valid_from_run=RUN + 1)
    post_apa(new_job(RUN), 0, qd.products(RUN, 0, tracks=False))
    ref_checks = CheckResult.objects.filter(run=RUN, check_ref__kind__startswith="reference")
    assert ref_checks.exists()
    assert set(ref_checks.values_list("flag", flat=True)) == {"undefined"}
    assert run_quality(RUN)["reference"] is None
    post_apa(new_job(RUN + 1), 0, qd.products(RUN + 1, 0, tracks=False))
    later = CheckResult.objects.filter(run=RUN + 1, check_ref__kind__startswith="reference")
    assert "undefined" not in set(later.values_list("flag", flat=True))
    assert run_quality(RUN + 1)["reference"]["run"] is not None
