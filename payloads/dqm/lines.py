"""Narrow lines localised to the boards and channels that carry them; harmonic combs.

Pickup usually sits on a few FEMBs: in the plane-mean spectrum a line on 2 of 20 boards shows
at sqrt(2/20) = 0.32 of its amplitude. Lines are therefore searched in the mean spectra of every
FEMB-plane group (40/40/48 channels) and ASIC-plane group (5/5/6 channels) as well as the plane
(:func:`payloads.dqm.fft.average_spectra`), then measured on each channel's own spectrum:

* candidate = local maximum above ``threshold`` x the smooth background
  (:func:`payloads.dqm.fft.line_background`) in any of the plane's group spectra;
* on every channel of the plane, the power within ``+-half_width`` bins minus the channel's
  own background (mean of its power ``ring`` bins away, corrected for the line's sidelobes),
  corrected for the rectangular-window leakage at the tone's offset (:func:`payloads.dqm.fft.leakage_fraction`), gives the channel's
  amplitude ``A_ch`` (ADC; a sine of amplitude A gives A);
* a channel carries the line when its excess is ``channel_z`` standard deviations of its
  background sum (``sqrt(n_bins)`` x background), or when its FEMB- or ASIC-group spectrum shows
  the line above ``threshold``;
* the line's ``amplitude`` is the RMS of ``A_ch`` over the channels that carry it (the
  per-channel figure; channels more than 3 robust standard deviations off, whose estimate a
  track's spectrum disturbed, left out); ``plane_amplitude`` is the same over every live channel of the plane (the
  plane-mean figure, which is what a plane-mean spectrum shows).

A comb is at least ``min_harmonics`` lines at integer multiples of one base frequency; a single
line is never a comb.
"""

from __future__ import annotations

import numpy as np

from payloads.detector import Detector
from payloads.dqm import fft as fftm
from payloads.dqm import linefit


def localise_lines(
    power: np.ndarray,
    spectra: dict[str, np.ndarray],
    det: Detector,
    exclude: np.ndarray | None = None,
    threshold: float = 6.0,
    half_width: int = 4,
    min_hz: float = 5e3,
    channel_z: float = 10.0,
    ring: tuple[int, int] = (6, 13),
    false_rate: float = 0.01,
    waves=None,
    baseline: np.ndarray | None = None,
    noise: np.ndarray | None = None,
    fit_bar: float = 40.0,
) -> list[list[dict]]:
    """Lines per plane (see the module docstring), each a dict with ``plane``, ``freq_hz``,
    ``bin``, ``amplitude`` (per-channel RMS over the carrying channels, ADC),
    ``plane_amplitude`` (ADC), ``significance`` (largest group peak over background),
    ``channels`` and ``channel_amplitudes`` (arrays), ``fembs`` (list),
    ``femb_amplitudes`` (FEMB -> per-channel RMS amplitude on that board), ``asics`` (list of
    (FEMB, ASIC)).

    ``waves`` (the int16 ADC arrays of the events ``power`` was averaged over, or a callable
    returning them) with ``baseline`` and ``noise`` per channel (ADC statistics) turns on the
    signal-free estimate: the amplitude of every candidate channel that carries signal is
    refitted at the line's frequency on its ticks without signal
    (:func:`payloads.dqm.linefit.masked_line_power`),
    so that a track on the wire biases neither the amplitude nor the choice of the carrying
    channels."""
    freqs = det.freqs()
    df = freqs[1] - freqs[0]
    nf = power.shape[1]
    keep = np.ones(power.shape[0], bool) if exclude is None else ~np.asarray(exclude, bool)
    out: list[list[dict]] = []
    offs = np.r_[np.arange(-ring[1], -ring[0] + 1), np.arange(ring[0], ring[1] + 1)]
    wide_offs = np.r_[np.arange(-40, -9, 2), np.arange(10, 41, 2)]
    apg = det.asics_per_femb
    for p in range(3):
        sl = det.plane_slice(p)
        top = np.vstack([spectra["plane"][p][None], spectra["femb"][p::3]]).astype(np.float32)
        asic_rows = np.asarray(spectra["asic"][p::3], dtype=np.float32)
        n_top = top.shape[0]
        bg_top = fftm.line_background(top)
        # an ASIC's mean spectrum has its FEMB's per-channel background; its bar is that of a
        # single periodogram (the worst case: -ln p), so no fit per ASIC is needed
        parent = 1 + np.arange(asic_rows.shape[0]) // apg
        r_top = top / bg_top
        bar_top = row_thresholds(r_top, threshold, false_rate)
        bar_asic = np.float32(max(threshold, -np.log(false_rate / (r_top.size * (1 + apg)))))
        r_top[:, freqs <= min_hz] = 0.0
        r_top[1:][spectra["counts_femb"][p::3] == 0] = 0.0
        e_top = r_top / bar_top
        # the ASICs of a FEMB share its background: the largest of its eight is the candidate
        # (an empty ASIC's mean spectrum is 0)
        a_max = asic_rows.reshape(det.n_fembs, apg, nf).max(axis=1) / bg_top[1:]
        a_max[:, freqs <= min_hz] = 0.0
        best = np.maximum(e_top.max(axis=0), a_max.max(axis=0) / bar_asic)
        cand = np.flatnonzero(best > 1.0)

        def column(k, lo=0, hi=1, r_top=r_top, asic_rows=asic_rows, bg=bg_top[parent]):
            """Ratios (to background) of every row at bins k+lo .. k+hi-1, top rows first."""
            r_a = asic_rows[:, k + lo : k + hi] / bg[:, k + lo : k + hi]
            return np.vstack([r_top[:, k + lo : k + hi], r_a])

        taken = np.zeros(nf, bool)
        lines = []
        pending = []  # (k, line, carry, by_group), refitted together below
        for k in cand[np.argsort(-best[cand])]:
            if taken[k] or k < 41 or k + 41 >= nf:
                continue
            # the local maximum of the strongest group at this candidate
            col = column(k)[:, 0]
            g = int(np.argmax(np.r_[e_top[:, k], col[n_top:] / bar_asic]))
            row = top[g] if g < n_top else asic_rows[g - n_top]
            lo_k, hi_k = max(0, k - half_width), min(nf, k + half_width + 1)
            k = lo_k + int(np.argmax(row[lo_k:hi_k]))
            if taken[k]:
                continue
            taken[max(0, k - 2 * half_width) : k + 2 * half_width + 1] = True
            line = _measure(power, sl, k, half_width, offs, wide_offs, keep, channel_z)
            # once a line passed the strict bar somewhere, a group shows it above the plain
            # threshold (its false rate at one frequency is small)
            groups = column(k, -1, 2).max(axis=1) > threshold
            fembs_hit = np.flatnonzero(groups[1 : 1 + det.n_fembs])
            asics_hit = np.flatnonzero(groups[1 + det.n_fembs :])
            local = np.arange(sl.stop - sl.start)
            chan = local + sl.start
            f_hit = np.zeros(det.n_fembs, bool)
            f_hit[fembs_hit] = True
            a_hit = np.zeros(det.n_fembs * apg, bool)
            a_hit[asics_hit] = True
            by_group = f_hit[det.femb[chan]] | a_hit[det.asic[chan]]
            carry = (line["z"] > channel_z) | by_group
            carry &= keep[chan]
            if carry.any() or waves is not None:
                pending.append((k, line, carry, by_group))
        chan = np.arange(sl.start, sl.stop)
        # refitted: every candidate (a pulse biases the spectral estimate even where its
        # power beside the line is below the noise's: the cross term is not random over
        # channels, a selection by power beside the line left 97 kHz 4 % high)
        busy = [c for _, _, c, _ in pending]
        union = np.flatnonzero(np.logical_or.reduce(busy)) if busy else np.zeros(0, int)
        if waves is not None and union.size:
            f_lines = [float(freqs[k] + ln["offset"] * df) for k, ln, _, _ in pending]
            refit = linefit.signal_free(
                pending, busy, union, f_lines, det, waves, chan[union], baseline, noise, fit_bar
            )
        else:
            refit = [(ln["a_ch"], c) for _, ln, c, _ in pending]
        for (k, line, _, _), (a_ch, carry) in zip(pending, refit, strict=True):
            if not carry.any():
                continue
            fembs = _labels(det.femb[chan[carry]])
            asics = _labels(det.asic[chan[carry]])
            lines.append(
                {
                    "plane": p,
                    "freq_hz": float(freqs[k] + line["offset"] * df),
                    "bin": int(k),
                    "amplitude": robust_rms(a_ch[carry]),
                    "plane_amplitude": float(
                        np.sqrt(np.sum(a_ch[carry] ** 2) / max(keep[chan].sum(), 1))
                    ),
                    "significance": float(column(k).max()),
                    "channels": chan[carry],
                    "channel_amplitudes": a_ch[carry].astype(np.float32),
                    "fembs": [int(f) for f in fembs],
                    "femb_amplitudes": robust_rms_by(a_ch[carry], det.femb[chan[carry]]),
                    "asics": [(int(a // apg), int(a % apg)) for a in asics],
                }
            )
        out.append(sorted(lines, key=lambda d: d["freq_hz"]))
    return out


def _labels(x: np.ndarray) -> np.ndarray:
    """The distinct values of small non-negative integer labels, sorted (``np.unique``'s answer
    by one ``bincount``: board numbers)."""
    return np.flatnonzero(np.bincount(x))


def robust_rms(a: np.ndarray) -> float:
    """RMS of per-channel amplitudes leaving out those beyond 3 robust standard deviations of
    their median (channels whose estimate a track's own spectrum disturbed, via its cross term
    with the line)."""
    a = np.asarray(a, float)
    if a.size == 0:
        return 0.0
    med = float(np.median(a))
    mad = 1.4826 * float(np.median(np.abs(a - med)))
    use = np.abs(a - med) <= 3 * max(mad, 0.02 * med)
    return float(np.sqrt(np.mean(a[use] ** 2)))


def robust_rms_by(a: np.ndarray, groups: np.ndarray) -> dict[int, float]:
    """:func:`robust_rms` per group (board), vectorised: group -> amplitude."""
    from payloads.dqm.boards import group_median

    a = np.asarray(a, float)
    if a.size == 0:
        return {}
    ids = _labels(groups)
    lookup = np.zeros(int(ids[-1]) + 1, np.intp)
    lookup[ids] = np.arange(ids.size)
    g = lookup[groups]
    every = np.ones(a.size, bool)
    med = group_median(a, g, ids.size, every)
    mad = 1.4826 * group_median(np.abs(a - med[g]), g, ids.size, every)
    use = np.abs(a - med[g]) <= 3 * np.maximum(mad, 0.02 * med)[g]
    s2 = np.bincount(g[use], weights=a[use] ** 2, minlength=ids.size)
    n = np.bincount(g[use], minlength=ids.size)
    return {int(i): float(np.sqrt(s2[k] / max(n[k], 1))) for k, i in enumerate(ids)}


def row_thresholds(
    ratio: np.ndarray, threshold: float, false_rate: float, segments: int = 8
) -> np.ndarray:
    """Per row and frequency segment, the ratio (to the background) a noise peak exceeds with
    probability ``false_rate`` over the whole array, at least ``threshold``.

    A group spectrum is a mean of channel periodograms; where its channels share coherent noise
    (a FEMB's 20-60 kHz band) it fluctuates like one periodogram (exponential), elsewhere like a
    mean of many. Each segment's values are modelled as Gamma(k) (k from the trimmed mean and
    mean log, Minka's estimate), so the bar is high where the spectrum is spiky.
    """
    from scipy.special import gammainccinv

    n_rows, nf = ratio.shape
    step = 4  # every fourth bin is plenty for the shape of the distribution
    m = (nf - 1) // (segments * step) * step
    r = ratio[:, 1 : 1 + m * segments : step].reshape(n_rows, segments, m // step)
    r = np.clip(r, 1e-6, 50.0)  # a strong line barely moves the fit
    mean = r.mean(axis=2)
    s = np.log(mean) - np.log(r).mean(axis=2)
    s = np.maximum(s, 1e-6)
    k = (3 - s + np.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s)
    p = false_rate / ratio.size
    # the Gamma quantile on a grid of k (5 % steps): gammainccinv is slow per element
    kq = np.exp(np.round(np.log(np.clip(k, 0.05, 1e4)) * 20) / 20)
    uk, inv = np.unique(kq, return_inverse=True)
    q = (gammainccinv(uk, p) / uk)[inv].reshape(k.shape)
    bar = np.maximum(q * mean, threshold)
    out = np.empty_like(ratio)
    idx = np.minimum(np.maximum(np.arange(nf) - 1, 0) // m, segments - 1)
    out[:] = bar[:, idx]
    return out


def _measure(power, sl, k, half_width, offs, wide_offs, keep, channel_z) -> dict:
    """Per-channel excess power, significance and amplitude of a line at bin ``k``.

    The background comes from a ring just outside the window (``offs``): close, so that a
    track's steep spectrum is the same there as under the line (a wide ring over-subtracts it),
    and corrected for the line's own sidelobes in the ring: with ``F`` the share of the tone's
    power in the window and ``L`` its mean share per ring bin, ``window = A^2 F + n bg`` and
    ``ring = bg + A^2 L`` give ``A^2 = (window - n ring) / (F - n L)``.
    """
    from payloads.dqm import kernels

    nb = 2 * half_width + 1
    win, ring, wide = kernels.line_windows(power, sl, k, half_width, offs, wide_offs)
    tiny = np.finfo(np.float32).tiny
    wide = np.maximum(wide, tiny)
    # the smaller of the two: a track's spectrum under the line is over-estimated more often
    # than under-estimated by a ring (the noise part, tiny next to a line, hardly matters)
    bg = np.maximum(np.minimum(ring, wide), tiny)
    excess = win.sum(axis=1, dtype=np.float64) - nb * bg
    # significance against the wide ring (a steadier background than the close one)
    z = (win.sum(axis=1, dtype=np.float64) - nb * wide) / (np.sqrt(nb) * wide)
    local_keep = keep[sl]
    strong = (z > channel_z) & local_keep
    sel = strong if strong.any() else local_keep
    prof = np.clip(win[sel] - bg[sel, None], 0, None).sum(axis=0)
    offset = fftm.tone_offset(prof, half_width)
    frac = fftm.leakage_fraction(offset, half_width)
    side = float(np.mean(np.sinc(offs - offset) ** 2))
    a_ch = np.sqrt(np.clip(excess, 0, None) / max(frac - nb * side, 0.5))
    return {"excess": excess, "z": z, "a_ch": a_ch, "offset": offset, "frac": frac, "bg": bg}


def find_combs(
    lines: list[dict], df: float, min_harmonics: int = 3, tolerance_bins: float = 1.5
) -> tuple[list[dict], list[dict]]:
    """Split one plane's lines into combs and single lines.

    A comb with base ``f0`` is at least ``min_harmonics`` lines within ``tolerance_bins`` of
    ``n f0`` (n = 1, 2, ...), covering at least half of the multiples up to the highest one
    matched; the candidates for ``f0`` are the lines' frequencies and the spacings of
    neighbouring lines, smallest first.

    Returns
    -------
    (combs, singles)
        combs: dicts ``base_hz``, ``harmonics`` (the lines), ``channels`` (union), ``fembs``.
    """
    rest = sorted(lines, key=lambda d: d["freq_hz"])
    combs: list[dict] = []
    while len(rest) >= min_harmonics:
        f = np.array([ln["freq_hz"] for ln in rest])
        cands = np.unique(np.r_[f, np.diff(f)])
        found = None
        for f0 in cands[cands > 2 * tolerance_bins * df]:
            n = np.rint(f / f0)
            hit = (n >= 1) & (np.abs(f - n * f0) <= tolerance_bins * df)
            orders = np.unique(n[hit])
            if orders.size >= min_harmonics and orders.size >= 0.5 * orders.max():
                found = (f0, hit)
                break
        if found is None:
            break
        f0, hit = found
        members = [ln for ln, h in zip(rest, hit, strict=True) if h]
        chans = np.unique(np.concatenate([ln["channels"] for ln in members]))
        combs.append(
            {
                "base_hz": float(f0),
                "harmonics": members,
                "channels": chans,
                "fembs": sorted({f for ln in members for f in ln["fembs"]}),
            }
        )
        rest = [ln for ln, h in zip(rest, hit, strict=True) if not h]
    return combs, rest
