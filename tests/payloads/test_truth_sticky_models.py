"""Sticky channels under both stuck-code models: found, never called noisy, mended, kept."""

import numpy as np
import pytest

from payloads import tolerances as tol
from payloads.daqsim.faults import FaultConfig
from payloads.daqsim.tpc import SimConfig, simulate_apa
from payloads.detector import DEFAULT as DET
from payloads.dqm import adc as adcm
from payloads.dqm.sig import mend_stuck

CASES = [
    ("snap", 42, ()),
    ("snap", 45, (0,)),
    ("forced", 43, ()),
    ("forced", 44, (0,)),
    ("both", 201, ()),
    ("snap", 204, ()),
    ("snap", 207, (0,)),
    ("forced", 208, ()),
]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}-{c[1]}-lines{len(c[2])}")
def sticky_case(request):
    model, seed, line_apas = request.param
    cfg = SimConfig(line_apas=line_apas, faults=FaultConfig(sticky_model=model))
    adc, truth, static = simulate_apa(cfg, seed=seed, event=0)
    bad = adcm.find_bad_channels(adcm.compute_channel_stats(adc), DET)
    return adc, truth, static, bad


def test_sticky_channels_are_found_and_not_called_noisy(sticky_case):
    _, _, static, bad = sticky_case
    assert bad["sticky"][static.sticky].all()
    assert not bad["noisy"][static.sticky].any()


def test_stuck_samples_are_mended_to_within_the_noise_rms(sticky_case):
    adc, truth, static, bad = sticky_case
    wave = adc.astype(np.float32)
    mend_stuck(wave, adc, np.flatnonzero(bad["sticky"]))
    assert truth.stuck_tick.size > 1000
    err = np.abs(wave[truth.stuck_channel, truth.stuck_tick] - truth.stuck_true)
    assert np.mean(err <= static.noise_rms[truth.stuck_channel]) >= tol.STUCK_MENDED_MIN


def test_sig_keeps_sticky_channels(sticky_case):
    from payloads.dqm.sig import process_apa

    adc, _, static, bad = sticky_case
    res = process_apa(adc, DET, sticky=bad["sticky"], bad=bad["dead"] | bad["noisy"])
    assert not res.bad[static.sticky].any()
    assert (np.abs(res.filtered[static.sticky]).max(axis=1) > 0).all()
