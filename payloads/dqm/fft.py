"""Spectra per channel, averages per FEMB-plane group, plane and APA; narrow-line finding.

Spectral unit: ``S_k = (2 |X_k| / N)^2`` averaged over channels, so a sine of amplitude ``A``
ADC gives ``sum_k S_k = A^2`` over the bins it leaks into, and a line is reported by its
amplitude ``A`` in ADC.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from payloads.detector import Detector


def compute_power(
    adc: np.ndarray,
    workers: int = 1,
    out: np.ndarray | None = None,
    work: np.ndarray | None = None,
    block: int = 64,
) -> np.ndarray:
    """Per-channel power spectrum ``(2 |rfft| / N)^2``; the DC bin is set to zero.

    Parameters
    ----------
    adc : numpy.ndarray
        ``(n_channels, n_ticks)`` int16 or float array.
    workers : int
        Threads for ``scipy.fft`` (1 for per-core figures).
    out : numpy.ndarray, optional
        float32 ``(n_channels, n_ticks // 2 + 1)`` buffer for the result.
    work : numpy.ndarray, optional
        float32 buffer of at least ``block`` rows of ``n_ticks`` for the conversion.
    block : int
        Channels converted and transformed together: 64 x 6,000 ticks is 1.5 MB of float32
        and as much of spectrum, which stay in cache from the conversion to ``|X|^2`` (one
        rfft of the whole array writes 61 MB of new pages, then reads them back). Each row's
        transform is the same whatever the block, so the result does not depend on it.

    Returns
    -------
    numpy.ndarray
        float32 ``(n_channels, n_ticks // 2 + 1)``.
    """
    n_ch, n = adc.shape
    if out is None:
        out = np.empty((n_ch, n // 2 + 1), dtype=np.float32)
    rows = max(1, min(block, n_ch))
    if work is None or work.shape[0] < rows or work.shape[1] != n or work.dtype != np.float32:
        work = np.empty((rows, n), dtype=np.float32)
    scale = np.float32((2.0 / n) ** 2)
    for s in range(0, n_ch, rows):
        e = min(s + rows, n_ch)
        x = work[: e - s]
        np.copyto(x, adc[s:e], casting="unsafe")
        # the mean only changes the DC bin, which is zeroed
        spec = sfft.rfft(x, axis=1, workers=workers, overwrite_x=True)
        mag = np.abs(spec, out=out[s:e])
        np.multiply(mag, mag, out=mag)
        mag *= scale
    out[:, 0] = 0.0
    return out


def _asic_blocks(det: Detector) -> tuple[int, int, int] | None:
    """Channels per ASIC in each plane when every ASIC-plane group is a contiguous run of the
    offline order, sorted by (plane, FEMB, ASIC), as in the default map; else None."""
    sizes = (det.asic_u, det.asic_v, det.asic_x)
    expect = np.concatenate(
        [
            (np.arange(det.plane_slice(p).stop - det.plane_slice(p).start) // sizes[p]) * 3 + p
            for p in range(3)
        ]
    )
    return sizes if np.array_equal(det.asic * 3 + det.plane_index, expect) else None


def average_spectra(
    power: np.ndarray,
    det: Detector,
    exclude: np.ndarray | None = None,
    asic_sum: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Mean spectra per ASIC-plane group ``(n_fembs x 8 x 3, nf)``, FEMB-plane group
    ``(n_fembs x 3, nf)``, plane ``(3, nf)`` and APA ``(nf,)``.

    Group numbers: ASIC-plane = (FEMB x 8 + ASIC) x 3 + plane, FEMB-plane = FEMB x 3 + plane.
    ``exclude`` (boolean over channels, e.g. dead or noisy) leaves channels out of the means;
    ``counts_asic`` and ``counts_femb`` give the channels used. The per-ASIC sums are one pass over
    the per-channel power (the groups are contiguous runs of the offline order); FEMB, plane and
    APA means are sums of those. ``asic_sum``: the per-ASIC-plane sums over every channel,
    already taken (:func:`payloads.dqm.onepass.stats_and_power`).
    """
    keep = np.ones(power.shape[0], bool) if exclude is None else ~np.asarray(exclude, bool)
    nf = power.shape[1]
    n_asic = det.n_fembs * det.asics_per_femb
    asic = np.zeros((n_asic * 3, nf), dtype=np.float32)
    group_of = det.asic * 3 + det.plane_index
    counts_asic = np.bincount(group_of[keep], minlength=n_asic * 3).astype(float)
    sizes = _asic_blocks(det)
    if asic_sum is not None:
        asic[:] = asic_sum
        for ch in np.flatnonzero(~keep):
            asic[group_of[ch]] -= power[ch]
    elif sizes is not None:
        for p in range(3):
            sl = det.plane_slice(p)
            block = power[sl].reshape(n_asic, sizes[p], nf).sum(axis=1)
            asic[p::3] = block
        for ch in np.flatnonzero(~keep):
            asic[group_of[ch]] -= power[ch]
    else:  # any other channel map: one sparse product
        from scipy import sparse

        rows = np.flatnonzero(keep)
        m = sparse.csr_matrix(
            (np.ones(rows.size), (group_of[rows], rows)), shape=(n_asic * 3, power.shape[0])
        )
        asic[:] = m @ power
    asic[counts_asic == 0] = 0.0  # all excluded: exactly 0, not the sum's rounding residue
    apg = det.asics_per_femb
    femb_sum = asic.reshape(det.n_fembs, apg, 3, nf).sum(axis=1)
    femb_sum = femb_sum.reshape(det.n_fembs * 3, nf)
    counts_femb = counts_asic.reshape(det.n_fembs, apg, 3).sum(axis=1).reshape(-1)
    plane = np.stack(
        [femb_sum[p::3].sum(axis=0) / max(counts_femb[p::3].sum(), 1) for p in range(3)]
    )
    apa = femb_sum.sum(axis=0) / max(counts_femb.sum(), 1)
    return {
        "asic": asic / np.maximum(counts_asic, 1).astype(np.float32)[:, None],
        "femb": femb_sum / np.maximum(counts_femb, 1)[:, None],
        "plane": plane,
        "apa": apa,
        "counts_asic": counts_asic,
        "counts_femb": counts_femb,
    }


def line_background(spectra: np.ndarray, block: int = 16, span: int = 5) -> np.ndarray:
    """Smooth background of spectra ``(n_rows, nf)`` (or one spectrum): the mean of each
    ``block`` bins, then the running median of ``span`` blocks, constant over each block.

    Much cheaper than a 61-bin running median and as robust to narrow features: a line (a few
    bins) raises at most one or two block means, which the running median over blocks ignores.
    The background is the local *mean* noise power, the scale of the Gamma model of
    :func:`payloads.dqm.lines.row_thresholds`.
    """
    one = spectra.ndim == 1
    x = np.atleast_2d(spectra)
    nf = x.shape[1]
    m = (nf - 1) // block
    blocks = x[:, 1 : 1 + m * block].reshape(x.shape[0], m, block).mean(axis=2, dtype=np.float32)
    half = span // 2
    padded = np.pad(blocks, ((0, 0), (half, half)), mode="edge")
    if span == 5:  # median of five by a min/max network (a sort of tiny axes is slow)
        a, b, c, d, e = (padded[:, i : i + m] for i in range(5))
        lo1, hi1 = np.minimum(a, b), np.maximum(a, b)
        lo2, hi2 = np.minimum(c, d), np.maximum(c, d)
        u = np.maximum(lo1, lo2)  # the smallest of a..d dropped
        v = np.minimum(hi1, hi2)  # the largest of a..d dropped
        # the median of five is the median of {u, v, e}
        smooth = np.maximum(np.minimum(u, v), np.minimum(np.maximum(u, v), e))
    else:
        win = np.lib.stride_tricks.sliding_window_view(padded, span, axis=1)
        smooth = np.sort(win, axis=2)[:, :, half]
    bg = np.empty(x.shape, dtype=np.float32)
    bg[:, 1 : 1 + m * block] = np.repeat(smooth, block, axis=1)
    bg[:, 0] = smooth[:, 0]
    bg[:, 1 + m * block :] = smooth[:, -1:]
    np.maximum(bg, np.finfo(np.float32).tiny, out=bg)
    return bg[0] if one else bg


def leakage_fraction(offset_bins: float, half_width: int) -> float:
    """Share of a pure tone's power that falls within ``+-half_width`` bins of the bin it is
    summed around, the tone lying ``offset_bins`` from that bin (rectangular window, the
    periodogram of a sine is ``sinc^2``)."""
    j = np.arange(-half_width, half_width + 1)
    return float(np.sum(np.sinc(j - offset_bins) ** 2))


def tone_offset(window: np.ndarray, centre: int) -> float:
    """Offset (bins, from ``window[centre]``) of a tone from its two largest bins: for a
    rectangular window ``|X(k+1)| / |X(k)| = d / (1 - d)``."""
    k0 = int(np.argmax(window))
    left = window[k0 - 1] if k0 > 0 else 0.0
    right = window[k0 + 1] if k0 + 1 < window.size else 0.0
    side = 1 if right >= left else -1
    r = np.sqrt(max(right if side > 0 else left, 0.0) / max(window[k0], 1e-30))
    return (k0 - centre) + side * r / (1 + r)


def find_lines(
    spectrum: np.ndarray,
    freqs: np.ndarray,
    threshold: float = 6.0,
    half_width: int = 4,
    background_bins: int = 61,
    min_hz: float = 5e3,
) -> list[dict[str, float]]:
    """Narrow lines in a mean power spectrum.

    A line is a local maximum exceeding ``threshold`` times the smooth background
    (:func:`line_background`; ``background_bins`` is kept for callers, the background spans
    about 80 bins). Its amplitude is ``sqrt(sum(S - background) / F)`` over ``+-half_width``
    bins, ``F`` the share of a tone's power the window holds at the tone's offset (rectangular-
    window leakage corrected), its frequency the bin plus that offset.

    Returns
    -------
    list of dict
        ``freq_hz``, ``amplitude`` (ADC), ``significance`` (peak over background), ``bin``.
    """
    bg = line_background(spectrum)
    df = freqs[1] - freqs[0]
    lines: list[dict[str, float]] = []
    for k, sig in _peaks(spectrum, bg, freqs, threshold, min_hz, half_width):
        lo, hi = max(0, k - half_width), min(spectrum.size, k + half_width + 1)
        excess = np.clip(spectrum[lo:hi] - bg[lo:hi], 0, None)
        offset = tone_offset(excess, k - lo)
        total = float(excess.sum()) / leakage_fraction(offset, half_width)
        lines.append(
            {
                "freq_hz": float(freqs[k] + offset * df),
                "amplitude": float(np.sqrt(total)),
                "significance": float(sig),
                "bin": int(k),
            }
        )
    return sorted(lines, key=lambda d: d["freq_hz"])


def _peaks(spectrum, bg, freqs, threshold, min_hz, half_width):
    """(bin, peak over background) of local maxima above ``threshold``, strongest first, at
    least ``2 half_width`` bins apart."""
    ratio = spectrum / bg
    cand = np.flatnonzero((ratio > threshold) & (freqs > min_hz))
    taken = np.zeros(spectrum.size, bool)
    out = []
    for k in cand[np.argsort(-ratio[cand])]:
        if taken[k]:
            continue
        taken[max(0, k - 2 * half_width) : k + 2 * half_width + 1] = True
        out.append((int(k), float(ratio[k])))
    return out


def comb_score(
    power: np.ndarray,
    freqs: np.ndarray,
    base_hz: float = 51.4e3,
    max_hz: float = 0.6e6,
    half_width: int = 2,
    ring: tuple[int, int] = (8, 30),
    min_harmonics: int = 3,
) -> np.ndarray:
    """Per-channel strength of a harmonic comb: the ``min_harmonics``-th largest ratio of power
    at a harmonic of ``base_hz`` to the power nearby.

    For each harmonic ``n x base_hz``, the mean ``S`` within ``+-half_width`` bins over the mean
    ``S`` in a ring ``ring`` bins away. A comb needs several harmonics: taking the third-largest
    ratio (not the mean) keeps a single line near one harmonic from scoring. Noise alone gives
    about 1.3, the comb channels of the generator about 7.
    """
    df = freqs[1] - freqs[0]
    harm = np.arange(1, int(max_hz // base_hz) + 1) * base_hz
    centre = np.rint(harm / df).astype(int)
    centre = centre[centre + ring[1] < power.shape[1]]
    centre = centre[centre - ring[1] >= 0]
    r0, r1, hw = ring[0], ring[1], half_width
    from payloads.dqm import kernels

    k = min(min_harmonics, centre.size)
    fast = kernels.comb_ratios(power, centre, ring, half_width, k)
    if fast is not None:
        return fast[:, 0]
    ratio = _comb_ratios_np(power, centre, r0, r1, hw)
    return np.partition(ratio, ratio.shape[1] - k, axis=1)[:, ratio.shape[1] - k]


def _comb_ratios_np(power, centre, r0, r1, hw):
    """numpy form of :func:`payloads.dqm.kernels.comb_ratios`."""
    ratio = np.empty((power.shape[0], centre.size), dtype=np.float32)
    for h, c in enumerate(centre):  # contiguous slices: much cheaper than a fancy gather
        win = power[:, c - r1 : c + r1 + 1]
        sig = win[:, r1 - hw : r1 + hw + 1].mean(axis=1)
        bg = (win[:, : r1 - r0 + 1].sum(axis=1) + win[:, r1 + r0 :].sum(axis=1)) / (
            2 * (r1 - r0 + 1)
        )
        ratio[:, h] = sig / np.maximum(bg, np.finfo(np.float32).tiny)
    return ratio


def coarse_spectra(power: np.ndarray, factor: int = 10) -> np.ndarray:
    """Per-channel spectra averaged over ``factor`` adjacent bins (for channel x frequency maps);
    one compiled pass (without numba one ``reduceat``: a reduction over a short last axis is
    slow)."""
    from payloads.dqm import kernels

    fast = kernels.coarse_sums(power, factor)
    if fast is not None:
        return fast
    nf = power.shape[1] - 1
    m = nf // factor
    out = np.add.reduceat(power[:, 1 : 1 + m * factor], np.arange(0, m * factor, factor), axis=1)
    out *= np.float32(1.0 / factor)
    return out
