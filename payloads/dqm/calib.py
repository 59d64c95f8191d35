"""Induction charge scale from the collection plane of the same APA-event (SIG, issue 9).

See :func:`calibrate_induction`; called by :func:`payloads.dqm.sig.process_apa` after the
ROIs and per-ROI baselines, before the outputs are written. The dead-board handling
(:func:`crossing_ticks`, :func:`consensus_scale`) and its measured effect are described in
docs/charge-calibration.md ("Dead boards").
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
    compares plane charges, JINST 15 (2020) P12004).

    Without a dead band (a run of at least ``cfg.calibrate_band_min`` dead wires of a plane,
    e.g. a dead FEMB), the factor is the ratio of the plane sums over the ticks with signal,
    each divided by its live share (isolated dead wires lose their share of the charge). A
    dead band hides charge from one plane at the ticks where a track crosses it, which a
    share cannot correct (the event's few tracks are not spread evenly), so with dead bands:
    the ticks where a track may cross a band (:func:`crossing_ticks`) are left out on all
    three planes, and windows where a plane falls short of the other two (a track entirely
    inside a band) are left out of that plane's ratio (:func:`consensus_scale`).

    The scale is applied only when the collection charge it rests on is at least
    ``cfg.calibrate_min_electrons`` (a few MIP tracks' worth) and falls inside
    ``cfg.calibrate_bounds``; otherwise the plane keeps 1.

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
    bands = [dead_bands(bad[det.plane_slice(p)], cfg.calibrate_band_min) for p in range(3)]
    banded = any(b.any() for b in bands)
    crossed = np.zeros(n_t, dtype=bool)
    noise = []  # per plane: the counted rows' ROI masks, their RMS^2 and the share
    for p in range(3):
        sl = det.plane_slice(p)
        live = ~bad[sl]
        if live.mean() < 0.5:
            return out
        # only live rows with a counted ROI; the others add nothing
        rows = np.flatnonzero(live & keep[sl].any(axis=1))
        kept = keep[sl][rows]
        proj[p] = np.where(kept, deconv[sl][rows], 0).sum(axis=0, dtype=np.float64)
        share = live.sum() / max(1, (~bands[p]).sum())  # isolated dead wires, outside bands
        proj[p] /= share
        if banded:
            crossed |= crossing_ticks(keep[sl], bad[sl], bands[p], p < 2, cfg)
            noise.append((kept, rms[sl][rows].astype(np.float32) ** 2, share))
    bkg = np.median(proj, axis=1, keepdims=True)
    proj -= bkg
    x = proj[2]
    spread = 1.4826 * np.median(np.abs(x)) + 1e-9
    sig = maximum_filter1d((x > 5 * spread).view(np.uint8), 2 * cfg.calibrate_pad + 1).view(bool)
    if banded:
        clear = sig & ~crossed
        if proj[2, clear].sum() >= cfg.calibrate_keep_min * proj[2, sig].sum():
            sig = clear  # else the bands are crossed nearly everywhere: the windows decide
    totals = proj[:, sig].sum(axis=1)
    if totals[2] < cfg.calibrate_min_electrons:
        return out
    scale = np.where(totals[:2] > 0, totals[2] / np.where(totals[:2] > 0, totals[:2], 1), 0.0)
    if banded:
        # white-noise variance of each plane's charge per signal tick
        cols = np.flatnonzero(sig)
        var = np.array([(r2 @ kept[:, cols]) / sh**2 for kept, r2, sh in noise], dtype=np.float64)
        scale = consensus_scale(proj[:, sig], var, scale, cfg)
    lo, hi = cfg.calibrate_bounds
    for p in (0, 1):
        if lo <= scale[p] <= hi:
            deconv[det.plane_slice(p)] *= np.float32(scale[p])
            out[p] = scale[p]
    return out


def dead_bands(dead: np.ndarray, min_run: int) -> np.ndarray:
    """Rows of a plane inside a run of at least ``min_run`` consecutive dead rows."""
    edged = np.concatenate([[False], dead, [False]])
    flips = np.flatnonzero(edged[1:] != edged[:-1])
    out = np.zeros(dead.size, dtype=bool)
    for a, b in zip(flips[0::2], flips[1::2], strict=True):
        if b - a >= min_run:
            out[a:b] = True
    return out


def crossing_ticks(
    keep: np.ndarray, dead: np.ndarray, band: np.ndarray, cyclic: bool, cfg: SigConfig
) -> np.ndarray:
    """Ticks where a track may cross one of a plane's dead bands.

    A straight track crossing a band of wires shows on the live wires either side of it (the
    ``cfg.calibrate_edge_wires`` nearest on each side): the ticks from the first counted ROI
    on those wires to the last, widened by ``cfg.calibrate_pad``, cover the ticks at which the
    band hides its charge. ``cyclic``: the plane's wires wrap around (induction planes; the
    neighbours of the last wire are the first), else a band's neighbours stop at the plane's
    ends.
    """
    n, n_t = keep.shape
    out = np.zeros(n_t, dtype=bool)
    edged = np.concatenate([[False], band, [False]])
    flips = np.flatnonzero(edged[1:] != edged[:-1])
    m = cfg.calibrate_edge_wires
    for a, b in zip(flips[0::2], flips[1::2], strict=True):
        side = np.concatenate([np.arange(a - m, a), np.arange(b, b + m)])
        side = side % n if cyclic else side[(side >= 0) & (side < n)]
        side = side[~dead[side]]
        active = np.flatnonzero(keep[side].any(axis=0))
        if active.size:
            out[max(0, active[0] - cfg.calibrate_pad) : active[-1] + cfg.calibrate_pad + 1] = True
    return out


def consensus_scale(
    proj: np.ndarray, var: np.ndarray, scale: np.ndarray, cfg: SigConfig
) -> np.ndarray:
    """Induction factors from the windows where the plane is not short of the others.

    ``proj``/``var``: (3, n) plane charge per signal tick and its noise variance; ``scale``:
    the factors from the plane sums. The ticks are cut into windows of ``cfg.calibrate_window``;
    in a window, a plane (collection included) is short when its normalised charge lies below
    the median of the three by more than the window's tolerance (``cfg.calibrate_tol_floor``
    and ``cfg.calibrate_tol_sigma`` times the window's relative noise, in quadrature, in log):
    hidden charge only ever lowers a plane. Each factor is then the ratio of sums over the
    windows where neither that plane nor collection is short, iterated
    ``cfg.calibrate_iterations`` times. The result is kept only when the kept windows agree
    (median absolute log deviation, as a sigma, at most ``cfg.calibrate_scatter_max``): a
    response unlike the one deconvolved with moves charge between windows, and then the
    windows cannot tell hidden charge from that, and ``scale`` is returned.
    """
    n_w = proj.shape[1] // cfg.calibrate_window
    if n_w < 4:
        return scale
    starts = np.linspace(0, proj.shape[1], n_w + 1).astype(int)[:-1]
    t = np.add.reduceat(proj, starts, axis=1).T
    v = np.add.reduceat(var, starts, axis=1).T
    ok = (t > 0).all(axis=1)
    t, v = t[ok], v[ok]
    if t.shape[0] < 4 or (scale <= 0).any():
        return scale
    tol = np.sqrt(cfg.calibrate_tol_floor**2 + cfg.calibrate_tol_sigma**2 * v / t**2)
    lt = np.log(t)
    k = scale.copy()
    good = np.ones((2, t.shape[0]), dtype=bool)
    for _ in range(cfg.calibrate_iterations):
        norm = lt + np.log(np.append(k, 1.0))
        short = norm < np.median(norm, axis=1, keepdims=True) - tol
        good = ~short[:, :2].T & ~short[:, 2]
        num = np.where(good, t[:, 2], 0).sum(axis=1)
        den = np.where(good, t[:, :2].T, 0).sum(axis=1)
        if (den <= 0).any():
            return scale
        new = num / den
        if np.allclose(new, k, rtol=1e-6):
            break
        k = new
    dev = lt[:, 2] - lt[:, :2].T - np.log(k)[:, None]
    scatter = max(1.4826 * float(np.median(np.abs(dev[p][good[p]]))) for p in (0, 1))
    return k if scatter <= cfg.calibrate_scatter_max else scale


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
