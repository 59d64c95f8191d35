"""Staging areas and switches in the admin: read-only (the sweeper writes them; the areas
are configured by P3S_STAGING_PRIMARY / P3S_STAGING_FALLBACK, docs/storage.md)."""

from django.contrib import admin

from p3s.front.adminkit import ReadOnlyAdmin as ReadOnly
from p3s.staging.models import StagingArea, StagingSwitch


@admin.register(StagingArea)
class StagingAreaAdmin(ReadOnly):
    list_display = (
        "role",
        "url",
        "in_use",
        "healthy",
        "good_streak",
        "bad_streak",
        "last_probe",
        "free_bytes",
        "total_bytes",
        "last_error",
    )


@admin.register(StagingSwitch)
class StagingSwitchAdmin(ReadOnly):
    list_display = ("at", "from_role", "to_role", "to_url", "reason")
    date_hierarchy = "at"
