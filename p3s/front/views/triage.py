"""Failure triage: failed and timed-out jobs grouped by stage and normalised error message
(p3s.jobs.triage), over a chosen time range, with one click to the jobs; CSV/JSON export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from p3s.dags.models import DagTemplate, StageSettings
from p3s.front import export
from p3s.front.access import page
from p3s.front.views.common import render_page
from p3s.jobs import triage as t

#: Quick ranges: the last hour, a shift (8 h), a day, a week.
RANGES = {
    "1h": timedelta(hours=1),
    "shift": timedelta(hours=8),
    "day": timedelta(days=1),
    "week": timedelta(days=7),
}
COLUMNS = [
    "template",
    "stage",
    "error",
    "class",
    "exit_codes",
    "failures",
    "jobs",
    "files",
    "first_seen",
    "last_seen",
    "example",
    "job_ids",
    "file_names",
]


def _when(request, key: str) -> datetime | None:
    raw = (request.GET.get(key) or "").strip()
    if not raw:
        return None
    value = parse_datetime(raw) if len(raw) <= 40 else None
    if value is None:
        messages.warning(request, f"{key} {raw[:40]!r} is not a date and time: ignored")
        return None
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


@page
def triage(request):
    now = timezone.now()
    rng = request.GET.get("range") or "day"
    since, until = _when(request, "since"), _when(request, "until")
    if since or until:
        rng = ""
        since = since or (until or now) - RANGES["day"]
        until = until or now
    else:
        rng = rng if rng in RANGES else "day"
        since, until = now - RANGES[rng], now
    template = (request.GET.get("template") or "").strip()[:64]
    stage = (request.GET.get("stage") or "").strip()[:64]
    groups, truncated = t.groups(since, until, template, stage)
    rows = [g.row() for g in groups]
    fmt = export.wanted(request)
    if fmt:
        return export.response(fmt, "failures", COLUMNS, rows)
    for row in rows:
        row["jobs_url"] = (
            reverse("front:jobs")
            + "?"
            + urlencode({"ids": ",".join(map(str, row["job_ids"][:1000]))})
        )
        row["explain"] = t.explain(row["class"], (row["exit_codes"] or [None])[-1])
    base = {k: v for k, v in (("template", template), ("stage", stage)) if v}
    params = {
        **base,
        **({"range": rng} if rng else {"since": since.isoformat(), "until": until.isoformat()}),
    }
    return render_page(
        request,
        "front/triage.html",
        {
            "rows": rows,
            "truncated": truncated,
            "max_events": t.MAX_EVENTS,
            "since": since,
            "until": until,
            "range": rng,
            "ranges": [(k, "?" + urlencode({**base, "range": k})) for k in RANGES],
            "template": template,
            "stage": stage,
            "templates": list(DagTemplate.objects.values_list("name", flat=True)),
            "stages": sorted(set(StageSettings.objects.values_list("stage", flat=True))),
            "export_csv": "?" + urlencode({**params, "export": "csv"}),
            "export_json": "?" + urlencode({**params, "export": "json"}),
            "total": sum(r["failures"] for r in rows),
        },
    )
