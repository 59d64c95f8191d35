"""``{% paused_stages %}``: the dashboard panel of stages the circuit breaker paused
(p3s.jobs.breaker), each with its reason, since when, its waiting jobs and where to resume
it (the admin action "Resume the paused stages", or ``POST /api/v1/dags/<name>/resume/``).
Nothing is drawn while no stage is paused."""

from __future__ import annotations

from django import template
from django.db.models import Count, Q

from p3s.dags.models import StageSettings
from p3s.jobs.states import JobState

register = template.Library()


@register.inclusion_tag("front/paused_stages.html", takes_context=True)
def paused_stages(context):
    rows = list(
        StageSettings.objects.filter(paused=True)
        .select_related("template")
        .annotate(waiting=Count("jobs", filter=Q(jobs__state=JobState.WAITING)))
        .order_by("paused_at")
    )
    return {"paused": rows, "can_edit": context.get("can_edit", False)}
