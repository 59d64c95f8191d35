"""What the pages ask of the quality and conditions services (INTERFACES.md section 5).

The pages call :mod:`p3s.quality` (grid, verdict, sign-off, freshness, latest results) and
:mod:`p3s.conditions` (the current reference) through these few functions.
"""

from __future__ import annotations

from django.db.models import Q

from p3s.conditions.references import current_reference, make_reference_url
from p3s.dqm.series import CONTEXT_LABELS
from p3s.quality.freshness import freshness
from p3s.quality.models import FLAG_RANK, Check, LatestResult
from p3s.quality.tree import PLANES, apa_plane_grid
from p3s.quality.verdict import run_quality, sign_off

TEMPLATE = "tpc-dqm"
STREAM = "tpc"

__all__ = [
    "PLANES",
    "STREAM",
    "TEMPLATE",
    "element_of",
    "enabled_checks",
    "freshness",
    "grid",
    "latest_results",
    "make_reference_url",
    "reference",
    "run_quality",
    "sign_off",
]


def enabled_checks() -> int:
    """How many checks are enabled (0: nothing is checked, and the pages say so)."""
    return Check.objects.filter(enabled=True).count()


def grid(stream: str = STREAM) -> dict:
    """The APA x plane traffic lights of the latest data."""
    return apa_plane_grid(stream=stream)


def reference(
    template: str = TEMPLATE, stream: str = STREAM, run: int | None = None, many: bool = False
):
    """The current reference set of a template and stream (valid for ``run``), or None.

    ``many``: the page looks up many hists or metrics, so read them all now (two queries)
    rather than one query per lookup.
    """
    ref = current_reference(template, stream, run=run)
    return ref.preload() if ref is not None and many else ref


def element_of(labels: dict | None, drop: frozenset = frozenset()) -> tuple:
    """A hashable detector element: the labels without run, file, event, ... (and ``drop``)."""
    return tuple(
        sorted(
            (str(k), str(v))
            for k, v in (labels or {}).items()
            if str(k) not in CONTEXT_LABELS and str(k) not in drop
        )
    )


def latest_results(stream: str, apa: str, plane: str, femb: str = "", limit: int = 300) -> list:
    """The latest result of each enabled check on one APA plane, worst first: what its grid
    cell rolls up (the plane, its boards, and the APA's plane-less results)."""
    qs = LatestResult.objects.filter(stream=stream, apa=apa, check_ref__enabled=True).filter(
        Q(plane=plane) | Q(plane="")
    )
    if femb:
        qs = qs.filter(femb=femb)
    rows = list(
        qs.select_related("check_ref", "product").order_by("element_key", "check_ref__name")[:limit]
    )
    rows.sort(key=lambda r: -FLAG_RANK.get(r.flag, 0))
    return rows
