"""Truth tests of the matched-stream payloads (dqm-streams): files of the three streams
written from one history, analysed as the matched stage does.

Tolerances: a CRT tag gives x to a 55 mm strip (~69 ticks wide: the time residual holds that
plus the ~2-5 tick response delay) and z to a ~27 mm strip (~8 mm RMS, plus the collection
pitch of 4.79 mm); payloads/streams/crtmatch.py."""

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from payloads.daqsim import history as hist
from payloads.daqsim import writer
from payloads.daqsim.tpc import SimConfig
from payloads.daqsim.truth import load_json_truth
from payloads.stages.streams import analyse

MATCH_FRACTION_MIN = 0.8
TIME_RESIDUAL_MEAN_MAX_US = 10.0
TIME_RESIDUAL_RMS_MAX_US = 20.0
POSITION_RESIDUAL_RMS_MAX_MM = 30.0


def at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def spill_start(h) -> float:
    t = datetime(2026, 12, 1, 10, tzinfo=UTC).timestamp()
    return hist.spills(h, t, t + h.cycle_s)[0][0]


@pytest.fixture(scope="module")
def beam_run(tmp_path_factory):
    """2 beam-on then 2 beam-off triggers on the beam APA (0) and another (1); few cosmics so
    that one beam particle shows (noise off: activity is signal only)."""
    h = hist.HistoryConfig(seed=5, run=9, sim=SimConfig(noise=False, tracks_per_apa=2.0))
    d = tmp_path_factory.mktemp("beam")
    t0 = spill_start(h) + h.spill_s - 0.4
    kw = dict(seed=5, run=9, subrun=1, start=at(t0), history=h)
    tpc = writer.write_tpc_file(d, n_events=4, apas=[0, 1], cfg=h.sim, **kw)
    bi = writer.write_bi_file(d, n_events=1, **kw)
    return h, tpc, bi


@pytest.fixture(scope="module")
def crt_run(tmp_path_factory):
    """TPC (noise on) and CRT files of the same two triggers, and a CRT file 1 s later."""
    h = hist.HistoryConfig(seed=6, run=9, sim=SimConfig())
    d = tmp_path_factory.mktemp("crt")
    t0 = spill_start(h) + 10.0
    kw = dict(seed=6, run=9, n_events=2, history=h)
    tpc = writer.write_tpc_file(d, subrun=1, start=at(t0), apas=[0], cfg=h.sim, **kw)
    crt = writer.write_crt_file(d, subrun=1, start=at(t0), **kw)
    other = writer.write_crt_file(d / "..", subrun=2, start=at(t0 + 1.0), **kw)
    return h, tpc, crt, other


def test_beam_triggers_are_tagged_from_the_bi_spill_times_as_the_truth_says(beam_run):
    h, tpc, bi = beam_run
    a = analyse(tpc.path, [bi.path], [])
    start = datetime.fromisoformat(tpc.timestamp.replace("Z", "+00:00")).timestamp()
    truth = [hist.beam_on(h, start + 0.25 * i) for i in range(4)]
    assert a["beam"] == truth == [True, True, False, False]
    assert a["n_spills"] == 1


def test_the_beam_apa_is_busier_with_beam_on_and_the_other_is_not(beam_run):
    _, tpc, bi = beam_run
    c = analyse(tpc.path, [bi.path], [])["compare"]
    beam_excess = c[0]["on"] - c[0]["off"]
    other_excess = abs(c[1]["on"] - c[1]["off"])
    assert beam_excess > 1.0, c  # a beam track: >1,000 collection samples over threshold
    assert beam_excess > 2 * other_excess, c


def test_without_bi_files_every_event_is_beam_off(beam_run):
    _, tpc, _ = beam_run
    a = analyse(tpc.path, [], [])
    assert a["beam"] == [False] * 4 and all(np.isnan(v["ratio"]) for v in a["compare"].values())


def test_crt_tagged_muons_are_found_in_the_tpc_where_and_when_the_crt_says(crt_run):
    _, tpc, crt, _ = crt_run
    s = analyse(tpc.path, [], [crt.path])["crt"]
    tags = load_json_truth(crt.path)["tags"]
    truth_tags = sum(1 for rows in tags.values() for r in rows if r[0] == 0)
    assert s["tags"] >= 0.9 * truth_tags and s["tags"] <= truth_tags + 2, (s, truth_tags)
    assert s["fraction"] >= MATCH_FRACTION_MIN, s
    assert abs(s["dt_mean_us"]) < TIME_RESIDUAL_MEAN_MAX_US, s
    assert s["dt_rms_us"] < TIME_RESIDUAL_RMS_MAX_US, s
    assert s["dz_rms_mm"] < POSITION_RESIDUAL_RMS_MAX_MM, s


def test_crt_records_of_other_times_match_nothing(crt_run):
    _, tpc, _, other = crt_run
    a = analyse(tpc.path, [], [other.path])
    assert a["crt"]["tags"] == 0 and a["crt_records"] == 2


def test_another_history_s_muons_are_mostly_not_found(crt_run, tmp_path):
    h, tpc, _, _ = crt_run
    start = datetime.fromisoformat(tpc.timestamp.replace("Z", "+00:00"))
    alien = writer.write_crt_file(
        tmp_path, seed=6, run=9, subrun=1, n_events=2, start=start, history=replace(h, seed=99)
    )
    s = analyse(tpc.path, [], [alien.path])["crt"]
    assert s["tags"] >= 2 and s["fraction"] < 0.5, s


def test_bi_profile_and_composition_per_spill_match_the_truth(tmp_path):
    from payloads.rawio import FORMAT_BI, RawFile
    from payloads.stages.beam import SPECIES, summarize_spill

    h = hist.HistoryConfig(seed=8, run=9)
    info = writer.write_bi_file(
        tmp_path, seed=8, run=9, subrun=1, n_events=1, start=at(spill_start(h)), history=h
    )
    truth = load_json_truth(info.path)
    with RawFile(info.path, expect=FORMAT_BI) as raw:
        s = summarize_spill(raw.group(0))
    n = s["particles"]
    counts = truth["composition"][0]
    assert n == sum(counts) > 50
    assert [round(s["fraction"][sp] * n) for sp in SPECIES] == counts
    for k in range(2):  # centre within 4 standard errors, width within 25 %
        sigma = h.beam.sigma_mm[k]
        assert abs(s["position_mm"][k] - h.beam.centre_mm[k]) < 4 * sigma / np.sqrt(n)
        assert s["width_mm"][k] == pytest.approx(sigma, rel=0.25)


def test_the_dqm_streams_stage_runs_as_a_matched_job_and_reports_its_gaps(
    beam_run, tmp_path, monkeypatch
):
    import json

    from payloads.stages import streams
    from tests.payloads.test_stage_mains import check_result

    _, tpc, bi = beam_run
    matched = json.dumps({"bi": [bi.path.resolve().as_uri()], "crt": []})
    missing = json.dumps({"crt": [["2026-12-01T10:00:00+00:00", "2026-12-01T10:00:01+00:00"]]})
    args = ["--matched", matched, "--match-missing", missing]
    spec = {"id": 1, "stage": "match", "payload": "dqm-streams", "args": args,
            "file": {"url": tpc.path.resolve().as_uri(), "stream": "tpc", "run": 9},
            "inputs": [tpc.path.resolve().as_uri(), bi.path.resolve().as_uri()],
            "output_dir": str(tmp_path / "out"), "event_fraction": 1.0}  # fmt: skip
    (tmp_path / "job.json").write_text(json.dumps(spec))
    monkeypatch.setenv("P3S_JOB", str(tmp_path / "job.json"))
    monkeypatch.setenv("P3S_RESULT", str(tmp_path / "result.json"))
    monkeypatch.chdir(tmp_path)
    assert streams.main(args) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    check_result(result, ["tpc_activity_beam_on", "tpc_activity_on_off_ratio", "streams_missing"])
    gaps = {
        m["labels"]["matched"]: m["value"]
        for m in result["metrics"]
        if m["name"] == "streams_missing"
    }
    assert gaps == {"bi": 0.0, "crt": 1.0}
    assert not any(m["name"].startswith("crt_tpc") for m in result["metrics"])
