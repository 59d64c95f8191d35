"""Every stage's ``main`` runs end to end through the pilot<->payload contract (jobio)."""

import json
from pathlib import Path

import h5py

from payloads.jobio import url_to_path
from payloads.stages import adcfft, beam, crt, daq, reco, sig, vis


def uri(p) -> str:
    return Path(p).resolve().as_uri()


def _refuse(token):
    raise ValueError(f"non-standard JSON constant {token}")


def check_result(result, metric_names):
    assert result is not None
    names = {m["name"] for m in result["metrics"]}
    assert set(metric_names) <= names, names
    for m in result["metrics"]:
        assert isinstance(m["value"], float)
        assert all(isinstance(v, str) for v in m["labels"].values())
    for p in result["products"]:
        path = Path(p["path"])
        assert path.is_file() and path.stat().st_size > 0, p
        assert p["kind"] in ("png", "bokeh", "json")
        if p["kind"] in ("bokeh", "json"):
            # strict JSON (no NaN/Infinity literals): the pages parse it in the browser
            doc = json.loads(path.read_text(), parse_constant=_refuse)
        if p["kind"] == "bokeh":
            assert {"target_id", "root_id", "doc"} <= set(doc)
        if p["kind"] == "json":
            assert doc["format"] in ("p3s-hist-1", "p3s-badch-1", "p3s-boards-1", "p3s-lines-1")
    for url in result["outputs"]:
        assert url.startswith("file://") and url_to_path(url).is_file()


def test_daq_reads_metadata_only(run_job, raw_file):
    code, result = run_job(daq.main, inputs=[uri(raw_file.path)], stage="daq")
    assert code == 0
    check_result(result, ["daq_events", "daq_file_size_mb", "daq_missing_fembs", "daq_bytes_read"])
    read = next(m["value"] for m in result["metrics"] if m["name"] == "daq_bytes_read")
    assert read < 0.01 * raw_file.size
    assert len(result["products"]) >= 2


def test_tpc_chain_runs_through_the_job_contract(run_job, raw_file):
    data = uri(raw_file.path)
    code, r1 = run_job(adcfft.main, inputs=[data], stage="adcfft", job_id=1)
    assert code == 0
    check_result(
        r1,
        [
            "adc_rms_mean",
            "adc_dead_channels",
            "adc_noisy_channels",
            "fft_line_count",
            "adcfft_raw_bytes_read",
        ],
    )
    assert {p["kind"] for p in r1["products"]} == {"png", "bokeh", "json"}
    (adc_out,) = r1["outputs"]
    with h5py.File(url_to_path(adc_out)) as h5:
        assert h5.attrs["kind"] == adcfft.KIND and "apa_0/lines" in h5

    code, r2 = run_job(
        sig.main, inputs=[data], parents={"adcfft": [adc_out]}, stage="sig", job_id=2
    )
    assert code == 0
    check_result(
        r2,
        [
            "sig_rms_raw",
            "sig_rms_filtered",
            "sig_coherent_rms",
            "sig_roi_fraction",
            "sig_time_shift",
            "sig_seconds_per_apa_event",
        ],
    )
    (sig_out,) = r2["outputs"]
    with h5py.File(url_to_path(sig_out)) as h5:
        assert h5.attrs["channel_info"] == "parent dqm-adcfft"
        assert h5["event_0/apa_0/deconvolved"].shape == (2560, 6000)

    code, r3 = run_job(reco.main, inputs=[data], parents={"sig": [sig_out]}, stage="reco", job_id=3)
    assert code == 0
    check_result(r3, ["reco_hits_per_event", "reco_tracks_per_event"])

    code, r4 = run_job(
        vis.main,
        inputs=[data],
        parents={"sig": [sig_out], "reco": r3["outputs"]},
        stage="vis",
        job_id=4,
    )
    assert code == 0
    check_result(r4, [])
    assert len(r4["products"]) >= 3


def test_reco_without_a_sig_parent_fails_with_a_message(run_job, raw_file, capsys):
    code, result = run_job(reco.main, inputs=[uri(raw_file.path)], stage="reco")
    assert code != 0 and result is None
    assert "needs a dqm-sig parent output" in capsys.readouterr().err


def test_sig_finds_channel_information_itself_without_a_parent(run_job, raw_file):
    code, result = run_job(sig.main, inputs=[uri(raw_file.path)], args=["--no-plots"], stage="sig")
    assert code == 0
    with h5py.File(url_to_path(result["outputs"][0])) as h5:
        assert h5.attrs["channel_info"] == "own"


def test_bi_and_crt_stages_run(run_job, bi_file, crt_file):
    code, r = run_job(beam.main, inputs=[uri(bi_file.path)], stream="bi", stage="bi")
    assert code == 0
    check_result(r, ["bi_momentum_mean_gev", "bi_beam_position_mm", "bi_dead_fibres"])
    code, r = run_job(crt.main, inputs=[uri(crt_file.path)], stream="crt", stage="crt", job_id=2)
    assert code == 0
    check_result(r, ["crt_hits_per_event", "crt_dead_strips", "crt_hot_strips"])
    code, r = run_job(daq.main, inputs=[uri(crt_file.path)], stream="crt", stage="daq", job_id=3)
    assert code == 0


def test_non_finite_metrics_are_left_out_with_a_note(capsys):
    from payloads.jobio import Result
    from payloads.stages.common import drop_non_finite

    result = Result()
    result.add_metric("ok", 1.0, apa=0)
    result.add_metric("bad", float("nan"), apa=0)
    drop_non_finite("dqm-x", result)
    assert [m["name"] for m in result.metrics] == ["ok"]
    assert "metric bad" in capsys.readouterr().err


def test_daq_counts_the_injected_femb_dropouts(run_job, tmp_path):
    from datetime import UTC, datetime

    from payloads.daqsim import writer
    from payloads.daqsim.tpc import SimConfig

    info = writer.write_tpc_file(
        tmp_path,
        seed=4,
        run=9,
        subrun=1,
        n_events=2,
        apas=[0],
        start=datetime(2026, 1, 1, tzinfo=UTC),
        cfg=SimConfig(signals=False),
        daq_fault_rate=1.0,
    )
    with h5py.File(info.truth) as th:
        truth = sum(len(th[f"event_{i}"].attrs["missing_fembs"]) for i in range(2))
    code, result = run_job(daq.main, inputs=[uri(info.path)], args=["--no-plots"], stage="daq")
    assert code == 0
    values = {m["name"]: m["value"] for m in result["metrics"]}
    assert truth == 2
    assert values["daq_missing_fembs"] == truth
    assert values["daq_error_flags"] == truth
