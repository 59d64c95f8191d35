"""Expert admin for jobs: read-only records; retry, cancel and reprioritise go through p3s.jobs.actions."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.urls import reverse
from django.utils.html import format_html

from p3s.exceptions import IllegalTransition
from p3s.front.adminkit import ReadOnlyAdmin, ReadOnlyInline, actor
from p3s.jobs import actions
from p3s.jobs.models import Job, JobEvent


class JobEventInline(ReadOnlyInline):
    model = JobEvent
    fields = ["at", "from_state", "to_state", "attempt", "actor", "reason"]
    readonly_fields = fields
    ordering = ["id"]


class PriorityActionForm(ActionForm):
    priority = forms.IntegerField(
        required=False, min_value=-(10**6), max_value=10**6, help_text="for 'Set priority'"
    )


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "stage",
        "template",
        "run",
        "state",
        "attempt",
        "priority",
        "queue",
        "pilot",
        "data_ts",
        "updated",
        "page",
    ]
    list_filter = ["state", "queue"]
    list_select_related = ["dagrun__template", "dagrun__file", "pilot"]
    search_fields = ["=id", "=dagrun__id", "stage"]
    raw_id_fields = ["dagrun", "pilot", "settings"]
    inlines = [JobEventInline]
    action_form = PriorityActionForm
    actions = ["retry", "cancel", "set_priority"]
    list_per_page = 50

    @admin.display(description="template")
    def template(self, obj):
        return obj.dagrun.template.name

    @admin.display(description="run")
    def run(self, obj):
        return obj.dagrun.file.run

    @admin.display(description="")
    def page(self, obj):
        return format_html('<a href="{}">operator page</a>', reverse("front:job", args=[obj.pk]))

    def _each(self, request, queryset, fn, verb: str) -> None:
        done, refused = 0, []
        for pk in queryset.values_list("pk", flat=True)[:1000]:
            try:
                fn(pk)
                done += 1
            except IllegalTransition as exc:
                refused.append(str(exc))
        if done:
            self.message_user(request, f"{done} job(s) {verb}", messages.SUCCESS)
        for text in refused[:10]:
            self.message_user(request, text, messages.WARNING)
        if len(refused) > 10:
            self.message_user(
                request, f"... and {len(refused) - 10} more refused", messages.WARNING
            )

    @admin.action(description="Retry selected jobs (failed, timeout, dropped, cancelled)")
    def retry(self, request, queryset):
        self._each(
            request, queryset, lambda pk: actions.retry(pk, actor(request)), "sent back to waiting"
        )

    @admin.action(description="Cancel selected jobs (waiting, dispatched, running)")
    def cancel(self, request, queryset):
        self._each(request, queryset, lambda pk: actions.cancel(pk, actor(request)), "cancelled")

    @admin.action(description="Set priority of selected jobs (enter it next to the action)")
    def set_priority(self, request, queryset):
        try:
            value = PriorityActionForm.base_fields["priority"].clean(request.POST.get("priority"))
        except forms.ValidationError:
            value = None
        if value is None:
            self.message_user(
                request,
                "enter a whole-number priority (-1000000 to 1000000) next to the action",
                messages.ERROR,
            )
            return
        self._each(
            request,
            queryset,
            lambda pk: actions.set_priority(pk, value, actor(request)),
            f"set to priority {value}",
        )
