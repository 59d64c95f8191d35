"""The conditions and references API: read by pilots and operators, cacheable over HTTP.

Every answer carries a strong ``ETag``, ``Last-Modified`` and ``Cache-Control: max-age=60,
must-revalidate``; ``If-None-Match`` (or ``If-Modified-Since``) that still matches gets 304
with no body. ``Vary: Authorization, Cookie`` lets a shared cache (Squid in front of the
server, the FroNTier pattern) keep one copy per credential: pilots of a site share one
token, so they share the copy, and no answer is served to a request with other credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.http import http_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from p3s.accounts import roles
from p3s.conditions import references, services
from p3s.conditions.models import Condition, ReferenceSet, digest_of, max_reference_age

CACHE_CONTROL = "max-age=60, must-revalidate"
VARY = ("Authorization", "Cookie")


def _whole(request, name: str, minimum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: [f"must be a whole number, not {raw!r}"]}) from None
    if value < minimum or value > 2**31 - 1:
        raise ValidationError({name: [f"must be between {minimum} and {2**31 - 1}"]})
    return value


def cacheable(request, etag: str, last_modified: datetime, body: Callable[[], Any]) -> HttpResponse:
    """A 304 when the client's copy is current, else ``body()`` with the cache headers."""
    headers = {
        "ETag": etag,
        "Last-Modified": http_date(last_modified.timestamp()),
        "Cache-Control": CACHE_CONTROL,
    }
    stub = HttpResponse()
    for k, v in headers.items():
        stub.headers[k] = v
    patch_vary_headers(stub, VARY)
    answer = get_conditional_response(
        request._request, etag=etag, last_modified=int(last_modified.timestamp()), response=stub
    )
    if answer is not stub:  # 304 (or 412 for a failed If-Match): headers kept, no body
        return answer
    response = Response(body())
    for k, v in headers.items():
        response.headers[k] = v
    patch_vary_headers(response, VARY)
    return response


# -- schema (what the answers look like) ---------------------------------------------------


class ConditionSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField()
    valid_from_run = serializers.IntegerField(allow_null=True)
    valid_to_run = serializers.IntegerField(allow_null=True)
    valid_from = serializers.DateTimeField(allow_null=True)
    valid_to = serializers.DateTimeField(allow_null=True)
    owner = serializers.CharField()
    comment = serializers.CharField()
    updated = serializers.DateTimeField()
    digest = serializers.CharField(help_text="sha256 of the data")
    data = serializers.JSONField(help_text="format per name: see the operator guide")


class ConditionItemSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField(help_text="the current version (for ?run= if given)")
    versions = serializers.IntegerField(help_text="how many versions exist")
    url = serializers.URLField(help_text="this version's URL (cacheable)")


class ElementSerializer(serializers.Serializer):
    name = serializers.CharField()
    labels = serializers.DictField(child=serializers.CharField())
    element_key = serializers.CharField()


class ReferenceHistSerializer(ElementSerializer):
    n_sources = serializers.IntegerField()
    body = serializers.JSONField(help_text="p3s-hist-1 JSON")


class ReferenceMetricSerializer(ElementSerializer):
    mean = serializers.FloatField()
    std = serializers.FloatField()
    n = serializers.IntegerField()


class ReferenceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    template = serializers.CharField()
    stream = serializers.CharField()
    name = serializers.CharField()
    run = serializers.IntegerField(allow_null=True)
    source_runs = serializers.ListField(child=serializers.IntegerField())
    source_dagruns = serializers.ListField(child=serializers.IntegerField())
    owner = serializers.CharField()
    comment = serializers.CharField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    valid_from_run = serializers.IntegerField(allow_null=True)
    valid_to_run = serializers.IntegerField(allow_null=True)
    valid_until = serializers.DateTimeField(allow_null=True)
    active = serializers.BooleanField()
    expired = serializers.BooleanField()
    expired_reason = serializers.CharField()
    hists = ReferenceHistSerializer(many=True)
    metrics = ReferenceMetricSerializer(many=True)


CACHE_HEADERS = [
    OpenApiParameter(
        "If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, description="an ETag seen"
    ),
    OpenApiParameter(
        "If-Modified-Since", OpenApiTypes.STR, OpenApiParameter.HEADER, description="HTTP date"
    ),
    OpenApiParameter(
        "ETag",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[200, 304],
        description="strong validator of this answer",
    ),
    OpenApiParameter(
        "Last-Modified", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200, 304]
    ),
    OpenApiParameter(
        "Cache-Control",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[200, 304],
        description=CACHE_CONTROL,
    ),
]
RUN = OpenApiParameter(
    "run", OpenApiTypes.INT, description="the version current for this run (default: newest)"
)
NOT_MODIFIED = OpenApiResponse(description="not modified: the copy you hold is current")
NOT_FOUND = OpenApiResponse(description="no such name (JSON detail)")


# -- views --------------------------------------------------------------------------------


class ConditionListView(APIView):
    """Condition names with their current version and its URL."""

    permission_classes = [roles.IsOperatorOrPilot]

    @extend_schema(
        parameters=[RUN, *CACHE_HEADERS],
        responses={200: ConditionItemSerializer(many=True), 304: NOT_MODIFIED},
    )
    def get(self, request):
        run = _whole(request, "run", 0)
        current = services.current_versions(run)
        counts = dict(Condition.objects.values_list("name").annotate(n=Max("version")).order_by())
        newest = Condition.objects.aggregate(t=Max("updated"))["t"] or timezone.now()
        items = [
            {
                "name": name,
                "version": version,
                "versions": counts.get(name, version),
                "url": services.condition_url(request, name, version),
            }
            for name, version in sorted(current.items())
        ]
        etag = f'"conditions-{digest_of(items)[:24]}"'
        return cacheable(request, etag, newest, lambda: items)


class ConditionDetailView(APIView):
    """One condition: the version current for ``?run=`` (or the newest), or ``?version=``."""

    permission_classes = [roles.IsOperatorOrPilot]

    @extend_schema(
        parameters=[
            RUN,
            OpenApiParameter("version", OpenApiTypes.INT, description="exactly this version"),
            *CACHE_HEADERS,
        ],
        responses={200: ConditionSerializer, 304: NOT_MODIFIED, 404: NOT_FOUND},
    )
    def get(self, request, name: str):
        run, version = _whole(request, "run", 0), _whole(request, "version", 1)
        if version is not None:
            condition = Condition.objects.filter(name=name, version=version).first()
            if condition is None:
                raise NotFound(f"condition {name!r} has no version {version}")
            changed = condition.updated
        else:
            condition = services.current_condition(name, run)
            if condition is None:
                raise NotFound(self._missing(name, run))
            # What this URL shows changes when any version of the name appears or starts.
            changed = max(
                Condition.objects.filter(name=name).aggregate(t=Max("updated"))["t"],
                condition.valid_from or condition.updated,
            )
        return cacheable(
            request, services.etag_of(condition), changed, lambda: services.as_dict(condition)
        )

    @staticmethod
    def _missing(name: str, run: int | None) -> str:
        known = sorted(set(Condition.objects.values_list("name", flat=True)))
        if name in known:
            return f"no version of condition {name!r} is valid for run {run}"
        return f"there is no condition {name!r} (known: {', '.join(known) or 'none'})"


class ReferenceDetailView(APIView):
    """The current reference set of a template (``?stream=``), with its hists and metrics."""

    permission_classes = [roles.IsOperatorOrPilot]

    @extend_schema(
        parameters=[
            OpenApiParameter("stream", OpenApiTypes.STR, description="tpc, bi, crt; default any"),
            OpenApiParameter("run", OpenApiTypes.INT, description="the reference valid for it"),
            *CACHE_HEADERS,
        ],
        responses={200: ReferenceSerializer, 304: NOT_MODIFIED, 404: NOT_FOUND},
    )
    def get(self, request, template: str):
        stream = request.query_params.get("stream") or None
        if stream is not None and len(stream) > 32:
            raise ValidationError({"stream": ["at most 32 characters"]})
        ref = references.current_reference(template, stream, _whole(request, "run", 0))
        if ref is None:
            where = f" on stream {stream!r}" if stream else ""
            raise NotFound(f"template {template!r} has no active reference{where}")
        # The hists and metrics are read only for a 200 (two queries, however many): a 304
        # costs the one query above.
        return cacheable(
            request,
            references.etag_of(ref),
            _reference_changed(ref),
            lambda: references.as_dict(ref),
        )


def _reference_changed(ref: ReferenceSet) -> datetime:
    """When the answer last changed: its update, or the moment it expired (which changes
    ``expired`` in the body without touching the row)."""
    if not ref.expired:
        return ref.updated
    moments = [ref.updated]
    now = timezone.now()
    if ref.valid_until and ref.valid_until <= now:
        moments.append(ref.valid_until)
    elif ref.created + max_reference_age() <= now:
        moments.append(ref.created + max_reference_age())
    else:  # expired by a newer run: when is not recorded here, so never "not modified" by date
        moments.append(now + timedelta(seconds=1))
    return max(moments)


urlpatterns = [
    path("conditions/", ConditionListView.as_view(), name="condition-list"),
    path("conditions/<slug:name>/", ConditionDetailView.as_view(), name="condition-detail"),
    path("references/<slug:template>/", ReferenceDetailView.as_view(), name="reference-detail"),
]
