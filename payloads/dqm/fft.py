"""Spectra per channel, averages per FEMB-plane group, plane and APA; narrow-line finding.

Spectral unit: ``S_k = (2 |X_k| / N)^2`` averaged over channels, so a sine of amplitude ``A``
ADC gives ``sum_k S_k = A^2`` over the bins it leaks into, and a line is reported by its
amplitude ``A`` in ADC.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft
from scipy.ndimage import median_filter

from payloads.detector import Detector


def compute_power(
    adc: np.ndarray,
    workers: int = 1,
    out: np.ndarray | None = None,
    work: np.ndarray | None = None,
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
        float32 buffer shaped like ``adc`` for the conversion (saves allocating 61 MB per call).

    Returns
    -------
    numpy.ndarray
        float32 ``(n_channels, n_ticks // 2 + 1)``.
    """
    n = adc.shape[1]
    if work is None:
        x = adc.astype(np.float32)
    else:
        np.copyto(work, adc, casting="unsafe")
        x = work
    # the mean only changes the DC bin, which is zeroed
    spec = sfft.rfft(x, axis=1, workers=workers, overwrite_x=True)
    mag = np.abs(spec, out=out)
    np.multiply(mag, mag, out=mag)
    mag *= np.float32((2.0 / n) ** 2)
    mag[:, 0] = 0.0
    return mag


def average_spectra(
    power: np.ndarray, det: Detector, exclude: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Mean spectra per FEMB-plane group ``(60, nf)``, plane ``(3, nf)`` and APA ``(nf,)``.

    ``exclude`` (boolean over channels, e.g. dead or noisy) leaves channels out of the means.
    """
    keep = np.ones(power.shape[0], bool) if exclude is None else ~exclude
    nf = power.shape[1]
    femb = np.zeros((det.n_fembs * 3, nf), dtype=np.float64)
    counts = np.zeros(det.n_fembs * 3)
    for p in range(3):
        chans = det.group_channels(p)  # (n_fembs, n_per_group): contiguous offline ranges
        for f in range(det.n_fembs):
            rows = chans[f][keep[chans[f]]]
            counts[3 * f + p] = rows.size
            if rows.size == chans.shape[1]:
                femb[3 * f + p] = power[rows[0] : rows[-1] + 1].sum(axis=0)
            elif rows.size:
                femb[3 * f + p] = power[rows].sum(axis=0)
    plane = np.stack([femb[p::3].sum(axis=0) / max(counts[p::3].sum(), 1) for p in range(3)])
    apa = femb.sum(axis=0) / max(counts.sum(), 1)
    femb /= np.maximum(counts, 1)[:, None]
    return {"femb": femb, "plane": plane, "apa": apa}


def find_lines(
    spectrum: np.ndarray,
    freqs: np.ndarray,
    threshold: float = 6.0,
    half_width: int = 4,
    background_bins: int = 61,
    min_hz: float = 5e3,
) -> list[dict[str, float]]:
    """Narrow lines in a mean power spectrum.

    A line is a local maximum exceeding ``threshold`` times the running median (over
    ``background_bins``) of the spectrum. Its amplitude is ``sqrt(sum(S - background))`` over
    ``+-half_width`` bins (rectangular-window leakage is summed back), its frequency the
    power-weighted centroid.

    Returns
    -------
    list of dict
        ``freq_hz``, ``amplitude`` (ADC), ``significance`` (peak over background), ``bin``.
    """
    bg = median_filter(spectrum, size=background_bins, mode="nearest")
    bg = np.maximum(bg, np.finfo(np.float32).tiny)
    ratio = spectrum / bg
    cand = np.flatnonzero((ratio > threshold) & (freqs > min_hz))
    lines: list[dict[str, float]] = []
    taken = np.zeros(spectrum.size, bool)
    for k in cand[np.argsort(-ratio[cand])]:
        if taken[k]:
            continue
        lo, hi = max(0, k - half_width), min(spectrum.size, k + half_width + 1)
        excess = np.clip(spectrum[lo:hi] - bg[lo:hi], 0, None)
        total = float(excess.sum())
        if total <= 0:
            continue
        taken[max(0, k - 2 * half_width) : k + 2 * half_width + 1] = True
        lines.append(
            {
                "freq_hz": float((freqs[lo:hi] * excess).sum() / total),
                "amplitude": float(np.sqrt(total)),
                "significance": float(ratio[k]),
                "bin": int(k),
            }
        )
    return sorted(lines, key=lambda d: d["freq_hz"])


def comb_score(
    power: np.ndarray,
    freqs: np.ndarray,
    base_hz: float = 51.4e3,
    max_hz: float = 0.6e6,
    half_width: int = 2,
    ring: tuple[int, int] = (8, 30),
) -> np.ndarray:
    """Per-channel strength of a harmonic comb: power at the harmonics over nearby power.

    For each harmonic ``n x base_hz``, the mean ``S`` within ``+-half_width`` bins over the mean
    ``S`` in a ring ``ring`` bins away; the score is the mean of these ratios over harmonics.
    Noise alone gives about 1.
    """
    df = freqs[1] - freqs[0]
    harm = np.arange(1, int(max_hz // base_hz) + 1) * base_hz
    centre = np.rint(harm / df).astype(int)
    centre = centre[centre + ring[1] < power.shape[1]]
    near = centre[:, None] + np.arange(-half_width, half_width + 1)[None, :]
    offs = np.r_[np.arange(-ring[1], -ring[0] + 1), np.arange(ring[0], ring[1] + 1)]
    far = centre[:, None] + offs[None, :]
    sig = power[:, near].mean(axis=2)  # (n_channels, n_harmonics)
    bg = power[:, far].mean(axis=2)
    return (sig / np.maximum(bg, np.finfo(np.float32).tiny)).mean(axis=1)


def coarse_spectra(power: np.ndarray, factor: int = 10) -> np.ndarray:
    """Per-channel spectra averaged over ``factor`` adjacent bins (for channel x frequency maps)."""
    nf = power.shape[1] - 1
    m = nf // factor
    return power[:, 1 : 1 + m * factor].reshape(power.shape[0], m, factor).mean(axis=2)
