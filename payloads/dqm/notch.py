"""Notches that take a narrow line out whole, its spectral leakage included.

A stationary sine whose frequency falls between rfft bins does not stay in its bin: over a
window of ``N`` samples (no taper) its transform is the Dirichlet kernel, which falls only as
``1 / (pi |k - nu|)`` away from the line's fractional bin ``nu``. Zeroing ``+-2`` bins around a
line half a bin off leaves about 9 % of its amplitude three bins away and 4 % seven bins away;
at 300-600 kHz the shaped noise floor is far lower than that (DETECTOR.md: noise falls above
~100 kHz), so such a tail is still a line to the finder, and ringing in the waveform.

So before the bins are zeroed, the line is fitted on them: per channel, the complex amplitude
``A`` of ``A exp(2 pi i nu t / N)`` is the least-squares projection of the notched bins on the
kernel, the fractional bin ``nu`` is refined (over all rows at once) to the one that takes the
most power out, and the line (both its kernels, see :func:`remove_line`) is subtracted from
every bin. What the notch
then zeroes is only what the line model does not explain (noise and the signal's own content
in those few bins, as before).
"""

from __future__ import annotations

import numpy as np


def dirichlet(offset: np.ndarray, n: int) -> np.ndarray:
    """The rfft (``X_k = sum_t x_t exp(-2 pi i k t / n)``) of ``exp(2 pi i nu t / n)`` at the
    bins ``k = nu - offset``: ``(1 - e^{2 pi i d}) / (1 - e^{2 pi i d / n})``, ``d = offset``
    (``n`` at ``d = 0``)."""
    d = np.asarray(offset, dtype=np.float64)
    num = 1.0 - np.exp(2j * np.pi * d)
    den = 1.0 - np.exp(2j * np.pi * d / n)
    small = np.abs(den) < 1e-12
    return np.where(small, n, num / np.where(small, 1.0, den))


def remove_line(
    spec: np.ndarray,
    rows: slice | np.ndarray,
    f_line: float,
    df: float,
    n: int,
    half_width: int,
    refine_bins: float = 0.5,
    steps: int = 21,
) -> float:
    """Fit the line near ``f_line`` (Hz) on ``rows`` of the rfft ``spec`` and subtract it, its
    leakage over the whole band included (in place), then zero ``+-half_width`` bins as a notch.

    A real sine is ``a e^{i theta} + conj(a) e^{-i theta}``: both kernels are subtracted (the
    second, the negative frequency's, matters near DC and Nyquist and at the window's edges).
    Returns the refined frequency (Hz)."""
    nbins = spec.shape[1]
    k0 = int(round(f_line / df))
    clo, chi = max(1, k0 - half_width), min(nbins, k0 + half_width + 1)
    if chi <= clo:
        return f_line
    core = spec[rows, clo:chi]
    ks = np.arange(clo, chi)
    best_nu, best_power, best_d = f_line / df, -1.0, None
    for nu in f_line / df + np.linspace(-refine_bins, refine_bins, steps):
        d = dirichlet(nu - ks, n)
        power = float(np.sum(np.abs(core @ d.conj()) ** 2)) / float(np.sum(np.abs(d) ** 2))
        if power > best_power:
            best_nu, best_power, best_d = nu, power, d
    assert best_d is not None  # steps >= 1: the loop ran
    amp = ((core @ best_d.conj()) / np.sum(np.abs(best_d) ** 2)).astype(np.complex64)
    k = np.arange(nbins)
    pos = dirichlet(best_nu - k, n).astype(np.complex64)
    neg = dirichlet(-best_nu - k, n).astype(np.complex64)
    spec[rows] -= amp[:, None] * pos[None, :] + np.conj(amp)[:, None] * neg[None, :]
    spec[rows, clo:chi] = 0
    return best_nu * df


def apply_notches(
    spec: np.ndarray,
    df: float,
    n: int,
    half_width: int,
    plane_rows: dict[int, slice],
    notches: dict[int, np.ndarray],
    extra_notches: dict[int, np.ndarray] | None = None,
) -> None:
    """Take the plane-wide lines (plane -> Hz) and the per-channel ones (channel -> Hz) out of
    ``spec`` in place (:func:`remove_line`); channels sharing one set of lines are fitted
    together (the refinement sums their power)."""
    for p, lines in notches.items():
        for f in np.atleast_1d(lines):
            remove_line(spec, plane_rows[p], float(f), df, n, half_width)
    groups: dict[tuple, list[int]] = {}
    for ch, lines in (extra_notches or {}).items():
        lines = np.atleast_1d(lines)
        if lines.size:
            groups.setdefault(tuple(np.round(lines, 3)), []).append(int(ch))
    for key, chans in groups.items():
        rows = np.asarray(chans)
        sub = spec[rows]
        for f in key:
            remove_line(sub, slice(None), float(f), df, n, half_width)
        spec[rows] = sub
