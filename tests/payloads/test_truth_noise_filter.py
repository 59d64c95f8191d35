"""Coherent-noise removal, signal protection and stuck-code mending against the truth."""

import numpy as np
import pytest

from payloads import tolerances as tol
from payloads.daqsim.tpc import SimConfig
from payloads.daqsim.tpc import simulate_apa as simulate
from payloads.detector import DEFAULT as DET
from payloads.dqm import adc as adcm
from payloads.dqm import fft as fftm
from payloads.dqm.sig import SigConfig, mend_stuck, remove_coherent
from payloads.stages.sig import comb_notches


@pytest.fixture(scope="module")
def filtered():
    adc, truth, static = simulate(SimConfig(separated_tracks=5, line_apas=()), seed=41, event=0)
    bad = adcm.find_bad_channels(adcm.compute_channel_stats(adc), DET)
    excl = bad["dead"] | bad["noisy"]
    wave = adc.astype(np.float32)
    mend_stuck(wave, adc, np.flatnonzero(bad["sticky"]))
    p16, p50, p84 = np.percentile(wave[:, ::3], [16, 50, 84], axis=1)
    wave -= p50.astype(np.float32)[:, None]
    before = wave.copy()
    remove_coherent(wave, (0.5 * (p84 - p16)).astype(np.float32), DET, SigConfig(), exclude=excl)
    return before, wave, truth, static, excl


def _left_fraction(wave, truth, excl):
    """Per group: regression coefficient of the channels' waveforms on the injected coherent one."""
    left = []
    for g in range(DET.n_fembs * 3):
        chans = np.flatnonzero((DET.group == g) & ~excl)
        c = truth.coherent[g].astype(np.float64)
        resid = wave[chans] - truth.signal[chans]
        beta = resid @ c / (c @ c)
        left.append(beta.mean())
    return np.abs(np.array(left))


def test_coherent_noise_is_reduced_by_ninety_percent(filtered):
    before, after, truth, _, excl = filtered
    assert np.median(_left_fraction(before, truth, excl)) > 0.8  # it was there
    left = _left_fraction(after, truth, excl)
    # RMS of what is left of the injected waveforms, relative to their RMS
    assert np.sqrt(np.mean(left**2)) <= tol.COHERENT_LEFT_MAX


def test_track_peaks_keep_their_amplitude(filtered):
    _, after, truth, _, excl = filtered
    ratios = []
    for ch in np.flatnonzero(~excl):
        s = truth.signal[ch]
        k = int(np.argmax(np.abs(s)))
        if abs(s[k]) < 40:
            continue
        ratios.append(after[ch, k] / s[k])
    assert len(ratios) > 100
    assert np.mean(ratios) >= tol.PEAK_KEPT_MIN


@pytest.mark.parametrize("line_apas", [(), (0,)], ids=["no-lines", "with-lines"])
def test_stuck_samples_are_mended_to_within_one_noise_rms(line_apas):
    adc, truth, static = simulate(SimConfig(line_apas=line_apas), seed=42, event=0)
    bad = adcm.find_bad_channels(adcm.compute_channel_stats(adc), DET)
    excl = bad["dead"] | bad["noisy"]
    # the lines as the ADC/FFT stage finds them (plane-wide lines, comb on flagged channels)
    power = fftm.compute_power(adc)
    spectra = fftm.average_spectra(power, DET, exclude=excl)
    found = {
        p: np.array([ln["freq_hz"] for ln in fftm.find_lines(spectra["plane"][p], DET.freqs())])
        for p in range(3)
    }
    comb = comb_notches((fftm.comb_score(power, DET.freqs()) > 3.0) & ~excl, 51.4e3, 600e3)
    sticky = np.flatnonzero(bad["sticky"])
    lines = {int(c): np.r_[found[int(DET.plane_index[c])], comb.get(int(c), [])] for c in sticky}
    wave = adc.astype(np.float32)
    mend_stuck(wave, adc, sticky, lines)
    assert truth.stuck_tick.size > 1000
    err = np.abs(wave[truth.stuck_channel, truth.stuck_tick] - truth.stuck_true)
    assert np.mean(err <= static.noise_rms[truth.stuck_channel]) >= tol.STUCK_MENDED_MIN
