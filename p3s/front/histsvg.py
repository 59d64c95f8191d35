"""Histograms drawn server-side as SVG: this data against a reference, with a ratio panel.

A histogram is a ``p3s-hist-1`` JSON product (docs/payloads.md, INTERFACES.md section 2):
``edges`` (n+1), ``counts`` (n), axis labels, ``profile`` (values per bin, not entries) and
``log_y``. Drawing happens on the server, once per (product, reference), and the SVG is cached:
a page with twenty overlays loads no plotting library at all.

Entries histograms are compared in shape: the reference is scaled to this histogram's number of
entries (the checks' chi-square and KS do the same). Profiles (spectra, per-channel noise) are
drawn as they are.
"""

from __future__ import annotations

import json
import math
from html import escape

HIST_FORMAT = "p3s-hist-1"
MAX_BYTES = 2_000_000

W, H_MAIN, H_RATIO = 640, 250, 96
LEFT, RIGHT, TOP, GAP, BOTTOM = 56, 12, 26, 10, 34
DATA_COLOUR = "#0969da"
REF_COLOUR = "#cf222e"
RATIO_RANGE = (0.0, 2.0)


class BadHist(ValueError):
    """The JSON is not a p3s-hist-1 histogram."""


def parse_hist(raw: bytes | str) -> dict:
    """Check and return a p3s-hist-1 histogram (edges ascending, one count per bin)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadHist("not JSON") from None
    if not isinstance(data, dict) or data.get("format") != HIST_FORMAT:
        raise BadHist(f"not a {HIST_FORMAT} histogram")
    edges, counts = data.get("edges"), data.get("counts")
    if not isinstance(edges, list) or not isinstance(counts, list):
        raise BadHist("edges and counts must be lists")
    if len(edges) != len(counts) + 1 or not counts:
        raise BadHist(f"{len(edges)} edges for {len(counts)} bins: need one more edge than bins")
    try:
        edges = [float(e) for e in edges]
        counts = [float(c) for c in counts]
    except (TypeError, ValueError):
        raise BadHist("edges and counts must be numbers") from None
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise BadHist("edges must increase")
    if not all(math.isfinite(v) for v in edges + counts):
        raise BadHist("edges and counts must be finite")
    return {**data, "edges": edges, "counts": counts}


def read_hist(product) -> dict | None:
    """The histogram of a json product, or None when its file is missing or not a histogram."""
    try:
        with product.file.open("rb") as fh:
            return parse_hist(fh.read(MAX_BYTES))
    except (OSError, ValueError):
        return None


def _scaled(hist: dict, ref: dict | None) -> list[float] | None:
    """The reference's counts on this histogram's scale (None without a usable reference)."""
    if ref is None or len(ref["counts"]) != len(hist["counts"]):
        return None
    if hist.get("profile"):
        return list(ref["counts"])
    total, ref_total = sum(hist["counts"]), sum(ref["counts"])
    if ref_total <= 0:
        return None
    return [c * total / ref_total for c in ref["counts"]]


def ratio_values(hist: dict, ref_scaled: list[float]) -> list[float | None]:
    """Bin-by-bin this / reference; None where the reference bin is empty."""
    return [c / r if r > 0 else None for c, r in zip(hist["counts"], ref_scaled, strict=True)]


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    out = []
    v = first
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    return out


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-2:
        return f"{v:.0e}"
    return f"{v:g}"


def _step_path(xs, ys, sx, sy) -> str:
    """An outline of a histogram: a horizontal segment per bin."""
    parts = []
    for i, y in enumerate(ys):
        if y is None:
            continue
        x0, x1, py = sx(xs[i]), sx(xs[i + 1]), sy(y)
        parts.append(
            f"M{x0:.1f},{py:.1f}H{x1:.1f}" if not parts else f"L{x0:.1f},{py:.1f}H{x1:.1f}"
        )
    return "".join(parts)


def hist_svg(
    hist: dict,
    ref: dict | None = None,
    *,
    label: str = "this run",
    ref_label: str = "reference",
    title: str | None = None,
) -> str:
    """An SVG of ``hist`` with ``ref`` overlaid (scaled to the same entries) and their ratio."""
    edges, counts = hist["edges"], hist["counts"]
    ref_counts = _scaled(hist, ref)
    log_y = bool(hist.get("log_y"))
    with_ratio = ref_counts is not None
    height = TOP + H_MAIN + (GAP + H_RATIO if with_ratio else 0) + BOTTOM
    x0, x1 = edges[0], edges[-1]
    values = counts + (ref_counts or [])
    if log_y:
        positive = [v for v in values if v > 0] or [1.0]
        y_lo, y_hi = math.log10(min(positive)) - 0.2, math.log10(max(positive)) + 0.2
    else:
        y_lo = min(0.0, min(values))
        y_hi = max(values) * 1.1 if max(values) > y_lo else y_lo + 1
    pw = W - LEFT - RIGHT

    def sx(x: float) -> float:
        return LEFT + pw * (x - x0) / (x1 - x0)

    def sy(y: float) -> float:
        v = (math.log10(y) if y > 0 else y_lo) if log_y else y
        v = min(max(v, y_lo), y_hi)
        return TOP + H_MAIN * (1 - (v - y_lo) / (y_hi - y_lo))

    name = title or hist.get("title") or hist.get("name") or "histogram"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" class="hist" '
        f'role="img" aria-label="{escape(name)}">',
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="600" fill="#24292f">{escape(name)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{H_MAIN}" fill="none" stroke="#8c959f"/>',
    ]
    for t in _ticks(y_lo, y_hi, 4):
        py = TOP + H_MAIN * (1 - (t - y_lo) / (y_hi - y_lo))
        text = _fmt(10**t) if log_y else _fmt(t)
        out.append(
            f'<line x1="{LEFT - 4}" y1="{py:.1f}" x2="{LEFT + pw}" y2="{py:.1f}" stroke="#eaeef2"/>'
            f'<text x="{LEFT - 6}" y="{py + 3:.1f}" font-size="10" text-anchor="end" fill="#57606a">{text}</text>'
        )
    y_label = escape(str(hist.get("y_label") or ("value" if hist.get("profile") else "entries")))
    out.append(
        f'<text transform="translate(13,{TOP + H_MAIN / 2:.0f}) rotate(-90)" font-size="11" '
        f'text-anchor="middle" fill="#57606a">{y_label}</text>'
    )
    out.append(
        f'<path class="data" d="{_step_path(edges, counts, sx, sy)}" fill="none" '
        f'stroke="{DATA_COLOUR}" stroke-width="1.6"/>'
    )
    if ref_counts is not None:
        out.append(
            f'<path class="reference" d="{_step_path(edges, ref_counts, sx, sy)}" fill="none" '
            f'stroke="{REF_COLOUR}" stroke-width="1.3" stroke-dasharray="5,3"/>'
        )
    # legend
    lx = LEFT + pw - 190
    out.append(
        f'<line x1="{lx}" y1="{TOP + 12}" x2="{lx + 22}" y2="{TOP + 12}" stroke="{DATA_COLOUR}" stroke-width="2"/>'
        f'<text x="{lx + 27}" y="{TOP + 15}" font-size="11" fill="#24292f">{escape(label)}</text>'
    )
    if ref_counts is not None:
        scaled = "" if hist.get("profile") else " (scaled)"
        out.append(
            f'<line x1="{lx}" y1="{TOP + 27}" x2="{lx + 22}" y2="{TOP + 27}" stroke="{REF_COLOUR}" '
            f'stroke-width="2" stroke-dasharray="5,3"/><text x="{lx + 27}" y="{TOP + 30}" '
            f'font-size="11" fill="#24292f">{escape(ref_label)}{scaled}</text>'
        )
    elif ref is not None:
        out.append(
            f'<text x="{lx}" y="{TOP + 30}" font-size="11" fill="{REF_COLOUR}">reference has '
            f"{len(ref['counts'])} bins, not {len(counts)}: not drawn</text>"
        )
    bottom_of_plots = TOP + H_MAIN
    if with_ratio:
        rt = TOP + H_MAIN + GAP
        r_lo, r_hi = RATIO_RANGE

        def ry(v: float) -> float:
            v = min(max(v, r_lo), r_hi)
            return rt + H_RATIO * (1 - (v - r_lo) / (r_hi - r_lo))

        out.append(
            f'<rect x="{LEFT}" y="{rt}" width="{pw}" height="{H_RATIO}" fill="none" stroke="#8c959f"/>'
        )
        for t in (0.5, 1.0, 1.5):
            line = 'stroke="#8c959f"' if t == 1.0 else 'stroke="#eaeef2" stroke-dasharray="2,2"'
            out.append(
                f'<line x1="{LEFT}" y1="{ry(t):.1f}" x2="{LEFT + pw}" y2="{ry(t):.1f}" {line}/>'
                f'<text x="{LEFT - 6}" y="{ry(t) + 3:.1f}" font-size="10" text-anchor="end" '
                f'fill="#57606a">{t:g}</text>'
            )
        out.append(
            f'<text transform="translate(13,{rt + H_RATIO / 2:.0f}) rotate(-90)" font-size="11" '
            f'text-anchor="middle" fill="#57606a">ratio</text>'
        )
        ratios = ratio_values(hist, ref_counts)
        out.append(
            f'<path class="ratio" d="{_step_path(edges, ratios, sx, ry)}" fill="none" '
            f'stroke="#24292f" stroke-width="1.2"/>'
        )
        bottom_of_plots = rt + H_RATIO
    for t in _ticks(x0, x1, 6):
        px = sx(t)
        out.append(
            f'<line x1="{px:.1f}" y1="{bottom_of_plots}" x2="{px:.1f}" y2="{bottom_of_plots + 4}" stroke="#8c959f"/>'
            f'<text x="{px:.1f}" y="{bottom_of_plots + 15}" font-size="10" text-anchor="middle" '
            f'fill="#57606a">{_fmt(t)}</text>'
        )
    x_label = escape(str(hist.get("x_label") or ""))
    out.append(
        f'<text x="{LEFT + pw / 2:.0f}" y="{height - 4}" font-size="11" text-anchor="middle" '
        f'fill="#57606a">{x_label}</text>'
    )
    out.append("</svg>")
    return "".join(out)
