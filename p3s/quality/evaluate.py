"""Checks applied as results arrive: metrics (a batch per POST) and JSON products.

Registered on :data:`p3s.dqm.services.metric_listeners` and ``product_listeners`` (see
``QualityConfig.ready``). One batch costs a fixed number of queries whatever its size: the
enabled checks of its metric names, the job's template, the reference and conditions when a
check needs them (once each), then :func:`save`: the non-good results into the history, the
run's tallies, one SELECT and one upsert of the latest-result table.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from django.db import transaction

from p3s.dqm.models import Metric, Product
from p3s.dqm.series import element_key, element_labels
from p3s.quality import checks as stat
from p3s.quality import refs
from p3s.quality.models import Check, CheckKind, CheckResult, Flag, LatestResult, RunTally

log = logging.getLogger(__name__)

METRIC_KINDS = (
    CheckKind.RANGE,
    CheckKind.REFERENCE_METRIC,
    CheckKind.BAND,
    CheckKind.BAD_CHANNELS_NEW,
)
DETECTOR_LABELS = ("apa", "plane", "femb", "asic", "channel")
LATEST_COPY = [
    "flag", "element", "apa", "plane", "femb", "stream", "template", "run", "job_id", "product_id",
    "value", "reference", "statistic", "p_value", "detail", "data_ts",
]  # fmt: skip
LATEST_FIELDS = [f.removesuffix("_id") for f in LATEST_COPY] + ["result"]


@dataclass
class Context:
    """Where a batch comes from (one job), with what it may need loaded at most once."""

    job: object
    run: int
    stream: str
    template: str
    _cache: dict = field(default_factory=dict)

    @classmethod
    def of(cls, job) -> Context:
        dagrun = job.dagrun
        return cls(
            job=job, run=dagrun.file.run, stream=dagrun.file.stream, template=_template(dagrun)
        )

    @cached_property
    def reference(self):
        return refs.current_reference(self.template, self.stream, self.run)

    @cached_property
    def known_bad(self) -> dict[str, dict[str, set[int]]]:
        return refs.known_bad(self.run)

    @cached_property
    def planes(self) -> dict[str, list[int]]:
        return refs.planes_of(self.run)

    @cached_property
    def bands(self) -> dict | None:
        return refs.bands(self.run)


def _template(dagrun) -> str:
    cached = getattr(dagrun, "_state", None) and dagrun._state.fields_cache.get("template")
    if cached is not None:
        return cached.name
    from p3s.dags.models import DagTemplate

    return DagTemplate.objects.values_list("name", flat=True).get(pk=dagrun.template_id)


def _applies(check: Check, element: dict, ctx: Context) -> bool:
    if check.template and check.template != ctx.template:
        return False
    if check.stream and element.get("stream") != check.stream:
        return False
    if any(str(element.get(k)) != str(v) for k, v in (check.labels or {}).items()):
        return False
    if check.scope:
        return {k for k in DETECTOR_LABELS if k in element} == set(check.scope)
    return True


def _element(labels: dict, ctx: Context, drop: tuple[str, ...] = ()) -> dict[str, str]:
    element = {k: v for k, v in element_labels(labels).items() if k not in drop}
    element.setdefault("stream", ctx.stream)
    return element


# -- judging one input -------------------------------------------------------------------


def judge_metric(check: Check, value: float, element: dict, ctx: Context) -> stat.Outcome:
    p = check.params or {}
    bounds = (check.warning_low, check.warning_high, check.error_low, check.error_high)
    if check.kind in (CheckKind.RANGE, CheckKind.BAD_CHANNELS_NEW):
        return stat.judge_range(value, *bounds)
    if check.kind == CheckKind.REFERENCE_METRIC:
        if ctx.reference is None:
            return stat.undefined("no current reference", value)
        ref, sigma = refs.metric_stats(ctx.reference, check.metric, element)
        if ref is not None:  # the reference's spread, never below the systematic floor
            floor = p.get("sigma") or abs(ref) * p.get("rel_sigma", stat.REL_SIGMA)
            sigma = max(sigma or 0.0, floor)
        return stat.judge_pull(
            value,
            ref,
            sigma,
            p.get("pull_warning", stat.PULL_WARNING),
            p.get("pull_error", stat.PULL_ERROR),
        )
    if check.kind == CheckKind.BAND:
        quantity, plane = p.get("quantity", ""), element.get("plane")
        band = ((ctx.bands or {}).get(plane) or {}).get(quantity)
        band = band or ((p.get("bands") or {}).get(plane) or {})
        if band.get("warning") and band.get("error"):
            (wl, wh), (el, eh) = band["warning"], band["error"]
            return stat.judge_range(value, wl, wh, el, eh)
        if any(b is not None for b in bounds):
            return stat.judge_range(value, *bounds)
        return stat.undefined(f"no {quantity} band for plane {plane}", value)
    return stat.undefined(f"kind {check.kind} does not judge metrics", value)


def judge_hist(check: Check, hist: dict, element: dict, ctx: Context) -> stat.Outcome:
    if ctx.reference is None:
        return stat.undefined("no current reference")
    labels = dict(element, hist=check.metric)
    ref = ctx.reference.hist_for(check.metric, labels)
    if ref is None:
        return stat.undefined("no reference histogram for this element")
    keys = (
        "p_warning",
        "p_error",
        "tolerance",
        "ratio_warning",
        "ratio_error",
        "floor",
        "shift",
        "drift",
    )
    return stat.compare_hists(
        hist, ref, **{k: v for k, v in (check.params or {}).items() if k in keys}
    )


def judge_table(
    check: Check, table: dict, element: dict, ctx: Context
) -> list[tuple[dict, stat.Outcome]]:
    """Per plane of the table's APA: new dead plus new noisy channels against the bounds."""
    known = ctx.known_bad.get(str(element.get("apa")), {})
    out = []
    for plane, new in stat.new_bad_channels(table, known, ctx.planes).items():
        n = len(new["dead"]) + len(new["noisy"])
        outcome = stat.judge_range(
            float(n), check.warning_low, check.warning_high, check.error_low, check.error_high
        )
        if n:
            outcome.detail = f"new dead {new['dead'][:10]}, new noisy {new['noisy'][:10]}"[:300]
        out.append((dict(element, plane=plane), outcome))
    return out


# -- listeners -----------------------------------------------------------------------------


def evaluate_metrics(rows: Iterable[Metric]) -> list[CheckResult]:
    """Apply the enabled metric checks to a batch of new metric rows (one job's)."""
    rows = list(rows)
    if not rows:
        return []
    names = {m.name for m in rows}
    by_metric: dict[str, list[Check]] = {}
    for check in Check.objects.filter(enabled=True, metric__in=names, kind__in=METRIC_KINDS):
        by_metric.setdefault(check.metric, []).append(check)
    if not by_metric:
        return []
    ctx = Context.of(rows[0].job)
    results = []
    for m in rows:
        candidates = by_metric.get(m.name, ())
        element = _element(m.labels, ctx)
        key = element_key(element)
        for check in candidates:
            if _applies(check, element, ctx):
                outcome = judge_metric(check, m.value, element, ctx)
                results.append(_result(check, outcome, element, key, ctx, m.data_ts))
    return save(results)


def evaluate_product(product: Product, content: bytes) -> list[CheckResult]:
    """Apply the histogram and bad-channel-table checks to a new JSON product."""
    labels = product.labels or {}
    if "hist" in labels:
        kinds, name = (CheckKind.REFERENCE_HIST,), str(labels["hist"])
    elif labels.get("table") == "bad_channels":
        kinds, name = (CheckKind.BAD_CHANNELS_NEW,), ""
    else:
        return []
    found = list(Check.objects.filter(enabled=True, kind__in=kinds, metric=name))
    if not found:
        return []
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return []  # store_product accepted it as JSON: cannot happen, but never break intake
    fmt = data.get("format") if isinstance(data, dict) else None
    ctx = Context.of(product.job)
    element = _element(labels, ctx, drop=("hist", "table"))
    results = []
    for check in found:
        if not _applies(check, element, ctx):
            continue
        if check.kind == CheckKind.REFERENCE_HIST and fmt == "p3s-hist-1":
            pairs = [(element, judge_hist(check, data, element, ctx))]
        elif check.kind == CheckKind.BAD_CHANNELS_NEW and fmt == "p3s-badch-1":
            pairs = judge_table(check, data, element, ctx)
        else:
            pairs = [
                (element, stat.undefined(f"product format {fmt!r} is not what {check.kind} reads"))
            ]
        results.extend(
            _result(check, o, el, element_key(el), ctx, product.data_ts, product) for el, o in pairs
        )
    return save(results)


def _result(
    check: Check, o: stat.Outcome, element: dict, key: str, ctx: Context, data_ts, product=None
):
    ref = ctx.__dict__.get("reference")  # only if a check of this batch loaded it
    return CheckResult(
        check_ref_id=check.pk,
        flag=o.flag,
        element=element,
        element_key=key,
        apa=element.get("apa", ""),
        plane=element.get("plane", ""),
        femb=element.get("femb", ""),
        stream=element.get("stream", ""),
        template=ctx.template,
        run=ctx.run,
        job_id=ctx.job.pk,
        product_id=product.pk if product is not None else None,
        value=o.value,
        reference=o.reference,
        statistic=o.statistic,
        p_value=o.p_value,
        detail=o.detail[:300],
        data_ts=data_ts,
        reference_set=getattr(ref, "id", None) if o.flag != Flag.UNDEFINED else None,
    )


def save(results: list[CheckResult]) -> list[CheckResult]:
    """Keep the non-good results, count all in the run's tally, upsert the latest per element.

    Six queries whatever the batch size: insert the history, lock and read the tallies, update
    and create them, read and upsert the latest results.
    """
    if not results:
        return results
    with transaction.atomic():
        CheckResult.objects.bulk_create([r for r in results if r.flag != Flag.GOOD])
        _count(results)
        newest: dict[tuple[int, str], CheckResult] = {}
        for r in results:
            key = (r.check_ref_id, r.element_key)
            if key not in newest or r.data_ts >= newest[key].data_ts:
                newest[key] = r
        seen = dict(
            ((c, k), ts)
            for c, k, ts in LatestResult.objects.filter(
                check_ref_id__in={c for c, _ in newest}, element_key__in={k for _, k in newest}
            ).values_list("check_ref_id", "element_key", "data_ts")
        )
        fresh = [
            LatestResult(result_id=r.pk, check_ref_id=r.check_ref_id, element_key=r.element_key,
                         **{f: getattr(r, f) for f in LATEST_COPY})
            for key, r in newest.items()
            if key not in seen or seen[key] <= r.data_ts
        ]  # fmt: skip
        if fresh:
            LatestResult.objects.bulk_create(
                fresh,
                update_conflicts=True,
                unique_fields=["check_ref", "element_key"],
                update_fields=LATEST_FIELDS,
            )
    return results


def _count(results: list[CheckResult]) -> None:
    """Add the batch's flags to the tallies of (run, check), under a row lock."""
    counts: dict[tuple[int, int], Counter] = {}
    last: dict[tuple[int, int], object] = {}
    origin = {}
    for r in results:
        key = (r.run, r.check_ref_id)
        counts.setdefault(key, Counter())[r.flag] += 1
        last[key] = max(last.get(key, r.data_ts), r.data_ts)
        origin[key] = (r.template, r.stream)
    runs, check_ids = {k[0] for k in counts}, {k[1] for k in counts}
    have = {
        (t.run, t.check_ref_id): t
        for t in RunTally.objects.select_for_update().filter(
            run__in=runs, check_ref_id__in=check_ids
        )
    }
    new = []
    for key, c in counts.items():
        tally = have.get(key)
        if tally is None:
            tally = RunTally(run=key[0], check_ref_id=key[1], template=origin[key][0],
                             stream=origin[key][1], last_data_ts=last[key])  # fmt: skip
            new.append(tally)
        for flag in Flag.values:
            setattr(tally, flag, getattr(tally, flag) + c[flag])
        tally.last_data_ts = max(tally.last_data_ts, last[key])
    changed = [t for key, t in have.items() if key in counts]
    if changed:
        RunTally.objects.bulk_update(changed, [*Flag.values, "last_data_ts"])
    if new:
        RunTally.objects.bulk_create(new)
