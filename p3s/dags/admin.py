"""Expert admin for DAG templates (edited as YAML, validated, previewed), runs and files."""

from __future__ import annotations

import yaml
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from p3s.dags import flow, history, spec
from p3s.dags.admin_safe import SafeChangesMixin
from p3s.dags.models import DagRun, DagTemplate, DagVersion, DataFile, StageSettings
from p3s.exceptions import InvalidDag
from p3s.front.adminkit import ExpertAdmin, ReadOnlyAdmin, ReadOnlyInline, actor, is_expert
from p3s.front.dagsvg import dag_svg

NEW_TEMPLATE = """\
name: my-workflow
description: what it monitors
enabled: true
trigger: {stream: tpc, pattern: "*.h5"}
policy: {max_age: 3600}
stages:
  adc:
    payload: diag
    timeout: 300
  plots:
    payload: diag
    parents: [adc]
"""


def spec_svg(dag: spec.DagSpec) -> str:
    return dag_svg(
        dag.order,
        dag.graph,
        subtitles={
            s: f"{dag.graph[s]['payload']} · prio {dag.tunables[s]['priority']}" for s in dag.order
        },
    )


class DagTemplateForm(forms.ModelForm):
    """The whole template as YAML; saving goes through spec.validate and flow.apply_spec."""

    yaml = forms.CharField(
        label="Template (YAML)",
        widget=forms.Textarea(
            attrs={
                "rows": 26,
                "cols": 90,
                "class": "vLargeTextField p3s-yaml",
                "spellcheck": "false",
                "style": "font-family: monospace; font-size: 13px",
            }
        ),
        help_text="Stages with payload, args, queue, parents and the tunables priority, timeout, "
        "max_attempts, prescale, event_fraction, split (apa:N or events:N parallel parts). "
        "A changed graph makes a new version "
        "(running DAG runs keep theirs); tunables change live.",
    )

    class Meta:
        model = DagTemplate
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            if self.instance.pk and self.instance.current_version_id:
                self.initial["yaml"] = history.current_source(self.instance)
            else:
                self.initial["yaml"] = NEW_TEMPLATE

    def clean_yaml(self) -> str:
        text = self.cleaned_data["yaml"]
        try:
            dag = spec.load(text)
        except InvalidDag as exc:
            raise forms.ValidationError(str(exc)) from None
        if self.instance.pk and dag.name != self.instance.name:
            raise forms.ValidationError(
                f"the YAML names {dag.name!r} but this is the template {self.instance.name!r}: "
                "to make a new template, use 'Add DAG template' or import"
            )
        if not self.instance.pk and DagTemplate.objects.filter(name=dag.name).exists():
            raise forms.ValidationError(
                f"a template named {dag.name!r} exists already: edit that one"
            )
        self.dag = dag
        return text


class StageSettingsInline(ReadOnlyInline):
    model = StageSettings
    fields = [
        "stage", "priority", "timeout", "max_attempts", "prescale", "event_fraction",
        "split", "adaptive_factor", "paused", "paused_reason",
    ]  # fmt: skip
    readonly_fields = fields
    verbose_name_plural = (
        "live tunables (edit them in the YAML); paused stages resume by the action"
    )


class DagVersionInline(ReadOnlyInline):
    model = DagVersion
    fields = ["number", "created", "created_by", "stages"]
    readonly_fields = fields
    ordering = ["-number"]
    verbose_name_plural = "versions (immutable graphs; DAG runs keep the version they started with)"

    @admin.display(description="stages")
    def stages(self, obj):
        return ", ".join(obj.graph.get("order", []))


@admin.register(DagTemplate)
class DagTemplateAdmin(SafeChangesMixin, ExpertAdmin):
    form = DagTemplateForm
    change_form_template = "admin/dags/dagtemplate/change_form.html"
    change_list_template = "admin/dags/dagtemplate/change_list.html"
    list_display = [
        "name",
        "enabled",
        "trigger_stream",
        "trigger_pattern",
        "version",
        "stage_list",
        "updated",
    ]
    list_filter = ["enabled", "trigger_stream"]
    search_fields = ["name", "description"]
    list_select_related = ["current_version"]
    readonly_fields = ["graph_preview"]
    fields = ["yaml", "graph_preview"]
    inlines = [StageSettingsInline, DagVersionInline]
    actions = ["export_yaml", "enable", "disable", "resume_paused"]

    @admin.display(description="version")
    def version(self, obj):
        return obj.current_version.number if obj.current_version else "-"

    @admin.display(description="stages")
    def stage_list(self, obj):
        return " → ".join(obj.current_version.graph["order"]) if obj.current_version else ""

    @admin.display(description="graph")
    def graph_preview(self, obj):
        svg = spec_svg(flow.spec_of(obj)) if obj and obj.pk and obj.current_version_id else ""
        return format_html(
            '<div id="dag-preview" class="p3s-dag-preview">{}</div>'
            '<div id="dag-preview-error" class="errornote" style="display:none"></div>'
            '<p class="help">The saved graph; it redraws as you edit the YAML (not saved until you press Save).</p>',
            mark_safe(svg),
        )

    def save_model(self, request, obj, form, change):
        applied = flow.apply_spec(form.dag, actor=actor(request), source=form.cleaned_data["yaml"])
        saved = applied.template
        for f in DagTemplate._meta.concrete_fields:
            setattr(obj, f.attname, getattr(saved, f.attname))
        obj._state.adding = False
        if change:
            note = (
                f"new graph: version {saved.current_version.number}"
                if applied.new_version
                else "same graph; tunables and trigger updated live"
            )
            messages.info(request, f"Template {saved.name}: {note}")

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return (
            self.safe_urls()
            + [
                path("preview/", wrap(self.preview_view), name=f"{prefix}_preview"),
                path("import/", wrap(self.import_view), name=f"{prefix}_import"),
                path("<int:pk>/export/", wrap(self.export_view), name=f"{prefix}_export"),
            ]
            + super().get_urls()
        )

    def preview_view(self, request):
        """POST yaml: the drawn graph or the validation error (for the live preview)."""
        if not self.has_change_permission(request) or request.method != "POST":
            raise PermissionDenied
        try:
            dag = spec.load(request.POST.get("yaml", ""))
        except InvalidDag as exc:
            return JsonResponse({"ok": False, "error": str(exc)})
        return JsonResponse({"ok": True, "svg": spec_svg(dag)})

    def export_view(self, request, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        template = get_object_or_404(DagTemplate, pk=pk, current_version__isnull=False)
        return self._yaml_response([template], f"{template.name}.yaml")

    @admin.action(description="Export selected templates as YAML")
    def export_yaml(self, request, queryset):
        return self._yaml_response(
            list(queryset.filter(current_version__isnull=False)), "dag-templates.yaml"
        )

    @admin.action(description="Enable selected templates")
    def enable(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected templates (new files start no DAG run)")
    def disable(self, request, queryset):
        self._set_enabled(request, queryset, False)

    @admin.action(description="Resume the paused stages of selected templates (circuit breaker)")
    def resume_paused(self, request, queryset):
        from p3s.jobs import breaker

        done = []
        for template in queryset:
            with transaction.atomic():
                done += [
                    f"{template.name}/{s}" for s in breaker.resume(template, None, actor(request))
                ]
        if done:
            self.message_user(request, "Resumed: " + ", ".join(done))
        else:
            self.message_user(
                request, "No paused stage in the selected templates", messages.WARNING
            )

    def _set_enabled(self, request, queryset, enabled: bool):
        for template in queryset.filter(current_version__isnull=False):
            dag = flow.spec_of(template)
            dag.enabled = enabled
            flow.apply_spec(dag, actor=actor(request), source=spec.dump_yaml(dag))
        self.message_user(
            request, f"{queryset.count()} template(s) {'enabled' if enabled else 'disabled'}"
        )

    def _yaml_response(self, templates, filename: str) -> HttpResponse:
        text = "".join("---\n" + spec.dump_yaml(flow.spec_of(t)) for t in templates)
        resp = HttpResponse(text, content_type="application/yaml; charset=utf-8")
        resp["Content-Disposition"] = f'attachment; filename="{filename}"'
        return resp

    def import_view(self, request):
        """Upload or paste YAML documents: all valid, all applied; any invalid, none applied."""
        if not self.has_add_permission(request) or not self.has_change_permission(request):
            raise PermissionDenied
        errors: list[str] = []
        text = ""
        if request.method == "POST":
            upload = request.FILES.get("file")
            text = (
                upload.read().decode("utf-8", "replace") if upload else request.POST.get("yaml", "")
            )
            specs = []
            try:
                docs = [d for d in yaml.safe_load_all(text) if d is not None]
            except yaml.YAMLError as exc:
                docs = []
                errors.append(f"not valid YAML: {exc}")
            if not docs and not errors:
                errors.append("no templates in the YAML")
            for i, doc in enumerate(docs, 1):
                try:
                    if not isinstance(doc, dict):
                        raise InvalidDag(
                            "a DAG template must be a mapping with name, trigger and stages"
                        )
                    specs.append((spec.validate(doc), yaml.safe_dump(doc, sort_keys=False)))
                except InvalidDag as exc:
                    name = doc.get("name") if isinstance(doc, dict) else None
                    errors.append(f"document {i}{f' ({name})' if name else ''}: {exc}")
            if not errors:
                with transaction.atomic():
                    results = [
                        flow.apply_spec(dag, actor=actor(request), source=src) for dag, src in specs
                    ]
                for r in results:
                    what = (
                        "created" if r.created else ("new version" if r.new_version else "updated")
                    )
                    messages.success(request, f"{r.template.name}: {what}")
                return redirect(reverse("admin:dags_dagtemplate_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import DAG templates",
            "errors": errors,
            "text": text,
        }
        return TemplateResponse(request, "admin/dags/dagtemplate/import.html", context)


@admin.register(DataFile)
class DataFileAdmin(ReadOnlyAdmin):
    list_display = ["name", "stream", "run", "subrun", "data_ts", "events", "size", "created"]
    list_filter = ["stream"]
    search_fields = ["name", "=run"]
    date_hierarchy = None


@admin.register(DagRun)
class DagRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "template",
        "version_number",
        "file",
        "run",
        "state",
        "created",
        "ended",
        "page",
    ]
    list_filter = ["state", "template"]
    list_select_related = ["template", "version", "file"]
    search_fields = ["=id", "file__name"]
    raw_id_fields = ["file", "version"]

    @admin.display(description="version")
    def version_number(self, obj):
        return obj.version.number

    @admin.display(description="run")
    def run(self, obj):
        return obj.file.run

    @admin.display(description="")
    def page(self, obj):
        return format_html('<a href="{}">operator page</a>', reverse("front:dagrun", args=[obj.pk]))


__all__ = ["DagTemplateAdmin", "DataFileAdmin", "DagRunAdmin", "is_expert"]
