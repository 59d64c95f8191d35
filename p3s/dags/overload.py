"""Overload control: the adaptive prescale of a template's expensive stages.

A template turns it on in its policy::

    policy:
      max_age: 3600            # the prompt policy (p3s.jobs.sweep.drop_stale)
      max_waiting: 1000
      adaptive_prescale: {budget: 60, stages: [sig, reco], floor: 0.1}

``budget`` is the DQM latency budget in seconds: file arrival (``DataFile.created``) to the
end of its DAG run (the last product). From the sweeper, at most every ``interval`` seconds
(default 10), :func:`adapt` measures the template's latency: the p90 over the runs that ended
in the last ``window`` seconds (default: the budget, at least 30 s) together with the current
age of its runs still running (lower bounds of their latency: under overload nothing ends, but
the queue ages). Then:

- above ``high`` (default 80 %) of the budget, the factor of the listed stages halves (down
  to ``floor``);
- below ``low`` (default 50 %) of the budget, it rises by half (at least 0.05) back to 1;
- in between it stays (hysteresis: no flapping).

The factor multiplies the expert's ``prescale`` (which is never changed): a file the expert's
prescale keeps but the factor does not is dropped with reason ``adaptive-prescale``, one of the
"dropped because behind" reasons (with the prompt policy's ``too-old`` and ``queue-depth``),
counted apart from ``prescaled``. Every change is a TemplateEvent (action
``adaptive-prescale``) saying what moved and why; the dashboard shows them (``overload_panel``).

The choice is deterministic per file (the prescale hash), so the files kept at factor f are a
subset of those kept at a larger factor.

With a ``max_age`` in the policy, waiting jobs never get older than it, so the measured p90 of
running runs stays below ``max_age``: ``high`` must then be below ``max_age / budget`` for the
adaptive prescale to act before the prompt policy drops (scripts/replay.py uses max_age 0.6,
high 0.45 and low 0.3 of the budget). The claim order (priority, then newest data first)
and the prompt policy (oldest dropped first) make the newest data processed first.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from p3s.exceptions import InvalidDag

ADAPTIVE = "adaptive-prescale"
BEHIND = ("too-old", "queue-depth", ADAPTIVE)
ACTION = "adaptive-prescale"
ACTOR = "overload"
HIGH = 0.8
LOW = 0.5
KEYS = {"budget", "stages", "floor", "interval", "window", "high", "low"}


def check(policy: Any, stages: set[str]) -> dict[str, Any]:
    """``policy.adaptive_prescale`` normalised (``{}`` = off); InvalidDag says what is wrong."""
    if policy is None or policy == {}:
        return {}
    where = "policy.adaptive_prescale"
    if not isinstance(policy, dict) or set(policy) - KEYS:
        raise InvalidDag(f"{where} must be a mapping of {', '.join(sorted(KEYS))}")

    def num(key: str, default: float | None, lo: float, hi: float, closed: bool = False) -> float:
        value = policy.get(key, default)
        if value is None:
            raise InvalidDag(f"{where}.{key} is required (seconds of DQM latency)")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidDag(f"{where}.{key} must be a number")
        if not math.isfinite(value) or not (lo <= value if closed else lo < value) or value > hi:
            raise InvalidDag(
                f"{where}.{key} = {value!r} is out of range {'[' if closed else '('}{lo}, {hi}]"
            )
        return float(value)

    names = policy.get("stages")
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(s, str) for s in names)
        or len(set(names)) != len(names)
    ):
        raise InvalidDag(f"{where}.stages must be a non-empty list of distinct stage names")
    unknown = [s for s in names if s not in stages]
    if unknown:
        raise InvalidDag(f"{where}.stages: unknown stage(s) {', '.join(unknown)}")
    out: dict[str, Any] = {
        "budget": num("budget", None, 0, 86400),
        "stages": names,
        "floor": num("floor", 0.1, 0, 1),
    }
    for key in ("interval", "window"):
        if key in policy:
            out[key] = num(key, None, 0, 86400, closed=key == "interval")
    for key, default in (("high", HIGH), ("low", LOW)):
        if key in policy:
            out[key] = num(key, default, 0, 1)
    if out.get("low", LOW) >= out.get("high", HIGH):
        raise InvalidDag(f"{where}: low must be below high (fractions of the budget)")
    return out


def prescale_drop(template: str, stage: str, url: str, st) -> tuple[str, str] | None:
    """Whether a new job of ``stage`` on the file is dropped at creation: (reason, message)."""
    from p3s.dags.flow import PRESCALED, prescale_selects

    if not prescale_selects(template, stage, url, st.prescale):
        return PRESCALED, f"prescaled out (prescale {st.prescale:g})"
    factor = st.adaptive_factor
    if factor < 1.0 and not prescale_selects(template, stage, url, st.prescale * factor):
        return ADAPTIVE, (
            f"dropped because behind: adaptive prescale {st.prescale * factor:g} "
            f"(factor {factor:g} on prescale {st.prescale:g})"
        )
    return None


def _p90(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, math.ceil(0.9 * len(values)) - 1)]


def latency(template, now: datetime, window: float) -> tuple[float | None, int]:
    """(p90 of the DQM latency in seconds, number of runs it is over): runs of the template
    ended within ``window`` seconds, and the current age of those still running."""
    from p3s.dags.models import DagRun, DagRunState

    runs = DagRun.objects.filter(template=template)
    ended = runs.filter(ended__gte=now - timedelta(seconds=window)).exclude(
        state=DagRunState.RUNNING
    )
    values = [
        (end - arrived).total_seconds()
        for end, arrived in ended.values_list("ended", "file__created")[:5000]
    ]
    values += [
        (now - arrived).total_seconds()
        for arrived in runs.filter(state=DagRunState.RUNNING).values_list(
            "file__created", flat=True
        )[:5000]
    ]
    if not values:
        return None, 0
    return _p90(values), len(values)


def _last_change(template) -> datetime | None:
    return (
        template.events.filter(action=ACTION).order_by("-id").values_list("at", flat=True).first()
    )


def adapt_prescale(now: datetime | None = None) -> int:
    """One control step for every template with an adaptive prescale; returns the number of
    templates whose factor changed."""
    from p3s.dags.models import DagTemplate

    now = now or timezone.now()
    changed = 0
    for template in DagTemplate.objects.filter(enabled=True).exclude(adaptive_prescale={}):
        if step(template, now):
            changed += 1
    return changed


def step(template, now: datetime) -> bool:
    """Measure and move the factor of one template (rate-limited by ``interval``)."""
    from p3s.dags.models import StageSettings, TemplateEvent

    conf = template.adaptive_prescale or {}
    if not conf.get("stages") or not conf.get("budget"):
        return False
    last = _last_change(template)
    if last is not None and (now - last).total_seconds() < conf.get("interval", 10.0):
        return False
    budget = float(conf["budget"])
    window = conf.get("window", max(30.0, budget))
    p90, n = latency(template, now, window)
    if p90 is None:
        return False
    with transaction.atomic():
        settings = list(
            StageSettings.objects.select_for_update().filter(
                template=template, stage__in=conf["stages"]
            )
        )
        if not settings:
            return False
        factor = min(s.adaptive_factor for s in settings)
        floor = float(conf.get("floor", 0.1))
        high, low = conf.get("high", HIGH), conf.get("low", LOW)
        if p90 > high * budget and factor > floor:
            new = max(floor, factor * 0.5)
            why = f"DQM latency p90 {p90:.1f} s over {n} run(s) > {high:.0%} of the {budget:g} s budget"
        elif p90 < low * budget and factor < 1.0:
            new = min(1.0, max(factor * 1.5, factor + 0.05))
            why = f"headroom: DQM latency p90 {p90:.1f} s over {n} run(s) < {low:.0%} of the {budget:g} s budget"
        else:
            return False
        new = round(new, 4)
        StageSettings.objects.filter(pk__in=[s.pk for s in settings]).update(adaptive_factor=new)
        moved = ", ".join(
            f"{s.stage} {s.prescale * factor:g} -> {s.prescale * new:g}" for s in settings
        )
        TemplateEvent.objects.create(
            template=template,
            actor=ACTOR,
            action=ACTION,
            detail=f"factor {factor:g} -> {new:g} (prescale {moved}): {why}",
        )
    return True


def drop_counts(since: datetime) -> dict[str, int]:
    """Jobs dropped since ``since`` by reason: ``prescaled`` and each "behind" reason."""
    from p3s.jobs.models import Job
    from p3s.jobs.states import JobState

    counts = {
        row["drop_reason"]: row["n"]
        for row in Job.objects.filter(state=JobState.DROPPED, ended_at__gte=since)
        .values("drop_reason")
        .annotate(n=Count("id"))
    }
    out = {"prescaled": counts.get("prescaled", 0)}
    for reason in BEHIND:
        out[reason] = counts.get(reason, 0)
    out["behind"] = sum(out[r] for r in BEHIND)
    return out


def panel(now: datetime | None = None) -> dict[str, Any]:
    """What the dashboard's overload panel shows: drops by reason in the last hour, the
    templates with an adaptive prescale (factor per stage) and their latest changes."""
    from p3s.dags.models import DagTemplate, StageSettings, TemplateEvent

    now = now or timezone.now()
    confs = dict(
        DagTemplate.objects.exclude(adaptive_prescale={})
        .order_by("name")
        .values_list("name", "adaptive_prescale")
    )
    templates, events = [], []
    if confs:  # two more queries only when some template has an adaptive prescale
        rows = list(
            StageSettings.objects.filter(template__name__in=list(confs))
            .annotate(effective=F("prescale") * F("adaptive_factor"))
            .values("template__name", "stage", "prescale", "adaptive_factor", "effective")
        )
        for name, conf in confs.items():
            stages = [
                r
                for r in rows
                if r["template__name"] == name and r["stage"] in conf.get("stages", [])
            ]
            templates.append({"name": name, "budget": conf.get("budget"), "stages": stages})
        events = list(
            TemplateEvent.objects.filter(action=ACTION)
            .select_related("template")
            .order_by("-id")[:8]
        )
    drops = drop_counts(now - timedelta(hours=1))
    return {
        "drops": {k.replace("-", "_"): v for k, v in drops.items()},
        "templates": templates,
        "events": events,
    }
