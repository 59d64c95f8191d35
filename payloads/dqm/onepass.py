"""Channel statistics, power spectra, per-ASIC spectrum sums and the coarse map in one pass.

The ADC+FFT stage reads each APA-event once: a block of channels is converted to float32
while its statistics are taken (:func:`payloads.dqm.kernels.row_code_stats`, the rows in
cache), transformed, and its power ``(2 |X| / N)^2`` written with the per-ASIC-plane sums and
the coarse map accumulated from the same block, instead of three later passes over the 31 MB
power array (:func:`payloads.dqm.fft.average_spectra`, :func:`payloads.dqm.fft.coarse_spectra`).
Without numba the separate numpy functions run and ``partial`` is None.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from payloads.detector import Detector
from payloads.dqm import kernels

#: bins per coarse-map bin (:func:`payloads.dqm.fft.coarse_spectra`'s default)
COARSE_FACTOR = 10

if kernels.HAVE_NUMBA:
    import numba

    @numba.njit(cache=True, nogil=True)
    def _convert_stats_nb(  # pragma: no cover - compiled
        adc, s, e, stride, q, mean, ptp, qs, sums, work, hist, h_low, h_high
    ):
        """Rows ``s:e`` into float32 ``work`` and their statistics."""
        for i in range(s, e):
            row = adc[i]
            kernels.row_code_stats(row, stride, q, mean, ptp, qs, sums, i, hist, h_low, h_high)
            w = work[i - s]
            for t in range(row.size):
                w[t] = np.float32(row[t])

    @numba.njit(cache=True, nogil=True, fastmath=True)
    def _power_nb(spec, s, scale, out, labels, asic_sum, coarse, factor):  # pragma: no cover
        """Power of the block's spectra into rows ``s:`` of ``out``, added to their groups'
        rows of ``asic_sum``, and their coarse-map rows."""
        nf = spec.shape[1]
        inv = np.float32(1.0 / factor)
        for r in range(spec.shape[0]):
            i = s + r
            row = out[i]
            acc = asic_sum[labels[i]]
            row[0] = 0.0  # the DC bin (the mean only changes it)
            for k in range(1, nf):
                x = spec[r, k]
                p = (x.real * x.real + x.imag * x.imag) * scale
                row[k] = p
                acc[k] += p
            for b in range(coarse.shape[1]):
                c = np.float32(0.0)
                for k in range(1 + b * factor, 1 + (b + 1) * factor):
                    c += row[k]
                coarse[i, b] = c * inv


def stats_and_power(
    adc: np.ndarray,
    det: Detector,
    workers: int = 1,
    stride: int = 4,
    out: np.ndarray | None = None,
    work: np.ndarray | None = None,
    block: int = 64,
) -> tuple[tuple, np.ndarray, dict | None]:
    """One APA-event's code statistics (:func:`payloads.dqm.kernels.code_stats` output, for
    :func:`payloads.dqm.adc.compute_channel_stats`), power spectrum
    (:func:`payloads.dqm.fft.compute_power`) and ``partial``: ``asic_sum`` (per ASIC-plane
    group, ``(FEMB x 8 + ASIC) x 3 + plane``, the sum of its channels' power, every channel)
    and ``coarse`` (:func:`payloads.dqm.fft.coarse_spectra`), float32.

    ``out``, ``work``: buffers as for :func:`payloads.dqm.fft.compute_power`.
    """
    from payloads.dqm import fft as fftm

    quantiles = (0.16, 0.5, 0.84)
    if not kernels.HAVE_NUMBA or adc.dtype != np.int16:
        codes = kernels.code_stats(adc, stride, quantiles)
        return codes, fftm.compute_power(adc, workers, out, work, block), None
    adc = np.ascontiguousarray(adc)
    n_ch, n = adc.shape
    nf = n // 2 + 1
    if out is None:
        out = np.empty((n_ch, nf), dtype=np.float32)
    rows = max(1, min(block, n_ch))
    if work is None or work.shape[0] < rows or work.shape[1] != n or work.dtype != np.float32:
        work = np.empty((rows, n), dtype=np.float32)
    q = np.asarray(quantiles, np.float64)
    outputs, scratch = kernels.stats_buffers(n_ch, q.size)
    mean, ptp, qs, sums = outputs
    hist, h_low, h_high = scratch
    labels = (det.asic * 3 + det.plane_index).astype(np.int64)
    n_groups = det.n_fembs * det.asics_per_femb * 3
    asic_sum = np.zeros((n_groups, nf), np.float32)
    coarse = np.empty((n_ch, (nf - 1) // COARSE_FACTOR), np.float32)
    scale = np.float32((2.0 / n) ** 2)
    for s in range(0, n_ch, rows):
        e = min(s + rows, n_ch)
        x = work[: e - s]
        _convert_stats_nb(adc, s, e, stride, q, mean, ptp, qs, sums, x, hist, h_low, h_high)
        spec = sfft.rfft(x, axis=1, workers=workers, overwrite_x=True)
        _power_nb(spec, s, scale, out, labels, asic_sum, coarse, COARSE_FACTOR)
    codes = (*outputs, (n + stride - 1) // stride)
    return codes, out, {"asic_sum": asic_sum, "coarse": coarse}
