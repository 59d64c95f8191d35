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
