"""The generator's tracks at chosen drift angles and the charge truth of every wire they cross."""

from datetime import UTC, datetime

import numpy as np
import pytest

from payloads.daqsim import writer
from payloads.daqsim.tpc import WIRE_TRUTH_DTYPE, SimConfig, simulate_apa, track_wire_truth
from payloads.daqsim.truth import load_tpc_truth
from payloads.detector import DEFAULT as DET

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tracks_cross_the_requested_wires_at_the_requested_drift_angles(seed):
    slopes = (0.3, 2.0, 12.0)
    cfg = SimConfig(track_slopes=slopes, track_wires=40, noise=False)
    _, truth, _ = simulate_apa(cfg, seed=seed, event=0)
    tr = truth.tracks
    assert tr.size == len(slopes)
    wires = np.abs(tr["wire1"] - tr["wire0"])
    assert wires == pytest.approx(40.0)
    assert np.abs(tr["tick1"] - tr["tick0"]) / wires == pytest.approx(slopes)
    # seeds move the tracks
    other = simulate_apa(cfg, seed=seed + 10, event=0)[1].tracks
    assert not np.allclose(tr["wire0"], other["wire0"])


@pytest.mark.parametrize("seed", [4, 5])
def test_per_wire_truth_adds_up_to_the_deposited_charge_on_every_plane(seed):
    cfg = SimConfig(track_slopes=(0.5, 3.0, 9.0), noise=False)
    _, truth, _ = simulate_apa(cfg, seed=seed, event=0)
    w = truth.wires
    per_channel = np.bincount(w["channel"], weights=w["electrons"], minlength=DET.n_channels)
    assert per_channel == pytest.approx(truth.charge.sum(axis=1), rel=1e-4, abs=1.0)
    for p in range(3):
        on = w[w["plane"] == p]
        assert on.size >= 3 * 20  # every track crosses wires of every plane (fewer U/V ones)
        # a MIP leaves ~25,000 e per collection pitch (4.79 mm); more on a slanted path
        assert np.median(on["electrons"]) > 20000
    assert np.all((w["tick"] >= w["first_tick"]) & (w["tick"] <= w["last_tick"]))


def test_overlapping_crossings_are_not_called_isolated():
    cfg = SimConfig(track_slopes=(1.0,), noise=False)
    _, truth, _ = simulate_apa(cfg, seed=6, event=0)
    twice = np.concatenate([truth.tracks, truth.tracks])
    twice["t0"][1] += 5  # the same track 5 ticks later: every wire sees both
    rows = track_wire_truth(cfg, twice)
    assert not rows["isolated"].any()
    assert track_wire_truth(cfg, truth.tracks)["isolated"].all()


def test_the_truth_sidecar_carries_the_per_wire_truth(tmp_path):
    cfg = SimConfig(track_slopes=(0.3, 6.0))
    info = writer.write_tpc_file(
        tmp_path, seed=8, run=3, subrun=1, n_events=1, apas=[0], start=START, cfg=cfg
    )
    truth = load_tpc_truth(info.path)
    assert truth.cfg.track_slopes == (0.3, 6.0)
    ev = truth.event(0, 0)
    assert ev.wires.dtype == WIRE_TRUTH_DTYPE
    assert set(ev.wires["track"]) == {0, 1}
    # rows on dead channels are left out, as their charge is
    assert ev.wires["electrons"].sum() == pytest.approx(ev.charge.sum(), rel=1e-4)
    # a file without the dataset (written before it existed) gets the same rows from the tracks
    import h5py

    with h5py.File(truth.path, "a") as th:
        del th["event_0/apa_0/wires"]
    again = truth.event(0, 0).wires
    assert np.array_equal(again, ev.wires)
