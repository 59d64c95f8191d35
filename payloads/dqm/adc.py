"""ADC statistics per channel and their aggregates; dead, noisy and sticky channels."""

from __future__ import annotations

import numpy as np

from payloads.detector import Detector

N_BITS = 12


def compute_channel_stats(
    adc: np.ndarray, stride: int = 4, codes: tuple | None = None
) -> dict[str, np.ndarray]:
    """Per-channel statistics of one APA-event.

    Parameters
    ----------
    adc : numpy.ndarray
        ``(n_channels, n_ticks)`` int16 ADC codes.
    stride : int
        Percentiles, stuck-code counts and bit occupancy use every ``stride``-th tick (4: 1,500
        samples per channel; the RMS then has a statistical error of about 3 %). Mean and
        max - min use every tick.
    codes : tuple, optional
        :func:`payloads.dqm.kernels.code_stats` of ``adc`` already taken (by the one pass of
        :func:`payloads.dqm.onepass.stats_and_power`).

    Returns
    -------
    dict
        ``mean``, ``median``, ``rms`` (robust: half the 16-84 percentile distance),
        ``rms_clean`` (the same without the stuck codes {0, 1, 63}: a sticky channel's noise),
        ``rms_quiet`` (median over six stretches of the window of their RMS, at most ``rms``:
        the noise of a channel that a long track runs along),
        ``ptp`` (max - min over all ticks; 0 = dead), ``stuck_fraction`` (codes with
        ``code % 64`` in {0, 1, 63}), ``sticky_excess`` (samples at 0x00/0x3F over those at the
        neighbouring codes 0x01/0x3E), ``bit_occupancy`` ``(n_channels, 12)``.

    Notes
    -----
    One compiled pass per channel (:func:`payloads.dqm.kernels.code_stats`): the sum, min and
    max over all ticks and a histogram of the strided sample, from which the percentiles come
    with each integer code spread over its unit interval (so that the RMS of integer data is
    not quantised to half-integers), and so do the code-dependent counts: no pass over the
    samples is made per bit or per code class. (Without numba: one radix sort of the sample,
    reduced to its table of distinct codes, :func:`code_table`.)
    """
    from payloads.dqm.kernels import code_stats

    if codes is None:
        codes = code_stats(adc, stride, (0.16, 0.5, 0.84))
    mean64, ptp64, qs, sums, m = codes
    mean = mean64.astype(np.float32)
    ptp = ptp64.astype(np.int32)
    p16, p50, p84 = (qs[:, j].astype(np.float32) for j in range(3))
    occ = (sums[:, :N_BITS] / m).astype(np.float32)
    at_sticky, at_one, at_3e = sums[:, N_BITS], sums[:, N_BITS + 1], sums[:, N_BITS + 2]
    stuck_fraction = ((at_sticky + at_one) / m).astype(np.float32)
    sticky_excess = ((at_sticky + 1.0) / (at_one + at_3e + 2.0)).astype(np.float32)
    rms = 0.5 * (p84 - p16)
    rms_clean = rms.astype(np.float32, copy=True)
    # the same quantiles without the stuck codes {0, 1, 63}: the noise of a sticky channel
    # (computed for the channels that look sticky only, from their own table of codes)
    cand = np.flatnonzero((sticky_excess > 1.2) & (stuck_fraction > 0.02))
    if cand.size:
        c_codes, c_counts, c_rows, m_c, _ = code_table(adc[cand, ::stride])
        c_low = c_codes & 63
        clean = c_counts * ~((c_low == 0) | (c_low == 1) | (c_low == 63))
        starts = _row_starts(c_rows)
        c16, c84 = (_quantile_weighted(c_codes, clean, starts, q) for q in (0.16, 0.84))
        # counted from either end with the full sample's counts: right when the stuck samples
        # came from the core of the distribution (snap model), where the levels are too wide
        d16, d84 = (_quantile_weighted(c_codes, clean, starts, q, full=m_c) for q in (0.16, 0.84))
        r = np.fmin(0.5 * (c84 - c16), 0.5 * (d84 - d16))
        rms_clean[cand] = np.where(np.isfinite(r), r, rms[cand])
    return {
        "mean": mean,
        "median": p50,
        "rms": rms,
        "rms_clean": rms_clean,
        "rms_quiet": quiet_rms(adc, rms, stride),
        "ptp": ptp,
        "stuck_fraction": stuck_fraction,
        "sticky_excess": sticky_excess,
        "bit_occupancy": occ,
    }


def code_table(
    sample: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]:
    """Rows of int16 codes sorted once (radix sort) and reduced to runs of distinct codes:
    ``(codes, counts, row of each run, samples per row, cumulative counts)``."""
    sample = np.array(sample, dtype=np.int16, copy=True)
    sample.sort(axis=1, kind="stable")
    m = sample.shape[1]
    flat = sample.reshape(-1)
    new = np.empty(flat.size, dtype=bool)
    new[0] = True
    np.not_equal(flat[1:], flat[:-1], out=new[1:])
    new[::m] = True  # every row starts a run
    first = np.flatnonzero(new)
    codes = flat[first].astype(np.int64)
    counts = np.diff(np.append(first, flat.size)).astype(np.float64)
    return codes, counts, first // m, m, np.cumsum(counts)


def quiet_rms(
    adc: np.ndarray, rms: np.ndarray, stride: int = 4, blocks: int = 6, above: float = 1.25
) -> np.ndarray:
    """``rms``, except on channels above ``above`` x the median RMS: there the median over
    ``blocks`` stretches of the window of their robust RMS (every ``2 stride``-th tick), when
    smaller. That is the noise of a channel a long track runs along (its signal fills a good
    share of the window and widens the whole-window percentiles); ~5 % statistical error."""
    out = rms.astype(np.float32, copy=True)
    cand = np.flatnonzero(rms > above * np.median(rms))
    if cand.size == 0:
        return out
    sub = adc[cand, :: 2 * stride]
    m = sub.shape[1] // blocks
    rows = sub[:, : m * blocks].reshape(cand.size * blocks, m)
    p16, p84 = code_quantiles(rows, (0.16, 0.84), stride=1)
    q = np.median((0.5 * (p84 - p16)).reshape(cand.size, blocks), axis=1)
    out[cand] = np.fmin(q, out[cand])
    return out


def _row_starts(rows: np.ndarray) -> np.ndarray:
    """Index of the first table entry of each row (every row has at least one entry)."""
    starts = np.empty(rows.size, dtype=bool)
    starts[0] = True
    np.not_equal(rows[1:], rows[:-1], out=starts[1:])
    return np.flatnonzero(starts)


def code_quantiles(
    codes_2d: np.ndarray, quantiles: tuple[float, ...], stride: int = 4
) -> list[np.ndarray]:
    """Per-row quantiles of integer data (every ``stride``-th column), codes spread over their
    unit interval; one radix sort. Use for int16 ADC codes or scaled, rounded waveforms."""
    codes, counts, _, m, cum = code_table(codes_2d[:, ::stride])
    n = codes_2d.shape[0]
    return [_quantile_from_table(codes, counts, m, n, q, cum) for q in quantiles]


def _quantile_from_table(
    codes: np.ndarray, counts: np.ndarray, m: int, n: int, q: float, cum: np.ndarray | None = None
) -> np.ndarray:
    """Quantile ``q`` per row from sorted (code, count) runs, each integer code spread uniformly
    over [code - 0.5, code + 0.5] so that quantiles of integer data are not stuck on integers."""
    if cum is None:
        cum = np.cumsum(counts)  # global: row r's runs end at cum = (r + 1) m
    target = np.arange(n) * m + q * m
    idx = np.searchsorted(cum, target, side="left")
    below = cum[idx] - counts[idx]
    return (codes[idx] - 0.5 + (target - below) / counts[idx]).astype(np.float32)


def _quantile_weighted(
    codes: np.ndarray, counts: np.ndarray, starts: np.ndarray, q: float, full: float | None = None
) -> np.ndarray:
    """Like :func:`_quantile_from_table` for rows of unequal weight (entries of weight 0 left
    out); NaN for a row of zero weight. With ``full``, the target is ``q x full`` samples from
    the bottom (``q < 0.5``) or ``(1 - q) x full`` from the top, instead of a share of the row."""
    cum = np.cumsum(counts)
    ends = np.append(starts[1:], counts.size) - 1
    total = cum[ends] - np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0.0)
    base = cum[ends] - total
    if full is None:
        target = base + q * total
    elif q < 0.5:
        target = base + np.minimum(q * full, total)
    else:
        target = base + np.maximum(total - (1 - q) * full, 0.0)
    idx = np.minimum(np.searchsorted(cum, target, side="left"), counts.size - 1)
    below = cum[idx] - counts[idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = codes[idx] - 0.5 + (target - below) / counts[idx]
    return np.where(total > 0, out, np.nan).astype(np.float32)


def combine_stats(per_event: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Average per-event statistics over events (``ptp`` takes the maximum)."""
    out = {}
    for key in per_event[0]:
        stack = np.stack([s[key] for s in per_event])
        out[key] = stack.max(axis=0) if key == "ptp" else stack.mean(axis=0)
    return out


def noise_rms(stats: dict[str, np.ndarray], sticky: np.ndarray | None = None) -> np.ndarray:
    """The channel noise figure used to judge channels and boards: the RMS of the quiet part of
    the window (``rms_quiet``, so that a track along a wire is not noise) and, on sticky
    channels, without the stuck codes (``rms_clean``)."""
    rms = stats.get("rms_quiet", stats["rms"])
    if sticky is not None and "rms_clean" in stats:
        rms = np.where(sticky, np.fmin(stats["rms_clean"], rms), rms)
    return rms


def find_bad_channels(
    stats: dict[str, np.ndarray],
    det: Detector,
    noisy_sigma: float = 6.0,
    noisy_abs: float = 40.0,
    sticky_excess: float = 1.8,
    sticky_min_fraction: float = 0.05,
    sticky_min_rms: float = 1.0,
) -> dict[str, np.ndarray]:
    """Dead, sticky and noisy channels from :func:`compute_channel_stats` output, in that order.

    Dead: no variation at all (max = min). Sticky: samples at codes 0x00/0x3F exceed those at the
    neighbouring codes 0x01/0x3E by ``sticky_excess`` times and make at least
    ``sticky_min_fraction`` of the samples, on a channel with noise to tell them by (robust RMS
    at least ``sticky_min_rms``: samples that hardly leave one code, noise-free simulation or a
    channel far quieter than DETECTOR.md's ~4 ADC, leave the neighbouring codes empty whatever
    the code is, so their counts say nothing about stuck bits). Noisy: robust RMS above the plane's median +
    ``noisy_sigma`` robust standard deviations (1.4826 MAD over the plane's live channels, at least
    5 % of the median), or above ``noisy_abs`` (DETECTOR.md: plane mean + 6 sigma, or > 40 ADC).
    The RMS judged is :func:`noise_rms`: on a sticky channel without the stuck codes (its sticky
    excursions are mended by SIG, never a reason to drop it), elsewhere of the quiet part of
    the window (a track running along a wire is not noise).

    Returns
    -------
    dict
        Boolean masks over channels: ``dead``, ``noisy``, ``sticky``.
    """
    dead = stats["ptp"] == 0
    sticky = (stats["sticky_excess"] > sticky_excess) & (
        stats["stuck_fraction"] > sticky_min_fraction
    )
    sticky &= ~dead & (stats["rms"] >= sticky_min_rms)
    rms = noise_rms(stats, sticky)
    noisy = rms > noisy_abs
    for p in range(3):
        sl = det.plane_slice(p)
        live = rms[sl][~dead[sl] & ~sticky[sl]]
        if live.size < 3:
            continue
        centre = np.median(live)
        spread = 1.4826 * np.median(np.abs(live - centre))
        spread = max(spread, 0.05 * centre)
        noisy[sl] |= rms[sl] > centre + noisy_sigma * spread
    noisy &= ~dead
    return {"dead": dead, "noisy": noisy, "sticky": sticky}


def aggregate(values: np.ndarray, labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Mean of ``values`` per label (ASIC, FEMB, plane...); NaN where a label has no entries."""
    sums = np.bincount(labels, weights=values, minlength=n_labels)
    counts = np.bincount(labels, minlength=n_labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def summarize_planes(
    stats: dict[str, np.ndarray], bad: dict[str, np.ndarray], det: Detector
) -> list[dict]:
    """Per-plane summary rows: pedestal, RMS (live channels), bad-channel counts, stuck fraction."""
    rows = []
    for p, name in enumerate(("u", "v", "x")):
        sl = det.plane_slice(p)
        live = ~(bad["dead"][sl] | bad["noisy"][sl])
        rows.append(
            {
                "plane": name,
                "pedestal_mean": float(stats["median"][sl].mean()),
                "rms_mean": float(stats["rms"][sl][live].mean()) if live.any() else float("nan"),
                "dead": int(bad["dead"][sl].sum()),
                "noisy": int(bad["noisy"][sl].sum()),
                "sticky": int(bad["sticky"][sl].sum()),
                "stuck_fraction_mean": float(stats["stuck_fraction"][sl].mean()),
            }
        )
    return rows


#: Expected ranges drawn as reference bands (robust RMS and pedestal, ADC) per plane.
REFERENCE_RMS = {"u": (3.0, 6.5), "v": (3.0, 6.5), "x": (2.5, 6.0)}
REFERENCE_PEDESTAL = {"u": (2000.0, 2700.0), "v": (2000.0, 2700.0), "x": (550.0, 1250.0)}
