"""The time window of a strip chart: a quick range, one run's data-time span, or from/to.

Quick ranges end at the latest data of the metric (data time, not wall-clock time: a chart
of a stopped run stays drawn). A run's span runs from the first data time of its files to the
end of the last one's data range (``DataFile.data_ts`` .. ``data_end``), so every stream of the
run counts. Runs met by the window are returned with their spans, for the chart's run markers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Max, Min
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from p3s.dags.models import DataFile

#: Quick ranges (what Grafana users expect): the last hour, a shift, a day, a week.
RANGES = {
    "1h": timedelta(hours=1),
    "shift": timedelta(hours=8),
    "day": timedelta(days=1),
    "week": timedelta(days=7),
}
RANGE_LABELS = {"1h": "last hour", "shift": "shift (8 h)", "day": "day", "week": "week"}
DEFAULT_RANGE = "day"
#: The widest custom window (points are capped anyway; this keeps the run query small).
MAX_SPAN = timedelta(days=90)
#: Auto refresh choices, in seconds (0: off).
REFRESH = (0, 30, 60, 300)
#: How far before the window a run's first file may start and still be looked for.
RUN_LOOKBACK = timedelta(days=2)
MAX_RUN_MARKERS = 60


class WindowError(ValueError):
    """The request asked for a window that does not exist; the message says what to change."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class RunSpan:
    run: int
    first: datetime
    last: datetime


@dataclass
class Window:
    """What the chart draws: ``since`` .. ``until`` (data time, UTC)."""

    kind: str  # one of RANGES, "run" or "custom"
    since: datetime | None = None
    until: datetime | None = None
    run: int | None = None
    runs: list[RunSpan] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.kind == "run":
            return f"run {self.run}"
        if self.kind == "custom":
            return "from/to"
        return RANGE_LABELS[self.kind]


def _when(params, key: str) -> datetime | None:
    raw = (params.get(key) or "").strip()
    if not raw:
        return None
    value = parse_datetime(raw) if len(raw) <= 40 else None
    if value is None:
        raise WindowError(key, f"{key} {raw[:40]!r} is not a date and time (e.g. 2026-11-21T20:00)")
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def run_span(run: int) -> RunSpan | None:
    """The data-time span of one run: its files' first data time to their last data end."""
    agg = DataFile.objects.filter(run=run).aggregate(
        first=Min("data_ts"), last=Max(Coalesce("data_ts_end", "data_ts"))
    )
    if agg["first"] is None:
        return None
    return RunSpan(run, agg["first"], agg["last"])


def runs_between(since: datetime, until: datetime) -> list[RunSpan]:
    """Runs whose data-time span meets [since, until], oldest first (for the run markers)."""
    numbers = (  # a subquery: one statement in all
        DataFile.objects.filter(data_ts__gte=since - RUN_LOOKBACK, data_ts__lte=until)
        .order_by()
        .values_list("run", flat=True)
        .distinct()[: MAX_RUN_MARKERS * 2]
    )
    spans = (
        DataFile.objects.filter(run__in=numbers)
        .values("run")
        .annotate(first=Min("data_ts"), last=Max(Coalesce("data_ts_end", "data_ts")))
        .order_by("first")
    )
    found = [RunSpan(s["run"], s["first"], s["last"]) for s in spans]
    return [s for s in found if s.last >= since and s.first <= until][:MAX_RUN_MARKERS]


def parse_window(params) -> Window:
    """The window a request asks for, without the data (``WindowError`` on bad input).

    Precedence: a run (``run=N``), else from/to (``since``/``until``), else ``range``.
    """
    raw_run = (params.get("run") or "").strip()
    if raw_run:
        try:
            run = int(raw_run)
        except ValueError:
            raise WindowError("run", f"run must be a number, not {raw_run[:20]!r}") from None
        if run < 0:
            raise WindowError("run", "run must not be negative")
        return Window("run", run=run)
    since, until = _when(params, "since"), _when(params, "until")
    if since or until:
        if since and until and since >= until:
            raise WindowError("since", "from must be before to")
        if since and until and until - since > MAX_SPAN:
            raise WindowError("since", f"from/to may span at most {MAX_SPAN.days} days")
        return Window("custom", since=since, until=until)
    rng = (params.get("range") or "").strip()
    legacy_hours = (params.get("hours") or "").strip()
    if not rng and legacy_hours:  # old links: ?hours=N
        rng = {"1": "1h", "8": "shift", "24": "day", "168": "week"}.get(legacy_hours, "")
        if not rng:
            raise WindowError("hours", "hours must be 1, 8, 24 or 168: pick a range instead")
    rng = rng or DEFAULT_RANGE
    if rng not in RANGES:
        raise WindowError("range", f"range must be one of {', '.join(RANGES)}, not {rng[:20]!r}")
    return Window(rng)


def resolve(window: Window, latest: datetime | None) -> Window:
    """Fill in since/until from the data (``latest``: the metric's latest data time)."""
    if window.kind == "run":
        assert window.run is not None
        span = run_span(window.run)
        if span is None:
            raise WindowError("run", f"run {window.run} has no data files")
        window.since, window.until = span.first, span.last
    elif window.kind == "custom":
        end = window.until or latest or timezone.now()
        window.until = end
        window.since = window.since or end - RANGES[DEFAULT_RANGE]
    elif latest is not None:
        window.until = latest
        window.since = latest - RANGES[window.kind]
    if window.since is not None and window.until is not None:
        window.runs = runs_between(window.since, window.until)
    return window


def refresh_of(params) -> int:
    """The auto refresh period asked for (seconds; 0 when off or not one of ``REFRESH``)."""
    try:
        value = int(params.get("refresh") or 0)
    except ValueError:
        return 0
    return value if value in REFRESH else 0
