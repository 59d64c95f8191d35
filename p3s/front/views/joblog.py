"""A job's full log on its page: one page of lines, a search, the download and the whole text.

What the page reads is bounded: a page is :data:`LOG_PAGE_LINES` lines, a search stops at
:data:`p3s.logs.store.MAX_MATCHES` matches or its time budget, whatever the log's size.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse

from p3s.api.log_views import log_response
from p3s.front.access import page
from p3s.front.views.common import to_int
from p3s.jobs.models import Job
from p3s.logs import services, store
from p3s.logs.models import JobLog

LOG_PAGE_LINES = 500


def _link(job: Job, anchor: str = "log", **params) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return reverse("front:job", args=[job.pk]) + (f"?{query}" if query else "") + f"#{anchor}"


def log_context(request, job: Job) -> dict:
    """The ``log`` part of the job page's context (``None`` when no log is stored)."""
    attempt = to_int(request.GET.get("log_attempt"))
    row = services.latest(job, attempt if attempt and attempt > 0 else None)
    if row is None:
        return {"log": None}
    start = max(1, to_int(request.GET.get("log_from"), 1) or 1)
    if start > max(1, row.lines):  # past the end: the last page
        start = (max(1, row.lines) - 1) // LOG_PAGE_LINES * LOG_PAGE_LINES + 1
    lines = store.page(row.name, start, LOG_PAGE_LINES)
    end = start + len(lines) - 1
    query = request.GET.get("log_q", "")[: store.MAX_QUERY]
    found = store.search(row.name, query) if query.strip() else None
    att = row.attempt if attempt else None

    def at(line: int, anchor: str = "log") -> str:
        return _link(job, anchor, log_attempt=att, log_from=max(1, line), log_q=query)

    def page_of(line: int) -> str:
        return at((line - 1) // LOG_PAGE_LINES * LOG_PAGE_LINES + 1, f"L{line}")

    return {
        "log": row,
        "log_lines": lines,
        "log_start": start,
        "log_end": end,
        "log_prev": at(start - LOG_PAGE_LINES) if start > 1 else "",
        "log_next": at(end + 1) if end < row.lines else "",
        "log_query": query,
        "log_found": found,
        "log_found_links": [(n, t, page_of(n)) for n, t in found.matches] if found else [],
        "log_attempts": list(
            JobLog.objects.filter(job=job).order_by("attempt").values_list("attempt", flat=True)
        ),
        "log_page_lines": LOG_PAGE_LINES,
    }


@page
def job_log(request, pk: int):
    """The whole log as text (``?download=1``: the .log.gz file), for people on the pages."""
    job = get_object_or_404(Job, pk=pk)
    attempt = to_int(request.GET.get("attempt"))
    row = services.latest(job, attempt if attempt and attempt > 0 else None)
    if row is None:
        raise Http404(f"job {pk} has no log")
    return log_response(request, row, request.GET.get("download") == "1")
