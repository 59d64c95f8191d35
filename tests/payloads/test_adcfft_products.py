"""dqm-adcfft hands the checks what they need: histograms, tables and element-labelled metrics."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from payloads import conditions
from payloads.daqsim.faults import FaultConfig
from payloads.daqsim.tpc import SimConfig, simulate_apa
from payloads.detector import DEFAULT as DET
from payloads.dqm import adc as adcm
from payloads.dqm import fft as fftm
from payloads.errors import InputError
from payloads.jobio import Result
from payloads.stages import adcfft, adcfft_products


@pytest.fixture(scope="module")
def faulty():
    faults = FaultConfig(
        asic_shifts=((5, 2, "x", 1400.0),),
        dead_fembs=(12,),
        board_lines=((180e3, 2.5, (3,), "u"),),
    )
    adc, _, static = simulate_apa(SimConfig(line_apas=(), faults=faults), seed=101, event=0)
    res = adcfft.analyse_apa(adcm.compute_channel_stats(adc), fftm.compute_power(adc), DET)
    return {0: res}, static


def metrics(result, name, **labels):
    return [
        m
        for m in result.metrics
        if m["name"] == name and all(m["labels"].get(k) == str(v) for k, v in labels.items())
    ]


def test_histograms_follow_the_hist_format_with_fixed_edges(faulty, tmp_path):
    analysis, _ = faulty
    result = Result()
    adcfft_products.add_histograms(result, tmp_path, "s", analysis, DET)
    assert len(result.products) == 4 * 3
    for p in result.products:
        doc = json.loads(Path(p["path"]).read_text())
        assert p["kind"] == "json" and p["labels"]["hist"] == doc["name"]
        assert {p["labels"]["apa"], p["labels"]["plane"]} <= {"0", "u", "v", "x"}
        assert doc["format"] == "p3s-hist-1" and len(doc["edges"]) == len(doc["counts"]) + 1
        if doc["name"] == "adc_rms":
            assert doc["edges"][0] == 0 and doc["edges"][-1] == 20 and len(doc["counts"]) == 80
            assert sum(doc["counts"]) == DET.plane_slice(p["labels"]["plane"]).stop - (
                DET.plane_slice(p["labels"]["plane"]).start
            )
        if doc["name"] == "fft_spectrum":
            assert doc["profile"] and len(doc["counts"]) == 200
        if doc["name"] == "adc_rms_per_channel":
            assert doc["profile"] and len(doc["counts"]) in (800, 960)


def test_the_bad_channel_table_lists_the_dead_board(faulty, tmp_path):
    analysis, _ = faulty
    result = Result()
    adcfft_products.add_tables(result, tmp_path, "s", analysis, DET)
    tables = {
        p["labels"]["table"]: json.loads(Path(p["path"]).read_text()) for p in result.products
    }
    bad = tables["bad_channels"]
    assert bad["format"] == "p3s-badch-1"
    assert set(np.flatnonzero(DET.femb == 12)) <= set(bad["dead"])
    kinds = {(f["kind"], f["femb"]) for f in tables["board_faults"]["faults"]}
    assert ("femb_zeros", 12) in kinds and ("asic_pedestal_shift", 5) in kinds
    assert any(ln["fembs"] == [3] for ln in tables["lines"]["lines"])


def test_board_metrics_carry_femb_and_asic_labels(faulty):
    analysis, _ = faulty
    result = Result()
    adcfft.add_metrics(result, analysis, {"stream": "tpc", "run": "7"})
    (missing,) = metrics(result, "adc_femb_missing", apa=0, femb=12)
    assert missing["value"] == 1.0
    assert all(m["value"] == 0 for m in metrics(result, "adc_femb_missing") if m != missing)
    (shift,) = metrics(result, "adc_asic_pedestal_shift", apa=0, plane="x", femb=5, asic=2)
    assert shift["value"] == pytest.approx(1400, abs=150)
    (plane,) = metrics(result, "fft_line_max_amplitude", apa=0, plane="u", scope="plane")
    (board,) = metrics(result, "fft_line_max_amplitude", apa=0, plane="u", femb=3)
    assert board["value"] == pytest.approx(2.5, rel=0.05)
    assert plane["value"] < 0.5 * board["value"]  # one board of twenty: diluted in the plane
    assert metrics(result, "fft_line_max_amplitude", apa=0, plane="u", femb=4)[0]["value"] == 0


def test_channels_on_the_known_bad_list_are_not_new(faulty):
    analysis, _ = faulty
    dead_x = np.flatnonzero(analysis[0]["bad"]["dead"] & (DET.plane_index == 2))
    known = {"channels": [{"apa": 0, "channel": int(c), "status": "dead"} for c in dead_x[:-1]]}
    result = Result()
    adcfft.add_metrics(result, analysis, {}, DET, known)
    (new,) = metrics(result, "adc_dead_channels_new", apa=0, plane="x")
    (all_,) = metrics(result, "adc_dead_channels", apa=0, plane="x")
    assert all_["value"] == dead_x.size and new["value"] == 1


def test_conditions_are_read_from_the_local_paths_the_pilot_wrote(tmp_path):
    body = {"name": "bands", "version": 3, "data": {"planes": {"x": {"pedestal": {}}}}}
    (tmp_path / "bands.json").write_text(json.dumps(body))
    job = SimpleNamespace(conditions={"bands": str(tmp_path / "bands.json")})
    assert conditions.load_condition(job, "bands") == body["data"]
    assert conditions.load_condition(job, "bad-channels") is None
    assert conditions.load_condition(SimpleNamespace(), "bands") is None
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(InputError, match="broken.json"):
        conditions.load_condition(
            SimpleNamespace(conditions={"x": str(tmp_path / "broken.json")}), "x"
        )


def test_a_channel_map_condition_moves_channels_between_boards():
    femb = DET.femb.copy()
    asic = DET.asic % DET.asics_per_femb
    femb[[0, 1]] = 5
    det = conditions.detector_with_map({"femb": femb.tolist(), "asic": asic.tolist()}, DET)
    assert det is not DET and det.femb[0] == 5 and DET.femb[0] == 0
    assert det.asic[0] == 5 * DET.asics_per_femb + asic[0]
    same = conditions.detector_with_map(
        {"femb": DET.femb.tolist(), "asic": (DET.asic % 8).tolist()}, DET
    )
    assert same is DET


def test_the_stage_flags_the_faults_of_a_raw_file_written_with_them(tmp_path, run_job):
    from datetime import UTC, datetime

    from payloads.daqsim import writer
    from payloads.daqsim.truth import load_tpc_truth

    faults = FaultConfig(asic_shifts=((7, 3, "x", 1400.0),), frozen_fembs=(4,))
    info = writer.write_tpc_file(
        tmp_path,
        seed=5,
        run=7,
        subrun=1,
        n_events=1,
        apas=[0],
        start=datetime(2026, 1, 1, tzinfo=UTC),
        cfg=SimConfig(faults=faults),
    )
    assert load_tpc_truth(info.path).cfg.faults == faults  # the truth knows the faults
    code, result = run_job(
        adcfft.main, inputs=[Path(info.path).resolve().as_uri()], args=["--no-plots"]
    )
    assert code == 0
    by = {(m["name"], tuple(sorted(m["labels"].items()))): m["value"] for m in result["metrics"]}
    femb4 = tuple(sorted({"stream": "tpc", "run": "7", "apa": "0", "femb": "4"}.items()))
    assert by[("adc_femb_missing", femb4)] == 1.0
    shift = [
        v
        for (n, lab), v in by.items()
        if n == "adc_asic_pedestal_shift"
        and dict(lab).get("femb") == "7"
        and dict(lab).get("asic") == "3"
        and dict(lab).get("plane") == "x"
    ]
    assert shift and shift[0] > 1000
    tables = [p for p in result["products"] if p["labels"].get("table") == "board_faults"]
    faults_found = json.loads(Path(tables[0]["path"]).read_text())["faults"]
    assert {(f["kind"], f["femb"]) for f in faults_found} == {
        ("femb_frozen", 4),
        ("asic_pedestal_shift", 7),
    }
