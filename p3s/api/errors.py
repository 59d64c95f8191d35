"""Errors as JSON with a message that says what was wrong: bad input is a 4xx, never a 5xx."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from p3s.exceptions import Conflict, IllegalTransition, InvalidDag, NotYours

STATUS = {
    InvalidDag: status.HTTP_400_BAD_REQUEST,
    NotYours: status.HTTP_403_FORBIDDEN,
    IllegalTransition: status.HTTP_409_CONFLICT,
    Conflict: status.HTTP_409_CONFLICT,
}


def _flatten(detail, prefix: str = "") -> list[str]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else f"{prefix}{key}"
            out += _flatten(value, f"{name}." if name else "")
        return out
    if isinstance(detail, list):
        return [m for item in detail for m in _flatten(item, prefix)]
    where = prefix[:-1] + ": " if prefix else ""
    return [f"{where}{detail}"]


def exception_handler(exc, context):
    for cls, code in STATUS.items():
        if isinstance(exc, cls):
            return Response({"detail": str(exc)}, status=code)
    if isinstance(exc, ObjectDoesNotExist):
        return Response({"detail": f"not found: {exc}"}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, DataError):
        # The database refused a value (out of range, bad encoding): bad input, not a crash.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid value"
        return Response(
            {"detail": f"the database cannot store or compare this value: {first}"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DjangoValidationError):
        return Response({"detail": "; ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            {"detail": "; ".join(_flatten(exc.detail)), "errors": exc.detail},
            status=status.HTTP_400_BAD_REQUEST,
        )
    response = drf_handler(exc, context)
    if response is not None and isinstance(exc, Http404):
        response.data = {"detail": "not found"}
    return response
