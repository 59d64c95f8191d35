"""Deconvolved charge is the deposited charge in electrons, wire by wire, on every plane.

Tracks at several drift angles (0.3 to 12 ticks per collection wire, varied per seed), at
positions the seeds vary, with the generator's noise, coherent noise and AC coupling (tau
1.1 ms); issue 9: collection within 5 % and induction within 10 % of the truth, per-wire spread
at most 10 %, time within 1 tick.
"""

import numpy as np
import pytest
from charge_truth import angled_event, wire_ratios

from payloads import tolerances as tol

SEEDS = [
    pytest.param(101, id="seed101"),
    pytest.param(102, id="seed102"),
    *(pytest.param(s, id=f"seed{s}", marks=pytest.mark.slow) for s in (103, 104, 105, 106)),
]
PLANES = {"u": 0, "v": 1, "x": 2}
REL = {0: tol.INDUCTION_CHARGE_REL, 1: tol.INDUCTION_CHARGE_REL, 2: tol.COLLECTION_CHARGE_REL}


@pytest.fixture(scope="module", params=SEEDS)
def ratios(request):
    _, truth, res = angled_event(request.param)
    return wire_ratios(res, truth)


@pytest.mark.parametrize("plane", PLANES)
def test_charge_is_the_true_charge_within_tolerance_wire_by_wire(ratios, plane):
    r = ratios[ratios["plane"] == PLANES[plane]]["ratio"]
    assert r.size >= 100, "too few isolated wire crossings to judge"
    assert abs(r.mean() - 1) <= REL[PLANES[plane]], f"mean ratio {r.mean():.3f}"
    assert r.std() <= tol.CHARGE_SPREAD_MAX, f"per-wire spread {r.std():.3f}"


@pytest.mark.parametrize("plane", PLANES)
def test_charge_holds_at_shallow_and_steep_drift_angles(ratios, plane):
    on = ratios[ratios["plane"] == PLANES[plane]]
    for name, sel in (
        ("<= 1 tick/wire", on["slope"] <= 1.0),
        (">= 6 ticks/wire", on["slope"] >= 6),
    ):
        r = on["ratio"][sel]
        assert r.size >= 20, name
        assert abs(r.mean() - 1) <= REL[PLANES[plane]], f"{name}: mean ratio {r.mean():.3f}"


@pytest.mark.parametrize("plane", PLANES)
def test_charge_arrives_within_one_tick_of_the_truth(ratios, plane):
    on = ratios[ratios["plane"] == PLANES[plane]]
    # charge-weighted time on every crossing; the peak tick where the charge is point-like
    assert abs(np.median(on["dt"])) <= 0.25 * tol.PEAK_TICKS
    assert np.mean(np.abs(on["dt"]) <= tol.PEAK_TICKS) >= tol.TIME_WITHIN_MIN
    shallow = on["slope"] <= 1.0
    assert np.mean(np.abs(on["dpeak"][shallow]) <= tol.PEAK_TICKS) >= tol.TIME_WITHIN_MIN
