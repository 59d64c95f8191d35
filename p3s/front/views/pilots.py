"""Pilots by state."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from p3s.front.access import page
from p3s.front.views.common import paginate, render_page
from p3s.pilots.models import Pilot, PilotState

PILOT_TABS = {
    "active": [PilotState.IDLE, PilotState.BUSY],
    "idle": [PilotState.IDLE],
    "busy": [PilotState.BUSY],
    "lost": [PilotState.LOST],
    "gone": [PilotState.EXITED, PilotState.INVALID],
}


@page
def pilots(request):
    tab = request.GET.get("state", "active")
    qs = Pilot.objects.select_related("job").defer("resources", "key_hash")
    if tab in PILOT_TABS:
        qs = qs.filter(state__in=PILOT_TABS[tab])
    else:
        tab = "all"
    counts = dict(Pilot.objects.order_by().values_list("state").annotate(n=Count("id")))
    tabs = [(t, sum(counts.get(s, 0) for s in states)) for t, states in PILOT_TABS.items()]
    tabs.append(("all", sum(counts.values())))
    page_obj, query = paginate(request, qs.order_by("-last_seen", "-id"), 50)
    now = timezone.now()
    rows = [(p, (now - p.last_seen).total_seconds()) for p in page_obj]
    return render_page(
        request,
        "front/pilots.html",
        {
            "page_obj": page_obj,
            "query": query,
            "tab": tab,
            "tabs": tabs,
            "rows": rows,
            "lost_after": settings.P3S["HEARTBEAT_INTERVAL"] * settings.P3S["LOST_AFTER_BEATS"],
        },
    )
