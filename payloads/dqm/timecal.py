"""Time alignment of the induction planes on the collection plane (SIG, issue 9).

See :func:`align_induction`; called by :func:`payloads.dqm.sig.process_apa` after the charge
calibration (:func:`payloads.dqm.calib.calibrate_induction`). Measured effect in
docs/charge-calibration.md ("Time alignment").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from payloads.detector import Detector

if TYPE_CHECKING:
    from payloads.dqm.sig import SigConfig


def profile_lag(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Sub-tick lag of profile ``a`` behind ``b`` and their normalised correlation.

    The circular cross-correlation ``c[k] = sum_t a[t + k] b[t]`` (by FFT) is maximised over
    ``k`` and refined by a parabola through the maximum and its two neighbours.

    Returns
    -------
    lag : float
        Ticks by which ``a`` comes after ``b`` (negative: before).
    corr : float
        ``c`` at its maximum over ``|a| |b|`` (0 when either profile is empty).
    """
    n = a.size
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if norm <= 0:
        return 0.0, 0.0
    c = np.fft.irfft(np.fft.rfft(a) * np.conj(np.fft.rfft(b)), n)
    k = int(np.argmax(c))
    y0, y1, y2 = c[k - 1], c[k], c[(k + 1) % n]
    den = y0 - 2 * y1 + y2
    d = 0.5 * (y0 - y2) / den if den < 0 else 0.0
    k = k if k <= n // 2 else k - n
    return k + float(d), float(y1 / norm)


def shift_rows(x: np.ndarray, ticks: float) -> None:
    """Delay the rows of ``x`` by ``ticks`` (may be negative), in place, keeping each row's sum.

    The integer part is a roll; the fraction ``d`` a two-tap interpolation
    ``(1 - d) x[t] + d x[t - 1]``, which moves a row's charge-weighted time by exactly ``d``
    and keeps its charge (the output ends on zeros outside the ROIs, so the roll wraps nothing
    but zeros at the window's ends).
    """
    k = int(np.floor(ticks))
    d = np.float32(ticks - k)
    if k:
        x[:] = np.roll(x, k, axis=1)
    if d:
        prev = np.roll(x, 1, axis=1)
        x *= 1 - d
        x += d * prev


def align_induction(deconv: np.ndarray, det: Detector, cfg: SigConfig) -> np.ndarray:
    """Shift each induction plane so that its charge profile lines up with collection's.

    Every drifting electron crosses U, V and X, so the charge per tick summed over a plane's
    wires has the same shape on the three planes, U ahead of collection by two plane gaps and
    V by one (``cfg.align_gap_ticks``: the wire-plane spacing over the drift speed), or by
    none in a simulation that puts every plane at the same place (payloads.daqsim does; the
    gap is three times ``cfg.align_max_ticks``, so the two readings never both fit). A
    one-dimensional deconvolution with a response whose centroid differs from the detector's
    displaces a plane's times by the difference of the centroids (a bipolar response of a
    shape unlike ours: 0.7 tick); collection's rests on its unipolar response, whose peak
    DETECTOR.md fixes. The lag of each induction profile behind collection's
    (:func:`profile_lag`) minus the geometric one is that displacement; the plane is shifted
    back when the profiles correlate by at least ``cfg.align_min_corr`` and the displacement
    is at most ``cfg.align_max_ticks`` (otherwise the plane keeps its times: too little
    signal, or data whose planes sit neither one gap apart nor together). Collection is a reference only to
    within ``cfg.align_tolerance_ticks`` (DETECTOR.md fixes its response's peak, not its
    centroid: ours and two foreign CR-(RC)^n responses peak on the same tick with centroids
    0.45-0.5 tick apart), so the plane moves by the displacement less that tolerance (a soft
    threshold): the smallest shift that puts it within the reference's uncertainty.

    Returns
    -------
    numpy.ndarray
        Ticks subtracted from each plane's times (U, V, X; X is always 0).
    """
    shift = np.zeros(3)
    if cfg.align_max_ticks <= 0:
        return shift
    ref = deconv[det.plane_slice(2)].sum(axis=0, dtype=np.float64)
    for p in (0, 1):
        sl = det.plane_slice(p)
        lag, corr = profile_lag(deconv[sl].sum(axis=0, dtype=np.float64), ref)
        # the planes crossed one gap apart (a detector), or at the same tick (a simulation
        # that puts every plane at the same place, as payloads.daqsim does): the gap is many
        # times align_max_ticks, so at most one of the two leaves a displacement in bounds
        offs = [lag + (2 - p) * cfg.align_gap_ticks, lag]
        off = min(offs, key=abs)
        if corr < cfg.align_min_corr or abs(off) > cfg.align_max_ticks:
            continue
        off = float(np.sign(off) * max(abs(off) - cfg.align_tolerance_ticks, 0.0))
        if off:
            shift_rows(deconv[sl], -off)
            shift[p] = off
    return shift
