"""Induction charge scale from the collection plane of the same APA-event (SIG, issue 9).

See :func:`calibrate_induction`; called by :func:`payloads.dqm.sig.process_apa` after the
ROIs and per-ROI baselines, before the outputs are written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.ndimage import maximum_filter1d

from payloads.detector import Detector
from payloads.dqm.deconv import paint_runs, roi_runs

if TYPE_CHECKING:
    from payloads.dqm.sig import SigConfig


def calibrate_induction(
    deconv: np.ndarray,
    roi: np.ndarray,
    rms: np.ndarray,
    bad: np.ndarray,
    det: Detector,
    cfg: SigConfig,
) -> np.ndarray:
    """Scale the induction planes' charge to the collection plane's, in place.

    Every drifting electron passes both induction planes and is collected on the third, so
    the charge summed over an APA's wires is the same on U, V and X. A one-dimensional
    deconvolution recovers the charge of a bipolar signal only through the response's first
    moment (the induction response vanishes at f = 0; at low frequency ``R(f) ~ -2 pi j f M1``,
    ``M1 = -A int q dt``, the electronics area times the time the electrons spend in the
    wire's weighting field), which no quoted number fixes (DETECTOR.md gives lobe heights,
    "a third to a half" of the collection peak; lobes of the same height but other widths
    change ``M1``: a response with narrower lobes gave 0.63 of the charge). The collection
    charge rests on its area alone (the unipolar response's f = 0 value, DETECTOR.md's
    ~40 ADC x tick per 1,000 e), so it calibrates the induction planes of the same event
    (as the three-plane charge matching of Wire-Cell's imaging assumes, and as protoDUNE-SP
    compares plane charges, JINST 15 (2020) P12004). Each plane's sum is divided by its live
    share (dead wires lose their share of the charge). The scale is applied only when the
    collection charge is at least ``cfg.calibrate_min_electrons`` (a few MIP tracks' worth)
    and falls inside ``cfg.calibrate_bounds``; otherwise the plane keeps 1.

    Returns
    -------
    numpy.ndarray
        The three factors applied (U, V, X), X always 1.
    """
    out = np.ones(3)
    if cfg.calibrate_min_electrons <= 0:
        return out
    # charge per tick summed over the plane's live wires; ROIs on noise add a positive
    # background there (their seeds sit above the threshold), taken as the median over ticks
    # and subtracted on the ticks with signal (those where the collection sum stands out,
    # widened by the plane crossings and the longest ROIs)
    n_t = deconv.shape[1]
    r, s, e = roi_runs(roi)
    if r.size == 0:
        return out
    q = roi_sums(deconv, r, s, e)
    # ROIs on noise carry the charge waveform's low-frequency noise (induction: up to ~20,000 e
    # on 3 RMS seeds); only those that stand out of it by calibrate_sigma count
    z = q / (np.maximum(rms[r], 1e-6) * np.sqrt(e - s))
    k = z > cfg.calibrate_sigma
    keep = paint_runs(deconv.shape, r[k], s[k], e[k])
    proj = np.zeros((3, n_t))
    for p in range(3):
        sl = det.plane_slice(p)
        share = float((~bad[sl]).mean())
        if share < 0.5:
            return out
        # only live rows with a counted ROI; the others add nothing
        rows = np.flatnonzero(~bad[sl] & keep[sl].any(axis=1))
        proj[p] = np.where(keep[sl][rows], deconv[sl][rows], 0).sum(axis=0, dtype=np.float64)
        proj[p] /= share
    bkg = np.median(proj, axis=1, keepdims=True)
    proj -= bkg
    x = proj[2]
    spread = 1.4826 * np.median(np.abs(x)) + 1e-9
    sig = maximum_filter1d((x > 5 * spread).view(np.uint8), 2 * cfg.calibrate_pad + 1).view(bool)
    totals = proj[:, sig].sum(axis=1)
    if totals[2] < cfg.calibrate_min_electrons:
        return out
    lo, hi = cfg.calibrate_bounds
    for p in (0, 1):
        if totals[p] <= 0:
            continue
        k = totals[2] / totals[p]
        if lo <= k <= hi:
            deconv[det.plane_slice(p)] *= np.float32(k)
            out[p] = k
    return out


def roi_sums(wave: np.ndarray, rows: np.ndarray, starts: np.ndarray, stops: np.ndarray):
    """Sum of ``wave[row, start:stop]`` per run (row-major, disjoint), one pass."""
    n_t = wave.shape[1]
    flat = wave.reshape(-1)
    a, b = rows * n_t + starts, rows * n_t + stops
    idx = np.empty(2 * a.size, dtype=np.int64)
    idx[0::2], idx[1::2] = a, np.minimum(b, flat.size - 1)
    sums = np.add.reduceat(flat, idx)[0::2].astype(np.float64)  # runs are short: float32 is enough
    if b[-1] == flat.size:  # the last run ends the array, past reduceat's last index
        sums[-1] = flat[a[-1] :].sum(dtype=np.float64)
    return sums
