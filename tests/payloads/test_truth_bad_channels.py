"""Dead, noisy and sticky channels are found against the injected truth."""

import numpy as np
import pytest

from payloads import tolerances as tol
from payloads.daqsim.tpc import SimConfig
from payloads.daqsim.tpc import simulate_apa as simulate
from payloads.detector import DEFAULT as DET
from payloads.dqm import adc as adcm


@pytest.fixture(scope="module")
def flagged():
    out = []
    for apa in (0, 1, 2):
        adc, _, static = simulate(SimConfig(n_noisy=5), seed=31, event=0, apa=apa)
        out.append((adcm.find_bad_channels(adcm.compute_channel_stats(adc), DET), static))
    return out


def test_every_dead_channel_is_found(flagged):
    for bad, static in flagged:
        assert bad["dead"][static.dead].mean() >= tol.DEAD_FOUND_MIN


def test_noisy_channels_are_found(flagged):
    found = np.concatenate([bad["noisy"][static.noisy] for bad, static in flagged])
    assert found.mean() >= tol.NOISY_FOUND_MIN


def test_few_healthy_channels_are_flagged(flagged):
    for bad, static in flagged:
        truth = np.zeros(DET.n_channels, bool)
        truth[np.r_[static.dead, static.noisy]] = True
        flagged_any = bad["dead"] | bad["noisy"]
        assert flagged_any[~truth].mean() <= tol.BAD_FALSE_MAX


def test_sticky_channels_are_found(flagged):
    for bad, static in flagged:
        truth = np.zeros(DET.n_channels, bool)
        truth[static.sticky] = True
        assert bad["sticky"][truth].mean() >= tol.NOISY_FOUND_MIN
        assert bad["sticky"][~truth].mean() <= tol.BAD_FALSE_MAX
