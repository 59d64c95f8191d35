"""Strip charts of metrics over time."""

from __future__ import annotations

from datetime import timedelta

from django.core.cache import cache
from django.db.models import Max

from p3s.dqm.models import AlarmRule, Metric
from p3s.front import charts
from p3s.front.access import page
from p3s.front.assets import bokeh_js_urls
from p3s.front.views.common import MAX_CHART_POINTS, render_page, to_int

GROUPS = ["apa", "plane", "femb", "stream", ""]


@page
def strip_charts(request):
    names = cache.get("p3s.front.metric_names")
    if names is None:
        names = list(
            Metric.objects.order_by("name").values_list("name", flat=True).distinct()[:500]
        )
        cache.set("p3s.front.metric_names", names, 30)
    metric = request.GET.get("metric") or (names[0] if names else "")
    group = request.GET.get("group", "apa")
    split = request.GET.get("split", "plane")
    group = group if group in GROUPS else "apa"
    split = split if split in GROUPS and split != group else ""
    hours = to_int(request.GET.get("hours"), 24) or 24
    hours = max(1, min(hours, 24 * 90))
    f = {k: (request.GET.get(k) or "").strip() for k in ("apa", "plane", "run")}
    chart = None
    npoints = 0
    latest = None
    if metric:
        qs = Metric.objects.filter(name=metric)
        if f["apa"]:
            qs = qs.filter(labels__apa=f["apa"])
        if f["plane"]:
            qs = qs.filter(labels__plane=f["plane"])
        run = to_int(f["run"])
        if run is not None:
            qs = qs.filter(run=run)
        else:
            f["run"] = ""
            latest = qs.aggregate(t=Max("data_ts"))["t"]
            if latest is not None:
                qs = qs.filter(data_ts__gte=latest - timedelta(hours=hours))
        points = list(
            qs.order_by("-data_ts").values_list("data_ts", "value", "labels", "run")[
                :MAX_CHART_POINTS
            ]
        )
        npoints = len(points)
        rules = [
            r
            for r in AlarmRule.objects.filter(metric=metric, enabled=True)
            if all(f[k] in ("", str(r.labels.get(k, f[k]))) for k in ("apa", "plane"))
        ]
        if points:
            chart = charts.strip_chart(metric, points, rules, group=group, split=split)
    return render_page(
        request,
        "front/charts.html",
        {
            "names": names,
            "metric": metric,
            "group": group,
            "split": split,
            "hours": hours,
            "f": f,
            "groups": [g for g in GROUPS if g],
            "chart": chart,
            "npoints": npoints,
            "latest": latest,
            "max_points": MAX_CHART_POINTS,
            "bokeh_js": bokeh_js_urls(),
        },
    )
