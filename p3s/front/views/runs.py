"""Runs, the files of a run and DAG runs."""

from __future__ import annotations

from django.db.models import Count, Max, Min, Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.safestring import mark_safe

from p3s.dags.models import DagRun, DagRunState, DataFile
from p3s.dqm.models import Alarm, Product
from p3s.front import health
from p3s.front.access import page
from p3s.front.dagsvg import dag_svg
from p3s.front.views.common import paginate, render_page
from p3s.front.views.quality import metrics_against_reference

MAX_FLAGS = 300


@page
def runs(request):
    qs = (
        DataFile.objects.values("run")
        .annotate(
            files=Count("id"), first=Min("data_ts"), last=Max("data_ts"), arrived=Max("created")
        )
        .order_by("-run")
    )
    stream = request.GET.get("stream") or ""
    if stream:
        qs = qs.filter(stream=stream)
    page_obj, query = paginate(request, qs, 50)
    numbers = [r["run"] for r in page_obj]
    states: dict[int, dict[str, int]] = {}
    for r in (
        DagRun.objects.filter(file__run__in=numbers)
        .values("file__run", "state")
        .annotate(n=Count("id"))
    ):
        states.setdefault(r["file__run"], {})[r["state"]] = r["n"]
    streams: dict[int, list[str]] = {}
    for run, s in (
        DataFile.objects.filter(run__in=numbers)
        .values_list("run", "stream")
        .distinct()
        .order_by("stream")
    ):
        streams.setdefault(run, []).append(s)
    rows = [
        {
            **r,
            "states": [(s, states.get(r["run"], {}).get(s, 0)) for s in DagRunState.values],
            "streams": streams.get(r["run"], []),
        }
        for r in page_obj
    ]
    return render_page(
        request,
        "front/runs.html",
        {
            "page_obj": page_obj,
            "query": query,
            "rows": rows,
            "stream": stream,
            "dagrun_states": DagRunState.values,
        },
    )


@page
def run_detail(request, run: int):
    files = (
        DataFile.objects.filter(run=run)
        .order_by("-data_ts", "-id")
        .prefetch_related("dagruns__template", "dagruns__version")
    )
    page_obj, query = paginate(request, files, 50)
    if not page_obj.paginator.count:
        raise Http404(f"no files of run {run}")
    products = Product.objects.filter(run=run).count()
    ref = health.reference(run=run, many=True)
    quality = health.run_quality(run)
    flags = sorted(
        (quality or {}).get("flags") or [],
        key=lambda f: ({"bad": 0, "warning": 1, "undefined": 2}.get(f["flag"], 3), str(f["check"])),
    )
    alarms = list(
        Alarm.objects.filter(Q(run=run) | Q(last_run=run))
        .select_related("rule")
        .order_by("-opened_at", "-id")[:50]
    )
    return render_page(
        request,
        "front/run_detail.html",
        {
            "run": run,
            "page_obj": page_obj,
            "query": query,
            "products": products,
            "quality": quality,
            "flags": flags[:MAX_FLAGS],
            "n_flags": len(flags),
            "n_results": sum(quality["counts"].values()),
            "n_failing": sum(1 for f in flags if f["flag"] in ("bad", "warning")),
            "reference": ref,
            "make_reference": health.make_reference_url(health.TEMPLATE, health.STREAM, run),
            "metrics": metrics_against_reference(run, ref),
            "alarms": alarms,
            "signoffs": quality["signoffs"],
        },
    )


@page
def dagrun_detail(request, pk: int):
    dagrun = get_object_or_404(DagRun.objects.select_related("template", "version", "file"), pk=pk)
    jobs = list(dagrun.jobs.select_related("pilot").defer("log_tail", "inputs", "parents"))
    graph = dagrun.version.graph
    by_stage = {j.stage: j for j in jobs}
    svg = dag_svg(
        graph["order"],
        graph["stages"],
        states={s: j.state for s, j in by_stage.items()},
        links={s: reverse("front:job", args=[j.pk]) for s, j in by_stage.items()},
        subtitles={s: f"{j.state} · try {j.attempt}" for s, j in by_stage.items()},
    )
    order = {s: i for i, s in enumerate(graph["order"])}
    jobs.sort(key=lambda j: order.get(j.stage, 999))
    products = list(Product.objects.filter(job__dagrun=dagrun).order_by("title")[:60])
    siblings = list(dagrun.file.dagruns.exclude(pk=dagrun.pk).select_related("template"))
    return render_page(
        request,
        "front/dagrun_detail.html",
        {
            "dagrun": dagrun,
            "jobs": jobs,
            "svg": mark_safe(svg),
            "products": products,
            "siblings": siblings,
            "pending": [
                (s, _why_not_created(s, graph, by_stage))
                for s in graph["order"]
                if s not in by_stage
            ],
        },
    )


def _why_not_created(stage: str, graph: dict, by_stage: dict) -> str:
    """Why a stage of a DAG run has no job: its parents are still going, or one will never finish."""
    blocked = []
    for parent in graph["stages"][stage]["parents"]:
        job = by_stage.get(parent)
        if job is None:
            blocked.append(f"{parent} not created")
        elif job.state in ("finished", "waiting", "dispatched", "running"):
            continue
        else:
            blocked.append(
                f"{parent} {job.state}" + (f" ({job.drop_reason})" if job.drop_reason else "")
            )
    live = any(
        by_stage.get(p) is not None and by_stage[p].state in ("waiting", "dispatched", "running")
        for p in graph["stages"][stage]["parents"]
    )
    if live or not blocked:
        return "not created yet: waits for its parents"
    return "will not run: " + ", ".join(blocked)
