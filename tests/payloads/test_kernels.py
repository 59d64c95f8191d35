"""The compiled kernels agree with their numpy twins (payloads/dqm/kernels.py)."""

import numpy as np
import pytest

from payloads.dqm import kernels


@pytest.mark.parametrize("seed", [3, 17])
def test_mask_rows_matches_the_numpy_twin(seed):
    rng = np.random.default_rng(seed)
    n_t = 1200
    adc = (rng.normal(900, 4, (12, n_t))).astype(np.int16)
    # pulses at random places, some at the window's edges (the padding must clip there)
    for r in range(12):
        for t0 in rng.choice(n_t, 3, replace=False).tolist() + [0, n_t - 1][: r % 3]:
            adc[r, t0] += int(rng.uniform(30, 200))
    rows = rng.permutation(12)[:9]
    base = np.full(9, 900.0, np.float32)
    thr = rng.uniform(15, 30, 9).astype(np.float32)
    ph = 2 * np.pi * 0.07 * np.arange(n_t)[:, None] * np.array([1.0, 2.0])[None, :]
    e2 = np.concatenate([np.cos(ph), -np.sin(ph)], axis=1).astype(np.float32)
    want = kernels._mask_rows_py(adc, rows, base, thr, 10, e2)
    got = kernels.mask_rows(adc, rows, base, thr, 10, e2)
    assert np.array_equal(got[0], want[0])  # the waveforms, zeroed on the same ticks
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-3)
    assert np.array_equal(got[2], want[2])
    assert np.array_equal(got[3], want[3])
    assert want[3].all() and (want[2] < n_t).all()


def test_numba_is_used_when_installed():
    pytest.importorskip("numba")
    assert kernels.HAVE_NUMBA


@pytest.mark.parametrize("seed,stride", [(5, 4), (8, 1)])
def test_code_stats_matches_the_numpy_twin(seed, stride):
    rng = np.random.default_rng(seed)
    adc = rng.normal(rng.uniform(500, 2500, (40, 1)), rng.uniform(0.5, 30, (40, 1)), (40, 3000))
    adc = np.clip(np.rint(adc), 0, 4095).astype(np.int16)
    adc[3] = 1700  # a constant channel
    adc[7, rng.random(3000) < 0.3] &= ~63  # stuck low bits
    q = (0.16, 0.5, 0.84)
    want = kernels._code_stats_py(adc, stride, q)
    got = kernels.code_stats(adc, stride, q)
    for g, w in zip(got[:4], want[:4], strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=2e-4)  # the twin rounds to float32
    assert got[4] == want[4] == len(range(0, 3000, stride))


@pytest.mark.parametrize("seed", [4, 29])
def test_masked_projections_match_the_masked_waveforms_product(seed):
    rng = np.random.default_rng(seed)
    n_t, n = int(rng.integers(300, 1300)), 21
    adc = rng.normal(900, 4, (n, n_t)).astype(np.int16)
    for r in range(n):
        for t0 in rng.choice(n_t, int(rng.integers(0, 3)), replace=False):
            adc[r, t0 : t0 + int(rng.integers(1, 40))] += int(rng.uniform(30, 200))
    rows = rng.permutation(n)[:19]
    base = np.full(19, 900.0, np.float32)
    thr = rng.uniform(15, 30, 19).astype(np.float32)
    e2 = rng.normal(size=(n_t, 4)).astype(np.float32)
    ph = rng.normal(size=(12, n_t)).astype(np.float32)  # 3 frequencies for each of 2 lines
    need = rng.random((19, 2)) < 0.6
    force = rng.random(19) < 0.3
    want = kernels._masked_projections_py(adc, rows, base, thr, 7, e2, ph, need, force)
    got = kernels.masked_projections(adc, rows, base, thr, 7, e2, ph, need, force)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-3)
    assert np.array_equal(got[2], want[2]) and np.array_equal(got[3], want[3])
    # only the rows with signal (or forced) and the lines they need are projected
    assert (got[0][~(want[3] | force)] == 0).all() and want[3].any()


def test_coarse_spectra_and_comb_score_match_their_numpy_forms(monkeypatch):
    from payloads.detector import DEFAULT as DET
    from payloads.dqm import fft as fftm

    p = np.random.default_rng(2).exponential(1.0, (64, DET.n_freqs)).astype(np.float32)
    freqs = DET.freqs()
    k = np.rint(np.arange(1, 12) * 51.4e3 / (freqs[1] - freqs[0])).astype(int)
    p[:8, k] *= 20  # a comb on eight channels
    fast = fftm.coarse_spectra(p), fftm.comb_score(p, freqs)
    monkeypatch.setattr(kernels, "HAVE_NUMBA", False)
    slow = fftm.coarse_spectra(p), fftm.comb_score(p, freqs)
    for f, s in zip(fast, slow, strict=True):
        np.testing.assert_allclose(f, s, rtol=2e-6)
    assert (slow[1][:8] > 5).all() and (slow[1][8:] < 3).all()


def test_one_pass_gives_the_separate_statistics_power_sums_and_coarse_map():
    from payloads.detector import DEFAULT as DET
    from payloads.dqm import adc as adcm
    from payloads.dqm import fft as fftm
    from payloads.dqm import onepass

    rng = np.random.default_rng(11)
    adc = np.rint(rng.normal(900, 4, (DET.n_channels, 600))).astype(np.int16)
    adc[5] = 1700  # a constant (dead-like) channel
    codes, power, part = onepass.stats_and_power(adc, DET, block=48)
    want = adcm.compute_channel_stats(adc)
    got = adcm.compute_channel_stats(adc, codes=codes)
    for k in want:
        assert np.array_equal(got[k], want[k]), k
    np.testing.assert_allclose(power, fftm.compute_power(adc), rtol=2e-6, atol=1e-12)
    if part is None:
        pytest.skip("without numba the one pass is the separate functions")
    excl = np.zeros(DET.n_channels, bool)
    excl[[5, 17]] = True
    a = fftm.average_spectra(power, DET, exclude=excl, asic_sum=part["asic_sum"])
    b = fftm.average_spectra(power, DET, exclude=excl)
    for k in ("asic", "femb", "plane", "apa"):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-9, err_msg=k)
    np.testing.assert_allclose(part["coarse"], fftm.coarse_spectra(power), rtol=1e-5, atol=1e-12)
