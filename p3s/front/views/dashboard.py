"""The dashboard: job, pilot, alarm and latency summary at a glance."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Max, Min
from django.utils import timezone
from django.utils.safestring import mark_safe

from p3s.api.views import summary_data
from p3s.dags import overload
from p3s.dags.models import DagRun
from p3s.dqm.models import ACTIVE_ALARM_STATES, Alarm, AlarmRule, Product
from p3s.front import health
from p3s.front.access import page
from p3s.front.views.common import DONE_COLUMNS, refresh_seconds, render_page


def dqm_latency(since) -> dict:
    """File arrival to its last product, for files whose last product came since ``since``."""
    rows = (
        Product.objects.filter(created__gte=since)
        .values("job__dagrun__file")
        .annotate(arrived=Min("job__dagrun__file__created"), last=Max("created"), run=Min("run"))
        .order_by("-last")[:2000]
    )
    points = [
        ((r["last"] - r["arrived"]).total_seconds(), r["last"], r["run"])
        for r in rows
        if r["arrived"]
    ]
    if not points:
        return {"files": 0, "points": []}
    values = sorted(p[0] for p in points)

    def pct(p: float) -> float:
        return values[min(len(values) - 1, int(p * len(values)))]

    return {
        "files": len(values),
        "median_s": pct(0.5),
        "p90_s": pct(0.9),
        "max_s": values[-1],
        "points": points,
        "svg": mark_safe(_latency_svg(points, since)),
    }


def _latency_svg(points, since) -> str:
    """A small scatter of latency against time of the last product (last hour)."""
    w, h, pad = 560, 120, 28
    now = timezone.now()
    span = max((now - since).total_seconds(), 1)
    top = max(p[0] for p in points) * 1.1 or 1
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" class="latency" role="img" '
        'aria-label="DQM latency over the last hour">',
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - 4}" y2="{h - pad}" stroke="#8c959f"/>',
        f'<line x1="{pad}" y1="4" x2="{pad}" y2="{h - pad}" stroke="#8c959f"/>',
        f'<text x="{pad - 4}" y="12" font-size="10" text-anchor="end" fill="#57606a">{top:.0f}s</text>',
        f'<text x="{pad}" y="{h - 10}" font-size="10" fill="#57606a">-60 min</text>',
        f'<text x="{w - 4}" y="{h - 10}" font-size="10" text-anchor="end" fill="#57606a">now</text>',
    ]
    for lat, last, run in points:
        x = pad + (w - pad - 6) * min(1.0, max(0.0, (last - since).total_seconds() / span))
        y = (h - pad) - (h - pad - 6) * (lat / top)
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#218bff" fill-opacity="0.7">'
            f"<title>run {run}: {lat:.1f} s</title></circle>"
        )
    out.append("</svg>")
    return "".join(out)


@page
def dashboard(request):
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    summary = summary_data()
    by_stage = summary["jobs"]["by_stage"]
    stage_rows = []
    for stage in sorted(by_stage):
        counts = by_stage[stage]
        stage_rows.append(
            {
                "stage": stage,
                "live": [(s, counts.get(s, 0)) for s in ("waiting", "dispatched", "running")],
                "done": [(s, counts.get(f"{s}_last_hour", 0)) for s in DONE_COLUMNS],
            }
        )
    by_state = summary["jobs"]["by_state"]
    pilots = summary["pilots"]["by_state"]
    alarm_counts = {
        (r["state"], r["severity"]): r["n"]
        for r in Alarm.objects.filter(state__in=ACTIVE_ALARM_STATES)
        .values("state", "severity")
        .annotate(n=Count("id"))
    }
    open_critical = alarm_counts.get(("open", "critical"), 0)
    open_warning = alarm_counts.get(("open", "warning"), 0)
    acked = sum(n for (state, _), n in alarm_counts.items() if state == "acknowledged")
    failed_hour = sum(by_state.get(f"{s}_last_hour", 0) for s in ("failed", "timeout"))
    lost = pilots.get("lost", 0)
    if open_critical:
        status = ("bad", f"{open_critical} critical alarm{'s' if open_critical != 1 else ''} open")
    elif open_warning or lost or failed_hour:
        bits = []
        if open_warning:
            bits.append(f"{open_warning} warning alarm{'s' if open_warning != 1 else ''} open")
        if lost:
            bits.append(f"{lost} pilot{'s' if lost != 1 else ''} lost")
        if failed_hour:
            bits.append(
                f"{failed_hour} job{'s' if failed_hour != 1 else ''} failed or timed out in the last hour"
            )
        status = ("warn", "; ".join(bits))
    else:
        status = ("ok", "All quiet: no open alarms, no failures in the last hour")
    quality = detector_health()
    if quality["bad_cells"]:
        status = ("bad", quality["bad_text"] + ("; " + status[1] if status[0] != "ok" else ""))
    elif not quality["checks_enabled"] and status[0] == "ok":
        # Never "all quiet" when nothing is checked.
        status = ("bad", NO_CHECKS)
    queues = [
        {
            "queue": q,
            "waiting": summary["claimable"].get(q, 0),
            "busy": v.get("busy", 0),
            "idle": v.get("idle", 0),
            "top": summary["top_priority"].get(q, ""),
        }
        for q, v in sorted(summary["pilots"]["by_queue"].items())
    ]
    for q in sorted(set(summary["claimable"]) - set(summary["pilots"]["by_queue"])):
        queues.append(
            {
                "queue": q,
                "waiting": summary["claimable"][q],
                "busy": 0,
                "idle": 0,
                "top": summary["top_priority"].get(q, ""),
                "starved": True,
            }
        )
    ctx = {
        **quality,
        "rules_enabled": AlarmRule.objects.filter(enabled=True).exists(),
        "now": now,
        "queues": queues,
        "refresh": refresh_seconds(),
        "status": status,
        "summary": summary,
        "stage_rows": stage_rows,
        "done_columns": DONE_COLUMNS,
        "tiles": {
            "waiting": by_state.get("waiting", 0),
            "running": by_state.get("running", 0) + by_state.get("dispatched", 0),
            "finished": by_state.get("finished_last_hour", 0),
            "failed": failed_hour,
        },
        "pilots": {s: pilots.get(s, 0) for s in ("busy", "idle", "lost", "exited", "invalid")},
        "open_alarms": list(
            Alarm.objects.filter(state__in=ACTIVE_ALARM_STATES).select_related("rule")[:8]
        ),
        "alarm_counts": {"critical": open_critical, "warning": open_warning, "acknowledged": acked},
        "latency": dqm_latency(hour_ago),
        "overload": overload.panel(now),
        "dagrun_latency": summary["latency"],
        "recent_runs": list(DagRun.objects.select_related("template", "file").order_by("-id")[:10]),
    }
    return render_page(request, "front/dashboard.html", ctx)


NO_CHECKS = "no checks enabled: the detector is not being checked"


def grid_rows(grid: dict) -> list[dict]:
    """The APA x plane grid as table rows: one row per APA, one cell per plane."""
    rows = []
    for apa in grid["apas"]:
        cells = []
        for plane in grid["planes"]:
            cell = grid["cells"].get((apa, plane)) or {"flag": "undefined", "failing": []}
            cells.append({"apa": apa, "plane": plane, **cell, "n_failing": len(cell["failing"])})
        rows.append({"apa": apa, "cells": cells})
    return rows


def detector_health() -> dict:
    """The detector-health part of the dashboard: grid, checks, reference and freshness."""
    grid = health.grid()
    rows = grid_rows(grid)
    bad = [c for r in rows for c in r["cells"] if c["flag"] == "bad"]
    ref = health.reference()
    return {
        "grid_rows": rows,
        "grid_planes": grid["planes"],
        "bad_cells": bad,
        "bad_text": "bad: "
        + ", ".join(f"APA {c['apa']} plane {c['plane']}" for c in bad[:6])
        + (f" and {len(bad) - 6} more" if len(bad) > 6 else ""),
        "checks_enabled": health.enabled_checks(),
        "no_checks_text": NO_CHECKS,
        "reference": ref,
        "fresh": health.freshness(),
    }
