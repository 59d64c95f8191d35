"""DQM products: the gallery, one product, its file, thumbnail and embed."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http import (
    FileResponse,
    Http404,
    HttpResponseNotAllowed,
    HttpResponseNotModified,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, render
from django.utils.http import http_date, parse_http_date_safe
from django.views.decorators.clickjacking import xframe_options_sameorigin
from rest_framework.exceptions import AuthenticationFailed

from p3s.accounts.auth import ApiTokenAuthentication
from p3s.dqm.models import Product, ProductKind
from p3s.dqm.thumbs import thumbnail
from p3s.front import health
from p3s.front.access import can_read, page, refuse
from p3s.front.assets import bokeh_js_urls
from p3s.front.views.common import PRODUCTS_PER_PAGE, paginate, render_page, to_int
from p3s.front.views.quality import reference_overlay

PRODUCT_FILTERS = ("run", "apa", "plane", "kind", "stream", "q", "dagrun")


@page
def products(request):
    qs = Product.objects.select_related("job__dagrun__file").only(
        "id",
        "run",
        "kind",
        "title",
        "labels",
        "size",
        "file",
        "data_ts",
        "created",
        "job_id",
        "job__stage",
        "job__dagrun_id",
        "job__dagrun__file__name",
        "job__dagrun__file__stream",
    )
    f = {k: (request.GET.get(k) or "").strip() for k in PRODUCT_FILTERS}
    run = to_int(f["run"])
    if run is not None:
        qs = qs.filter(run=run)
    elif f["run"]:
        messages.warning(request, f"run must be a number, not {f['run']!r}")
        f["run"] = ""
    if f["apa"]:
        qs = qs.filter(labels__apa=f["apa"])
    if f["plane"]:
        qs = qs.filter(labels__plane=f["plane"])
    if f["kind"] in ProductKind.values:
        qs = qs.filter(kind=f["kind"])
    if f["stream"]:
        qs = qs.filter(job__dagrun__file__stream=f["stream"])
    if f["q"]:
        qs = qs.filter(title__icontains=f["q"])
    if to_int(f["dagrun"]) is not None:
        qs = qs.filter(job__dagrun_id=to_int(f["dagrun"]))
    page_obj, query = paginate(request, qs.order_by("-data_ts", "-id"), PRODUCTS_PER_PAGE)
    recent_runs = cache.get("p3s.front.product_runs")
    if recent_runs is None:
        recent_runs = list(
            Product.objects.order_by("-run").values_list("run", flat=True).distinct()[:30]
        )
        cache.set("p3s.front.product_runs", recent_runs, 30)
    return render_page(
        request,
        "front/products.html",
        {
            "page_obj": page_obj,
            "query": query,
            "f": f,
            "kinds": ProductKind.choices,
            "planes": ["u", "v", "x"],
            "recent_runs": recent_runs,
            "bokeh_js": bokeh_js_urls(),
            "has_bokeh": any(p.kind == "bokeh" for p in page_obj),
            "overlays": gallery_overlays(page_obj),
        },
    )


@page
def product_detail(request, pk: int):
    product = get_object_or_404(
        Product.objects.select_related("job__dagrun__file", "job__dagrun__template"), pk=pk
    )
    history = list(
        Product.objects.filter(title=product.title, kind=product.kind)
        .exclude(pk=pk)
        .order_by("-data_ts", "-id")
        .only("id", "run", "kind", "title", "data_ts", "labels")[:12]
    )
    siblings = list(
        Product.objects.filter(job__dagrun_id=product.job.dagrun_id)
        .exclude(pk=pk)
        .order_by("title")
        .only("id", "title", "kind", "labels")[:60]
    )
    preview, plot = None, None
    if product.kind == ProductKind.JSON:
        if "hist" in (product.labels or {}):
            plot = reference_overlay(product, health.reference(run=product.run))
        try:
            with product.file.open("rb") as fh:
                raw = fh.read(100_000)
            preview = json.dumps(json.loads(raw), indent=2)[:100_000]
        except (OSError, ValueError):
            preview = "(the file could not be read as JSON)"
    return render_page(
        request,
        "front/product_detail.html",
        {
            "product": product,
            "history": history,
            "siblings": siblings,
            "preview": preview,
            "plot": plot,
            "bokeh_js": bokeh_js_urls(),
        },
    )


@page
@xframe_options_sameorigin
def product_embed(request, pk: int):
    """A bokeh product drawn alone, for a sandboxed iframe.

    Bokeh documents come from pilots and may hold scripts (CustomJS) or HTML (Div, tooltips):
    they are drawn inside ``<iframe sandbox="allow-scripts">``, in an opaque origin that can
    read neither the operator's session, nor the CSRF token, nor the page around it.
    """
    product = get_object_or_404(
        Product.objects.only("id", "kind", "file", "title"), pk=pk, kind=ProductKind.BOKEH
    )
    try:
        with product.file.open("rb") as fh:
            item = json.loads(fh.read(settings.P3S["MAX_UPLOAD_BYTES"] + 1))
    except (OSError, ValueError):
        item = None
    resp = render(
        request,
        "front/product_embed.html",
        {"product": product, "item": item, "bokeh_js": bokeh_js_urls()},
    )
    resp.headers["Content-Security-Policy"] = "sandbox allow-scripts"
    resp.headers["Cache-Control"] = "private, max-age=86400"
    return resp


CONTENT_TYPES = {"png": "image/png", "bokeh": "application/json", "json": "application/json"}


def product_file(request, pk: int):
    """The product file itself, for people (session) and programs (API token)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if "HTTP_AUTHORIZATION" in request.META:
        try:
            result = ApiTokenAuthentication().authenticate(request)
        except AuthenticationFailed as exc:
            return JsonResponse({"detail": str(exc.detail)}, status=401)
        if result is not None:
            request.user, request.auth = result
    if not can_read(request):
        return refuse(request)
    product = get_object_or_404(
        Product.objects.only("id", "kind", "file", "created", "slug"), pk=pk
    )
    return _serve_product(request, product, product.file.name)


def product_thumb(request, pk: int):
    """A small PNG of a PNG product for the gallery (the original when it is small already)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if not can_read(request):
        return refuse(request)
    product = get_object_or_404(
        Product.objects.only("id", "kind", "file", "created", "slug"), pk=pk, kind="png"
    )
    return _serve_product(request, product, thumbnail(product) or product.file.name)


def _serve_product(request, product: Product, name: str):
    modified = int(product.created.timestamp())
    since = parse_http_date_safe(request.META.get("HTTP_IF_MODIFIED_SINCE") or "")
    if since is not None and since >= modified:
        return HttpResponseNotModified()
    try:
        fh = product.file.storage.open(name, "rb")
    except (OSError, ValueError):
        raise Http404(
            f"the file of product {product.pk} is missing (deleted by retention?)"
        ) from None
    ext = "png" if product.kind == "png" else "json"
    resp = FileResponse(
        fh,
        content_type=CONTENT_TYPES[product.kind],
        filename=f"{product.slug}.{ext}",
        as_attachment=False,
    )
    # Product files never change (the server names them): cache, but only in the viewer's browser.
    resp.headers["Cache-Control"] = "private, max-age=86400"
    resp.headers["Last-Modified"] = http_date(modified)
    return resp


def gallery_overlays(page_obj) -> dict[int, str]:
    """Histogram products of a gallery page drawn against the current reference."""
    hists = [p for p in page_obj if p.kind == ProductKind.JSON and "hist" in (p.labels or {})]
    if not hists:
        return {}
    ref = health.reference(many=True)
    return {p.pk: reference_overlay(p, ref)["svg"] for p in hists}
