"""Static files for people: app static files (CSS, the admin's) and BokehJS from the bokeh package.

gunicorn serves no static files by itself and p3s runs with no network, so these small views
serve them, with cache headers. BokehJS URLs carry the bokeh version, so they never go stale.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

import bokeh
from bokeh.util.paths import bokehjs_path
from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404
from django.utils._os import safe_join
from django.views.decorators.http import require_safe

BOKEH_VERSION = bokeh.__version__
BOKEH_COMPONENTS = ("bokeh", "bokeh-widgets", "bokeh-tables")


def bokeh_js_urls() -> list[str]:
    return [f"/bokehjs/{BOKEH_VERSION}/js/{c}.min.js" for c in BOKEH_COMPONENTS]


def _file_response(path: str | Path, max_age: int, immutable: bool = False) -> FileResponse:
    ctype, encoding = mimetypes.guess_type(str(path))
    resp = FileResponse(open(path, "rb"), content_type=ctype or "application/octet-stream")
    if encoding:
        resp.headers["Content-Encoding"] = encoding
    resp.headers["Cache-Control"] = f"public, max-age={max_age}" + (
        ", immutable" if immutable else ""
    )
    return resp


@require_safe
def static_file(request, path: str):
    """Files of the apps' static folders (the admin's CSS, p3s's own CSS) at STATIC_URL."""
    try:
        found = finders.find(path)
    except SuspiciousFileOperation:
        found = None
    if not found or not Path(found).is_file():
        raise Http404(f"no static file {path}")
    return _file_response(found, max_age=3600)


@require_safe
def bokehjs(request, version: str, path: str):
    """BokehJS of the installed bokeh package (the Python and JS sides must be one version)."""
    if version != BOKEH_VERSION:
        raise Http404(f"this server has BokehJS {BOKEH_VERSION}, not {version}")
    try:
        full = Path(safe_join(bokehjs_path(), path))
    except SuspiciousFileOperation:
        raise Http404("no such file") from None
    if not full.is_file():
        raise Http404(f"no BokehJS file {path}")
    return _file_response(full, max_age=365 * 86400, immutable=True)
