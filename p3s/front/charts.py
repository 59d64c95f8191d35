"""Strip charts: one metric against data time, a line per APA (or any label), alarm limits drawn.

Built on the server with bokeh and embedded as a ``json_item``; BokehJS comes from the
installed bokeh package (see :mod:`p3s.front.assets`), never from a CDN.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from bokeh.embed import json_item
from bokeh.layouts import column
from bokeh.models import BoxAnnotation, ColumnDataSource, HoverTool, Label, Node, Range1d, Span
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from p3s.dqm.models import AlarmRule

LIMIT_COLOUR = {"warning": "#bf8700", "critical": "#cf222e"}
RUN_FILL = ("#0969da", "#8250df")  # alternate runs, so neighbours stay apart
RUN_LINE = "#57606a"
#: A window shorter than this (a run of one file) is widened to it, centred, to stay readable.
MIN_WINDOW = timedelta(minutes=2)
PLANE_ORDER = {"u": 0, "v": 1, "x": 2}


def _sort_key(value: str) -> tuple:
    if value in PLANE_ORDER:
        return (0, PLANE_ORDER[value], "")
    try:
        return (1, float(value), "")
    except ValueError:
        return (2, 0, value)


def strip_chart(
    metric: str,
    points: list[tuple[datetime, float, dict[str, Any], int]],
    rules: list[AlarmRule],
    group: str = "apa",
    split: str = "",
    window: tuple[datetime | None, datetime | None] = (None, None),
    runs: list[tuple[int, datetime, datetime]] | None = None,
) -> dict[str, Any]:
    """A bokeh json_item: one figure per value of ``split`` (e.g. plane), a line per ``group``.

    ``window`` fixes the time axis (the chosen range, not just the span of the points); each of
    ``runs`` (number, first and last data time) is drawn as a shaded span with a line at its
    start labelled with the run number.
    """
    panels: dict[str, dict[str, dict[str, list]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for ts, value, labels, run in points:
        panel = str(labels.get(split, "")) if split else ""
        line = str(labels.get(group, "")) if group else ""
        d = panels[panel][line]
        d["t"].append(ts)
        d["v"].append(value)
        d["run"].append(run)
        d["labels"].append(", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-")
    figures = []
    x_range = _time_range(window, points)
    t_last = max((p[0] for p in points), default=None)
    panel_names = sorted(panels, key=_sort_key) or [""]
    for panel in panel_names:
        title = metric if not split else f"{metric} \u2014 {split} {panel or '(none)'}"
        fig = figure(
            title=title,
            x_axis_type="datetime",
            height=260 if split else 380,
            sizing_mode="stretch_width",
            tools="pan,xwheel_zoom,box_zoom,reset,save",
            active_scroll="xwheel_zoom",
            toolbar_location="right",
            x_range=x_range,  # one time axis for all panels
        )
        fig.xaxis.axis_label = "data time (UTC)"
        fig.yaxis.axis_label = metric
        lines = panels.get(panel, {})
        for i, name in enumerate(sorted(lines, key=_sort_key)):
            d = lines[name]
            order = sorted(range(len(d["t"])), key=d["t"].__getitem__)
            src = ColumnDataSource(
                {k: [d[k][j] for j in order] for k in ("t", "v", "run", "labels")}
            )
            colour = Category10_10[i % 10]
            legend = f"{group} {name}" if group else metric
            fig.line("t", "v", source=src, color=colour, line_width=1.6, legend_label=legend)
            fig.scatter("t", "v", source=src, color=colour, size=5, legend_label=legend)
        fig.add_tools(
            HoverTool(
                tooltips=[
                    ("time", "@t{%F %T}"),
                    ("value", "@v{0.000}"),
                    ("run", "@run"),
                    ("labels", "@labels"),
                ],
                formatters={"@t": "datetime"},
            )
        )
        _mark_runs(fig, runs or [], x_range)
        for rule in rules:
            if split and rule.labels.get(split) not in (None, panel):
                continue
            colour = LIMIT_COLOUR.get(rule.severity, "#bf8700")
            fig.add_layout(
                Span(
                    location=rule.threshold,
                    dimension="width",
                    line_color=colour,
                    line_dash="dashed",
                    line_width=2,
                )
            )
            bad = {
                "gt": {"bottom": rule.threshold},
                "ge": {"bottom": rule.threshold},
                "lt": {"top": rule.threshold},
                "le": {"top": rule.threshold},
            }[rule.comparison]
            fig.add_layout(BoxAnnotation(fill_color=colour, fill_alpha=0.07, **bad))
            if t_last is not None:
                fig.add_layout(
                    Label(
                        x=t_last,
                        y=rule.threshold,
                        text=f"{rule.name} ({rule.severity})",
                        text_font_size="10px",
                        text_color=colour,
                        text_align="right",
                        y_offset=3,
                    )
                )
        if fig.legend:
            fig.legend.click_policy = "hide"
            fig.legend.label_text_font_size = "10px"
            fig.add_layout(fig.legend[0], "right")  # beside the plot, never over the data
        figures.append(fig)
    layout = figures[0] if len(figures) == 1 else column(*figures, sizing_mode="stretch_width")
    return json_item(layout)


def _time_range(window, points) -> Range1d:
    """The shared time axis: the window when known, else the points' span; never empty."""
    since, until = window
    times = [p[0] for p in points]
    start = since or min(times)
    end = until or max(times)
    if end - start < MIN_WINDOW:
        middle = start + (end - start) / 2
        start, end = middle - MIN_WINDOW / 2, middle + MIN_WINDOW / 2
    return Range1d(start=start, end=end, name="time")


def _mark_runs(fig, runs: list[tuple[int, datetime, datetime]], x_range: Range1d) -> None:
    """Run boundaries: a shaded span per run, a solid line at its start, a dotted one at its
    end, its number along the top edge of the plot (where the data rarely are)."""
    for i, (run, first, last) in enumerate(runs):
        fig.add_layout(
            BoxAnnotation(
                left=first,
                right=last,
                fill_color=RUN_FILL[i % 2],
                fill_alpha=0.06,
                line_color=None,
                level="underlay",
                name=f"run-span-{run}",
            )
        )
        for edge, dash in ((first, "solid"), (last, "dotted")):
            fig.add_layout(
                Span(
                    location=edge,
                    dimension="height",
                    line_color=RUN_LINE,
                    line_dash=dash,
                    line_width=1,
                    level="underlay",
                )
            )
        fig.add_layout(
            Label(
                x=max(first, x_range.start),
                y=Node(target="frame", symbol="top", offset=3),  # along the top edge
                x_offset=3,
                text_baseline="top",
                text=f"run {run}",
                text_font_size="10px",
                text_color=RUN_LINE,
                background_fill_color="white",
                background_fill_alpha=0.7,
                name=f"run-{run}",
            )
        )
