"""Narrow pickup lines and the harmonic comb are found where they were injected."""

import numpy as np
import pytest

from payloads import tolerances as tol
from payloads.daqsim.tpc import SimConfig
from payloads.daqsim.tpc import simulate_apa as simulate
from payloads.detector import DEFAULT as DET
from payloads.dqm import adc as adcm
from payloads.dqm import fft as fftm


@pytest.fixture(scope="module")
def analysed():
    adc, truth, static = simulate(SimConfig(line_apas=(0,)), seed=21, event=0)
    power = fftm.compute_power(adc)
    bad = adcm.find_bad_channels(adcm.compute_channel_stats(adc), DET)
    excl = bad["dead"] | bad["noisy"]
    return power, excl, static


def test_injected_lines_are_found_within_one_bin_and_five_percent(analysed):
    power, excl, static = analysed
    spectra = fftm.average_spectra(power, DET, exclude=excl)
    freqs = DET.freqs()
    bin_hz = freqs[1]
    assert static.line_freqs.size == 2
    for p in range(3):
        found = fftm.find_lines(spectra["plane"][p], freqs)
        sl = DET.plane_slice(p)
        keep = ~excl[sl]
        for k, f_true in enumerate(static.line_freqs):
            near = [
                ln for ln in found if abs(ln["freq_hz"] - f_true) <= tol.LINE_FREQ_BINS * bin_hz
            ]
            assert near, f"plane {p}: line at {f_true:.0f} Hz not found in {found}"
            a_true = np.sqrt(np.mean(static.line_amps[k][sl][keep] ** 2))
            assert near[0]["amplitude"] == pytest.approx(a_true, rel=tol.LINE_AMPLITUDE_REL)


def test_no_lines_are_reported_on_an_apa_without_pickup():
    adc, _, static = simulate(SimConfig(line_apas=()), seed=22, event=0)
    assert static.line_freqs.size == 0
    power = fftm.compute_power(adc)
    bad = adcm.find_bad_channels(adcm.compute_channel_stats(adc), DET)
    spectra = fftm.average_spectra(power, DET, exclude=bad["dead"] | bad["noisy"])
    for p in range(2):  # induction planes carry no comb
        assert fftm.find_lines(spectra["plane"][p], DET.freqs()) == []


def test_comb_channels_are_flagged(analysed):
    power, excl, static = analysed
    score = fftm.comb_score(power, DET.freqs())
    flagged = (score > 3.0) & ~excl
    truth = np.zeros(DET.n_channels, bool)
    truth[static.comb_channels] = True
    truth &= ~excl
    assert flagged[truth].mean() >= tol.COMB_FOUND_MIN
    assert flagged[~truth].mean() <= tol.COMB_FALSE_MAX
