"""Expert admin for the check catalogue; results and sign-offs are read-only records."""

from __future__ import annotations

from django.contrib import admin

from p3s.front.adminkit import ExpertAdmin, ReadOnlyAdmin
from p3s.quality.models import Check, CheckResult, RunSignoff


@admin.register(Check)
class CheckAdmin(ExpertAdmin):
    list_display = ["name", "kind", "metric", "scope", "bounds", "template", "stream", "enabled"]
    list_editable = ["enabled"]
    list_filter = ["kind", "enabled", "stream", "template"]
    search_fields = ["name", "metric", "description"]
    readonly_fields = ["source", "created", "updated"]
    fieldsets = [
        (None, {"fields": ["name", "description", "kind", "enabled"]}),
        ("What it reads", {"fields": ["template", "stream", "metric", "scope", "labels"]}),
        (
            "Bounds (range, bad channels; band without a bands condition)",
            {"fields": [("warning_low", "warning_high"), ("error_low", "error_high")]},
        ),
        ("Kind settings", {"fields": ["params"], "description": "see the operator guide"}),
        ("Origin", {"fields": ["source", "created", "updated"]}),
    ]

    @admin.display(description="warning / error")
    def bounds(self, obj):
        def pair(lo, hi):
            return f"[{'' if lo is None else f'{lo:g}'}, {'' if hi is None else f'{hi:g}'}]"

        return f"{pair(obj.warning_low, obj.warning_high)} / {pair(obj.error_low, obj.error_high)}"


@admin.register(CheckResult)
class CheckResultAdmin(ReadOnlyAdmin):
    list_display = ["id", "check_ref", "flag", "element_key", "run", "value", "reference",
                    "statistic", "p_value", "data_ts"]  # fmt: skip
    list_filter = ["flag"]
    search_fields = ["=run"]
    list_select_related = ["check_ref"]
    raw_id_fields = ["job", "product"]
    list_per_page = 100


@admin.register(RunSignoff)
class RunSignoffAdmin(ReadOnlyAdmin):
    list_display = ["run", "verdict", "automatic", "actor", "signed_at", "comment"]
    list_filter = ["verdict"]
    search_fields = ["=run", "actor"]
