"""Draw a DAG as SVG on the server: stages in columns by depth, coloured by job state."""

from __future__ import annotations

from html import escape
from typing import Any

NODE_W, NODE_H = 150, 46
COL_GAP, ROW_GAP = 70, 22
PAD = 16

# One palette for every page (the CSS uses the same colours; see docs/operator-guide.md).
STATE_FILL = {
    "waiting": "#d0d7de",
    "dispatched": "#9ecbff",
    "running": "#218bff",
    "finished": "#2da44e",
    "failed": "#cf222e",
    "timeout": "#e16f24",
    "dropped": "#eaeef2",
    "cancelled": "#6e7781",
    None: "#ffffff",
}
DARK = {"running", "finished", "failed", "timeout", "cancelled"}


def layout(order: list[str], stages: dict[str, dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """(column, row) of each stage: column = longest path from a root."""
    return _layout(order, stages)[0]


def _layout(
    order: list[str], stages: dict[str, dict[str, Any]]
) -> tuple[dict[str, tuple[int, int]], dict[tuple[str, str], list[tuple[int, int]]]]:
    """Stage positions, and for each edge that skips columns the free slots it passes through.

    An edge from column 1 to column 3 would cross whatever box sits in column 2 at its height;
    instead it gets a slot of its own in every column it crosses (a box-sized gap), so no edge
    is ever drawn behind a box.
    """
    depth: dict[str, int] = {}
    for s in order:
        depth[s] = 1 + max(
            (depth[p] for p in stages[s].get("parents", []) if p in depth), default=-1
        )
    rows: dict[int, int] = {}
    pos = {}
    for s in order:
        col = depth[s]
        pos[s] = (col, rows.get(col, 0))
        rows[col] = rows.get(col, 0) + 1
    lanes: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for s in order:
        for p in stages[s].get("parents", []):
            if p not in depth:
                continue
            slots = []
            for col in range(depth[p] + 1, depth[s]):
                slots.append((col, rows.get(col, 0)))
                rows[col] = rows.get(col, 0) + 1
            if slots:
                lanes[(p, s)] = slots
    return pos, lanes


def dag_svg(
    order: list[str],
    stages: dict[str, dict[str, Any]],
    states: dict[str, str] | None = None,
    links: dict[str, str] | None = None,
    subtitles: dict[str, str] | None = None,
) -> str:
    """The graph as an inline SVG string (safe to mark safe: every text is escaped)."""
    states = states or {}
    links = links or {}
    subtitles = subtitles or {}
    pos, lanes = _layout(order, stages)
    if not pos:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    ncols = 1 + max(c for c, _ in pos.values())
    per_col: dict[int, int] = {}
    for c, _ in [*pos.values(), *(slot for slots in lanes.values() for slot in slots)]:
        per_col[c] = per_col.get(c, 0) + 1
    nrows = max(per_col.values())
    width = PAD * 2 + ncols * NODE_W + (ncols - 1) * COL_GAP
    height = PAD * 2 + nrows * NODE_H + (nrows - 1) * ROW_GAP

    def xy(stage: str | tuple[int, int]) -> tuple[float, float]:
        col, row = pos[stage] if isinstance(stage, str) else stage
        offset = (nrows - per_col[col]) * (NODE_H + ROW_GAP) / 2  # centre short columns
        return PAD + col * (NODE_W + COL_GAP), PAD + offset + row * (NODE_H + ROW_GAP)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="DAG">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#57606a"/>'
        "</marker></defs>",
    ]
    for s in order:
        for p in stages[s].get("parents", []):
            if p not in pos:
                continue
            # Points where the edge enters and leaves each column: the parent's right side,
            # through each free slot (straight across), to the child's left side; between
            # columns an S-curve whose x stays inside the gap.
            x1, y1 = xy(p)
            points = [(x1 + NODE_W, y1 + NODE_H / 2)]
            for slot in lanes.get((p, s), []):
                lx, ly = xy(slot)
                points += [(lx, ly + NODE_H / 2), (lx + NODE_W, ly + NODE_H / 2)]
            x2, y2 = xy(s)
            points.append((x2 - 2, y2 + NODE_H / 2))
            d = [f"M {points[0][0]:.1f} {points[0][1]:.1f}"]
            for i in range(1, len(points)):
                (ax, ay), (bx, by) = points[i - 1], points[i]
                if i % 2:
                    mid = (ax + bx) / 2
                    d.append(f"C {mid:.1f} {ay:.1f}, {mid:.1f} {by:.1f}, {bx:.1f} {by:.1f}")
                else:
                    d.append(f"L {bx:.1f} {by:.1f}")
            out.append(
                f'<path class="edge" data-from="{escape(p)}" data-to="{escape(s)}" '
                f'd="{" ".join(d)}" fill="none" stroke="#57606a" stroke-width="1.5" '
                'marker-end="url(#arrow)"/>'
            )
    for s in order:
        x, y = xy(s)
        state = states.get(s)
        fill = STATE_FILL.get(state, "#ffffff")
        text = "#ffffff" if state in DARK else "#1f2328"
        dash = ' stroke-dasharray="5 3"' if state in (None, "dropped") else ""
        sub = subtitles.get(s) or (state or "not started")
        node = (
            f'<g class="node state-{escape(state or "none")}" data-stage="{escape(s)}">'
            f"<title>{escape(s)}: {escape(sub)}</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="8" fill="{fill}" '
            f'stroke="#424a53" stroke-width="1.2"{dash}/>'
            f'<text x="{x + NODE_W / 2}" y="{y + 19}" text-anchor="middle" font-size="14" '
            f'font-weight="600" fill="{text}">{escape(_clip(s, 18))}</text>'
            f'<text x="{x + NODE_W / 2}" y="{y + 36}" text-anchor="middle" font-size="11" '
            f'fill="{text}">{escape(_clip(sub, 24))}</text></g>'
        )
        if s in links:
            node = f'<a href="{escape(links[s])}">{node}</a>'
        out.append(node)
    out.append("</svg>")
    return "".join(out)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"
