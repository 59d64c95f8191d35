"""Errors as JSON with a message that says what was wrong: bad input is a 4xx, never a 5xx."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, InterfaceError, OperationalError
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


MESSAGE_CHARS = 300


def shorten(data, limit: int = MESSAGE_CHARS):
    """Cut every string of an error body to a short excerpt: errors never echo big input."""
    if isinstance(data, str):
        return data if len(data) <= limit else data[:limit] + f"... ({len(data)} characters)"
    if isinstance(data, dict):
        return {shorten(str(k), 60): shorten(v, limit) for k, v in list(data.items())[:50]}
    if isinstance(data, list):
        return [shorten(v, limit) for v in data[:50]]
    return data


def exception_handler(exc, context):
    response = _handle(exc, context)
    if response is not None:
        response.data = shorten(response.data)
    return response


def _handle(exc, context):
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database is down or restarting (DataError, IntegrityError are not this).
        return Response(
            {"detail": "the database is not answering; retry later"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
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
