"""Signal processing of one APA-event: stuck codes, baselines, coherent noise, notches,
deconvolution and regions of interest (DETECTOR.md, "SIG").

The chain (:func:`process_apa`) works in offline channel order on float32 arrays:

1. :func:`mend_stuck` - on sticky channels, samples at codes 0x00/0x3F are replaced by linear
   interpolation between the nearest good samples;
2. baseline subtraction (per-channel median) and per-channel noise RMS (robust);
3. :func:`remove_coherent` - per FEMB-plane group, subtract the per-tick median of the group's
   channels, leaving out samples with signal (``|w| > clamp(5 sigma, 15, 50)`` ADC, padded);
4. :func:`filter_frequency` - one rfft per channel: zero the narrow lines (notches), then
   transform back (the *filtered* waveform, ADC) and deconvolve
   (:func:`payloads.dqm.deconv.deconvolve`: the *charge* waveform with the Gaussian filter and,
   on induction, the loose low-frequency cut; the induction *ROI* waveform with the Wiener-like
   filter and the tight cut), electrons per tick;
5. :func:`payloads.dqm.deconv.find_rois` - seeds above ``3 RMS + 1`` (induction) or
   ``5 RMS + 1`` (collection) on the deconvolved signal, grown, padded and merged; the induction
   baseline restored per ROI (:func:`payloads.dqm.deconv.restore_baselines`); the charge is
   kept inside ROIs only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft
from scipy.ndimage import maximum_filter1d

from payloads.detector import Detector
from payloads.dqm.adc import code_quantiles
from payloads.dqm.calib import calibrate_induction
from payloads.dqm.deconv import (  # noqa: F401  (re-exported: the SIG chain's public names)
    deconvolution_kernels,
    deconvolve,
    find_rois,
    restore_baselines,
    wiener_filter,
)
from payloads.dqm.notch import apply_notches
from payloads.dqm.timecal import align_induction


@dataclass(frozen=True)
class SigConfig:
    """Parameters of the signal processing (defaults from DETECTOR.md)."""

    protect_sigma: float = 5.0
    protect_clamp: tuple[float, float] = (15.0, 50.0)
    protect_pad: int = 8
    coherent_scale: float = 1.0
    #: Scale the group's coherent waveform per channel (pick-up gains), as Wire-Cell does.
    coherent_per_channel: bool = True
    notch_half_width: int = 2
    #: Lines at or below this frequency are fitted and subtracted instead of notched.
    line_fit_max_hz: float = 250e3
    # Deconvolution and ROIs (payloads.dqm.deconv; numbers from Wire-Cell's protoDUNE-SP set)
    wiener_sigma_mhz: dict[int, float] = field(
        default_factory=lambda: {0: 0.148788, 1: 0.1596568, 2: 0.13623}
    )
    wiener_power: dict[int, float] = field(
        default_factory=lambda: {0: 3.76194, 1: 4.36125, 2: 3.35324}
    )
    #: Induction low-frequency cuts: on the ROI waveform (ROI_tight_lf) and the charge (ROI_loose_lf).
    roi_lf_mhz: float = 0.014
    charge_lf_mhz: float = 0.002
    #: Gaussian filter of the charge waveform (Gaus_wide, MHz); 0: the Wiener-like one.
    charge_sigma_mhz: float = 0.12
    roi_sigma: dict[int, float] = field(default_factory=lambda: {0: 3.0, 1: 3.0, 2: 5.0})
    roi_offset: float = 1.0
    roi_neighbour_sigma: float = 2.0
    roi_low_sigma: float = 2.0
    roi_pad: dict[int, int] = field(default_factory=lambda: {0: 4, 1: 4, 2: 4})
    baseline_edge: int = 3
    baseline_planes: tuple[int, ...] = (0, 1)
    deconvolve_ac: bool = True
    #: Induction charge scale from the collection plane (:func:`calibrate_induction`): on when
    #: the event's collection charge is at least this many electrons (0: off).
    calibrate_min_electrons: float = 4e5
    calibrate_bounds: tuple[float, float] = (0.5, 2.0)
    calibrate_pad: int = 40
    calibrate_sigma: float = 5.0
    #: Dead bands (docs/charge-calibration.md, "Dead boards"; values measured there on seeds
    #: 31-38 of p3s-daqsim and four foreign-response events, FEMB 3, 11, 17 zeroed): a run of at
    #: least calibrate_band_min dead wires of a plane is a band (a FEMB holds 40 U/V, 48 X);
    #: the calibrate_edge_wires live wires either side of it show the tracks crossing it, whose
    #: ticks are left out unless fewer than calibrate_keep_min of the collection charge remains.
    calibrate_band_min: int = 8
    calibrate_edge_wires: int = 3
    calibrate_keep_min: float = 0.3
    #: Windows of calibrate_window signal ticks where a plane is short of the others (a track
    #: inside a band) leave that plane's ratio: short by more than calibrate_tol_floor and
    #: calibrate_tol_sigma x the window's relative noise in quadrature (log), iterated
    #: calibrate_iterations times; used only if the kept windows' log ratios scatter by at most
    #: calibrate_scatter_max (ours 0.03-0.09; the foreign responses 0.12-0.5, whose windows
    #: trade charge with their neighbours).
    calibrate_window: int = 25
    calibrate_tol_floor: float = 0.1
    calibrate_tol_sigma: float = 3.0
    calibrate_iterations: int = 6
    calibrate_scatter_max: float = 0.1
    #: Time alignment of U and V on collection (:func:`align_induction`; 0: off): planes
    #: 4.75 mm apart (protoDUNE-SP APA, JINST 15 (2020) P12004) at the drift speed of
    #: payloads.detector (0.8 mm per tick) are 5.94 ticks apart; shifts up to align_max_ticks
    #: when the plane profiles correlate by align_min_corr (0.87-0.96 measured on tracks),
    #: less align_tolerance_ticks, collection's own uncertainty (docs/charge-calibration.md).
    align_gap_ticks: float = 4.75 / 0.8
    align_max_ticks: float = 2.0
    align_min_corr: float = 0.7
    align_tolerance_ticks: float = 0.5
    workers: int = 1


def stuck_samples(codes: np.ndarray, excess: float = 1.8) -> np.ndarray:
    """Boolean mask of stuck-code samples of ``(n_rows, n_ticks)`` codes: ``code % 64`` in
    {0, 63}, and 1 on a row whose samples at 1 exceed those at 2 by ``excess`` times (the
    "forced low bits" model sticks at 0x01 too; DETECTOR.md)."""
    low = codes & 63
    return (low == 0) | (low == 1) | (low == 63)


def mend_stuck(
    wave: np.ndarray,
    adc: np.ndarray,
    channels: np.ndarray,
    line_freqs: dict[int, np.ndarray] | None = None,
    tick_s: float = 0.5e-6,
    half_width: int = 2,
    iterations: int = 40,
    smooth_bins: int = 15,
    passes: int = 1,
) -> int:
    """Replace the stuck-code samples (:func:`stuck_samples`) of the given channels by their
    most likely values given the channel's other samples.

    The channel is modelled as a stationary Gaussian process whose power spectrum ``P`` is its
    own (the periodogram of the linearly interpolated waveform, smoothed over ``smooth_bins``
    bins, so narrow lines and a comb stay in it); the stuck samples are the values that
    minimise ``x^T C^-1 x`` (``C^-1`` = a convolution by ``1/P``) with the good samples fixed,
    found by conjugate gradients (``iterations`` steps, one rfft/irfft pair per step for all the
    channels together). This is the conditional mean of the missing samples (kriging): it
    follows the noise's own correlations and any lines, where linear interpolation misses by
    about the noise RMS over gaps of a few ticks. ``P`` is the spectrum of the ticks without
    signal (:func:`_quiet_ticks`): a track's pulse on the wire would dominate it and make the
    noise model too smooth (snap model with tracks: 94.98 % of stuck samples within the noise
    RMS before, 95.7 % after); stuck samples on a pulse are filled from the spectrum of the
    whole waveform, which the pulse dominates. ``line_freqs``, ``tick_s`` and ``half_width``
    are kept for callers: the lines are in ``P`` already.

    Parameters
    ----------
    wave : numpy.ndarray
        float32 ``(n_channels, n_ticks)`` waveforms, changed in place.
    adc : numpy.ndarray
        The int16 codes the waveforms came from.
    channels : numpy.ndarray
        Channels flagged sticky.

    Returns
    -------
    int
        Samples mended.
    """
    chans = np.asarray(channels, dtype=int)
    if chans.size == 0:
        return 0
    n_t = wave.shape[1]
    bad = stuck_samples(adc[chans])
    n_bad = bad.sum(axis=1)
    use = (n_bad > 0) & (n_bad < 0.9 * n_t)
    chans, bad = chans[use], bad[use]
    if chans.size == 0:
        return 0
    ticks = np.arange(n_t)
    x = wave[chans].astype(np.float64)
    for r in range(chans.size):
        good = ~bad[r]
        x[r, bad[r]] = np.interp(ticks[bad[r]], ticks[good], x[r, good])
    # the median: a track's pulse moves the mean
    centre = np.median(x, axis=1, keepdims=True)
    x -= centre
    x0 = np.where(bad, 0.0, x)
    quiet = _quiet_ticks(x)
    on_pulse = quiet == 0
    whole = x
    for _ in range(passes):
        x = _krige(x, x0, bad, n_t, iterations, smooth_bins, quiet=quiet)
    if on_pulse[bad].any():
        # on a pulse the noise model does not hold: there the model of the whole waveform
        # (whose spectrum the pulse dominates) is used
        for _ in range(passes):
            whole = _krige(whole, x0, bad, n_t, iterations, smooth_bins)
        x[on_pulse] = whole[on_pulse]
    x += centre
    for r_, ch in enumerate(chans):
        wave[ch, bad[r_]] = x[r_, bad[r_]]
    return int(bad.sum())


def _quiet_ticks(
    x: np.ndarray, sigma: float = 5.0, clamp: tuple[float, float] = (15.0, 50.0), pad: int = 8
) -> np.ndarray:
    """float 0/1 weights of the ticks without signal of baseline-subtracted rows: ``|x|`` at
    most ``clamp(sigma x noise, lo, hi)`` ADC (noise: 1.4826 MAD), padded ``pad`` ticks (the
    coherent-noise step's protection, DETECTOR.md "SIG")."""
    noise = 1.4826 * np.median(np.abs(x), axis=1)
    thr = np.clip(sigma * noise, *clamp)
    mask = np.abs(x) > thr[:, None]
    mask = maximum_filter1d(mask.view(np.uint8), 2 * pad + 1, axis=1).view(bool)
    return (~mask).astype(np.float64)


def _krige(x, x0, bad, n_t, iterations, smooth_bins, floor=1e-3, quiet=None):
    """One conjugate-gradient solve of :func:`mend_stuck` with the spectrum of ``x``.

    The noise spectrum is taken from the ticks without signal (``quiet``; scaled by the
    share kept): a track's pulse on the wire would otherwise dominate it at low frequencies
    and make the model far too smooth for the noise around the stuck samples."""
    from scipy.ndimage import uniform_filter1d

    xs = x
    if quiet is not None:
        kept = np.maximum(quiet.mean(axis=1, keepdims=True), 0.5)
        xs = x * quiet / np.sqrt(kept)
    p = uniform_filter1d(np.abs(sfft.rfft(xs, axis=1)) ** 2, smooth_bins, axis=1, mode="nearest")
    p[:, 0] = p[:, 1]
    p = np.maximum(p, floor * np.median(p, axis=1, keepdims=True) + 1e-30)
    q = 1.0 / p

    def apply(z):
        return sfft.irfft(sfft.rfft(z, axis=1) * q, n=n_t, axis=1) * bad

    z = np.where(bad, x, 0.0)
    r = -sfft.irfft(sfft.rfft(x0, axis=1) * q, n=n_t, axis=1) * bad - apply(z)
    d = r.copy()
    rr = np.einsum("ij,ij->i", r, r)
    for _ in range(iterations):
        ad = apply(d)
        alpha = rr / np.maximum(np.einsum("ij,ij->i", d, ad), 1e-300)
        z += alpha[:, None] * d
        r -= alpha[:, None] * ad
        rr_new = np.einsum("ij,ij->i", r, r)
        d = r + (rr_new / np.maximum(rr, 1e-300))[:, None] * d
        rr = rr_new
    return x0 + z


def robust_percentiles(
    wave: np.ndarray, quantiles: tuple[float, ...], stride: int = 4, resolution: float = 0.125
) -> list[np.ndarray]:
    """Per-row quantiles from every ``stride``-th sample, on values rounded to ``resolution``.

    Rounding to a 16-bit grid lets numpy radix-sort (about 5x faster than ``np.percentile``);
    values beyond +-32767 x ``resolution`` are clipped, which only touches large signals.
    """
    sample = wave[:, ::stride]
    grid = np.clip(np.rint(sample * np.float32(1.0 / resolution)), -32767, 32767).astype(np.int16)
    return [q * np.float32(resolution) for q in code_quantiles(grid, quantiles, stride=1)]


def robust_rms(wave: np.ndarray, stride: int = 4, resolution: float = 0.125) -> np.ndarray:
    """Half the 16-84 percentile distance per row (see :func:`robust_percentiles`)."""
    p16, p84 = robust_percentiles(wave, (0.16, 0.84), stride, resolution)
    return (0.5 * (p84 - p16)).astype(np.float32)


def protection_mask(wave: np.ndarray, rms: np.ndarray, cfg: SigConfig) -> np.ndarray:
    """Samples carrying signal: ``|w| > clamp(k sigma, lo, hi)``, padded ``protect_pad`` ticks."""
    thr = np.clip(cfg.protect_sigma * rms, *cfg.protect_clamp).astype(np.float32)
    mask = np.abs(wave) > thr[:, None]
    if cfg.protect_pad:
        mask = maximum_filter1d(mask.view(np.uint8), 2 * cfg.protect_pad + 1, axis=1).view(bool)
    return mask


def masked_median(block: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-tick median over channels of ``block`` ``(n_groups, n_channels, n_ticks)``,
    leaving out masked samples; 0 where every sample of a tick is masked.
    """
    x = np.where(mask, np.float32(np.nan), block).transpose(0, 2, 1)  # (g, t, c)
    x = np.sort(x, axis=-1)  # NaN last
    k = x.shape[-1] - mask.transpose(0, 2, 1).sum(axis=-1)  # valid per (g, t)
    lo = np.clip((k - 1) // 2, 0, None)[..., None]
    hi = np.clip(k // 2, 0, None)[..., None]
    med = 0.5 * (np.take_along_axis(x, lo, -1) + np.take_along_axis(x, hi, -1))[..., 0]
    med[k == 0] = 0.0
    return med


def remove_coherent(
    wave: np.ndarray,
    rms: np.ndarray,
    det: Detector,
    cfg: SigConfig,
    exclude: np.ndarray | None = None,
    protect: np.ndarray | None = None,
    scales: np.ndarray | None = None,
) -> np.ndarray:
    """Subtract each FEMB-plane group's coherent noise, scaled per channel (in place).

    The group's common waveform is the mean of the protected per-tick medians of its two halves
    (alternate channels), as noisy as the median of the whole group. Each channel's pick-up gain
    is the least-squares scale of its waveform on that common waveform over its unprotected
    ticks, as in Wire-Cell's protoDUNE noise filter (JINST 13 P07006), measured against the
    median of the *other* half (so the channel's own noise, which is in its half's median, does
    not bias it) and normalised by the covariance of the two half medians (so the other half's
    noise does not shrink it). On one event that scale has a statistical error of ~10 % (the
    coherent band holds a few hundred independent samples); each channel's error is estimated
    by jackknife over six stretches of the window and the scales are shrunk towards the group
    median by the ratio of the true spread of gains to the total (empirical Bayes), which never
    does worse than one scale for the group. ``cfg.coherent_per_channel = False`` gives one
    scale per group (``cfg.coherent_scale``).

    Parameters
    ----------
    wave : numpy.ndarray
        Baseline-subtracted float32 ``(n_channels, n_ticks)``, offline order.
    rms : numpy.ndarray
        Per-channel noise RMS for the protection threshold.
    det : Detector
    cfg : SigConfig
    exclude : numpy.ndarray, optional
        Channels (boolean mask) left out of the medians (dead, noisy).
    protect : numpy.ndarray, optional
        Precomputed :func:`protection_mask` (samples with signal).
    scales : numpy.ndarray, optional
        float32 ``(n_channels,)`` filled with the per-channel scales used.

    Returns
    -------
    numpy.ndarray
        The subtracted common-mode waveforms, ``(n_fembs x 3, n_ticks)`` (group = FEMB x 3 + plane).
    """
    mask = protection_mask(wave, rms, cfg) if protect is None else protect.copy()
    if exclude is not None:
        mask[exclude] = True
    common = np.zeros((det.n_fembs * 3, wave.shape[1]), dtype=np.float32)
    for p in range(3):
        chans = det.group_channels(p)  # (n_fembs, n_per_group), contiguous per FEMB
        sl = det.plane_slice(p)
        block = wave[sl].reshape(chans.shape + (wave.shape[1],))
        mblock = mask[sl].reshape(block.shape)
        med_a = masked_median(block[:, 0::2], mblock[:, 0::2])
        med_b = masked_median(block[:, 1::2], mblock[:, 1::2])
        med = 0.5 * (med_a + med_b) * np.float32(cfg.coherent_scale)
        if cfg.coherent_per_channel:
            gain = channel_gains(block, mblock, med_a, med_b)
            dead = mblock.all(axis=2)
            gain[dead] = 1.0
        else:
            gain = np.ones(chans.shape, dtype=np.float32)
        block -= gain[:, :, None] * med[:, None, :]
        common[p::3] = med
        if scales is not None:
            scales[sl] = gain.ravel()
    return common


def channel_gains(
    block: np.ndarray, mblock: np.ndarray, med_a: np.ndarray, med_b: np.ndarray, n_jack: int = 6
) -> np.ndarray:
    """Per-channel coherent-noise scales ``(n_groups, n_per_group)`` relative to the mean of the
    half medians (see :func:`remove_coherent`), shrunk towards their group's median."""
    g, c, t = block.shape
    m = t // n_jack * n_jack
    tt = m // n_jack
    num_k = np.empty((g, c, n_jack), dtype=np.float64)
    den_k = np.empty((g, c, n_jack), dtype=np.float64)
    for k in range(g):
        keep = ~mblock[k, :, :m]
        w = np.where(keep, block[k, :, :m], np.float32(0)).reshape(c, n_jack, tt)
        prod = (med_a[k, :m] * med_b[k, :m]).reshape(n_jack, tt)
        ma, mb = med_a[k, :m].reshape(n_jack, tt), med_b[k, :m].reshape(n_jack, tt)
        num_k[k, 0::2] = np.einsum("cjt,jt->cj", w[0::2], mb)
        num_k[k, 1::2] = np.einsum("cjt,jt->cj", w[1::2], ma)
        den_k[k] = np.einsum("cjt,jt->cj", keep.reshape(c, n_jack, tt).astype(np.float32), prod)
    num, den = num_k.sum(axis=2), den_k.sum(axis=2)
    tiny = np.float32(1e-6)
    s_hat = num / np.where(np.abs(den) > tiny, den, tiny)
    loo = (num[..., None] - num_k) / np.where(
        np.abs(den[..., None] - den_k) > tiny, den[..., None] - den_k, tiny
    )
    var = (n_jack - 1) / n_jack * ((loo - loo.mean(axis=2, keepdims=True)) ** 2).sum(axis=2)
    live = ~mblock.all(axis=2) & (den > 0)
    out = np.ones((g, c), dtype=np.float32)
    for k in range(g):
        sk, vk = s_hat[k][live[k]], var[k][live[k]]
        if sk.size < 4:
            continue
        mu = float(np.median(sk))
        spread2 = (1.4826 * float(np.median(np.abs(sk - mu)))) ** 2
        tau2 = max(spread2 - float(np.median(vk)), 0.0)
        shrink = tau2 / (tau2 + var[k] + 1e-12)
        out[k] = mu + shrink * (s_hat[k] - mu)
    return np.clip(out, 0.0, 2.0)


def subtract_lines(
    wave: np.ndarray,
    rows: np.ndarray,
    line_freqs: np.ndarray,
    protect: np.ndarray,
    tick_s: float,
    refine_bins: float = 0.5,
    steps: int = 9,
) -> np.ndarray:
    """Fit and subtract stationary sines on ``rows`` of ``wave`` (in place), leaving signals whole.

    Unlike a notch, which also takes the signal's own content at those frequencies out (and rings
    across the window after a large pulse), each line is fitted as ``a cos + b sin`` on the
    samples without signal (``~protect``) and subtracted everywhere. Each frequency is first
    refined within ``+-refine_bins`` rfft bins by the fitted power summed over the rows.

    Returns
    -------
    numpy.ndarray
        The frequencies used (Hz).
    """
    n_t = wave.shape[1]
    t = np.arange(n_t) * tick_s
    df = 1.0 / (n_t * tick_s)
    rows = np.asarray(rows, dtype=int)
    if rows.size == 0:
        return np.zeros(0)
    keep = (~protect[rows]).astype(np.float32)
    used = []
    for f0 in np.atleast_1d(line_freqs):
        best, best_power = f0, -1.0
        for f in f0 + df * np.linspace(-refine_bins, refine_bins, steps):
            c = np.cos(2 * np.pi * f * t).astype(np.float32)
            s = np.sin(2 * np.pi * f * t).astype(np.float32)
            w = wave[rows] * keep
            power = float(np.sum((w @ c) ** 2 + (w @ s) ** 2))
            if power > best_power:
                best, best_power = f, power
        c = np.cos(2 * np.pi * best * t).astype(np.float32)
        s = np.sin(2 * np.pi * best * t).astype(np.float32)
        w = wave[rows] * keep
        # per-row 2x2 least squares on the kept samples
        cc, ss, cs = keep @ (c * c), keep @ (s * s), keep @ (c * s)
        wc, ws = w @ c, w @ s
        det_ = cc * ss - cs * cs
        ok = det_ > 1e-6 * n_t * n_t
        a = np.where(ok, (wc * ss - ws * cs) / np.where(ok, det_, 1), 0).astype(np.float32)
        b = np.where(ok, (ws * cc - wc * cs) / np.where(ok, det_, 1), 0).astype(np.float32)
        wave[rows] -= a[:, None] * c[None, :] + b[:, None] * s[None, :]
        used.append(best)
    return np.asarray(used)


def filter_frequency(
    wave: np.ndarray,
    det: Detector,
    cfg: SigConfig,
    notches: dict[int, np.ndarray],
    extra_notches: dict[int, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Notch narrow lines, then return the filtered (ADC), charge and ROI (electrons per tick)
    waveforms (see :func:`payloads.dqm.deconv.deconvolve`).

    Parameters
    ----------
    wave : numpy.ndarray
        Noise-filtered float32 ``(n_channels, n_ticks)``.
    notches : dict
        Plane -> line frequencies (Hz) to notch on every channel of the plane.
    extra_notches : dict, optional
        Channel -> frequencies notched on that channel only (e.g. a harmonic comb).
    """
    freqs = det.freqs()
    spec = sfft.rfft(wave, axis=1, workers=cfg.workers)
    rows = {p: det.plane_slice(p) for p in range(3)}
    apply_notches(
        spec, freqs[1] - freqs[0], det.n_ticks, cfg.notch_half_width, rows, notches, extra_notches
    )
    filtered = sfft.irfft(spec, n=det.n_ticks, axis=1, workers=cfg.workers)
    charge, roi_wave = deconvolve(spec, det, cfg)
    return filtered, charge, roi_wave


@dataclass
class SigResult:
    """Output of :func:`process_apa`."""

    filtered: np.ndarray  # float32 ADC, noise-filtered, baseline 0
    deconvolved: np.ndarray  # float32 electrons per tick, zero outside ROIs
    roi: np.ndarray  # bool
    rms_raw: np.ndarray  # per channel, before noise filtering
    rms_filtered: np.ndarray  # per channel, after
    rms_deconvolved: np.ndarray  # per channel, deconvolved noise (electrons per tick)
    common: np.ndarray  # (60, n_ticks) subtracted common mode
    mended: int
    bad: np.ndarray  # dead or noisy (zeroed in the outputs)
    #: Per plane (U, V, X) factor the deconvolved charge was multiplied by (X: 1; U/V: 1 when
    #: the event had too little charge to calibrate on)
    induction_scale: np.ndarray = field(default_factory=lambda: np.ones(3))
    #: Ticks subtracted from each plane's times by :func:`align_induction` (U, V, X).
    time_shift: np.ndarray = field(default_factory=lambda: np.zeros(3))


def process_apa(
    adc: np.ndarray,
    det: Detector,
    cfg: SigConfig | None = None,
    *,
    sticky: np.ndarray | None = None,
    bad: np.ndarray | None = None,
    notches: dict[int, np.ndarray] | None = None,
    extra_notches: dict[int, np.ndarray] | None = None,
) -> SigResult:
    """Run the whole SIG chain on one APA-event (see the module docstring).

    Parameters
    ----------
    adc : numpy.ndarray
        int16 ``(n_channels, n_ticks)`` codes, offline order.
    det : Detector
    cfg : SigConfig, optional
    sticky : numpy.ndarray, optional
        Channels to mend (indices or mask); none if not given.
    bad : numpy.ndarray, optional
        Boolean mask of dead/noisy channels: left out of the medians, zeroed in the output.
    notches, extra_notches : dict, optional
        See :func:`filter_frequency`.

    Returns
    -------
    SigResult
    """
    cfg = cfg or SigConfig()
    n = adc.shape[0]
    bad = np.zeros(n, bool) if bad is None else np.asarray(bad, bool)
    wave = adc.astype(np.float32)
    sticky_idx = (
        np.flatnonzero(sticky)
        if sticky is not None and np.asarray(sticky).dtype == bool
        else np.asarray(sticky if sticky is not None else [], dtype=int)
    )
    lines_on: dict[int, np.ndarray] = {}
    for ch in sticky_idx:
        parts = [np.atleast_1d((notches or {}).get(int(det.plane_index[ch]), []))]
        parts.append(np.atleast_1d((extra_notches or {}).get(int(ch), [])))
        lines_on[int(ch)] = np.concatenate(parts).astype(float)
    mended = mend_stuck(wave, adc, sticky_idx, lines_on, tick_s=det.tick_us * 1e-6)
    p16, p50, p84 = robust_percentiles(wave, (0.16, 0.5, 0.84))
    wave -= p50.astype(np.float32)[:, None]
    rms_raw = (0.5 * (p84 - p16)).astype(np.float32)
    protect = protection_mask(wave, rms_raw, cfg)
    common = remove_coherent(wave, rms_raw, det, cfg, exclude=bad, protect=protect)
    wave[bad] = 0.0
    # Lines inside the signal band are fitted and subtracted (a notch would cut the signal);
    # the rest are notched in the frequency pass below.
    notches = dict(notches or {})
    extra = dict(extra_notches or {})
    tick_s = det.tick_us * 1e-6
    for p in range(3):
        lines = np.atleast_1d(notches.get(p, []))
        low = lines[lines <= cfg.line_fit_max_hz]
        if low.size:
            rows = np.arange(det.plane_slice(p).start, det.plane_slice(p).stop)
            subtract_lines(wave, rows[~bad[rows]], low, protect, tick_s)
            notches[p] = lines[lines > cfg.line_fit_max_hz]
    by_lines: dict[tuple, list[int]] = {}
    for ch, lines in extra.items():
        lines = np.atleast_1d(lines)
        low = lines[lines <= cfg.line_fit_max_hz]
        if low.size and not bad[ch]:
            by_lines.setdefault(tuple(np.round(low, 3)), []).append(int(ch))
        extra[ch] = lines[lines > cfg.line_fit_max_hz]
    for low_key, chans in by_lines.items():
        subtract_lines(wave, np.asarray(chans), np.asarray(low_key), protect, tick_s)
    filtered, deconv, roi_wave = filter_frequency(wave, det, cfg, notches, extra)
    rms_f = robust_rms(filtered)
    rms_d = robust_rms(deconv, resolution=1.0)  # electrons per tick
    n_ind = det.plane_slice(1).stop  # collection ROIs are found on the charge itself
    rms_roi = np.concatenate([robust_rms(roi_wave[:n_ind], resolution=1.0), rms_d[n_ind:]])
    roi = find_rois(roi_wave, rms_roi, det, cfg)
    roi[bad] = False
    restore_baselines(deconv, roi, cfg.baseline_edge, np.isin(det.plane_index, cfg.baseline_planes))
    deconv *= roi
    scale = calibrate_induction(deconv, roi, rms_d, bad, det, cfg)
    shift = align_induction(deconv, det, cfg)
    return SigResult(
        filtered=filtered,
        deconvolved=deconv,
        roi=roi,
        rms_raw=rms_raw,
        rms_filtered=rms_f,
        rms_deconvolved=rms_d,
        common=common,
        mended=mended,
        bad=bad,
        induction_scale=scale,
        time_shift=shift,
    )
