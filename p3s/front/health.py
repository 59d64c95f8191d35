"""What the pages ask of the quality and conditions services (INTERFACES.md section 5).

The pages call :mod:`p3s.quality` (grid, verdict, sign-off, freshness) and
:mod:`p3s.conditions` (current reference) through these few functions, so that a page reads the
same whichever of them is installed: without the quality app nothing is checked, and the pages
say so ("no checks enabled") rather than "all quiet".
"""

from __future__ import annotations

from django.apps import apps
from django.db.models import Max
from django.utils import timezone

TEMPLATE = "tpc-dqm"
STREAM = "tpc"
APAS = [0, 1, 2, 3, 4, 5]  # DETECTOR.md: six APAs in ProtoDUNE-II HD
PLANES = ["u", "v", "x"]
DEFAULT_BUDGET_S = 600.0  # the design note's latency benchmark: ten minutes


def has_quality() -> bool:
    return apps.is_installed("p3s.quality")


def has_conditions() -> bool:
    return apps.is_installed("p3s.conditions")


def freshness() -> dict:
    """Seconds since the last file from DAQ and since the newest product, against the budget."""
    if has_quality():
        from p3s.quality.freshness import freshness as quality_freshness

        return quality_freshness()
    from p3s.dags.models import DataFile
    from p3s.dqm.models import Product

    now = timezone.now()
    last_file = DataFile.objects.aggregate(t=Max("created"))["t"]
    newest = Product.objects.aggregate(t=Max("created"))["t"]
    last_file_s = (now - last_file).total_seconds() if last_file else None
    newest_s = (now - newest).total_seconds() if newest else None
    return {
        "last_file_s": last_file_s,
        "newest_product_s": newest_s,
        "budget_s": DEFAULT_BUDGET_S,
        "daq_silent": last_file_s is not None and last_file_s > DEFAULT_BUDGET_S,
        "stale": newest_s is not None and newest_s > DEFAULT_BUDGET_S,
    }


def enabled_checks() -> int:
    """How many checks are enabled (0 without the quality app: nothing is checked)."""
    if not has_quality():
        return 0
    from p3s.quality.models import Check

    return Check.objects.filter(enabled=True).count()


def empty_grid() -> dict:
    return {
        "apas": APAS,
        "planes": PLANES,
        "cells": {(a, p): {"flag": "undefined", "failing": []} for a in APAS for p in PLANES},
    }


def grid(stream: str = STREAM) -> dict:
    """The APA x plane traffic lights of the latest data."""
    if not has_quality():
        return empty_grid()
    from p3s.quality.tree import apa_plane_grid

    return apa_plane_grid(stream=stream)


def reference(template: str = TEMPLATE, stream: str = STREAM, run: int | None = None):
    """The current reference set of a template and stream, or None."""
    if not has_conditions():
        return None
    from p3s.conditions.references import current_reference

    return (
        current_reference(template, stream, run=run) if run else current_reference(template, stream)
    )


def run_quality(run: int) -> dict | None:
    """The run's automatic verdict, flags and sign-off (None without the quality app)."""
    if not has_quality():
        return None
    from p3s.quality.verdict import run_quality as quality_of

    return quality_of(run)


CONTEXT_LABELS = frozenset({"run", "subrun", "file", "event", "job"})


def element_of(labels: dict | None, drop: frozenset = frozenset()) -> tuple:
    """A hashable detector element: the labels without run, file, event, ... (and ``drop``)."""
    return tuple(
        sorted(
            (str(k), str(v))
            for k, v in (labels or {}).items()
            if str(k) not in CONTEXT_LABELS and str(k) not in drop
        )
    )


def sign_off(run: int, user, verdict: str, comment: str):
    from p3s.quality.verdict import sign_off as quality_sign_off

    return quality_sign_off(run, user, verdict, comment)


def signoffs(run: int, limit: int = 20) -> list:
    if not has_quality():
        return []
    from p3s.quality.models import RunSignoff

    return list(RunSignoff.objects.filter(run=run).order_by("-signed_at", "-id")[:limit])


def latest_results(stream: str, apa: str, plane: str, femb: str = "", limit: int = 300) -> list:
    """The latest check result per check on one APA plane (its boards included), worst first."""
    if not has_quality():
        return []
    from p3s.quality.models import FLAG_RANK, LatestResult

    qs = LatestResult.objects.filter(stream=stream, apa=apa, plane=plane).select_related(
        "check_ref", "product"
    )
    if femb:
        qs = qs.filter(femb=femb)
    rows = list(qs.order_by("element_key", "check_ref__name")[:limit])
    rows.sort(key=lambda r: -FLAG_RANK.get(r.flag, 0))
    return rows
