"""The jobs list, one job, and operator actions on jobs."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse

from p3s.dags.models import StageSettings
from p3s.dqm.models import Alarm
from p3s.exceptions import IllegalTransition
from p3s.front import export
from p3s.front.access import actor, back, operator_action, page
from p3s.front.views.common import JOB_STATES, JOBS_PER_PAGE, paginate, render_page, to_int
from p3s.front.views.joblog import log_context
from p3s.jobs import actions, triage
from p3s.jobs.models import Job

JOB_FILTERS = ("state", "stage", "template", "run", "queue", "pilot", "dagrun", "ids")
MAX_IDS = 1000
EXPORT_COLUMNS = [
    "id",
    "stage",
    "template",
    "dagrun",
    "run",
    "file",
    "state",
    "attempt",
    "priority",
    "queue",
    "exit_code",
    "error",
    "class",
    "data_ts",
    "updated",
]


def _ids(request, raw: str) -> list[int] | None:
    """``ids=1,2,3`` (the triage page's links): at most MAX_IDS job ids."""
    ids = [to_int(v) for v in raw.split(",")[: MAX_IDS + 1] if v.strip()]
    if None in ids or len(ids) > MAX_IDS:
        messages.warning(request, f"ids must be at most {MAX_IDS} job numbers: filter ignored")
        return None
    return ids


def _export_rows(qs) -> list[dict]:
    return [
        {
            "id": j.pk,
            "stage": j.stage,
            "template": j.dagrun.template.name,
            "dagrun": j.dagrun_id,
            "run": j.dagrun.file.run,
            "file": j.dagrun.file.name,
            "state": j.state,
            "attempt": j.attempt,
            "priority": j.priority,
            "queue": j.queue,
            "exit_code": j.exit_code,
            "error": j.message.splitlines()[0] if j.message else "",
            "class": triage.classify(j.state, j.exit_code)
            if j.state in ("failed", "timeout")
            else "",
            "data_ts": j.data_ts.isoformat(),
            "updated": j.updated.isoformat(),
        }
        for j in qs
    ]


@page
def jobs(request):
    qs = Job.objects.select_related("dagrun__template", "dagrun__file", "pilot").defer(
        "log_tail",
        "inputs",
        "parents",
        "outputs",
        "args",
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
    ids = _ids(request, f["ids"]) if f["ids"] else None
    if ids is None:
        f["ids"] = ""
    else:
        qs = qs.filter(pk__in=ids)
    for key, field in (
        ("run", "dagrun__file__run"),
        ("pilot", "pilot_id"),
        ("dagrun", "dagrun_id"),
    ):
        if f[key]:
            value = to_int(f[key])
            if value is None:
                messages.warning(request, f"{key} must be a number, not {f[key]!r}: filter ignored")
                f[key] = ""
            else:
                qs = qs.filter(**{field: value})
    counts_qs = Job.objects.filter(pk__in=ids) if ids is not None else Job.objects.all()
    for key in ("stage", "template", "queue", "run", "pilot", "dagrun"):
        if f[key]:
            counts_qs = counts_qs.filter(
                **{
                    "stage": {"stage": f[key]},
                    "template": {"dagrun__template__name": f[key]},
                    "queue": {"queue": f[key]},
                    "run": {"dagrun__file__run": to_int(f[key])},
                    "pilot": {"pilot_id": to_int(f[key])},
                    "dagrun": {"dagrun_id": to_int(f[key])},
                }[key]
            )
    fmt = export.wanted(request)
    if fmt:
        return export.response(
            fmt, "jobs", EXPORT_COLUMNS, _export_rows(qs.order_by("-id")[:10_000])
        )
    state_counts = dict(counts_qs.order_by().values_list("state").annotate(n=Count("id")))
    page_obj, query = paginate(request, qs.order_by("-id"), JOBS_PER_PAGE)
    base = {k: v for k, v in f.items() if v and k != "state"}
    chips = [("", "all", sum(state_counts.values()), "?" + urlencode(base))] + [
        (s, s, state_counts.get(s, 0), "?" + urlencode({**base, "state": s})) for s in JOB_STATES
    ]
    stages = sorted(set(StageSettings.objects.values_list("stage", flat=True)))
    return render_page(
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
    return render_page(
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
            **log_context(request, job),
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
    value = to_int(request.POST.get("priority"))
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
    ids = [i for i in (to_int(v) for v in request.POST.getlist("job")) if i is not None][
        :BULK_LIMIT
    ]
    if not ids:
        messages.warning(request, "tick some jobs first")
        return back(request, reverse("front:jobs"))
    who = actor(request)
    if what == "retry":
        fn, verb = (lambda pk: actions.retry(pk, who)), "sent back to waiting"
    elif what == "cancel":
        fn, verb = (lambda pk: actions.cancel(pk, who)), "cancelled"
    elif what == "priority":
        value = to_int(request.POST.get("priority"))
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
