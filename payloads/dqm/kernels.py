"""Compiled (numba) kernels of the DQM statistics: one pass where numpy needs several.

Each kernel has a plain-numpy twin used when numba cannot be imported (the results agree to
float32 rounding; ``tests/payloads/test_kernels.py`` checks it). numba compiles on first use and
caches the machine code next to this module (``cache=True``), so a stage process pays the
compile once per machine, not once per job.
"""

from __future__ import annotations

import numpy as np

try:  # pragma: no cover - exercised by whichever branch the machine has
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    numba = None
    HAVE_NUMBA = False


def _mask_rows_py(adc, rows, baseline, thr, pad, e2):
    from scipy.ndimage import maximum_filter1d

    w = adc[rows].astype(np.float32)
    w -= baseline[:, None]
    mask = np.abs(w) > thr[:, None]
    if pad and mask.any():
        mask = maximum_filter1d(mask.view(np.uint8), 2 * pad + 1, axis=1).view(bool)
    w[mask] = 0.0
    out = mask.astype(np.float32) @ e2
    return w, out.astype(np.float64), (~mask).sum(axis=1).astype(np.float64), mask.any(axis=1)


if HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True)
    def _mask_rows_nb(adc, rows, baseline, thr, pad, e2):  # pragma: no cover - compiled
        n = rows.size
        n_t = adc.shape[1]
        m = e2.shape[1]
        w = np.empty((n, n_t), np.float32)
        out = np.zeros((n, m), np.float64)
        kept = np.empty(n, np.float64)
        hot = np.zeros(n, np.bool_)
        for i in range(n):
            r = rows[i]
            b = baseline[i]
            th = thr[i]
            for t in range(n_t):
                w[i, t] = adc[r, t] - b
            # the ticks within pad of a sample above the threshold, in one sweep: ``until``
            # is the last tick covered by the hits seen so far (look-ahead of pad ticks)
            until = -1
            for h in range(min(pad, n_t)):
                if abs(w[i, h]) > th:
                    until = h + pad
                    hot[i] = True
            n_out = 0
            for t in range(n_t):
                ahead = t + pad
                if ahead < n_t and abs(w[i, ahead]) > th:
                    until = ahead + pad
                    hot[i] = True
                if t <= until:
                    w[i, t] = 0.0
                    n_out += 1
                    for j in range(m):
                        out[i, j] += e2[t, j]
            kept[i] = n_t - n_out
        return w, out, kept, hot


def mask_rows(
    adc: np.ndarray,
    rows: np.ndarray,
    baseline: np.ndarray,
    thr: np.ndarray,
    pad: int,
    e2: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows of ``adc`` less their ``baseline``, zeroed on the ticks that carry signal
    (``|w| > thr`` padded ``pad`` ticks each side); with the sums of the columns of ``e2``
    ``(n_ticks, m)`` over those ticks, the ticks kept and the rows with any tick left out.

    Returns
    -------
    (w float32 (n, n_ticks), out float64 (n, m), kept float64 (n,), hot bool (n,))
    """
    rows = np.asarray(rows, np.int64)
    baseline = np.ascontiguousarray(baseline, np.float32)
    thr = np.ascontiguousarray(thr, np.float32)
    e2 = np.ascontiguousarray(e2, np.float32)
    if HAVE_NUMBA:
        return _mask_rows_nb(adc, rows, baseline, thr, int(pad), e2)
    return _mask_rows_py(adc, rows, baseline, thr, int(pad), e2)


def _code_stats_py(adc, stride, quantiles):
    """numpy twin of :func:`code_stats` (one radix sort of the strided sample)."""
    from payloads.dqm.adc import code_table

    n, nt = adc.shape
    mean = adc.sum(axis=1, dtype=np.int64) / nt
    ptp = adc.max(axis=1).astype(np.int64) - adc.min(axis=1)
    codes, counts, rows, m, cum = code_table(adc[:, ::stride])
    from payloads.dqm.adc import _quantile_from_table

    qs = np.stack([_quantile_from_table(codes, counts, m, n, q, cum) for q in quantiles], axis=1)
    low = codes & 63
    table = np.empty((codes.size, 15), dtype=np.float64)
    table[:, :12] = (codes[:, None] >> np.arange(12)) & 1
    table[:, 12] = (low == 0) | (low == 63)
    table[:, 13] = low == 1
    table[:, 14] = low == 62
    table *= counts[:, None]
    sums = np.zeros((n, 15))
    np.add.at(sums, rows, table)
    return mean, ptp, qs.astype(np.float64), sums, m


if HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True)
    def _code_stats_nb(adc, stride, quantiles):  # pragma: no cover - compiled
        n, nt = adc.shape
        nq = quantiles.size
        mean = np.empty(n, np.float64)
        ptp = np.empty(n, np.int64)
        qs = np.empty((n, nq), np.float64)
        sums = np.zeros((n, 15), np.float64)
        hist = np.zeros(65536, np.int64)
        m = (nt + stride - 1) // stride
        for i in range(n):
            s = 0
            lo = np.int64(adc[i, 0])
            hi = lo
            for t in range(nt):
                v = np.int64(adc[i, t])
                s += v
                if v < lo:
                    lo = v
                if v > hi:
                    hi = v
            mean[i] = s / nt
            ptp[i] = hi - lo
            for t in range(0, nt, stride):
                hist[np.int64(adc[i, t]) + 32768] += 1
            # quantiles with each code spread over its unit interval, then the code classes
            cum = 0
            k = 0
            for c in range(lo, hi + 1):
                cnt = hist[c + 32768]
                if cnt == 0:
                    continue
                below = cum
                cum += cnt
                while k < nq and cum >= quantiles[k] * m:
                    qs[i, k] = c - 0.5 + (quantiles[k] * m - below) / cnt
                    k += 1
                low = c & 63
                for b in range(12):
                    if (c >> b) & 1:
                        sums[i, b] += cnt
                if low == 0 or low == 63:
                    sums[i, 12] += cnt
                elif low == 1:
                    sums[i, 13] += cnt
                elif low == 62:
                    sums[i, 14] += cnt
                hist[c + 32768] = 0
            while k < nq:  # pragma: no cover - only for q = 1 with rounding
                qs[i, k] = hi + 0.5
                k += 1
        return mean, ptp, qs, sums, m


def code_stats(
    adc: np.ndarray, stride: int, quantiles: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Per channel of int16 codes, in one pass over all ticks and one over every
    ``stride``-th: mean and max - min (all ticks); the ``quantiles`` of the strided sample
    with each integer code spread over its unit interval; and per channel the counts of its
    strided samples with each of the 12 bits set, at ``code % 64`` in {0, 63}, at 1 and at 62.

    Returns
    -------
    (mean (n,), ptp (n,), quantiles (n, nq), sums (n, 15), samples per channel)
    """
    q = np.asarray(quantiles, np.float64)
    if HAVE_NUMBA:
        return _code_stats_nb(np.ascontiguousarray(adc, np.int16), int(stride), q)
    return _code_stats_py(adc, int(stride), q)
