"""Time alignment of the induction planes on collection (payloads/dqm/timecal.py).

Profiles with known displacements: collection charge per tick from tracks at random ticks,
U and V the same profile two and one plane gaps earlier plus a displacement; the alignment
must find the displacement less the tolerance, and keep each wire's charge, whether the planes
are crossed one gap apart (a detector) or at the same tick (a simulation, as ours). On our
generator (planes at the same tick, no displacement) it measures and applies none.
"""

import numpy as np
import pytest
from charge_truth import angled_event, wire_ratios

from payloads.detector import DEFAULT as DET
from payloads.dqm.sig import SigConfig
from payloads.dqm.timecal import align_induction, profile_lag, shift_rows

CFG = SigConfig()


def planes_with_displacement(seed, delta, gap=CFG.align_gap_ticks):
    rng = np.random.default_rng(seed)
    t = np.arange(DET.n_ticks)
    out = np.zeros((DET.n_channels, DET.n_ticks), np.float32)
    centres = rng.uniform(400, DET.n_ticks - 400, 6)
    for p in range(3):
        early = (2 - p) * gap - (delta[p] if p < 2 else 0.0)
        sl = DET.plane_slice(p)
        for i, c in enumerate(centres):
            ch = sl.start + 20 + 60 * i + np.arange(30)
            w = rng.uniform(2, 8)
            out[ch] += 3000 * np.exp(-0.5 * ((t - c + early) / w) ** 2)
    return out


@pytest.mark.parametrize("gap", [CFG.align_gap_ticks, 0.0], ids=["gap", "same-tick"])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_alignment_finds_the_displacement_less_the_tolerance(seed, gap):
    delta = np.random.default_rng([seed, 5]).uniform(-1.8, 1.8, 2)
    x = planes_with_displacement(seed, delta, gap)
    before = x.sum(axis=1)
    shift = align_induction(x, DET, CFG)
    want = np.sign(delta) * np.maximum(np.abs(delta) - CFG.align_tolerance_ticks, 0)
    assert np.allclose(shift[:2], want, atol=0.1), (shift, delta)  # parabola bias
    assert shift[2] == 0
    assert np.allclose(x.sum(axis=1), before, rtol=1e-4, atol=1e-2)
    left = [
        profile_lag(x[DET.plane_slice(p)].sum(0), x[DET.plane_slice(2)].sum(0))[0] + (2 - p) * gap
        for p in (0, 1)
    ]
    assert np.all(np.abs(left) <= CFG.align_tolerance_ticks + 0.1), left


@pytest.mark.parametrize("gap", [CFG.align_gap_ticks, 0.0], ids=["gap", "same-tick"])
def test_a_plane_beyond_the_bound_keeps_its_times(gap):
    x = planes_with_displacement(7, np.array([3.0, -2.5]), gap)
    y = x.copy()
    assert np.all(align_induction(x, DET, CFG) == 0)
    assert np.array_equal(x, y)


@pytest.mark.parametrize("ticks", [0.3, -0.7, 2.25])
def test_a_row_shift_moves_the_charge_weighted_time_and_keeps_the_charge(ticks):
    t = np.arange(200)
    x = np.exp(-0.5 * ((t - 90.4) / 3) ** 2)[None, :].astype(np.float32)
    c0 = (x * t).sum() / x.sum()
    q0 = x.sum()
    shift_rows(x, ticks)
    assert abs((x * t).sum() / x.sum() - c0 - ticks) < 1e-3
    assert abs(x.sum() - q0) < 1e-4 * q0


def test_our_generator_is_measured_and_needs_no_shift():
    _, truth, res = angled_event(21)
    ref = res.deconvolved[DET.plane_slice(2)].sum(0)
    for p in (0, 1):  # planes at the same tick: the displacement read is within tolerance
        lag, corr = profile_lag(res.deconvolved[DET.plane_slice(p)].sum(0), ref)
        assert corr >= CFG.align_min_corr and abs(lag) <= CFG.align_tolerance_ticks, (lag, corr)
    assert np.all(res.time_shift == 0)
    r = wire_ratios(res, truth)
    assert np.mean(np.abs(r["dt"]) <= 1.0) >= 0.95
