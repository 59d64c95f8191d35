"""Board faults are flagged with the board named; clean boards are not."""

import numpy as np
import pytest

from payloads import tolerances as tol
from payloads.daqsim.faults import FaultConfig
from payloads.daqsim.tpc import SimConfig, simulate_apa
from payloads.detector import DEFAULT as DET
from payloads.dqm import adc as adcm
from payloads.dqm import boards


def summary(faults, seed, apa=0):
    adc, _, _ = simulate_apa(SimConfig(faults=faults), seed=seed, event=0, apa=apa)
    stats = adcm.compute_channel_stats(adc)
    return boards.board_summary(stats, adcm.find_bad_channels(stats, DET), DET)


def kinds(res, kind):
    return {(f["femb"], f["asic"], f["plane"]) for f in res["faults"] if f["kind"] == kind}


@pytest.mark.parametrize("femb,asic,seed", [(5, 2, 81), (17, 7, 82), (0, 0, 83)])
def test_a_collection_asic_near_the_induction_pedestal_is_flagged(femb, asic, seed):
    res = summary(FaultConfig(asic_shifts=((femb, asic, "x", 1400.0),)), seed)
    assert kinds(res, "asic_pedestal_shift") == {(femb, asic, "x")}
    assert res["asic"]["pedestal_shift"][femb, asic, 2] == pytest.approx(1400, abs=150)


@pytest.mark.parametrize("femb,asic,rms,seed", [(9, 4, 8.0, 84), (14, 1, 6.0, 85)])
def test_a_noisy_asic_is_flagged_on_each_plane(femb, asic, rms, seed):
    res = summary(FaultConfig(noisy_asics=((femb, asic, rms),)), seed)
    assert kinds(res, "asic_noisy") == {(femb, asic, p) for p in ("u", "v", "x")}


@pytest.mark.parametrize("dead,frozen,seed", [(12, 15, 86), (0, 19, 87)])
def test_dead_and_frozen_boards_are_named_missing(dead, frozen, seed):
    res = summary(FaultConfig(dead_fembs=(dead,), frozen_fembs=(frozen,)), seed)
    assert res["femb_state"][dead] == "zeros" and res["femb_state"][frozen] == "frozen"
    assert np.flatnonzero(res["femb_missing"]).tolist() == sorted([dead, frozen])
    assert (res["femb"]["dead_fraction"][[dead, frozen]] == 1).all()
    assert {f["kind"] for f in res["faults"]} == {"femb_zeros", "femb_frozen"}


def test_clean_boards_raise_almost_no_flags():
    n_flags = n_checked = 0
    for seed, apa in [(88, 0), (88, 1), (89, 2), (90, 3)]:
        res = summary(None, seed, apa)
        n_flags += len(res["faults"])
        n_checked += 2 * DET.n_fembs * DET.asics_per_femb * 3 + DET.n_fembs
    assert n_flags / n_checked <= tol.BOARD_FALSE_MAX
