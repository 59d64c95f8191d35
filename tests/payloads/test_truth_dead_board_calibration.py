"""Induction charge calibration with a dead front-end board, against the per-wire truth.

A dead FEMB (its channels' ADC rows zeroed: it carries 40 U, 40 V and 48 X wires, see
DETECTOR.md) hides the charge of the tracks crossing its wires from each plane at other
ticks, so the live-share correction of the induction calibration (payloads/dqm/calib.py) was
wrong by up to 33 % on a few-track event (U 1.33 of the truth factor on seed 36, FEMB 17; 0.70
on seed 38, FEMB 3).
The events are those of the deconvolution truth tests (tracks at 0.3-12 ticks per wire on our
generator, ``charge_truth``; and the foreign responses of ``foreign_sim``). Goals (issue 9):
induction charge within ``INDUCTION_CHARGE_REL`` of the truth on every plane; on our generator
the factor within ``DEAD_BOARD_SCALE_REL`` of the one the wire truth asks for.

Goal not met strictly (docs/charge-calibration.md, "Dead boards"): the foreign triangular shape,
seed 11 with FEMB 17 dead, U 0.898 of the truth factor (without a dead board the same event
is at 0.938, and the previous estimator had it at 1.063: that shape's induction charge moves
between windows, and the ticks left out held more of it); it is xfail(strict=True).
"""

from functools import cache

import numpy as np
import pytest
from charge_truth import event_slopes, run_sig, wire_ratios
from foreign_sim import SHAPES, simulate

from payloads import tolerances as tol
from payloads.daqsim.tpc import SimConfig, simulate_apa
from payloads.detector import DEFAULT as DET
from payloads.dqm import calib
from payloads.dqm.sig import SigConfig

OURS = [
    pytest.param((38, 11), id="seed38-femb11"),
    pytest.param((33, 17), id="seed33-femb17"),
    *(
        pytest.param(case, id=f"seed{case[0]}-femb{case[1]}", marks=pytest.mark.slow)
        for case in ((31, 11), (34, 11), (34, 17), (36, 17), (37, 3), (38, 3))
    ),
]
FOREIGN = [
    pytest.param(("triangle", 11, 3), id="triangle-seed11-femb3"),
    *(
        pytest.param(case, id=f"{case[0]}-seed{case[1]}-femb{case[2]}", marks=pytest.mark.slow)
        for case in (("dexp", 14, 3), ("dexp", 14, 17), ("dexp", 12, 11), ("triangle", 13, 3))
    ),
    pytest.param(
        ("triangle", 11, 17),
        id="triangle-seed11-femb17",
        marks=[
            pytest.mark.slow,
            pytest.mark.xfail(strict=True, reason="U 0.898 of the truth factor (module doc)"),
        ],
    ),
]


@cache
def _event(name: str, seed: int):
    if name == "ours":
        adc, truth, _ = simulate_apa(SimConfig(track_slopes=event_slopes(seed)), seed=seed, event=0)
    else:
        adc, truth = simulate(SHAPES[name], seed, event_slopes(seed))
    return adc, truth


def dead_board_ratios(name: str, seed: int, femb: int) -> np.ndarray:
    """Mean deconvolved over true charge per plane (U, V, X), the FEMB's channels zeroed."""
    adc, truth = _event(name, seed)
    adc = adc.copy()
    for p in range(3):
        adc[DET.group_channels(p)[femb]] = 0
    res = run_sig(adc)
    assert res.bad[DET.group_channels(0)[femb]].all()  # the board was found dead
    ratios = wire_ratios(res, truth)
    out = []
    for p in range(3):
        r = ratios[ratios["plane"] == p]["ratio"]
        assert r.size >= 50
        out.append(r.mean())
    return np.array(out)


@pytest.mark.parametrize("case", OURS)
def test_induction_charge_with_a_dead_board(case):
    seed, femb = case
    mean = dead_board_ratios("ours", seed, femb)
    for p in (0, 1):
        assert abs(mean[p] - 1) <= tol.INDUCTION_CHARGE_REL, f"plane {p}: {mean[p]:.3f}"
        # the factor over the one the wire truth asks for (collection's own scale divides out)
        got = mean[p] / mean[2]
        assert abs(got - 1) <= tol.DEAD_BOARD_SCALE_REL, f"plane {p}: {got:.3f} of the truth factor"
    assert abs(mean[2] - 1) <= tol.COLLECTION_CHARGE_REL


@pytest.mark.parametrize("case", FOREIGN)
def test_induction_charge_with_a_dead_board_on_a_foreign_response(case):
    mean = dead_board_ratios(*case)
    for p in (0, 1):
        assert abs(mean[p] - 1) <= tol.INDUCTION_CHARGE_REL, f"plane {p}: {mean[p]:.3f}"
        got = mean[p] / mean[2]
        assert abs(got - 1) <= tol.INDUCTION_CHARGE_REL, f"plane {p}: {got:.3f} of the truth factor"


# --- the two steps on constructed plane sums (fast; they fail if a step is removed) ---


def _planes(rng, n_w=60, w=25, k=(1.6, 0.8), noise=0.01):
    """Per-tick plane charge of ``n_w`` windows whose collection charge varies, the induction
    planes at ``1/k`` of it, with a few % of white noise; and the variance it carries."""
    x = np.repeat(rng.uniform(2e4, 2e5, n_w), w) / w
    proj = np.stack([x / k[0], x / k[1], x]) * (1 + noise * rng.standard_normal((3, x.size)))
    return proj, np.full_like(proj, (noise * x.mean()) ** 2)


def test_consensus_leaves_out_the_windows_a_plane_is_short_in():
    cfg = SigConfig()
    rng = np.random.default_rng(5)
    proj, var = _planes(rng)
    w = cfg.calibrate_window
    proj[0, 10 * w : 30 * w] *= 0.2  # a track inside a U band: U short in a third of the windows
    naive = proj[2].sum() / proj[:2].sum(axis=1)
    assert naive[0] > 1.6 * 1.3  # the plane sums are far off
    got = calib.consensus_scale(proj, var, naive, cfg)
    assert got == pytest.approx([1.6, 0.8], rel=0.01)


def test_consensus_keeps_the_sums_when_the_windows_disagree():
    cfg = SigConfig()
    rng = np.random.default_rng(6)
    proj, var = _planes(rng, noise=0.0)
    w = cfg.calibrate_window
    # charge moved between windows on the induction planes (a response unlike ours; the foreign
    # shapes' windows scatter by 0.12-0.5 in log): 30 % per window, each plane its own
    proj[:2] *= np.repeat(np.exp(0.3 * rng.standard_normal((2, 60))), w, axis=1)
    naive = proj[2].sum() / proj[:2].sum(axis=1)
    assert np.array_equal(calib.consensus_scale(proj, var, naive, cfg), naive)


def test_crossing_ticks_cover_a_track_through_a_band():
    cfg = SigConfig()
    n, n_t = 100, 1000
    keep = np.zeros((n, n_t), dtype=bool)
    for wire in range(n):  # a track from wire 0 at tick 100, 5 ticks a wire
        keep[wire, 100 + 5 * wire : 100 + 5 * wire + 20] = True
    dead = np.zeros(n, dtype=bool)
    dead[40:80] = True
    keep[dead] = False
    band = calib.dead_bands(dead, cfg.calibrate_band_min)
    assert band.sum() == 40
    got = calib.crossing_ticks(keep, dead, band, False, cfg)
    assert got[300:515].all()  # every tick the band hid charge at (wires 40-79)
    assert not got[:200].any() and not got[650:].any()  # and not the track's other ticks
    # isolated dead wires are not a band
    assert not calib.dead_bands(np.isin(np.arange(n), [3, 9, 50]), cfg.calibrate_band_min).any()
