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
