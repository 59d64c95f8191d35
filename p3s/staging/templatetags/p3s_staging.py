"""``{% staging_panel %}``: the dashboard panel of the staging areas (p3s.staging): each
area, whether it answers, whether new work goes there, its disk use, and the last switches."""

from __future__ import annotations

from django import template
from django.conf import settings

from p3s.staging.models import StagingArea, StagingSwitch

register = template.Library()
SWITCHES_SHOWN = 5


@register.inclusion_tag("staging/panel.html")
def staging_panel():
    return {
        "areas": list(StagingArea.objects.all()),
        "switches": list(StagingSwitch.objects.all()[:SWITCHES_SHOWN]),
        "full_fraction": settings.STAGING["FULL_FRACTION"],
    }
