"""Coherent noise with per-channel pick-up gains is removed channel by channel."""

import numpy as np
import pytest

from payloads import tolerances as tol
from payloads.daqsim.faults import FaultConfig
from payloads.daqsim.tpc import SimConfig, simulate_apa
from payloads.detector import DEFAULT as DET
from payloads.dqm import adc as adcm
from payloads.dqm.sig import SigConfig, remove_coherent, robust_percentiles


def filtered(seed, spread, per_channel=True):
    cfg = SimConfig(separated_tracks=5, line_apas=(), faults=FaultConfig(coupling_spread=spread))
    adc, truth, static = simulate_apa(cfg, seed=seed, event=0)
    bad = adcm.find_bad_channels(adcm.compute_channel_stats(adc), DET)
    excl = bad["dead"] | bad["noisy"]
    wave = adc.astype(np.float32)
    p16, p50, p84 = robust_percentiles(wave, (0.16, 0.5, 0.84))
    wave -= p50[:, None]
    rms = (0.5 * (p84 - p16)).astype(np.float32)
    remove_coherent(wave, rms, DET, SigConfig(coherent_per_channel=per_channel), exclude=excl)
    gains = static.coupling if static.coupling is not None else np.ones(DET.n_channels)
    return wave, truth, gains, excl


def removed_per_channel(wave, truth, gains, excl):
    """1 - |left-over coefficient of the injected group waveform| / the channel's gain."""
    out = []
    for ch in np.flatnonzero(~excl):
        c = truth.coherent[DET.group[ch]].astype(np.float64)
        beta = (wave[ch] - truth.signal[ch]) @ c / (c @ c)
        out.append(1 - abs(beta) / gains[ch])
    return np.array(out)


@pytest.mark.parametrize("seed", [41, 91])
def test_ninety_percent_is_removed_per_channel_with_twenty_percent_gains(seed):
    wave, truth, gains, excl = filtered(seed, 0.2)
    assert np.mean(removed_per_channel(wave, truth, gains, excl)) >= (
        tol.COHERENT_REMOVED_PER_CHANNEL_MIN
    )


def test_per_channel_scale_beats_one_scale_per_group():
    one = removed_per_channel(*filtered(92, 0.2, per_channel=False)).mean()
    per = removed_per_channel(*filtered(92, 0.2)).mean()
    assert per > one + 0.02


@pytest.mark.parametrize("seed", [41, 93])
def test_track_peaks_keep_their_amplitude_with_per_channel_scales(seed):
    wave, truth, _, excl = filtered(seed, 0.2)
    ratios = []
    for ch in np.flatnonzero(~excl):
        s = truth.signal[ch]
        k = int(np.argmax(np.abs(s)))
        if abs(s[k]) >= 40:
            ratios.append(wave[ch, k] / s[k])
    assert len(ratios) > 100
    assert np.mean(ratios) >= tol.PEAK_KEPT_MIN
