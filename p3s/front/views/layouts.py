"""The gallery grid (rows = APA, columns = plot type) in a layout, and experts saving layouts."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse

from p3s.dqm.models import Product
from p3s.front import layouts
from p3s.front.access import actor, can_edit, page, refuse
from p3s.front.assets import bokeh_js_urls
from p3s.front.models import Audience, GalleryLayout
from p3s.front.views.common import render_page, to_int
from p3s.front.views.products import gallery_overlays


def _recent_runs() -> list[int]:
    return list(Product.objects.order_by("-run").values_list("run", flat=True).distinct()[:30])


def _grid_page(request, name: str, run: int | None, status: int = 200, form: dict | None = None):
    by_name = layouts.available_layouts()
    if name != layouts.ALL and name not in by_name:
        messages.warning(request, f"there is no layout {name[:64]!r}: showing every plot type")
        name = layouts.ALL
    runs = _recent_runs()
    if run is None and runs:
        run = runs[0]
    grid = layouts.grid(run, by_name.get(name)) if run is not None else None
    ctx = {
        "layouts": list(by_name.values()),
        "layout": by_name.get(name),
        "layout_name": name,
        "run": run,
        "recent_runs": runs,
        "grid": grid,
        "overlays": gallery_overlays(grid.products) if grid else {},
        "bokeh_js": bokeh_js_urls(),
        "audiences": Audience.choices,
        "form": form or {},
    }
    return render_page(request, "front/products_grid.html", ctx, status=status)


@page
def gallery_grid(request):
    name = (request.GET.get("layout") or "").strip()[:64] or layouts.default_layout(
        can_edit(request)
    )
    raw_run = (request.GET.get("run") or "").strip()
    run = to_int(raw_run)
    if raw_run and (run is None or run < 0):
        messages.warning(request, f"run must be a number, not {raw_run[:20]!r}: the latest run")
        run = None
    return _grid_page(request, name, run)


def gallery_layout_save(request):
    """An expert saves (or replaces) a layout: name, audience, columns in order, APAs."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not can_edit(request):
        return refuse(request)
    post = request.POST
    run = to_int(post.get("run"))
    name = (post.get("name") or "").strip()
    apas = [a.strip() for a in (post.get("apas") or "").replace(",", " ").split() if a.strip()]
    form = {
        "name": name[:64],
        "audience": post.get("audience") or "",
        "description": (post.get("description") or "").strip(),
        "columns": post.getlist("column"),
        "apas": " ".join(apas),
    }
    existing = GalleryLayout.objects.filter(name=name).first()
    layout = existing or GalleryLayout(name=name)
    layout.audience = form["audience"]
    layout.description = form["description"]
    layout.columns = form["columns"]
    layout.apas = apas
    layout.updated_by = actor(request)
    try:
        layout.full_clean(validate_unique=existing is None)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        shown = existing.name if existing else (post.get("shown") or layouts.ALL)
        return _grid_page(request, shown, run, status=400, form=form)
    with transaction.atomic():
        layout.save()
    messages.success(
        request,
        f"layout {layout.name!r} saved ({len(layout.columns)} plot types, {actor(request)})",
    )
    query = {"layout": layout.name, **({"run": run} if run is not None else {})}
    return HttpResponseRedirect(reverse("front:products-grid") + "?" + urlencode(query))
