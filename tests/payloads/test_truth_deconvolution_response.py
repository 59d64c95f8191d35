"""The response functions are DETECTOR.md's, and the generator uses the same ones.

DETECTOR.md ("Signals"): 14 mV/fC, ~2 us shaping; 1,000 electrons give ~7 ADC at the peak and
~40 ADC x tick of area, the peak ~2.6 us after arrival; induction bipolar, lobes a third to a
half of collection.
"""

import numpy as np
import pytest
import scipy.fft as sfft

from payloads import response
from payloads.daqsim.tpc import SimConfig, make_signal
from payloads.detector import DEFAULT as DET


def test_collection_gives_7_adc_peak_and_40_adc_ticks_per_1000_electrons_at_2_6_us():
    fig = response.response_figures(2)
    assert fig["peak"] == pytest.approx(7.0, rel=0.02)
    assert fig["area"] == pytest.approx(40.0, rel=0.005)  # the charge scale rests on it
    assert fig["peak_tick"] * DET.tick_us == pytest.approx(2.6, abs=0.1)


def test_induction_is_bipolar_with_lobes_a_third_to_a_half_of_collection():
    fig = response.response_figures(0)
    col = response.response_figures(2)["peak"]
    assert abs(fig["area"]) < 1e-3 * fig["positive_area"]  # zero net charge on an induction wire
    for lobe in (fig["peak"], fig["negative_lobe"]):
        assert 1 / 3 <= lobe / col <= 1 / 2
    assert np.array_equal(response.make_response(0, 600), response.make_response(1, 600))


def test_induction_response_has_no_spectral_zeros_in_the_signal_band():
    # a deconvolution divides by the response: no zeros below 0.3 MHz (beyond f = 0)
    f = DET.freqs()
    band = (f > 1e3) & (f < 0.3e6)
    spec = np.abs(response.response_spectrum(0, DET.n_ticks))
    assert spec[band].min() > 1e-3 * spec[band].max()


@pytest.mark.parametrize("plane", [0, 1, 2])
def test_the_generator_signal_is_the_response_with_ac_coupling(plane):
    charge = np.zeros((DET.n_channels, DET.n_ticks))
    ch = DET.plane_slice(plane).start + 7
    charge[ch, 1000] = 1000.0
    sig = make_signal(SimConfig(), charge)[ch]
    kernel = response.make_response(plane, DET.n_ticks) * 1000.0
    expected = sfft.irfft(
        sfft.rfft(np.roll(kernel, 1000)) * response.ac_coupling_spectrum(DET.n_ticks),
        n=DET.n_ticks,
    )
    assert np.allclose(sig, expected, atol=1e-3)
    # AC coupling (tau 1.1 ms) only slightly lowers the pulse and adds a slow undershoot
    assert np.abs(sig).max() == pytest.approx(np.abs(kernel).max(), rel=0.02)
    if plane == 2:
        assert sig[1100:3000].mean() < 0
