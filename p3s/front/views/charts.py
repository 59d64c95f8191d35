"""Strip charts of metrics over time: the page, and its data for the auto refresh."""

from __future__ import annotations

import hashlib

from django.contrib import messages
from django.core.cache import cache
from django.db.models import Max
from django.http import JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse

from p3s.dqm.models import AlarmRule, Metric
from p3s.front import charts
from p3s.front import chartwindow as cw
from p3s.front.access import page
from p3s.front.assets import bokeh_js_urls
from p3s.front.views.common import MAX_CHART_POINTS, render_page

GROUPS = ["apa", "plane", "femb", "stream", ""]
RECENT_RUNS = 30


def _metric_names() -> list[str]:
    names = cache.get("p3s.front.metric_names")
    if names is None:
        names = list(
            Metric.objects.order_by("name").values_list("name", flat=True).distinct()[:500]
        )
        cache.set("p3s.front.metric_names", names, 30)
    return names


def _recent_runs(metric: str) -> list[int]:
    """The latest runs that recorded this metric, for the run picker."""
    if not metric:
        return []
    key = "p3s.front.metric_runs." + hashlib.sha1(metric.encode()).hexdigest()
    runs = cache.get(key)
    if runs is None:
        runs = list(
            Metric.objects.filter(name=metric)
            .order_by("-run")
            .values_list("run", flat=True)
            .distinct()[:RECENT_RUNS]
        )
        cache.set(key, runs, 30)
    return runs


def _options(params, names: list[str]) -> dict:
    metric = params.get("metric") or (names[0] if names else "")
    group = params.get("group", "apa")
    group = group if group in GROUPS else "apa"
    split = params.get("split", "plane")
    split = split if split in GROUPS and split != group else ""
    f = {k: (params.get(k) or "").strip()[:20] for k in ("apa", "plane")}
    return {"metric": metric, "group": group, "split": split, "f": f}


def _chart(opts: dict, window: cw.Window) -> dict:
    """Resolve the window against the data and build the chart (``WindowError`` on bad input)."""
    qs = Metric.objects.filter(name=opts["metric"])
    f = opts["f"]
    if f["apa"]:
        qs = qs.filter(labels__apa=f["apa"])
    if f["plane"]:
        qs = qs.filter(labels__plane=f["plane"])
    latest = qs.aggregate(t=Max("data_ts"))["t"] if window.kind not in ("run",) else None
    cw.resolve(window, latest)
    points: list = []
    if window.since is not None and window.until is not None:
        points = list(
            qs.filter(data_ts__gte=window.since, data_ts__lte=window.until)
            .order_by("-data_ts")
            .values_list("data_ts", "value", "labels", "run")[:MAX_CHART_POINTS]
        )
    rules = [
        r
        for r in AlarmRule.objects.filter(metric=opts["metric"], enabled=True)
        if all(f[k] in ("", str(r.labels.get(k, f[k]))) for k in ("apa", "plane"))
    ]
    item = None
    if points:
        item = charts.strip_chart(
            opts["metric"],
            points,
            rules,
            group=opts["group"],
            split=opts["split"],
            window=(window.since, window.until),
            runs=[(r.run, r.first, r.last) for r in window.runs],
        )
    return {"item": item, "npoints": len(points), "latest": latest}


def _info(request, ctx: dict) -> str:
    return render_to_string("front/chart_info.html", ctx, request=request)


@page
def strip_charts(request):
    names = _metric_names()
    opts = _options(request.GET, names)
    try:
        window = cw.parse_window(request.GET)
    except cw.WindowError as exc:
        messages.warning(request, f"{exc}: showing the last {cw.RANGE_LABELS[cw.DEFAULT_RANGE]}")
        window = cw.Window(cw.DEFAULT_RANGE)
    result: dict = {"item": None, "npoints": 0, "latest": None}
    if opts["metric"]:
        try:
            result = _chart(opts, window)
        except cw.WindowError as exc:
            messages.warning(request, str(exc))
            window = cw.Window(cw.DEFAULT_RANGE)
            result = _chart(opts, window)
    params = request.GET.copy()
    for k in ("range", "run", "since", "until", "hours", "refresh"):
        params.pop(k, None)
    base_query = params.urlencode()
    ctx = {
        "names": names,
        **opts,
        "window": window,
        "ranges": [(k, cw.RANGE_LABELS[k]) for k in cw.RANGES],
        "base_query": base_query,
        "recent_runs": _recent_runs(opts["metric"]),
        "refresh": cw.refresh_of(request.GET),
        "refresh_choices": cw.REFRESH,
        "groups": [g for g in GROUPS if g],
        "chart": result["item"],
        "npoints": result["npoints"],
        "max_points": MAX_CHART_POINTS,
        "bokeh_js": bokeh_js_urls(),
        "data_url": reverse("front:charts-data") + "?" + request.GET.urlencode(),
    }
    return render_page(request, "front/charts.html", ctx)


@page
def strip_chart_data(request):
    """The chart of the page's query as JSON (the auto refresh): 400 JSON on bad input."""
    names = _metric_names()
    opts = _options(request.GET, names)
    if opts["metric"] and not Metric.objects.filter(name=opts["metric"]).exists():
        return JsonResponse(
            {"detail": f"no metric named {opts['metric'][:80]!r}", "field": "metric"}, status=400
        )
    try:
        window = cw.parse_window(request.GET)
        result = _chart(opts, window) if opts["metric"] else {"item": None, "npoints": 0}
    except cw.WindowError as exc:
        return JsonResponse({"detail": str(exc), "field": exc.field}, status=400)
    params = request.GET.copy()
    for k in ("range", "run", "since", "until", "hours", "refresh"):
        params.pop(k, None)
    ctx = {
        **opts,
        "base_query": params.urlencode(),
        "window": window,
        "npoints": result["npoints"],
        "max_points": MAX_CHART_POINTS,
        "chart": result["item"],
    }
    return JsonResponse(
        {
            "item": result["item"],
            "npoints": result["npoints"],
            "since": window.since.isoformat() if window.since else None,
            "until": window.until.isoformat() if window.until else None,
            "runs": [
                {"run": r.run, "first": r.first.isoformat(), "last": r.last.isoformat()}
                for r in window.runs
            ],
            "info": _info(request, ctx),
        }
    )
