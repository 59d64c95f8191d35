"""A comb needs several harmonics: a single line near a comb's fundamental is a line."""

import numpy as np
import pytest

from payloads import tolerances as tol
from payloads.daqsim.faults import FaultConfig
from payloads.daqsim.tpc import SimConfig, simulate_apa
from payloads.detector import DEFAULT as DET
from payloads.dqm import adc as adcm
from payloads.dqm import fft as fftm
from payloads.stages.adcfft import analyse_apa


def analyse(cfg, seed):
    adc, _, static = simulate_apa(cfg, seed=seed, event=0)
    return analyse_apa(adcm.compute_channel_stats(adc), fftm.compute_power(adc), DET), static


@pytest.mark.parametrize("freq", [51.4e3, 51.9e3, 47.3e3], ids=["at", "near", "below"])
def test_a_single_line_at_the_comb_fundamental_is_not_a_comb(freq):
    faults = FaultConfig(board_lines=((freq, 3.0, (2, 9), "x"),))
    res, _ = analyse(SimConfig(line_apas=(), comb_fembs=0, faults=faults), seed=71)
    assert res["combs"][2] == []
    on_line = np.isin(DET.femb, [2, 9]) & (DET.plane_index == 2)
    assert not res["comb"][on_line].any()
    assert res["comb"].mean() <= tol.COMB_FALSE_MAX  # noise alone, as without the line
    near = [ln for ln in res["lines"][2] if abs(ln["freq_hz"] - freq) < 2 * DET.freqs()[1]]
    # reported as a line on its boards (at 50 kHz a track's spectrum on one event can hide it
    # on one of the two: test_truth_board_lines checks the boards in full)
    assert len(near) == 1 and near[0]["fembs"] and set(near[0]["fembs"]) <= {2, 9}


@pytest.mark.parametrize("seed", [72, 73])
def test_the_comb_is_found_with_its_base_and_boards(seed):
    res, static = analyse(SimConfig(line_apas=()), seed=seed)
    (comb,) = res["combs"][2]
    assert comb["base_hz"] == pytest.approx(static.comb_freqs[0], abs=DET.freqs()[1])
    assert len(comb["harmonics"]) >= 3
    assert set(comb["fembs"]) >= set(np.unique(DET.femb[static.comb_channels]).tolist())
    assert res["comb"][static.comb_channels].mean() >= 0.95
