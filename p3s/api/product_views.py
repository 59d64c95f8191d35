"""Pilots upload a job's visual products: one per request, or a batch in one request.

A batch (``POST jobs/{id}/products/batch/``) is a multipart form with ``items``, a JSON list
of ``{kind, title, labels, key}``, and the files ``file0`` ... ``file{n-1}`` in that order.
It is stored whole or not at all (:func:`p3s.dqm.services.store_products`): one job lookup,
one attempt check, one transaction for all rows. Each item keeps its own idempotency key, so
a batch sent again stores nothing twice. The body limit of a batch is that of one product
(``MAX_UPLOAD_BYTES``): a pilot sends a bigger product alone.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from p3s.api import limits
from p3s.api import schema_docs as sd
from p3s.api import serializers as s
from p3s.dqm import services as dqm
from p3s.dqm.services import BadProduct
from p3s.jobs import actions

#: Products in one batch at most (an ADC+FFT job makes 22 for one APA).
MAX_BATCH = 64


class ProductBatchSerializer(serializers.Serializer):
    items = serializers.JSONField(
        help_text=f"a JSON list of 1 to {MAX_BATCH} {{kind, title, labels, key}}; "
        "item i's file is the form field file<i>"
    )
    attempt = s.attempt_field()

    def validate_items(self, value):
        value = limits.form_json(value, "items")
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_BATCH:
            raise serializers.ValidationError(f"must be a list of 1 to {MAX_BATCH} items")
        out, errors = [], {}
        for i, item in enumerate(value):
            ser = s.ProductItemSerializer(data=item)
            if not isinstance(item, dict):
                errors[str(i)] = ["must be an object with kind, title, labels, key"]
            elif not ser.is_valid():
                errors[str(i)] = ser.errors
            else:
                out.append(ser.validated_data)
        if errors:
            raise serializers.ValidationError(errors)
        keys = [d["key"] for d in out if d["key"]]
        if len(keys) != len(set(keys)):
            raise serializers.ValidationError("two items carry the same key")
        return out


def _files(request, n: int) -> list:
    """The files ``file0`` ... ``file{n-1}``: each present, none beyond, each within the limit."""
    errors = {}
    extra = sorted(set(request.FILES) - {f"file{i}" for i in range(n)})
    if extra:
        errors["files"] = [f"files without an item: {', '.join(extra[:5])}"]
    files = [request.FILES.get(f"file{i}") for i in range(n)]
    for i, f in enumerate(files):
        try:
            if f is None:
                raise ValidationError("is missing")
            s.check_upload_size(f)
        except ValidationError as exc:
            errors[f"file{i}"] = exc.detail
    if errors:
        raise ValidationError(errors)
    return files


class ProductUploadMixin:
    """The pilot's product uploads on :class:`p3s.api.views.JobViewSet`."""

    def _upload(self, request, pk, serializer_class) -> tuple[object, dict, dict]:
        """An upload of the job's current attempt: ``(job, fields, fencing)``, where
        ``fencing`` holds the ``attempt``, ``key`` and ``fence`` the store calls take."""
        job, pilot = self._my_job(request, pk)
        actions.check_current_attempt(job, pilot.pk, None)  # before reading a big body
        ser = serializer_class(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        actions.check_current_attempt(job, pilot.pk, d["attempt"])
        attempt = d["attempt"] or job.attempt
        key = self._client_key(request, d) if "key" in d else ""
        return job, d, {"attempt": attempt, "key": key, "fence": self._fence(pilot, attempt)}

    @extend_schema(
        request=s.ProductUploadSerializer,
        responses={201: s.ProductSerializer},
        parameters=[sd.PILOT_KEY],
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def products(self, request, pk=None):
        job, d, fencing = self._upload(request, pk, s.ProductUploadSerializer)
        try:
            product = dqm.store_product(
                job, d["file"], d["kind"], d["title"], d["labels"], **fencing
            )
        except BadProduct as exc:
            raise ValidationError({"file": [str(exc)]}) from None
        return Response(s.ProductSerializer(product).data, status=200 if product.replayed else 201)

    @extend_schema(
        request=ProductBatchSerializer,
        responses={
            201: inline_serializer(
                "ProductBatchStored",
                {
                    "products": s.ProductSerializer(many=True),
                    "replayed": serializers.IntegerField(),
                },
            )
        },
        parameters=[sd.PILOT_KEY],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="products/batch",
        parser_classes=[MultiPartParser, FormParser],
    )
    def products_batch(self, request, pk=None):
        job, d, fencing = self._upload(request, pk, ProductBatchSerializer)
        files = _files(request, len(d["items"]))
        uploads = [
            dqm.Upload(f, i["kind"], i["title"], i["labels"], i["key"])
            for f, i in zip(files, d["items"], strict=True)
        ]
        try:
            stored = dqm.store_products(job, uploads, fencing["attempt"], fencing["fence"])
        except BadProduct as exc:
            raise ValidationError({f"file{exc.index}": [str(exc)]}) from None
        replayed = sum(1 for p in stored if p.replayed)
        body = {"products": s.ProductSerializer(stored, many=True).data, "replayed": replayed}
        return Response(body, status=200 if replayed == len(stored) else 201)
