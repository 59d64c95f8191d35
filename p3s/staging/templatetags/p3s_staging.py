"""``{% staging_panel %}``: the dashboard panel of the staging areas (p3s.staging): each
area, whether it answers, whether new work goes there, its disk use, and the last switch.
One query: the areas, each annotated with the latest switch (the dashboard's query budget
is tested in tests/front/test_query_counts.py)."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.db.models import Subquery

from p3s.staging.models import StagingArea, StagingSwitch

register = template.Library()
SWITCH_FIELDS = ("at", "from_role", "to_role", "to_url", "reason")


@register.inclusion_tag("staging/panel.html")
def staging_panel():
    latest = StagingSwitch.objects.order_by("-at", "-id")  # not correlated: the same row for each
    areas = list(
        StagingArea.objects.annotate(
            **{f"switch_{f}": Subquery(latest.values(f)[:1]) for f in SWITCH_FIELDS}
        )
    )
    switches = []
    if areas and areas[0].switch_at is not None:
        switches = [{f: getattr(areas[0], f"switch_{f}") for f in SWITCH_FIELDS}]
    return {
        "areas": areas,
        "switches": switches,
        "full_fraction": settings.STAGING["FULL_FRACTION"],
    }
