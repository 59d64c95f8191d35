"""Pagination for every API list: limit/offset with a bounded limit.

DRF's LimitOffsetPagination takes any integer; SQLite cannot bind one beyond 64 bits (an
OverflowError, a 500 found by schemathesis with ``?limit=2124865141641695734005760``), and no
client needs more than ``max_limit`` rows at once.
"""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = 1000
    #: Offsets beyond this are refused by clamping (SQLite binds 64-bit integers only).
    max_offset = 10**12

    def get_offset(self, request):
        return min(super().get_offset(request), self.max_offset)
