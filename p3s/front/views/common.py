"""Helpers shared by the operator pages: rendering, pagination, safe integers."""

from __future__ import annotations

import os

from django.core.paginator import Paginator
from django.shortcuts import render

from p3s.front.access import page_context
from p3s.jobs.states import JobState

JOB_STATES = [s.value for s in JobState]
DONE_COLUMNS = ["finished", "failed", "timeout", "dropped", "cancelled"]
JOBS_PER_PAGE = 50
PRODUCTS_PER_PAGE = 24
MAX_CHART_POINTS = 20000


def refresh_seconds() -> int:
    try:
        return max(5, int(os.environ.get("P3S_DASHBOARD_REFRESH", "30")))
    except ValueError:
        return 30


def render_page(request, template: str, ctx: dict, status: int = 200):
    return render(request, template, page_context(request, ctx), status=status)


def to_int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def paginate(request, qs, per_page: int):
    paginator = Paginator(qs, per_page)
    page_obj = paginator.get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return page_obj, params.urlencode()
