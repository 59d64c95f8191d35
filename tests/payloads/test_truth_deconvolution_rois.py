"""ROIs on the deconvolved signal hold the whole charge; per-ROI baselines undo the induction
low-frequency cut."""

import numpy as np
import pytest
from charge_truth import angled_event, run_sig, wire_ratios

from payloads import tolerances as tol
from payloads.daqsim.tpc import SimConfig, simulate_apa
from payloads.dqm.deconv import find_rois, restore_baselines, roi_runs
from payloads.dqm.sig import SigConfig

PLANES = {"u": 0, "v": 1, "x": 2}


@pytest.fixture(scope="module")
def noisy():
    adc, truth, res = angled_event(111)
    return adc, truth, res


@pytest.mark.parametrize("seed", [112, 113])
def test_without_noise_the_rois_hold_the_whole_charge_on_every_plane(seed):
    sim = SimConfig(track_slopes=(0.3, 1.0, 3.0, 6.0, 12.0), noise=False)
    adc, truth, _ = simulate_apa(sim, seed=seed, event=0)
    ratios = wire_ratios(run_sig(adc), truth)
    for name, p in PLANES.items():
        r = ratios["ratio"][ratios["plane"] == p]
        assert abs(r.mean() - 1) <= tol.ROI_CHARGE_LOST_MAX, f"plane {name}: {r.mean():.4f}"
        assert r.min() >= 1 - 3 * tol.ROI_CHARGE_LOST_MAX, f"plane {name}: {r.min():.4f}"


def test_every_wire_crossing_lies_inside_an_roi(noisy):
    _, truth, res = noisy
    rows = truth.wires
    rows = rows[rows["isolated"] & ~res.bad[rows["channel"]]]
    rows = rows[rows["electrons"] >= tol.CHARGE_MIN_ELECTRONS]
    for name, p in PLANES.items():
        on = rows[rows["plane"] == p]
        inside = [res.roi[r["channel"], r["first_tick"] : r["last_tick"] + 1].all() for r in on]
        assert np.mean(inside) >= tol.ROI_CROSSINGS_COVERED_MIN, f"plane {name}"


def test_the_output_is_zero_outside_rois_and_rois_are_few(noisy):
    _, _, res = noisy
    assert not res.deconvolved[~res.roi].any()
    assert res.roi.mean() < 0.05


def test_without_per_roi_baselines_the_induction_charge_is_off(noisy):
    # the loose low-frequency cut moves part of each induction pulse into a slow undershoot:
    # leaving it in scatters the charge far beyond the tolerance; the per-ROI line removes it
    adc, truth, res = noisy
    plain = wire_ratios(run_sig(adc, SigConfig(baseline_planes=())), truth)
    restored = wire_ratios(res, truth)
    for p in (0, 1):
        assert plain["ratio"][plain["plane"] == p].std() > 2 * tol.CHARGE_SPREAD_MAX
        assert restored["ratio"][restored["plane"] == p].std() <= tol.CHARGE_SPREAD_MAX


def test_restore_baselines_takes_a_straight_baseline_out_from_under_an_roi():
    n_t = 400
    t = np.arange(n_t, dtype=np.float32)
    pulse = np.exp(-0.5 * ((t - 200) / 3) ** 2).astype(np.float32) * 1000
    wave = np.stack([pulse + 50 - 0.4 * t, pulse + 20.0])
    roi = np.zeros(wave.shape, bool)
    roi[:, 185:216] = True
    restore_baselines(wave, roi, edge=3, rows=np.array([True, True]))
    assert (wave * roi).sum(axis=1) == pytest.approx([pulse.sum()] * 2, rel=1e-4)


def test_rois_grow_from_seeds_along_the_pulse_and_merge_where_pads_touch():
    from payloads.detector import DEFAULT as DET

    wave = np.zeros((DET.n_channels, DET.n_ticks), np.float32)
    ch = DET.plane_slice(2).start + 3
    # RMS 1: seeds above 5 RMS + 1 (1003-1007), grown while above 2 RMS (1002-1008), padded 4
    wave[ch, 1000:1011] = [1, 2, 3, 8, 9, 10, 9, 8, 3, 2, 1]
    wave[ch, 1015:1018] = [3, 10, 3]  # a second pulse (1011-1021 padded): merges with the first
    wave[ch, 1100:1103] = [3, 10, 3]  # a third, apart
    wave[ch + 1, 1004] = 2.5  # above 2 RMS next to a seed: a neighbour seed
    wave[ch + 2, 1004] = 2.5  # two wires away: nothing
    cfg = SigConfig(roi_pad={0: 4, 1: 4, 2: 4})
    roi = find_rois(wave, np.ones(DET.n_channels, np.float32), DET, cfg)
    runs = [tuple(int(v) for v in run) for run in zip(*roi_runs(roi), strict=True)]
    assert runs == [(ch, 998, 1022), (ch, 1096, 1107), (ch + 1, 1000, 1009)]
