"""CSV and JSON export of a page's table: ``?export=csv`` or ``?export=json`` on the page."""

from __future__ import annotations

import csv
import io
import json

from django.http import HttpResponse, JsonResponse

FORMATS = ("csv", "json")


def wanted(request) -> str | None:
    value = request.GET.get("export", "")
    return value if value in FORMATS else None


def response(fmt: str, name: str, columns: list[str], rows: list[dict]) -> HttpResponse:
    """The rows (dicts) as a download; lists in a cell become ``a;b;c`` in CSV."""
    if fmt == "json":
        resp = JsonResponse({"columns": columns, "rows": rows}, json_dumps_params={"indent": 1})
    else:
        buf = io.StringIO()
        out = csv.writer(buf)
        out.writerow(columns)
        for row in rows:
            out.writerow(
                [
                    ";".join(map(str, v)) if isinstance(v, (list, tuple, set)) else _cell(v)
                    for v in (row.get(c) for c in columns)
                ]
            )
        resp = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return resp


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value)
    text = str(value)
    # A cell starting with = + - @ is a formula in spreadsheets: quote it (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
