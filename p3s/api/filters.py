"""Filters shared by the API's list endpoints."""

from __future__ import annotations

from datetime import UTC

import django_filters
from rest_framework.exceptions import ValidationError


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time, converted to UTC before it reaches the database.

    PostgreSQL refuses offsets beyond +-15:59 that Python accepts (``+23:02``); converted
    first, any offset works, and a time that has no UTC equivalent is a 400, not a 500.
    """

    def filter(self, qs, value):
        if value is not None:
            try:
                value = value.astimezone(UTC)
            except (OverflowError, ValueError):
                raise ValidationError(
                    f"the time {value.isoformat()} is out of range in UTC"
                ) from None
        return super().filter(qs, value)
