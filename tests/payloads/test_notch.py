"""A notch takes an off-bin line out with its leakage; a plain notch leaves the tail."""

import numpy as np
import pytest
import scipy.fft as sfft

from payloads.dqm.notch import apply_notches, dirichlet, remove_line

N = 6000
DF = 2e6 / N


def _sines(rng, nu, n_rows=40):
    t = np.arange(N)
    amp = rng.uniform(1.0, 3.0, n_rows)[:, None]
    phase = rng.uniform(0, 2 * np.pi, n_rows)[:, None]
    return (amp * np.cos(2 * np.pi * nu * t / N + phase)).astype(np.float32), amp.ravel()


def test_the_kernel_is_the_transform_of_an_exponential():
    nu = 812.37
    x = np.exp(2j * np.pi * nu * np.arange(N) / N)
    ks = np.arange(790, 835)
    assert np.allclose(np.fft.fft(x)[ks], dirichlet(nu - ks, N), atol=1e-6 * N)


@pytest.mark.parametrize("offset", [0.0, 0.23, 0.45, -0.38])
def test_an_off_bin_line_leaves_nothing_beyond_the_notch(offset):
    rng = np.random.default_rng(int(100 * abs(offset)) + 7)
    nu = 1401 + offset
    wave, amp = _sines(rng, nu)
    plain = sfft.rfft(wave, axis=1)
    k0 = int(round(nu))
    plain[:, k0 - 2 : k0 + 3] = 0
    spec = sfft.rfft(wave, axis=1)
    f = remove_line(spec, slice(None), nu * DF, DF, N, half_width=2)
    assert f == pytest.approx(nu * DF, abs=0.05 * DF)  # refined from the data, not assumed
    left = np.abs(sfft.irfft(spec, n=N, axis=1)).max(axis=1) / amp
    tail = np.abs(sfft.irfft(plain, n=N, axis=1)).max(axis=1) / amp
    assert left.max() < 0.01
    if abs(offset) > 0.2:  # the plain notch leaves a tail the fitted one does not
        assert tail.min() > 0.1


def test_a_line_given_a_little_off_is_found_and_removed():
    rng = np.random.default_rng(3)
    nu = 2100.31
    wave, amp = _sines(rng, nu)
    noise = rng.normal(0, 0.5, wave.shape).astype(np.float32)
    spec = sfft.rfft(wave + noise, axis=1)
    apply_notches(spec, DF, N, 2, {0: slice(0, 20)}, {0: np.array([(nu + 0.3) * DF])})
    per_channel = {ch: np.array([(nu - 0.2) * DF]) for ch in range(20, 40)}
    apply_notches(spec, DF, N, 2, {}, {}, per_channel)
    resid = sfft.irfft(spec, n=N, axis=1) - noise
    # what is left is the noise's own content in the notched bins, not the line
    assert np.sqrt(np.mean(resid**2, axis=1)).max() < 0.05
