"""The statistics of the checks: pure functions from values and histograms to flags.

Thresholds (defaults, each overridable per check in ``Check.params``):

- range: ``value`` outside ``[error_low, error_high]`` is bad, outside
  ``[warning_low, warning_high]`` a warning (a missing bound is no bound).
- reference_metric: pull ``(value - reference) / sigma``; |pull| > 3 warning, > 5 bad
  (``pull_warning``, ``pull_error``). ``sigma`` is the larger of the reference's own spread
  and a systematic floor: ``sigma`` in params, else ``rel_sigma`` (default 0.05) times the
  reference value. The reference's spread comes from the events of the few runs it was made
  of, so it measures event-to-event statistics only; run-to-run changes of a healthy detector
  (temperature, pickup, a few per cent in the noise level; DETECTOR.md gives 4.0 +- 0.5 ADC
  per channel) are larger, and the floor keeps them green (as ATLAS DQ and CMS AutoDQM put a
  minimum relative tolerance under a statistical one).
- reference_hist, distributions (``profile: false``): both histograms normalised to unit area;
  Pearson chi-square for two histograms of different size (Gagunashvili, NIM A 614 (2010) 287,
  the "UU" test of ROOT's TH1::Chi2Test) and binned Kolmogorov-Smirnov (asymptotic Kolmogorov
  distribution with the effective size N1 N2 / (N1 + N2)); ``p_value`` is the smaller of the
  two. p < 1e-3 warning, p < 1e-6 bad (``p_warning``, ``p_error``): for Gaussian errors these
  are 3.3 and 4.9 sigma, so among a thousand clean comparisons about one warning is expected.
  Between high-statistics histograms any real but harmless difference (a pedestal drift of a
  tenth of an ADC count over 2,560 channels) gives p ~ 0: a flag therefore also needs the
  shape to differ by more than ``tolerance`` (default 0.05) in the KS distance (the largest
  difference of the normalised cumulative distributions). Statistically significant and
  large enough to matter, as in AutoDQM's practice. ``max_pull`` is the largest per-bin
  pull of the normalised contents. With ``drift`` (a fraction, default 0) a move of the median
  by up to that fraction of the reference median is tolerated: the reference is shifted by the
  move (clipped to the drift) before the KS distance is taken for the tolerance. A healthy
  plane's noise moves a few per cent from run to run, and on a distribution as narrow as the
  channel noise (4.0 +- 0.5 ADC, DETECTOR.md) a 5 % move alone is a KS distance of about 0.3;
  a real noise rise moves it far beyond the drift and stays flagged.
- reference_hist, profiles (``profile: true``: a spectrum or a per-channel value): no KS, no
  p-value. Per bin the ratio ``max(v / r, r / v)`` (bins below ``floor`` (default 1e-3) of the
  reference median are raised to it); the statistic is the largest ratio; > 3 warning, > 10 bad
  (``ratio_warning``, ``ratio_error``). A multiplicative tolerance: a run-to-run change of a known
  pickup line's amplitude (2-3 ADC in the generator, a power ratio of 2.25) stays green, a new
  line on part of a plane (power up tenfold or more in its bin) does not. Each side is compared
  with the other's running maximum over +-``shift`` bins (default 1), so a line at a bin edge
  that lands in the neighbouring bin in another run is not a difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from p3s.quality.models import Flag

P_WARNING = 1e-3
P_ERROR = 1e-6
SHAPE_TOLERANCE = 0.05
PULL_WARNING = 3.0
PULL_ERROR = 5.0
REL_SIGMA = 0.05
RATIO_WARNING = 3.0
RATIO_ERROR = 10.0
RATIO_FLOOR = 1e-3


@dataclass
class Outcome:
    """One check on one element: the flag and its evidence."""

    flag: str
    value: float | None = None
    reference: float | None = None
    statistic: float | None = None
    p_value: float | None = None
    detail: str = ""


def undefined(why: str, value: float | None = None) -> Outcome:
    return Outcome(Flag.UNDEFINED, value=value, detail=why)


def _finite(x) -> bool:
    return x is not None and math.isfinite(x)


def judge_range(
    value: float,
    warning_low: float | None = None,
    warning_high: float | None = None,
    error_low: float | None = None,
    error_high: float | None = None,
) -> Outcome:
    """Flag a value against warning and error bounds."""
    if not _finite(value):
        return undefined("no finite value", None)
    for low, high, flag in (
        (error_low, error_high, Flag.BAD),
        (warning_low, warning_high, Flag.WARNING),
    ):
        if low is not None and value < low:
            return Outcome(flag, value=value, reference=low, detail=f"{value:g} < {low:g}")
        if high is not None and value > high:
            return Outcome(flag, value=value, reference=high, detail=f"{value:g} > {high:g}")
    return Outcome(Flag.GOOD, value=value, detail="in range")


def judge_pull(
    value: float,
    reference: float | None,
    sigma: float | None,
    warning: float = PULL_WARNING,
    error: float = PULL_ERROR,
) -> Outcome:
    """Flag a value by its pull against a reference value and spread."""
    if reference is None or not _finite(reference):
        return undefined("no reference value", value)
    if not _finite(value):
        return undefined("no finite value")
    if not sigma or not _finite(sigma) or sigma <= 0:
        return undefined("no reference spread", value)
    pull = (value - reference) / sigma
    flag = Flag.BAD if abs(pull) > error else Flag.WARNING if abs(pull) > warning else Flag.GOOD
    return Outcome(
        flag, value=value, reference=reference, statistic=pull, detail=f"pull {pull:+.2f}"
    )


def _arrays(hist: dict) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(hist["edges"], dtype=float), np.asarray(hist["counts"], dtype=float)


def compare_hists(
    hist: dict,
    ref: dict,
    p_warning: float = P_WARNING,
    p_error: float = P_ERROR,
    tolerance: float = SHAPE_TOLERANCE,
    ratio_warning: float = RATIO_WARNING,
    ratio_error: float = RATIO_ERROR,
    floor: float = RATIO_FLOOR,
    shift: int = 1,
    drift: float = 0.0,
) -> Outcome:
    """Compare a histogram (p3s-hist-1 JSON) with its reference (see the module docstring)."""
    try:
        edges, n = _arrays(hist)
        ref_edges, r = _arrays(ref)
    except (KeyError, TypeError, ValueError):
        return undefined("not a p3s-hist-1 histogram")
    if n.shape != r.shape or edges.shape != ref_edges.shape or not np.allclose(edges, ref_edges):
        return undefined("binning differs from the reference")
    if n.size == 0 or not (np.isfinite(n).all() and np.isfinite(r).all()):
        return undefined("empty or non-finite contents")
    if hist.get("profile") or ref.get("profile"):
        return _compare_profiles(n, r, ratio_warning, ratio_error, floor, int(shift))
    n1, n2 = n.sum(), r.sum()
    if n1 <= 0 or n2 <= 0:
        return undefined("an empty histogram")
    used = (n + r) > 0
    chi2 = float(((n2 * n[used] - n1 * r[used]) ** 2 / (n[used] + r[used])).sum() / (n1 * n2))
    ndf = max(int(used.sum()) - 1, 1)
    p_chi2 = float(stats.chi2.sf(chi2, ndf))
    d = float(np.abs(np.cumsum(n) / n1 - np.cumsum(r) / n2).max())
    p_ks = float(stats.kstwobign.sf(d * math.sqrt(n1 * n2 / (n1 + n2))))
    var = n / n1**2 + r / n2**2
    pulls = np.divide(n / n1 - r / n2, np.sqrt(var), out=np.zeros_like(var), where=var > 0)
    max_pull = float(np.abs(pulls).max())
    p = min(p_chi2, p_ks)
    flag = Flag.BAD if p < p_error else Flag.WARNING if p < p_warning else Flag.GOOD
    detail = f"chi2/ndf {chi2 / ndf:.2f}, KS D {d:.3f} (p {p_ks:.2g}), max pull {max_pull:.1f}"
    shape = _drifted_ks(edges, n, r, float(drift)) if drift else d
    if drift:
        detail += f", KS D {shape:.3f} after a drift of up to {100 * float(drift):g} %"
    if flag != Flag.GOOD and shape < tolerance:
        flag, detail = Flag.GOOD, detail + f": significant but within tolerance {tolerance:g}"
    return Outcome(
        flag, value=shape, reference=tolerance, statistic=chi2 / ndf, p_value=p, detail=detail
    )


def _drifted_ks(edges: np.ndarray, n: np.ndarray, r: np.ndarray, drift: float) -> float:
    """The KS distance of two binned distributions after moving the reference towards the
    median of the other by at most ``drift`` times its own median (cumulative distributions
    linear within a bin)."""
    cn = np.concatenate([[0.0], np.cumsum(n) / n.sum()])
    cr = np.concatenate([[0.0], np.cumsum(r) / r.sum()])
    median_r = float(np.interp(0.5, cr, edges))
    limit = abs(drift * median_r)
    delta = float(np.clip(np.interp(0.5, cn, edges) - median_r, -limit, limit))
    # The reference's cumulative distribution, moved by delta, read at this one's edges.
    moved = np.interp(edges - delta, edges, cr, left=0.0, right=1.0)
    return float(np.abs(cn - moved).max())


def _running_max(x: np.ndarray, half: int) -> np.ndarray:
    if half <= 0:
        return x
    padded = np.pad(x, half, mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).max(axis=1)


def _compare_profiles(
    v: np.ndarray, r: np.ndarray, warning: float, error: float, floor: float, shift: int = 1
) -> Outcome:
    scale = float(np.median(np.abs(r[r != 0]))) if (r != 0).any() else 0.0
    if scale <= 0:
        return undefined("an empty reference profile")
    low = floor * scale
    a, b = np.maximum(np.abs(v), low), np.maximum(np.abs(r), low)
    # A peak that moved by up to ``shift`` bins (a line at a bin edge) is the same peak: each
    # side is compared with the other's running maximum over +-shift bins.
    ratio = np.maximum(a / _running_max(b, shift), b / _running_max(a, shift))
    worst_bin = int(np.argmax(ratio))
    stat = float(ratio[worst_bin])
    flag = Flag.BAD if stat > error else Flag.WARNING if stat > warning else Flag.GOOD
    return Outcome(
        flag,
        value=float(v[worst_bin]),
        reference=float(r[worst_bin]),
        statistic=stat,
        detail=f"largest ratio to the reference {stat:.2f} in bin {worst_bin}",
    )


def new_bad_channels(
    table: dict, known: dict[str, set[int]], planes: dict[str, list[int]]
) -> dict[str, dict]:
    """Dead and noisy channels of a p3s-badch-1 table that are not known bad with that status.

    ``known`` maps a status (dead, noisy) to the channels listed with it. Returns plane ->
    ``{"dead": [...], "noisy": [...]}`` (offline channels within the APA).
    """
    out = {p: {"dead": [], "noisy": []} for p in planes}
    for status in ("dead", "noisy"):
        listed = known.get(status, set())
        for ch in table.get(status) or ():
            ch = int(ch)
            if ch in listed:
                continue
            for plane, (lo, hi) in planes.items():
                if lo <= ch < hi:
                    out[plane][status].append(ch)
    return out
