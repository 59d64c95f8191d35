"""A job's whole log: the pilot uploads it (``POST jobs/{id}/log/``), operators read it
(``GET jobs/{id}/log/``) and search it (``GET jobs/{id}/log/search/?q=``).

Uploads are fenced by attempt and idempotent like products (:mod:`p3s.api.views`); the body
is refused by its size before it is read (:mod:`p3s.api.middleware`) and checked as it is
written (:func:`p3s.logs.store.write_checked`).
"""

from __future__ import annotations

from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from p3s.api import schema_docs as sd
from p3s.api.serializers import attempt_field, key_field
from p3s.jobs.models import Job
from p3s.logs import services, store
from p3s.logs.models import JobLog

LOG_ACTIONS = ("log",)


class LogUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="the log, gzip-compressed (one gzip member)")
    cut = serializers.IntegerField(
        min_value=0,
        max_value=2**62,
        required=False,
        default=0,
        help_text="bytes the pilot cut from the middle of a log bigger than its cap",
    )
    attempt = attempt_field()
    key = key_field()


class JobLogSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = JobLog
        fields = [
            "id",
            "job",
            "attempt",
            "size",
            "compressed_size",
            "cut_bytes",
            "lines",
            "sha256",
            "created",
            "url",
        ]

    def get_url(self, obj) -> str:
        return f"/api/v1/jobs/{obj.job_id}/log/?attempt={obj.attempt}"


class LogMatch(serializers.Serializer):
    line = serializers.IntegerField(help_text="line number, from 1")
    text = serializers.CharField(help_text=f"the line (at most {store.LINE_CHARS} characters)")


class LogSearchAnswer(serializers.Serializer):
    log = JobLogSerializer()
    query = serializers.CharField()
    matches = LogMatch(many=True)
    scanned_lines = serializers.IntegerField()
    stopped = serializers.CharField(help_text="why the search ended early; empty: it did not")


ATTEMPT = OpenApiParameter(
    "attempt", OpenApiTypes.INT, description="this attempt's log (default: the latest one)"
)
DOWNLOAD = OpenApiParameter(
    "download",
    OpenApiTypes.BOOL,
    description="1: the .log.gz file as an attachment; otherwise text/plain, sent with "
    "Content-Encoding: gzip to a client that accepts it",
)
QUERY = OpenApiParameter(
    "q", OpenApiTypes.STR, required=True, description="text to find (case-insensitive)"
)
NO_LOG = OpenApiResponse(description="no such job, or no log stored for it (JSON detail)")


def pilot_call(view) -> bool:
    """Whether this request is the pilot's upload (the rest is for operators)."""
    return view.action in LOG_ACTIONS and view.request.method == "POST"


def _attempt(request) -> int | None:
    raw = request.query_params.get("attempt")
    if raw in (None, ""):
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 32767:
        raise ValidationError({"attempt": ["must be a whole number from 1 to 32767"]})
    return int(raw)


def _flag(request, name: str) -> bool:
    raw = request.query_params.get(name, "0").lower()
    if raw not in ("0", "1", "true", "false", ""):
        raise ValidationError({name: ["must be 0 or 1"]})
    return raw in ("1", "true")


def _headers(row: JobLog) -> dict[str, str]:
    return {
        "X-P3S-Log-Attempt": str(row.attempt),
        "X-P3S-Log-Size": str(row.size),
        "X-P3S-Log-Cut-Bytes": str(row.cut_bytes),
        "X-P3S-Log-Sha256": row.sha256,
    }


def log_response(request, row: JobLog, download: bool):
    """The stored log as an HTTP answer (also used by the job page's download link)."""
    filename = f"job{row.job_id}-a{row.attempt}.log"
    if download:
        response = FileResponse(
            store.open_raw(row.name),
            as_attachment=True,
            filename=filename + ".gz",
            content_type="application/gzip",
        )
    elif "gzip" in request.headers.get("Accept-Encoding", ""):
        response = FileResponse(store.open_raw(row.name), content_type="text/plain; charset=utf-8")
        response["Content-Encoding"] = "gzip"
        response["Content-Disposition"] = f'inline; filename="{filename}"'
    else:
        response = StreamingHttpResponse(
            store.iter_chunks(row.name), content_type="text/plain; charset=utf-8"
        )
    response["Vary"] = "Accept-Encoding"
    for key, value in _headers(row).items():
        response[key] = value
    return response


class LogMixin:
    """``jobs/{id}/log/`` for :class:`p3s.api.views.JobViewSet`."""

    def _stored_log(self, request, pk) -> JobLog:
        job = get_object_or_404(Job, pk=pk)
        attempt = _attempt(request)
        row = services.latest(job, attempt)
        if row is None:
            which = f" for attempt {attempt}" if attempt else ""
            raise NotFound(f"job {job.pk} has no log{which}")
        return row

    @extend_schema(
        methods=["GET"],
        summary="A job's whole log",
        description="The log as the pilot uploaded it (head and tail of a log over the cap).",
        parameters=[ATTEMPT, DOWNLOAD],
        responses={
            (200, "text/plain"): OpenApiTypes.STR,
            (200, "application/gzip"): OpenApiTypes.BINARY,
            404: NO_LOG,
        },
    )
    @extend_schema(
        methods=["POST"],
        summary="Upload a job's whole log (pilot)",
        description="Multipart: the gzip file, the bytes cut, the attempt and an idempotency "
        "key. 201 stored, 200 a retry of a log already stored, 409 an attempt that is over.",
        request=LogUploadSerializer,
        responses={201: JobLogSerializer, 200: JobLogSerializer},
        parameters=[sd.PILOT_KEY],
    )
    @action(
        detail=True,
        methods=["get", "post"],
        parser_classes=[MultiPartParser, FormParser],
    )
    def log(self, request, pk=None):
        if request.method == "GET":
            return log_response(request, self._stored_log(request, pk), _flag(request, "download"))
        upload = self._upload  # type: ignore[attr-defined]
        job, d, fencing = upload(request, pk, LogUploadSerializer)
        try:
            row = services.store_log(job, d["file"], d["cut"], **fencing)
        except services.BadLog as exc:
            raise ValidationError({"file": [str(exc)]}) from None
        replayed = getattr(row, "replayed", False)
        return Response(JobLogSerializer(row).data, status=200 if replayed else 201)

    @extend_schema(
        summary="Search a job's log",
        description=f"Lines containing ``q`` (plain text, case-insensitive), with their "
        f"numbers: at most {store.MAX_MATCHES} and for at most {store.SEARCH_SECONDS:g} s.",
        parameters=[QUERY, ATTEMPT],
        responses={200: LogSearchAnswer, 404: NO_LOG},
    )
    @action(detail=True, methods=["get"], url_path="log/search")
    def log_search(self, request, pk=None):
        query = check_query(request.query_params.get("q", ""))
        row = self._stored_log(request, pk)
        found = store.search(row.name, query)
        return Response(
            {
                "log": JobLogSerializer(row).data,
                "query": query,
                "matches": [{"line": n, "text": t} for n, t in found.matches],
                "scanned_lines": found.scanned,
                "stopped": found.stopped,
            }
        )


def check_query(query: str) -> str:
    """A search text: not blank, at most :data:`p3s.logs.store.MAX_QUERY` characters."""
    if not query.strip():
        raise ValidationError({"q": ["give the text to search for"]})
    if len(query) > store.MAX_QUERY:
        raise ValidationError({"q": [f"at most {store.MAX_QUERY} characters"]})
    return query
