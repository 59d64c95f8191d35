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
    numba = None  # type: ignore[assignment]
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

    @numba.njit(cache=True, nogil=True, fastmath=True)
    def _subtract_flag(src, b, th, wi, flags):  # pragma: no cover - compiled
        """``wi = src - b`` and ``flags = |wi| > th``: one loop the compiler vectorises."""
        for t in range(src.size):
            v = np.float32(src[t]) - b
            wi[t] = v
            flags[t] = abs(v) > th

    @numba.njit(cache=True, nogil=True)
    def _mask_row(src, b, th, pad, e2, wi, out_row, flags):  # pragma: no cover - compiled
        """``wi = src - b`` zeroed within ``pad`` ticks of a sample above ``th``; the sums of
        ``e2``'s columns over those ticks added to ``out_row``. Returns the ticks left out.
        ``flags``: a uint8 buffer of ``n_ticks`` rounded up to 8, zero beyond ``n_ticks``."""
        n_t = src.size
        m = e2.shape[1]
        _subtract_flag(src, b, th, wi, flags)
        # intervals merged as the samples above the threshold are met; words of 8 flags
        # without one are skipped
        words = flags.view(np.uint64)
        start = -1
        end = -2
        n_out = 0
        for k in range(words.size):
            if words[k] == 0:
                continue
            for t in range(8 * k, min(8 * k + 8, n_t)):
                if flags[t]:
                    lo = max(t - pad, 0)
                    if lo > end + 1:
                        for u in range(start, end + 1):  # the finished interval
                            wi[u] = 0.0
                            for j in range(m):
                                out_row[j] += e2[u, j]
                        n_out += max(end - start + 1, 0)
                        start = lo
                    end = min(t + pad, n_t - 1)
        for u in range(start, end + 1):
            wi[u] = 0.0
            for j in range(m):
                out_row[j] += e2[u, j]
        n_out += max(end - start + 1, 0)
        return n_out

    @numba.njit(cache=True, nogil=True)
    def _mask_tile_nb(adc, rows, baseline, thr, pad, e2, w, out, kept, hot):  # pragma: no cover
        """The masking of :func:`mask_rows` into the caller's buffers (a tile kept in cache)."""
        n_t = adc.shape[1]
        flags = np.zeros(-(-n_t // 8) * 8, np.uint8)
        for i in range(rows.size):
            n_out = _mask_row(adc[rows[i]], baseline[i], thr[i], pad, e2, w[i], out[i], flags)
            kept[i] = n_t - n_out
            hot[i] = n_out > 0

    @numba.njit(cache=True, nogil=True)
    def _mask_rows_nb(adc, rows, baseline, thr, pad, e2):  # pragma: no cover - compiled
        n = rows.size
        w = np.empty((n, adc.shape[1]), np.float32)
        out = np.zeros((n, e2.shape[1]), np.float64)
        kept = np.empty(n, np.float64)
        hot = np.zeros(n, np.bool_)
        _mask_tile_nb(adc, rows, baseline, thr, pad, e2, w, out, kept, hot)
        return w, out, kept, hot

    @numba.njit(cache=True, nogil=True, fastmath=True)
    def _project4(w, r, p, q):  # pragma: no cover - compiled
        """``(w[r + i] . p, w[r + i] . q)`` for ``i < 4``, float32: eight accumulators, so the
        products run at the machine's throughput, not the latency of one running sum."""
        r0, r1, r2, r3 = w[r], w[r + 1], w[r + 2], w[r + 3]
        a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = np.float32(0.0)
        for t in range(p.size):
            pt = p[t]
            qt = q[t]
            a0 += r0[t] * pt
            b0 += r0[t] * qt
            a1 += r1[t] * pt
            b1 += r1[t] * qt
            a2 += r2[t] * pt
            b2 += r2[t] * qt
            a3 += r3[t] * pt
            b3 += r3[t] * qt
        return (a0, b0, a1, b1, a2, b2, a3, b3)

    @numba.njit(cache=True, nogil=True)
    def _masked_projections_nb(
        adc, rows, baseline, thr, pad, e2, ph, need, force
    ):  # pragma: no cover - compiled
        n = rows.size
        n_t = adc.shape[1]
        n_l = need.shape[1]
        n_f = ph.shape[0] // 2
        proj = np.zeros((n, ph.shape[0]), np.float64)
        out = np.zeros((n, e2.shape[1]), np.float64)
        kept = np.empty(n, np.float64)
        hot = np.zeros(n, np.bool_)
        tile = 64  # rows masked together (in cache), then projected four at a time
        w = np.zeros((tile, n_t), np.float32)
        for i0 in range(0, n, tile):
            i1 = min(i0 + tile, n)
            sl = slice(i0, i1)
            _mask_tile_nb(
                adc, rows[sl], baseline[sl], thr[sl], pad, e2, w, out[sl], kept[sl], hot[sl]
            )
            for r in range(0, i1 - i0, 4):
                top = min(r + 4, i1 - i0)
                for c in range(n_f):
                    j = c % n_l
                    use = False
                    for i in range(i0 + r, i0 + top):
                        use |= need[i, j] and (hot[i] or force[i])
                    if not use:
                        continue
                    v = _project4(w, r, ph[2 * c], ph[2 * c + 1])
                    for i in range(i0 + r, i0 + top):
                        if need[i, j] and (hot[i] or force[i]):
                            k = 2 * (i - i0 - r)
                            proj[i, 2 * c] = v[k]
                            proj[i, 2 * c + 1] = v[k + 1]
        return proj, out, kept, hot


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


def _masked_projections_py(adc, rows, baseline, thr, pad, e2, ph, need, force):
    w, out, kept, hot = _mask_rows_py(adc, rows, baseline, thr, pad, e2)
    proj = (w @ ph.T).astype(np.float64)
    n_l = need.shape[1]
    cols = np.repeat(np.tile(need, (1, ph.shape[0] // (2 * n_l))), 2, axis=1)
    proj[~(cols & (hot | force)[:, None])] = 0.0
    return proj, out, kept, hot


def masked_projections(
    adc: np.ndarray,
    rows: np.ndarray,
    baseline: np.ndarray,
    thr: np.ndarray,
    pad: int,
    e2: np.ndarray,
    ph: np.ndarray,
    need: np.ndarray,
    force: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`mask_rows` without keeping the waveforms: each masked row projected on the rows
    of ``ph`` ``(2 n_f, n_ticks)`` it needs, ``n_f = k x n_l`` frequencies, frequency ``o n_l +
    j`` (rows ``2 f``, ``2 f + 1``) needed where ``need[i, j]`` (``(n, n_l)``), on the rows that
    carry signal or that ``force`` names (0 elsewhere). One row's waveform at a time, in
    cache; float32 products summed in float32, like the matrix product they replace.

    Returns
    -------
    (proj float64 (n, 2 n_f), out float64 (n, m), kept float64 (n,), hot bool (n,))
    """
    rows = np.asarray(rows, np.int64)
    baseline = np.ascontiguousarray(baseline, np.float32)
    thr = np.ascontiguousarray(thr, np.float32)
    e2 = np.ascontiguousarray(e2, np.float32)
    ph = np.ascontiguousarray(ph, np.float32)
    need = np.ascontiguousarray(need, np.bool_)
    force = np.ascontiguousarray(force, np.bool_)
    if HAVE_NUMBA:
        return _masked_projections_nb(adc, rows, baseline, thr, int(pad), e2, ph, need, force)
    return _masked_projections_py(adc, rows, baseline, thr, int(pad), e2, ph, need, force)


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
    def row_code_stats(row, stride, quantiles, mean, ptp, qs, sums, i, hist, h_low, h_high):
        """:func:`code_stats` of one row into row ``i`` of the outputs; ``hist`` (65,536),
        ``h_low`` (64) and ``h_high`` (1,024) int64 buffers, zero, are left zero."""  # noqa: D401
        nt = row.size
        nq = quantiles.size
        m = (nt + stride - 1) // stride
        s = np.int64(0)
        lo16 = row[0]
        hi16 = lo16
        for t in range(nt):  # vectorised: int16 minimum and maximum
            v = row[t]
            s += v
            lo16 = min(lo16, v)
            hi16 = max(hi16, v)
        lo = np.int64(lo16)
        hi = np.int64(hi16)
        mean[i] = s / nt
        ptp[i] = hi - lo
        for t in range(0, nt, stride):
            hist[np.int64(row[t]) - lo] += 1
        # quantiles with each code spread over its unit interval; counts by the low six bits
        # and by the high bits (no branch per code: empty codes are frequent and random)
        cum = 0
        k = 0
        acc = 0
        for c in range(lo, hi + 1):
            cnt = hist[c - lo]
            hist[c - lo] = 0
            below = cum
            cum += cnt
            while k < nq and cum >= quantiles[k] * m:
                qs[i, k] = c - 0.5 + (quantiles[k] * m - below) / cnt
                k += 1
            h_low[c & 63] += cnt
            acc += cnt
            if (c & 63) == 63:
                h_high[(c >> 6) + 512] += acc
                acc = 0
        h_high[(hi >> 6) + 512] += acc
        while k < nq:  # pragma: no cover - only for q = 1 with rounding
            qs[i, k] = hi + 0.5
            k += 1
        for low in range(64):  # bits 0-5 and the code classes
            cnt = h_low[low]
            h_low[low] = 0
            for b in range(6):
                if (low >> b) & 1:
                    sums[i, b] += cnt
            if low == 0 or low == 63:
                sums[i, 12] += cnt
            elif low == 1:
                sums[i, 13] += cnt
            elif low == 62:
                sums[i, 14] += cnt
        for h in range((lo >> 6) + 512, (hi >> 6) + 513):  # bits 6-11
            cnt = h_high[h]
            h_high[h] = 0
            for b in range(6):
                if ((h - 512) >> b) & 1:
                    sums[i, 6 + b] += cnt

    @numba.njit(cache=True, nogil=True)
    def _code_stats_nb(adc, stride, quantiles, mean, ptp, qs, sums, hist, h_low, h_high):
        for i in range(adc.shape[0]):  # pragma: no cover - compiled
            row_code_stats(adc[i], stride, quantiles, mean, ptp, qs, sums, i, hist, h_low, h_high)


def stats_buffers(n: int, nq: int) -> tuple[tuple, tuple]:
    """The outputs ``(mean, ptp, quantiles, sums)`` of :func:`row_code_stats` for ``n`` rows
    and ``nq`` quantiles, and its zeroed scratch buffers ``(hist, h_low, h_high)``."""
    outputs = (
        np.empty(n, np.float64),
        np.empty(n, np.int64),
        np.empty((n, nq), np.float64),
        np.zeros((n, 15), np.float64),
    )
    return outputs, (np.zeros(65536, np.int64), np.zeros(64, np.int64), np.zeros(1024, np.int64))


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
        outputs, scratch = stats_buffers(adc.shape[0], q.size)
        _code_stats_nb(np.ascontiguousarray(adc, np.int16), int(stride), q, *outputs, *scratch)
        return (*outputs, (adc.shape[1] + int(stride) - 1) // int(stride))
    return _code_stats_py(adc, int(stride), q)


if HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True, fastmath=True)
    def _coarse_nb(power, factor, m):  # pragma: no cover - compiled
        n = power.shape[0]
        out = np.empty((n, m), np.float32)
        scale = np.float32(1.0 / factor)
        for i in range(n):
            row = power[i, 1 : 1 + m * factor]
            for b in range(m):
                s = np.float32(0.0)
                for k in range(factor):
                    s += row[b * factor + k]
                out[i, b] = s * scale
        return out

    @numba.njit(cache=True, nogil=True)
    def _comb_ratios_nb(power, centre, r0, r1, hw, kth):  # pragma: no cover - compiled
        n = power.shape[0]
        ratio = np.empty((n, centre.size), np.float32)
        tiny = np.float32(np.finfo(np.float32).tiny)
        n_sig = np.float32(2 * hw + 1)
        n_bg = np.float32(2 * (r1 - r0 + 1))
        for i in range(n):
            row = power[i]
            for h in range(centre.size):
                c = centre[h]
                sig = np.float32(0.0)
                for k in range(c - hw, c + hw + 1):
                    sig += row[k]
                bg = np.float32(0.0)
                for k in range(c - r1, c - r0 + 1):
                    bg += row[k]
                for k in range(c + r0, c + r1 + 1):
                    bg += row[k]
                ratio[i, h] = (sig / n_sig) / max(bg / n_bg, tiny)
        if kth < 0:
            return ratio
        out = np.empty((n, 1), np.float32)
        buf = np.empty(centre.size, np.float32)
        for i in range(n):  # the kth largest by kth passes (no sort, no allocation per row)
            buf[:] = ratio[i]
            best = np.float32(0.0)
            for _ in range(kth):
                j = np.argmax(buf)
                best = buf[j]
                buf[j] = -np.inf
            out[i, 0] = best
        return out


if HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True)
    def _line_windows_nb(power, s, e, k, hw, offs, wide_offs):  # pragma: no cover - compiled
        n = e - s
        win = np.empty((n, 2 * hw + 1), np.float32)
        ring = np.empty(n, np.float64)
        wide = np.empty(n, np.float64)
        for i in range(n):
            row = power[s + i]
            for j in range(2 * hw + 1):
                win[i, j] = row[k - hw + j]
            a = 0.0
            for o in offs:
                a += row[k + o]
            ring[i] = a / offs.size
            a = 0.0
            for o in wide_offs:
                a += row[k + o]
            wide[i] = a / wide_offs.size
        return win, ring, wide


def line_windows(
    power: np.ndarray, rows: slice, k: int, hw: int, offs: np.ndarray, wide_offs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``power[rows]``: bins ``k - hw .. k + hw`` (float32), and the float64 means
    of bins ``k + offs`` and ``k + wide_offs`` (sums of float32 in float64: exact, so equal
    to numpy's whatever the order); one compiled pass instead of three gathers."""
    if not HAVE_NUMBA or power.dtype != np.float32:
        p = power[rows]
        return (
            p[:, k - hw : k + hw + 1],
            p[:, k + offs].mean(axis=1, dtype=np.float64),
            p[:, k + wide_offs].mean(axis=1, dtype=np.float64),
        )
    return _line_windows_nb(
        power,
        rows.start,
        rows.stop,
        int(k),
        int(hw),
        np.asarray(offs, np.int64),
        np.asarray(wide_offs, np.int64),
    )


def coarse_sums(power: np.ndarray, factor: int) -> np.ndarray | None:
    """Means of ``factor`` adjacent bins from bin 1 on, per row (float32; the order of the sum
    left to the compiler, so within float32 rounding of numpy's); None without numba (the caller's numpy form then runs)."""
    if not HAVE_NUMBA or power.dtype != np.float32:
        return None
    m = (power.shape[1] - 1) // factor
    return _coarse_nb(np.ascontiguousarray(power), int(factor), int(m))


def comb_ratios(
    power: np.ndarray, centre: np.ndarray, ring: tuple[int, int], half_width: int, kth: int = -1
) -> np.ndarray | None:
    """Per row and harmonic bin ``centre``: mean power within ``+-half_width`` bins over the
    mean in the ring ``ring`` bins away (float32); with ``kth`` > 0 only each row's
    ``kth``-largest ratio ``(n, 1)``. None without numba."""
    if not HAVE_NUMBA or power.dtype != np.float32:
        return None
    return _comb_ratios_nb(
        np.ascontiguousarray(power),
        np.asarray(centre, np.int64),
        ring[0],
        ring[1],
        half_width,
        int(kth),
    )
