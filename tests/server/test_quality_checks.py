"""The statistics of the checks: bounds, pulls, histogram and profile comparison, new bad channels."""

from __future__ import annotations

import numpy as np
import pytest

from p3s.quality import checks as stat


def hist(counts, profile=False, edges=None):
    counts = list(map(float, counts))
    edges = edges if edges is not None else list(np.linspace(0, 20, len(counts) + 1))
    return {"format": "p3s-hist-1", "edges": edges, "counts": counts, "profile": profile}


@pytest.mark.parametrize(
    "value,flag", [(4.0, "good"), (5.5, "warning"), (6.5, "bad"), (2.5, "warning"), (1.0, "bad")]
)
def test_a_range_check_flags_by_the_worst_bound_broken(value, flag):
    assert stat.judge_range(value, 3.0, 5.0, 2.0, 6.0).flag == flag


def test_a_missing_bound_is_no_bound_and_a_nan_is_undefined():
    assert stat.judge_range(1e9, None, None, None, None).flag == "good"
    assert stat.judge_range(float("nan"), 0, 1, 0, 1).flag == "undefined"


def test_a_pull_needs_a_reference_and_flags_beyond_three_and_five_sigma():
    assert stat.judge_pull(4.0, None, 0.2).flag == "undefined"
    assert stat.judge_pull(4.5, 4.0, 0.2).flag == "good"
    assert stat.judge_pull(4.7, 4.0, 0.2).flag == "warning"
    out = stat.judge_pull(2.9, 4.0, 0.2)
    assert out.flag == "bad" and out.statistic == pytest.approx(-5.5) and out.reference == 4.0


def test_histograms_from_the_same_distribution_rarely_warn():
    rng = np.random.default_rng(3)
    shape = np.exp(-0.5 * ((np.arange(80) - 16) / 3.0) ** 2)
    shape /= shape.sum()
    outcomes = [
        stat.compare_hists(
            hist(rng.multinomial(800, shape)), hist(rng.multinomial(2000, shape)), tolerance=0.0
        )
        for _ in range(1000)
    ]
    flags = [o.flag for o in outcomes]
    assert flags.count("bad") == 0
    assert flags.count("warning") <= 10  # p < 1e-3 from the smaller of two tests: ~2 expected


def test_a_shifted_distribution_is_bad_with_its_evidence():
    rng = np.random.default_rng(4)
    x = np.arange(80)
    ref = rng.multinomial(
        800, np.exp(-0.5 * ((x - 16) / 3.0) ** 2) / np.exp(-0.5 * ((x - 16) / 3.0) ** 2).sum()
    )
    moved = rng.multinomial(
        800, np.exp(-0.5 * ((x - 22) / 3.0) ** 2) / np.exp(-0.5 * ((x - 22) / 3.0) ** 2).sum()
    )
    out = stat.compare_hists(hist(moved), hist(ref))
    assert out.flag == "bad" and out.p_value < 1e-6 and out.value > 0.5
    assert "max pull" in out.detail and out.statistic > 5


def test_a_significant_but_tiny_difference_between_huge_histograms_stays_good():
    x = np.arange(80)
    a = 1e8 * np.exp(-0.5 * ((x - 16.0) / 3.0) ** 2)
    b = 1e8 * np.exp(-0.5 * ((x - 16.1) / 3.0) ** 2)
    out = stat.compare_hists(hist(np.round(a)), hist(np.round(b)), tolerance=0.05)
    assert out.p_value < 1e-6 and out.flag == "good" and "within tolerance" in out.detail
    assert stat.compare_hists(hist(np.round(a)), hist(np.round(b)), tolerance=0.0).flag == "bad"


def test_different_binning_or_empty_histograms_are_undefined():
    assert stat.compare_hists(hist([1, 2, 3]), hist([1, 2, 3, 4])).flag == "undefined"
    assert stat.compare_hists(hist([0, 0]), hist([1, 2])).flag == "undefined"
    assert stat.compare_hists({"counts": [1]}, hist([1])).flag == "undefined"


def test_a_profile_flags_a_new_peak_but_not_a_peak_moved_by_one_bin_or_a_changed_line():
    base = np.full(200, 1.0)
    ref = base.copy()
    ref[61] = 30.0  # a known line
    moved = base.copy()
    moved[62] = 50.0  # the same line one bin over, 1.7 times stronger
    assert stat.compare_hists(hist(moved, True), hist(ref, True)).flag == "good"
    new = moved.copy()
    new[120] = 15.0
    out = stat.compare_hists(hist(new, True), hist(ref, True))
    assert out.flag == "bad" and out.statistic == pytest.approx(15.0) and "bin 120" in out.detail
    assert out.p_value is None


def test_new_bad_channels_are_those_beyond_the_known_list_by_plane_and_status():
    planes = {"u": [0, 800], "v": [800, 1600], "x": [1600, 2560]}
    table = {"dead": [5, 900, 2000], "noisy": [1700, 12, 7]}
    # 7 is known dead but now noisy: a change of state is news; 1700 known noisy, still noisy.
    known = {"dead": {5, 7}, "noisy": {1700}, "sticky": {12}}
    new = stat.new_bad_channels(table, known=known, planes=planes)
    assert new == {"u": {"dead": [], "noisy": [12, 7]}, "v": {"dead": [900], "noisy": []},
                   "x": {"dead": [2000], "noisy": []}}  # fmt: skip


def noise_hist(rng, scale: float, n: int = 2560, width: float = 0.2) -> dict:
    """Channel noise RMS of a plane of alike channels: mean 4 ADC x ``scale``, spread
    ``width`` (the demo's planes are this narrow: a 5 % move is a KS distance of 0.33)."""
    values = scale * rng.normal(4.0, width, n)
    counts, edges = np.histogram(values, bins=200, range=(0, 20))
    return {"format": "p3s-hist-1", "edges": list(edges), "counts": list(counts.astype(float))}


@pytest.mark.parametrize("seed", [1, 7, 23])
def test_a_drift_within_tolerance_is_no_shape_change_but_a_noise_rise_is(seed):
    rng = np.random.default_rng(seed)
    ref = noise_hist(rng, 1.0)
    drifted = noise_hist(rng, 1.05)  # a healthy run-to-run move of the noise level
    assert stat.compare_hists(drifted, ref, tolerance=0.3).flag == "bad"  # location alone
    out = stat.compare_hists(drifted, ref, tolerance=0.3, drift=0.07)
    assert out.flag == "good" and out.value < 0.1
    risen = noise_hist(rng, 1.4)  # a noise rise far beyond any drift
    out = stat.compare_hists(risen, ref, tolerance=0.3, drift=0.07)
    assert out.flag == "bad" and out.value > 0.5


def test_a_reference_spread_from_few_events_is_floored_by_the_run_to_run_tolerance():
    """The pull of a reference_metric check uses max(reference spread, rel_sigma x value)."""
    from types import SimpleNamespace

    from p3s.quality import evaluate, refs
    from p3s.quality.models import CheckKind

    class Ref:
        def metric_stats_for(self, name, labels):
            return 5.25, 0.03  # a tight event-to-event spread of the reference run

    check = SimpleNamespace(
        kind=CheckKind.REFERENCE_METRIC,
        metric="adc_rms_mean",
        params={"rel_sigma": 0.05, "pull_warning": 3, "pull_error": 5},
        warning_low=None, warning_high=None, error_low=None, error_high=None,
    )  # fmt: skip
    ctx = SimpleNamespace(reference=Ref())
    assert refs.metric_stats(Ref(), "adc_rms_mean", {}) == (5.25, 0.03)
    assert evaluate.judge_metric(check, 4.99, {}, ctx).flag == "good"  # 5 % lower: a drift
    out = evaluate.judge_metric(check, 7.35, {}, ctx)  # 40 % higher: a noise rise
    assert out.flag == "bad" and out.statistic == pytest.approx(8.0)
