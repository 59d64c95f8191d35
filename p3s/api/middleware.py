"""Request hardening for the API, before any view runs.

:class:`ApiLimits` refuses a body by its declared size (``Content-Length``) before a byte of
it is read or spooled: uploads up to ``P3S_MAX_UPLOAD_BYTES`` (plus the form around the
file), job logs up to ``P3S_LOG_MAX_BYTES`` (compressed: a log seldom comes near it), DAG templates up to ``P3S_MAX_DAG_BYTES``, every other API body up to
``P3S_MAX_BODY_BYTES``. It also makes every 4xx and 5xx under ``/api/`` JSON, whoever
produced it (the URL resolver's 404, Django's own 400 for a bad Host or a body too large,
an unhandled 500, a database that does not answer: 503). A path or query parameter with a
NUL or another control character is refused (400) before any view can hand it to the
database, which refuses NUL in every text parameter (found by schemathesis on ``?stream=``).
"""

from __future__ import annotations

import errno
import logging
import re

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

from p3s.api.limits import BAD_TEXT, excerpt

log = logging.getLogger("p3s.api")
FORM_SLACK = 64 * 1024  # multipart headers and the small fields around an uploaded file
UPLOAD_PATH = re.compile(r"^/api/v1/jobs/[^/]+/products/(batch/)?$")
LOG_PATH = re.compile(r"^/api/v1/jobs/[^/]+/log/$")
# gzip of a log that does not compress is a little bigger than the log (a 20 MB log: +7 KB)
LOG_SLACK = 1 / 1000
DAG_PATH = re.compile(r"^/api/v1/dags/")

MESSAGES = {
    400: "bad request: the Host header is not allowed here, or the request could not be read",
    401: "authentication required: send 'Authorization: Token <key>'",
    403: "forbidden",
    404: "not found: no such API endpoint or object",
    405: "method not allowed on this endpoint",
    413: "request body too large",
    415: "unsupported media type",
    500: "internal server error: the operators have the details in the server log",
    502: "bad gateway",
    503: "service unavailable: retry later",
}


def body_limit(path: str) -> int:
    if UPLOAD_PATH.match(path):
        return settings.P3S["MAX_UPLOAD_BYTES"] + FORM_SLACK
    if LOG_PATH.match(path):
        logs = settings.P3S["LOG_MAX_BYTES"]
        return logs + int(logs * LOG_SLACK) + 2 * FORM_SLACK  # + the pilot's lines, the form
    if DAG_PATH.match(path):
        return settings.P3S["MAX_DAG_BYTES"]
    return settings.P3S["MAX_BODY_BYTES"]


def _control_in_url(request) -> str:
    """Why the path or a query parameter is refused (a control character), or ''."""
    if BAD_TEXT.search(request.path):
        return "the path contains a control character"
    for key, values in request.GET.lists():
        for text in (key, *values):
            if BAD_TEXT.search(text):
                return f"query parameter {excerpt(key)} contains a control character"
    return ""


def _is_json(response) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip().endswith("json")


class ApiLimits:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        declared = request.META.get("CONTENT_LENGTH") or "0"
        try:
            size = int(declared)
        except ValueError:
            return JsonResponse({"detail": "Content-Length is not a number"}, status=400)
        refused = _control_in_url(request)
        if refused:
            return JsonResponse({"detail": refused}, status=400)
        limit = body_limit(request.path)
        if size > limit:
            response = JsonResponse(
                {"detail": f"the body is {size} bytes; this endpoint accepts at most {limit}"},
                status=413,
            )
            response["Connection"] = "close"
            return response
        response = self.get_response(request)
        if response.status_code >= 400 and not _is_json(response):
            status = response.status_code
            detail = MESSAGES.get(status, f"HTTP {status}")
            response = JsonResponse({"detail": detail}, status=status)
        return response

    def process_exception(self, request, exception):
        if request.path.startswith("/api/") and isinstance(
            exception, (OperationalError, InterfaceError)
        ):
            log.error("database error on %s: %s", request.path, exception)
            return JsonResponse(
                {"detail": "the database is not answering; retry later"},
                status=503,
                headers={"Retry-After": "5"},
            )
        if request.path.startswith("/api/") and isinstance(exception, OSError):
            if exception.errno in (errno.ENOSPC, errno.EDQUOT):
                # Not the client's fault and not for ever: pilots retry a 503 (a 500 three
                # times in a row is a bug to them, and they would drop the delivery).
                log.error("staging disk full on %s: %s", request.path, exception)
                return JsonResponse(
                    {"detail": "the server's staging disk is full; retry later"},
                    status=503,
                    headers={"Retry-After": "30"},
                )
        return None
