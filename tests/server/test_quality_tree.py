"""The result tree rolls the latest result per check and element up, worst first:
detector -> stream -> APA -> plane -> FEMB; the APA x plane grid shows the same."""

from __future__ import annotations

import pytest

from p3s.dqm.services import record_metrics
from p3s.quality.catalogue import no_checks_enabled
from p3s.quality.models import Check, LatestResult
from p3s.quality.tree import apa_plane_grid, latest_tree

from .quality_world import media, new_job, tpc_template  # noqa: F401


@pytest.fixture
def checks(db):
    tpc_template()
    return {
        "rms": Check.objects.create(name="rms", kind="range", metric="adc_rms_mean",
                                    warning_high=5.0, error_high=6.0),
        "missing": Check.objects.create(name="missing", kind="range", metric="adc_femb_missing",
                                        scope=["apa", "femb"], error_high=0.5),
        "ref": Check.objects.create(name="ref", kind="reference_metric", metric="adc_rms_mean",
                                    scope=["apa", "plane"]),
    }  # fmt: skip


def post(run, minutes, *metrics):
    job = new_job(run, minutes)
    record_metrics(job, [{"name": n, "value": v, "labels": lab} for n, v, lab in metrics])
    return job


def node(tree, *path):
    n = tree
    for key in path:
        n = next(c for c in n.children if c.key.endswith(key))
    return n


def test_a_bad_femb_makes_its_plane_apa_stream_and_detector_bad(checks):
    post(1, 0,
         ("adc_rms_mean", 4.0, {"apa": "1", "plane": "u"}),
         ("adc_rms_mean", 4.1, {"apa": "1", "plane": "v"}),
         ("adc_rms_mean", 7.0, {"apa": "1", "plane": "v", "femb": "3"}),
         ("adc_rms_mean", 5.5, {"apa": "2", "plane": "x"}))  # fmt: skip
    tree = latest_tree()
    assert tree.flag == "bad" and node(tree, "tpc").flag == "bad"
    assert node(tree, "tpc", "apa1").flag == "bad"
    assert node(tree, "tpc", "apa1", "/u").flag == "good"
    assert node(tree, "tpc", "apa1", "/v").flag == "bad"
    assert node(tree, "tpc", "apa1", "/v", "femb3").flag == "bad"
    assert node(tree, "tpc", "apa2").flag == "warning"
    assert [c.label for c in node(tree, "tpc").children] == ["APA 1", "APA 2"]


def test_undefined_alone_rolls_up_to_undefined_and_beside_good_to_good(checks):
    post(1, 0, ("adc_rms_mean", 4.0, {"apa": "3", "plane": "u"}))  # ref: no reference: undefined
    tree = latest_tree()
    plane = node(tree, "tpc", "apa3", "/u")
    assert sorted(r.flag for r in plane.results) == ["good", "undefined"] and plane.flag == "good"
    checks["rms"].enabled = False
    checks["rms"].save()
    assert node(latest_tree(), "tpc", "apa3", "/u").flag == "undefined"


def test_newer_data_replace_an_elements_result_and_older_data_do_not(checks):
    post(1, 10, ("adc_rms_mean", 7.0, {"apa": "1", "plane": "u"}))
    post(2, 20, ("adc_rms_mean", 4.0, {"apa": "1", "plane": "u"}))
    post(1, 5, ("adc_rms_mean", 9.0, {"apa": "1", "plane": "u"}))  # a late, older file
    latest = LatestResult.objects.get(check_ref=checks["rms"])
    assert (latest.flag, latest.value, latest.run) == ("good", 4.0, 2)
    assert latest.result is None  # good results are counted, not kept one by one
    assert node(latest_tree(), "tpc", "apa1").flag == "good"


def test_a_missing_femb_shows_under_every_plane_and_turns_the_grid_cells_red(checks):
    post(1, 0, ("adc_femb_missing", 1.0, {"apa": "4", "femb": "12"}),
         ("adc_femb_missing", 0.0, {"apa": "4", "femb": "11"}))  # fmt: skip
    tree = latest_tree()
    for p in "uvx":
        assert node(tree, "tpc", "apa4", f"/{p}", "femb12").flag == "bad"
        assert node(tree, "tpc", "apa4", f"/{p}", "femb11").flag == "good"
    grid = apa_plane_grid()
    assert grid["apas"] == [0, 1, 2, 3, 4, 5] and grid["planes"] == ["u", "v", "x"]
    cell = grid["cells"][(4, "u")]
    assert cell["flag"] == "bad" and cell["run"] == 1 and cell["data_ts"] is not None
    assert [(r.check_ref.name, r.femb) for r in cell["failing"]] == [("missing", "12")]
    assert grid["cells"][(0, "u")] == {
        "flag": "undefined",
        "failing": [],
        "data_ts": None,
        "run": None,
    }


def test_the_grid_lists_failing_checks_worst_first(checks):
    post(1, 0, ("adc_rms_mean", 5.5, {"apa": "0", "plane": "x"}),
         ("adc_rms_mean", 6.5, {"apa": "0", "plane": "x", "femb": "2"}))  # fmt: skip
    failing = apa_plane_grid()["cells"][(0, "x")]["failing"]
    assert [(r.flag, r.femb) for r in failing] == [("bad", "2"), ("warning", "")]


def test_no_checks_enabled_is_true_until_one_is(db):
    assert no_checks_enabled()
    c = Check.objects.create(name="c", kind="range", metric="m", enabled=False)
    assert no_checks_enabled()
    c.enabled = True
    c.save()
    assert not no_checks_enabled()
