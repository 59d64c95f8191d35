"""``/healthz``: is the server up, and (``?deep=1``) is the sweeper sweeping."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from p3s.api.schema_docs import Health


class HealthView(APIView):
    """``/healthz``: 200 when the database answers. ``/healthz?deep=1`` also checks that the
    sweeper completed a pass within ``P3S_SWEEP_LATE`` seconds (503 JSON when it did not)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={
            200: Health,
            503: OpenApiResponse(description="database down, or (deep) the sweeper is late"),
        }
    )
    def get(self, request):
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
        except Exception as exc:
            first = (str(exc).strip().splitlines() or ["no answer"])[0][:200]
            return JsonResponse(
                {"status": "error", "detail": f"database does not answer: {first}"}, status=503
            )
        if request.query_params.get("deep") not in ("1", "true", "yes"):
            return JsonResponse({"status": "ok"})
        from p3s.jobs.sweep import beat_age

        late_after = settings.P3S["SWEEP_LATE"]
        age = beat_age()
        sweeper = {"age_s": None if age is None else round(age, 1), "late_after_s": late_after}
        if age is None or age > late_after:
            when = "has never completed a pass" if age is None else f"last swept {age:.0f} s ago"
            detail = (
                f"the sweeper {when} (late after {late_after:g} s): is p3s_sweep --loop running? "
                "See docs/operations.md"
            )
            return JsonResponse(
                {"status": "late", "detail": detail, "sweeper": sweeper}, status=503
            )
        return JsonResponse({"status": "ok", "sweeper": sweeper})
