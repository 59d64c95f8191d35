"""Data-quality pages: the checks of one detector element, run sign-off, run A against run B.

Histograms are drawn on the server (:mod:`p3s.front.histsvg`) with the reference (or the other
run) overlaid and a ratio panel; each drawing is cached per (product, reference).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.cache import cache
from django.db.models import Max
from django.http import Http404
from django.urls import reverse
from django.utils.safestring import mark_safe

from p3s.dags.models import DataFile
from p3s.dqm.models import Metric, Product, ProductKind
from p3s.front import health
from p3s.front.access import back, operator_action, page
from p3s.front.histsvg import hist_svg, read_hist
from p3s.front.views.common import render_page, to_int

OVERLAY_CACHE_S = 24 * 3600
MAX_PLOTS = 24
MAX_METRIC_ROWS = 50_000  # per run: enough for every plane, board and ASIC figure of a run
SIGNOFF_VERDICTS = ("good", "bad")
MAX_COMMENT = 2000


def overlay(product: Product, ref_key: str, ref_hist=lambda: None, **labels) -> str | None:
    """The SVG of a histogram product with ``ref_hist()`` overlaid (None: not a histogram).

    Products never change, so the drawing is cached per product and reference (``ref_key``);
    the reference is only read when the drawing is not cached.
    """
    key = f"p3s.front.overlay:{product.pk}:{ref_key}"
    svg = cache.get(key)
    if svg is None:
        hist = read_hist(product)
        if hist is None:
            return None
        svg = hist_svg(hist, ref_hist(), **labels)
        cache.set(key, svg, OVERLAY_CACHE_S)
    return mark_safe(svg)


def reference_overlay(product: Product, ref) -> dict:
    """A plot of a product for the pages: the histogram against the reference, or the PNG."""
    item = {"product": product, "svg": None, "note": ""}
    if product.kind != ProductKind.JSON or "hist" not in (product.labels or {}):
        return item
    ref_hist = ref.hist_for(product.labels["hist"], product.labels) if ref else None
    if ref is None:
        item["note"] = "no reference set: drawn alone"
    elif ref_hist is None:
        item["note"] = f"reference {ref.name!r} has no {product.labels['hist']} for this element"
    ref_key = f"r{ref.pk}:{getattr(ref, 'digest', '')}" if ref_hist else "none"
    ref_label = f"reference (run {ref.run})" if ref_hist and ref.run else "reference"
    item["svg"] = overlay(product, ref_key, lambda: ref_hist, ref_label=ref_label)
    if item["svg"] is None:
        item["note"] = "the file is missing or is not a p3s-hist-1 histogram"
    return item


# -- the checks of one APA plane --------------------------------------------------------------


@page
def element_checks(request):
    """What the checks say about one APA plane: failing checks first, with their plots."""
    stream = request.GET.get("stream") or health.STREAM
    apa = (request.GET.get("apa") or "").strip()
    plane = (request.GET.get("plane") or "").strip()
    femb = (request.GET.get("femb") or "").strip()
    if to_int(apa) is None or plane not in health.PLANES:
        raise Http404("choose an APA (a number) and a plane (u, v or x)")
    results = health.latest_results(stream, apa, plane, femb)
    ref = health.reference(stream=stream, many=True)
    failing = [r for r in results if r.flag in ("bad", "warning")]
    plots, seen = [], set()
    for r in failing:
        if r.product_id and r.product_id not in seen and len(plots) < MAX_PLOTS:
            seen.add(r.product_id)
            plots.append({**reference_overlay(r.product, ref), "result": r})
    run = max((r.run for r in results), default=None)
    for p in plane_hists(run, apa, plane) if run is not None else []:
        if p.pk not in seen and len(plots) < MAX_PLOTS:
            seen.add(p.pk)
            plots.append({**reference_overlay(p, ref), "result": None})
    return render_page(
        request,
        "front/element_checks.html",
        {
            "stream": stream,
            "apa": apa,
            "plane": plane,
            "femb": femb,
            "results": results,
            "failing": failing,
            "passing": [r for r in results if r.flag not in ("bad", "warning")],
            "plots": plots,
            "run": run,
            "reference": ref,
            "checks_enabled": health.enabled_checks(),
        },
    )


def plane_hists(run: int, apa: str, plane: str) -> list[Product]:
    """The newest histogram product of each name on one APA plane in a run."""
    qs = (
        Product.objects.filter(run=run, kind=ProductKind.JSON, labels__apa=apa, labels__plane=plane)
        .filter(labels__has_key="hist")
        .only("id", "run", "kind", "title", "labels", "file", "data_ts", "created")
        .order_by("-data_ts", "-id")
    )
    newest: dict[str, Product] = {}
    for p in qs[:200]:
        newest.setdefault(str(p.labels.get("hist")), p)
    return sorted(newest.values(), key=lambda p: str(p.labels.get("hist")))


# -- run sign-off -----------------------------------------------------------------------------


@operator_action
def run_signoff(request, run: int):
    """An operator (or expert) signs a run off: good or bad, with a comment."""
    target = reverse("front:run", args=[run])
    verdict = request.POST.get("verdict") or ""
    comment = (request.POST.get("comment") or "").strip()
    if not DataFile.objects.filter(run=run).exists():
        raise Http404(f"no files of run {run}")
    if verdict not in SIGNOFF_VERDICTS:
        messages.error(request, "choose good or bad to sign the run off")
        return back(request, target)
    if len(comment) > MAX_COMMENT:
        messages.error(request, f"the comment is longer than {MAX_COMMENT} characters")
        return back(request, target)
    signoff = health.sign_off(run, request.user, verdict, comment)
    messages.success(request, f"run {run} signed off {signoff.verdict} by {signoff.actor}")
    return back(request, target)


# -- metrics of a run, by detector element ----------------------------------------------------


def run_metrics(run: int) -> dict[tuple[str, tuple], dict]:
    """Mean of each metric per detector element over a run's files (one query)."""
    out: dict[tuple[str, tuple], dict] = {}
    rows = Metric.objects.filter(run=run).values_list("name", "labels", "value")
    for name, labels, value in rows[:MAX_METRIC_ROWS]:
        key = (name, health.element_of(labels))
        cell = out.setdefault(key, {"name": name, "labels": dict(key[1]), "sum": 0.0, "n": 0})
        cell["sum"] += value
        cell["n"] += 1
    for cell in out.values():
        cell["mean"] = cell["sum"] / cell["n"]
    return out


def metrics_against_reference(run: int, ref, limit: int = 400) -> list[dict]:
    """A run's metrics per element beside the reference mean, largest pulls first."""
    rows = []
    for cell in run_metrics(run).values():
        ref_row = ref.metric_row(cell["name"], cell["labels"]) if ref else None
        row = {**cell, "ref": None, "std": None, "pull": None, "diff": None}
        if ref_row is not None:
            row["ref"], row["std"] = ref_row.mean, ref_row.std
            row["diff"] = cell["mean"] - ref_row.mean
            if ref_row.std > 0:
                row["pull"] = row["diff"] / ref_row.std
        rows.append(row)
    rows.sort(key=lambda r: (-(abs(r["pull"]) if r["pull"] is not None else -1), r["name"]))
    return rows[:limit]


# -- run A against run B ----------------------------------------------------------------------


def _latest_hists(run: int, apa: str, plane: str) -> dict[tuple, Product]:
    """The newest histogram product of a run per (hist name, element)."""
    qs = Product.objects.filter(run=run, kind=ProductKind.JSON, labels__has_key="hist").only(
        "id", "run", "kind", "title", "labels", "file", "data_ts", "created"
    )
    if apa:
        qs = qs.filter(labels__apa=apa)
    if plane:
        qs = qs.filter(labels__plane=plane)
    out: dict[tuple, Product] = {}
    for p in qs.order_by("-data_ts", "-id")[:2000]:
        key = (str(p.labels.get("hist")), health.element_of(p.labels, frozenset({"hist"})))
        out.setdefault(key, p)
    return out


@page
def compare(request):
    """Run A against run B: histogram overlays with their ratio, and the metrics side by side."""
    a, b = to_int(request.GET.get("a")), to_int(request.GET.get("b"))
    apa = (request.GET.get("apa") or "").strip()
    plane = (request.GET.get("plane") or "").strip()
    recent = list(
        DataFile.objects.values("run").annotate(last=Max("data_ts")).order_by("-run")[:30]
    )
    ctx = {"a": a, "b": b, "apa": apa, "plane": plane, "recent": recent, "ready": False}
    if a is None or b is None:
        if request.GET.get("a") or request.GET.get("b"):
            messages.warning(request, "runs must be numbers")
        return render_page(request, "front/compare.html", ctx)
    hists_a, hists_b = _latest_hists(a, apa, plane), _latest_hists(b, apa, plane)
    pairs = []
    for key in sorted(set(hists_a) | set(hists_b)):
        pa, pb = hists_a.get(key), hists_b.get(key)
        item = {"name": key[0], "labels": dict(key[1]), "a": pa, "b": pb, "svg": None}
        if pa and pb and len(pairs) < MAX_PLOTS:
            item["svg"] = overlay(
                pa, f"p{pb.pk}", lambda pb=pb: read_hist(pb), label=f"run {a}", ref_label=f"run {b}"
            )
        pairs.append(item)
    ma, mb = run_metrics(a), run_metrics(b)
    table = []
    for key in sorted(set(ma) | set(mb)):
        va = ma[key]["mean"] if key in ma else None
        vb = mb[key]["mean"] if key in mb else None
        diff = va - vb if va is not None and vb is not None else None
        rel = diff / abs(vb) if diff is not None and vb else None
        table.append(
            {"name": key[0], "labels": dict(key[1]), "a": va, "b": vb, "diff": diff, "rel": rel}
        )
    table.sort(key=lambda r: (-(abs(r["rel"]) if r["rel"] is not None else -1), r["name"]))
    ctx.update({"ready": True, "pairs": pairs, "table": table[:500], "n_metrics": len(table)})
    return render_page(request, "front/compare.html", ctx)
