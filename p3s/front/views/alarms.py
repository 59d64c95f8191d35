"""Alarms and their acknowledgement."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404
from django.urls import reverse

from p3s.dqm import alarms as alarm_service
from p3s.dqm.models import ACTIVE_ALARM_STATES, Alarm, AlarmRule, AlarmState
from p3s.exceptions import IllegalTransition
from p3s.front.access import actor, back, operator_action, page
from p3s.front.views.common import paginate, render_page


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
    page_obj, query = paginate(request, qs.order_by("-opened_at", "-id"), 50)
    rules = list(
        AlarmRule.objects.annotate(
            active=Count("alarms", filter=Q(alarms__state__in=ACTIVE_ALARM_STATES))
        ).order_by("metric", "name")[:200]
    )
    tabs = [(t, counts.get(t, 0)) for t in ("active", "open", "acknowledged", "cleared", "all")]
    return render_page(
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
