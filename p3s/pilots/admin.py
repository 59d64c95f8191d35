"""Expert admin for pilots: read-only (pilots write their own records through the API)."""

from __future__ import annotations

from django.contrib import admin

from p3s.front.adminkit import ReadOnlyAdmin
from p3s.pilots.models import Pilot


@admin.register(Pilot)
class PilotAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "host",
        "site",
        "batch_system",
        "batch_id",
        "state",
        "job",
        "jobs_done",
        "last_seen",
        "registered",
        "version",
    ]
    list_filter = ["state", "batch_system", "site"]
    search_fields = ["host", "batch_id"]
    list_select_related = ["job"]
    exclude = ["key_hash"]
    raw_id_fields = ["job", "token"]
