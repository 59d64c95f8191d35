from __future__ import annotations

from django import forms
from django.contrib import admin

import storage
from p3s.archive.models import ArchivedCopy, ArchiveRule, OutputRule, PruneRule, RunCleanup
from p3s.front.adminkit import ExpertAdmin, ReadOnlyAdmin


@admin.register(OutputRule)
class OutputRuleAdmin(ExpertAdmin):
    list_display = ["__str__", "template", "hours", "enabled"]
    list_filter = ["enabled"]


class ArchiveRuleForm(forms.ModelForm):
    class Meta:
        model = ArchiveRule
        fields = ["target", "template", "stage", "fraction", "archive_url", "enabled"]

    def clean_archive_url(self):
        url = self.cleaned_data["archive_url"].strip()
        try:
            storage.check_url(url, load=False)
        except storage.UnsupportedScheme as exc:
            raise forms.ValidationError(str(exc)) from exc
        if storage.scheme_of(url) in ("http", "https"):
            raise forms.ValidationError("archive to XRootD (root://) or a directory, not HTTP")
        return url


@admin.register(ArchiveRule)
class ArchiveRuleAdmin(ExpertAdmin):
    form = ArchiveRuleForm
    list_display = ["__str__", "target", "template", "stage", "fraction", "archive_url", "enabled"]
    list_filter = ["target", "enabled"]


@admin.register(PruneRule)
class PruneRuleAdmin(ExpertAdmin):
    list_display = ["__str__", "days", "keep_dqm", "enabled"]


@admin.register(ArchivedCopy)
class ArchivedCopyAdmin(ReadOnlyAdmin):
    list_display = ["source", "archive_url", "kind", "stage", "size", "verified_at", "error"]
    list_filter = ["kind", "verified_at"]
    search_fields = ["source", "archive_url"]
    list_per_page = 50


@admin.register(RunCleanup)
class RunCleanupAdmin(ReadOnlyAdmin):
    list_display = ["dagrun", "archived_at", "outputs_deleted_at", "deleted", "error"]
    raw_id_fields = ["dagrun"]
