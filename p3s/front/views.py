"""Operator pages (server-rendered). Views read with aggregate queries and act through domain calls.

Every list is paginated; every page makes a bounded number of queries however many jobs there
are (tests/front/test_query_counts.py holds them to it).
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Count, Max, Min, Q
from django.http import (
    FileResponse,
    Http404,
    HttpResponseNotAllowed,
    HttpResponseNotModified,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import http_date, parse_http_date_safe
from django.utils.safestring import mark_safe
from django.views.decorators.clickjacking import xframe_options_sameorigin
from rest_framework.exceptions import AuthenticationFailed

from p3s.accounts.auth import ApiTokenAuthentication
from p3s.api.views import summary_data
from p3s.dags.models import DagRun, DagRunState, DataFile, StageSettings
from p3s.dqm import alarms as alarm_service
from p3s.dqm.models import (
    ACTIVE_ALARM_STATES,
    Alarm,
    AlarmRule,
    AlarmState,
    Metric,
    Product,
    ProductKind,
)
from p3s.dqm.thumbs import thumbnail
from p3s.exceptions import IllegalTransition
from p3s.front import charts
from p3s.front.access import actor, back, can_read, operator_action, page, page_context, refuse
from p3s.front.assets import bokeh_js_urls
from p3s.front.dagsvg import dag_svg
from p3s.jobs import actions
from p3s.jobs.models import Job
from p3s.jobs.states import JobState
from p3s.pilots.models import Pilot, PilotState

JOB_STATES = [s.value for s in JobState]
DONE_COLUMNS = ["finished", "failed", "timeout", "dropped", "cancelled"]
JOBS_PER_PAGE = 50
PRODUCTS_PER_PAGE = 24
MAX_CHART_POINTS = 20000


def _refresh_seconds() -> int:
    try:
        return max(5, int(os.environ.get("P3S_DASHBOARD_REFRESH", "30")))
    except ValueError:
        return 30


def _render(request, template: str, ctx: dict, status: int = 200):
    return render(request, template, page_context(request, ctx), status=status)


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _paginate(request, qs, per_page: int):
    paginator = Paginator(qs, per_page)
    page_obj = paginator.get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return page_obj, params.urlencode()


# -- dashboard ------------------------------------------------------------------------------


def dqm_latency(since) -> dict:
    """File arrival to its last product, for files whose last product came since ``since``."""
    rows = (
        Product.objects.filter(created__gte=since)
        .values("job__dagrun__file")
        .annotate(arrived=Min("job__dagrun__file__created"), last=Max("created"), run=Min("run"))
        .order_by("-last")[:2000]
    )
    points = [
        ((r["last"] - r["arrived"]).total_seconds(), r["last"], r["run"])
        for r in rows
        if r["arrived"]
    ]
    if not points:
        return {"files": 0, "points": []}
    values = sorted(p[0] for p in points)

    def pct(p: float) -> float:
        return values[min(len(values) - 1, int(p * len(values)))]

    return {
        "files": len(values),
        "median_s": pct(0.5),
        "p90_s": pct(0.9),
        "max_s": values[-1],
        "points": points,
        "svg": mark_safe(_latency_svg(points, since)),
    }


def _latency_svg(points, since) -> str:
    """A small scatter of latency against time of the last product (last hour)."""
    w, h, pad = 560, 120, 28
    now = timezone.now()
    span = max((now - since).total_seconds(), 1)
    top = max(p[0] for p in points) * 1.1 or 1
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" class="latency" role="img" '
        'aria-label="DQM latency over the last hour">',
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - 4}" y2="{h - pad}" stroke="#8c959f"/>',
        f'<line x1="{pad}" y1="4" x2="{pad}" y2="{h - pad}" stroke="#8c959f"/>',
        f'<text x="{pad - 4}" y="12" font-size="10" text-anchor="end" fill="#57606a">{top:.0f}s</text>',
        f'<text x="{pad}" y="{h - 10}" font-size="10" fill="#57606a">-60 min</text>',
        f'<text x="{w - 4}" y="{h - 10}" font-size="10" text-anchor="end" fill="#57606a">now</text>',
    ]
    for lat, last, run in points:
        x = pad + (w - pad - 6) * min(1.0, max(0.0, (last - since).total_seconds() / span))
        y = (h - pad) - (h - pad - 6) * (lat / top)
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#218bff" fill-opacity="0.7">'
            f"<title>run {run}: {lat:.1f} s</title></circle>"
        )
    out.append("</svg>")
    return "".join(out)


@page
def dashboard(request):
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    summary = summary_data()
    by_stage = summary["jobs"]["by_stage"]
    stage_rows = []
    for stage in sorted(by_stage):
        counts = by_stage[stage]
        stage_rows.append(
            {
                "stage": stage,
                "live": [(s, counts.get(s, 0)) for s in ("waiting", "dispatched", "running")],
                "done": [(s, counts.get(f"{s}_last_hour", 0)) for s in DONE_COLUMNS],
            }
        )
    by_state = summary["jobs"]["by_state"]
    pilots = summary["pilots"]["by_state"]
    alarm_counts = {
        (r["state"], r["severity"]): r["n"]
        for r in Alarm.objects.filter(state__in=ACTIVE_ALARM_STATES)
        .values("state", "severity")
        .annotate(n=Count("id"))
    }
    open_critical = alarm_counts.get(("open", "critical"), 0)
    open_warning = alarm_counts.get(("open", "warning"), 0)
    acked = sum(n for (state, _), n in alarm_counts.items() if state == "acknowledged")
    failed_hour = sum(by_state.get(f"{s}_last_hour", 0) for s in ("failed", "timeout"))
    lost = pilots.get("lost", 0)
    if open_critical:
        status = ("bad", f"{open_critical} critical alarm{'s' if open_critical != 1 else ''} open")
    elif open_warning or lost or failed_hour:
        bits = []
        if open_warning:
            bits.append(f"{open_warning} warning alarm{'s' if open_warning != 1 else ''} open")
        if lost:
            bits.append(f"{lost} pilot{'s' if lost != 1 else ''} lost")
        if failed_hour:
            bits.append(
                f"{failed_hour} job{'s' if failed_hour != 1 else ''} failed or timed out in the last hour"
            )
        status = ("warn", "; ".join(bits))
    else:
        status = ("ok", "All quiet: no open alarms, no failures in the last hour")
    queues = [
        {
            "queue": q,
            "waiting": summary["claimable"].get(q, 0),
            "busy": v.get("busy", 0),
            "idle": v.get("idle", 0),
            "top": summary["top_priority"].get(q, ""),
        }
        for q, v in sorted(summary["pilots"]["by_queue"].items())
    ]
    for q in sorted(set(summary["claimable"]) - set(summary["pilots"]["by_queue"])):
        queues.append(
            {
                "queue": q,
                "waiting": summary["claimable"][q],
                "busy": 0,
                "idle": 0,
                "top": summary["top_priority"].get(q, ""),
                "starved": True,
            }
        )
    ctx = {
        "now": now,
        "queues": queues,
        "refresh": _refresh_seconds(),
        "status": status,
        "summary": summary,
        "stage_rows": stage_rows,
        "done_columns": DONE_COLUMNS,
        "tiles": {
            "waiting": by_state.get("waiting", 0),
            "running": by_state.get("running", 0) + by_state.get("dispatched", 0),
            "finished": by_state.get("finished_last_hour", 0),
            "failed": failed_hour,
        },
        "pilots": {s: pilots.get(s, 0) for s in ("busy", "idle", "lost", "exited", "invalid")},
        "open_alarms": list(
            Alarm.objects.filter(state__in=ACTIVE_ALARM_STATES).select_related("rule")[:8]
        ),
        "alarm_counts": {"critical": open_critical, "warning": open_warning, "acknowledged": acked},
        "latency": dqm_latency(hour_ago),
        "dagrun_latency": summary["latency"],
        "recent_runs": list(DagRun.objects.select_related("template", "file").order_by("-id")[:10]),
    }
    return _render(request, "front/dashboard.html", ctx)


# -- runs and DAG runs ------------------------------------------------------------------------


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
    page_obj, query = _paginate(request, qs, 50)
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
    return _render(
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
    page_obj, query = _paginate(request, files, 50)
    if not page_obj.paginator.count:
        raise Http404(f"no files of run {run}")
    products = Product.objects.filter(run=run).count()
    return _render(
        request,
        "front/run_detail.html",
        {
            "run": run,
            "page_obj": page_obj,
            "query": query,
            "products": products,
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
    return _render(
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


# -- jobs -------------------------------------------------------------------------------------


JOB_FILTERS = ("state", "stage", "template", "run", "queue", "pilot", "dagrun")


@page
def jobs(request):
    qs = Job.objects.select_related("dagrun__template", "dagrun__file", "pilot").defer(
        "log_tail",
        "inputs",
        "parents",
        "outputs",
        "args",
        "message",
        "dagrun__file__url",
        "dagrun__file__checksum",
        "dagrun__template__description",
    )
    f = {k: (request.GET.get(k) or "").strip() for k in JOB_FILTERS}
    if f["state"] in JOB_STATES:
        qs = qs.filter(state=f["state"])
    else:
        f["state"] = ""
    if f["stage"]:
        qs = qs.filter(stage=f["stage"])
    if f["template"]:
        qs = qs.filter(dagrun__template__name=f["template"])
    if f["queue"]:
        qs = qs.filter(queue=f["queue"])
    for key, field in (
        ("run", "dagrun__file__run"),
        ("pilot", "pilot_id"),
        ("dagrun", "dagrun_id"),
    ):
        if f[key]:
            value = _int(f[key])
            if value is None:
                messages.warning(request, f"{key} must be a number, not {f[key]!r}: filter ignored")
                f[key] = ""
            else:
                qs = qs.filter(**{field: value})
    counts_qs = Job.objects.all()
    for key in ("stage", "template", "queue", "run", "pilot", "dagrun"):
        if f[key]:
            counts_qs = counts_qs.filter(
                **{
                    "stage": {"stage": f[key]},
                    "template": {"dagrun__template__name": f[key]},
                    "queue": {"queue": f[key]},
                    "run": {"dagrun__file__run": _int(f[key])},
                    "pilot": {"pilot_id": _int(f[key])},
                    "dagrun": {"dagrun_id": _int(f[key])},
                }[key]
            )
    state_counts = dict(counts_qs.order_by().values_list("state").annotate(n=Count("id")))
    page_obj, query = _paginate(request, qs.order_by("-id"), JOBS_PER_PAGE)
    base = {k: v for k, v in f.items() if v and k != "state"}
    chips = [("", "all", sum(state_counts.values()), "?" + urlencode(base))] + [
        (s, s, state_counts.get(s, 0), "?" + urlencode({**base, "state": s})) for s in JOB_STATES
    ]
    stages = sorted(set(StageSettings.objects.values_list("stage", flat=True)))
    return _render(
        request,
        "front/jobs.html",
        {
            "page_obj": page_obj,
            "query": query,
            "f": f,
            "chips": chips,
            "stages": stages,
            "retryable": {"failed", "timeout", "dropped", "cancelled"},
            "cancellable": {"waiting", "dispatched", "running"},
        },
    )


@page
def job_detail(request, pk: int):
    job = get_object_or_404(
        Job.objects.select_related(
            "dagrun__template", "dagrun__file", "dagrun__version", "settings", "pilot"
        ),
        pk=pk,
    )
    events = list(job.events.all())
    products = list(job.products.all())
    metrics = list(job.metrics.order_by("name", "id")[:300])
    alarms = list(Alarm.objects.filter(job=job).select_related("rule")[:20])
    return _render(
        request,
        "front/job_detail.html",
        {
            "job": job,
            "events": events,
            "products": products,
            "metrics": metrics,
            "alarms": alarms,
            "retryable": job.state in ("failed", "timeout", "dropped", "cancelled"),
            "cancellable": job.state in ("waiting", "dispatched", "running"),
        },
    )


def _job_action(request, pk: int, fn, done: str):
    try:
        fn()
        messages.success(request, done)
    except IllegalTransition as exc:
        messages.error(request, str(exc))
    except Job.DoesNotExist:
        raise Http404(f"no job {pk}") from None
    return back(request, reverse("front:job", args=[pk]))


@operator_action
def job_retry(request, pk: int):
    return _job_action(
        request, pk, lambda: actions.retry(pk, actor(request)), f"job {pk} goes back to waiting"
    )


@operator_action
def job_cancel(request, pk: int):
    return _job_action(
        request, pk, lambda: actions.cancel(pk, actor(request)), f"job {pk} cancelled"
    )


@operator_action
def job_priority(request, pk: int):
    value = _int(request.POST.get("priority"))
    if value is None or not -(10**6) <= value <= 10**6:
        messages.error(request, "priority must be a whole number between -1000000 and 1000000")
        return back(request, reverse("front:job", args=[pk]))
    return _job_action(
        request,
        pk,
        lambda: actions.set_priority(pk, value, actor(request)),
        f"job {pk} priority set to {value}",
    )


BULK_LIMIT = 500


@operator_action
def jobs_bulk(request):
    """Retry, cancel or reprioritise the jobs ticked in the jobs list, one domain call each."""
    what = request.POST.get("do")
    ids = [i for i in (_int(v) for v in request.POST.getlist("job")) if i is not None][:BULK_LIMIT]
    if not ids:
        messages.warning(request, "tick some jobs first")
        return back(request, reverse("front:jobs"))
    who = actor(request)
    if what == "retry":
        fn, verb = (lambda pk: actions.retry(pk, who)), "sent back to waiting"
    elif what == "cancel":
        fn, verb = (lambda pk: actions.cancel(pk, who)), "cancelled"
    elif what == "priority":
        value = _int(request.POST.get("priority"))
        if value is None or not -(10**6) <= value <= 10**6:
            messages.error(request, "priority must be a whole number between -1000000 and 1000000")
            return back(request, reverse("front:jobs"))
        fn, verb = (lambda pk: actions.set_priority(pk, value, who)), f"set to priority {value}"
    else:
        messages.error(request, "unknown action: use retry, cancel or priority")
        return back(request, reverse("front:jobs"))
    done, refused = 0, []
    for pk in ids:
        try:
            fn(pk)
            done += 1
        except IllegalTransition as exc:
            refused.append(str(exc))
        except Job.DoesNotExist:
            refused.append(f"no job {pk}")
    if done:
        messages.success(request, f"{done} job{'s' if done != 1 else ''} {verb}")
    for text in refused[:5]:
        messages.error(request, text)
    if len(refused) > 5:
        messages.error(request, f"... and {len(refused) - 5} more refused")
    return back(request, reverse("front:jobs"))


# -- products ---------------------------------------------------------------------------------


PRODUCT_FILTERS = ("run", "apa", "plane", "kind", "stream", "q", "dagrun")


@page
def products(request):
    qs = Product.objects.select_related("job__dagrun__file").only(
        "id",
        "run",
        "kind",
        "title",
        "labels",
        "size",
        "data_ts",
        "created",
        "job_id",
        "job__stage",
        "job__dagrun_id",
        "job__dagrun__file__name",
        "job__dagrun__file__stream",
    )
    f = {k: (request.GET.get(k) or "").strip() for k in PRODUCT_FILTERS}
    run = _int(f["run"])
    if run is not None:
        qs = qs.filter(run=run)
    elif f["run"]:
        messages.warning(request, f"run must be a number, not {f['run']!r}")
        f["run"] = ""
    if f["apa"]:
        qs = qs.filter(labels__apa=f["apa"])
    if f["plane"]:
        qs = qs.filter(labels__plane=f["plane"])
    if f["kind"] in ProductKind.values:
        qs = qs.filter(kind=f["kind"])
    if f["stream"]:
        qs = qs.filter(job__dagrun__file__stream=f["stream"])
    if f["q"]:
        qs = qs.filter(title__icontains=f["q"])
    if _int(f["dagrun"]) is not None:
        qs = qs.filter(job__dagrun_id=_int(f["dagrun"]))
    page_obj, query = _paginate(request, qs.order_by("-data_ts", "-id"), PRODUCTS_PER_PAGE)
    recent_runs = cache.get("p3s.front.product_runs")
    if recent_runs is None:
        recent_runs = list(
            Product.objects.order_by("-run").values_list("run", flat=True).distinct()[:30]
        )
        cache.set("p3s.front.product_runs", recent_runs, 30)
    return _render(
        request,
        "front/products.html",
        {
            "page_obj": page_obj,
            "query": query,
            "f": f,
            "kinds": ProductKind.choices,
            "planes": ["u", "v", "x"],
            "recent_runs": recent_runs,
            "bokeh_js": bokeh_js_urls(),
            "has_bokeh": any(p.kind == "bokeh" for p in page_obj),
        },
    )


@page
def product_detail(request, pk: int):
    product = get_object_or_404(
        Product.objects.select_related("job__dagrun__file", "job__dagrun__template"), pk=pk
    )
    history = list(
        Product.objects.filter(title=product.title, kind=product.kind)
        .exclude(pk=pk)
        .order_by("-data_ts", "-id")
        .only("id", "run", "kind", "title", "data_ts", "labels")[:12]
    )
    siblings = list(
        Product.objects.filter(job__dagrun_id=product.job.dagrun_id)
        .exclude(pk=pk)
        .order_by("title")
        .only("id", "title", "kind", "labels")[:60]
    )
    preview = None
    if product.kind == ProductKind.JSON:
        try:
            with product.file.open("rb") as fh:
                raw = fh.read(100_000)
            preview = json.dumps(json.loads(raw), indent=2)[:100_000]
        except (OSError, ValueError):
            preview = "(the file could not be read as JSON)"
    return _render(
        request,
        "front/product_detail.html",
        {
            "product": product,
            "history": history,
            "siblings": siblings,
            "preview": preview,
            "bokeh_js": bokeh_js_urls(),
        },
    )


@page
@xframe_options_sameorigin
def product_embed(request, pk: int):
    """A bokeh product drawn alone, for a sandboxed iframe.

    Bokeh documents come from pilots and may hold scripts (CustomJS) or HTML (Div, tooltips):
    they are drawn inside ``<iframe sandbox="allow-scripts">``, in an opaque origin that can
    read neither the operator's session, nor the CSRF token, nor the page around it.
    """
    product = get_object_or_404(
        Product.objects.only("id", "kind", "file", "title"), pk=pk, kind=ProductKind.BOKEH
    )
    try:
        with product.file.open("rb") as fh:
            item = json.loads(fh.read(settings.P3S["MAX_UPLOAD_BYTES"] + 1))
    except (OSError, ValueError):
        item = None
    resp = render(
        request,
        "front/product_embed.html",
        {"product": product, "item": item, "bokeh_js": bokeh_js_urls()},
    )
    resp.headers["Content-Security-Policy"] = "sandbox allow-scripts"
    resp.headers["Cache-Control"] = "private, max-age=86400"
    return resp


CONTENT_TYPES = {"png": "image/png", "bokeh": "application/json", "json": "application/json"}


def product_file(request, pk: int):
    """The product file itself, for people (session) and programs (API token)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if "HTTP_AUTHORIZATION" in request.META:
        try:
            result = ApiTokenAuthentication().authenticate(request)
        except AuthenticationFailed as exc:
            return JsonResponse({"detail": str(exc.detail)}, status=401)
        if result is not None:
            request.user, request.auth = result
    if not can_read(request):
        return refuse(request)
    product = get_object_or_404(
        Product.objects.only("id", "kind", "file", "created", "slug"), pk=pk
    )
    return _serve_product(request, product, product.file.name)


def product_thumb(request, pk: int):
    """A small PNG of a PNG product for the gallery (the original when it is small already)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if not can_read(request):
        return refuse(request)
    product = get_object_or_404(
        Product.objects.only("id", "kind", "file", "created", "slug"), pk=pk, kind="png"
    )
    return _serve_product(request, product, thumbnail(product) or product.file.name)


def _serve_product(request, product: Product, name: str):
    modified = int(product.created.timestamp())
    since = parse_http_date_safe(request.META.get("HTTP_IF_MODIFIED_SINCE") or "")
    if since is not None and since >= modified:
        return HttpResponseNotModified()
    try:
        fh = product.file.storage.open(name, "rb")
    except (OSError, ValueError):
        raise Http404(
            f"the file of product {product.pk} is missing (deleted by retention?)"
        ) from None
    ext = "png" if product.kind == "png" else "json"
    resp = FileResponse(
        fh,
        content_type=CONTENT_TYPES[product.kind],
        filename=f"{product.slug}.{ext}",
        as_attachment=False,
    )
    # Product files never change (the server names them): cache, but only in the viewer's browser.
    resp.headers["Cache-Control"] = "private, max-age=86400"
    resp.headers["Last-Modified"] = http_date(modified)
    return resp


# -- strip charts -----------------------------------------------------------------------------


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
    hours = _int(request.GET.get("hours"), 24) or 24
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
        run = _int(f["run"])
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
    return _render(
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


# -- alarms -----------------------------------------------------------------------------------


@page
def alarms(request):
    state = request.GET.get("state", "active")
    qs = Alarm.objects.select_related("rule")
    if state == "active":
        qs = qs.filter(state__in=ACTIVE_ALARM_STATES)
    elif state in AlarmState.values:
        qs = qs.filter(state=state)
    else:
        state = "all"
    counts = dict(Alarm.objects.order_by().values_list("state").annotate(n=Count("id")))
    counts["active"] = counts.get("open", 0) + counts.get("acknowledged", 0)
    counts["all"] = sum(counts.get(s, 0) for s in AlarmState.values)
    page_obj, query = _paginate(request, qs.order_by("-opened_at", "-id"), 50)
    rules = list(
        AlarmRule.objects.annotate(
            active=Count("alarms", filter=Q(alarms__state__in=ACTIVE_ALARM_STATES))
        ).order_by("metric", "name")[:200]
    )
    tabs = [(t, counts.get(t, 0)) for t in ("active", "open", "acknowledged", "cleared", "all")]
    return _render(
        request,
        "front/alarms.html",
        {
            "page_obj": page_obj,
            "query": query,
            "state": state,
            "tabs": tabs,
            "rules": rules,
        },
    )


@operator_action
def alarm_ack(request, pk: int):
    try:
        alarm = alarm_service.acknowledge(pk, actor(request))
        messages.success(request, f"alarm {alarm.pk} ({alarm.rule.name}) acknowledged")
    except Alarm.DoesNotExist:
        raise Http404(f"no alarm {pk}") from None
    except IllegalTransition as exc:
        messages.error(request, str(exc))
    return back(request, reverse("front:alarms"))


# -- pilots -----------------------------------------------------------------------------------


PILOT_TABS = {
    "active": [PilotState.IDLE, PilotState.BUSY],
    "idle": [PilotState.IDLE],
    "busy": [PilotState.BUSY],
    "lost": [PilotState.LOST],
    "gone": [PilotState.EXITED, PilotState.INVALID],
}


@page
def pilots(request):
    tab = request.GET.get("state", "active")
    qs = Pilot.objects.select_related("job").defer("resources", "key_hash")
    if tab in PILOT_TABS:
        qs = qs.filter(state__in=PILOT_TABS[tab])
    else:
        tab = "all"
    counts = dict(Pilot.objects.order_by().values_list("state").annotate(n=Count("id")))
    tabs = [(t, sum(counts.get(s, 0) for s in states)) for t, states in PILOT_TABS.items()]
    tabs.append(("all", sum(counts.values())))
    page_obj, query = _paginate(request, qs.order_by("-last_seen", "-id"), 50)
    now = timezone.now()
    rows = [(p, (now - p.last_seen).total_seconds()) for p in page_obj]
    return _render(
        request,
        "front/pilots.html",
        {
            "page_obj": page_obj,
            "query": query,
            "tab": tab,
            "tabs": tabs,
            "rows": rows,
            "lost_after": settings.P3S["HEARTBEAT_INTERVAL"] * settings.P3S["LOST_AFTER_BEATS"],
        },
    )
