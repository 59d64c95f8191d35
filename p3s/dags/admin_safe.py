"""The expert admin's safe-change tools for DAG templates: dry run of the edit in the editor,
the history page (who changed what, old and new values), diff of any two versions, rollback
in one click, and reprocessing of a file or run (a mixin of DagTemplateAdmin)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from p3s.dags import diff, dryrun, flow, history
from p3s.dags.models import DagTemplate, DataFile
from p3s.exceptions import InvalidDag
from p3s.front.adminkit import actor


class SafeChangesMixin(admin.ModelAdmin):
    """Mixed in before ExpertAdmin, whose permissions it uses."""

    def safe_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/dryrun/", wrap(self.dryrun_view), name=f"{prefix}_dryrun"),
            path("<int:pk>/rollback/", wrap(self.rollback_view), name=f"{prefix}_rollback"),
            path("<int:pk>/reprocess/", wrap(self.reprocess_view), name=f"{prefix}_reprocess"),
        ]

    def dryrun_view(self, request, pk: int):
        """POST yaml and file: what the edit would do with the file, and what it changes."""
        if not self.has_change_permission(request) or request.method != "POST":
            raise PermissionDenied
        template = get_object_or_404(DagTemplate, pk=pk, current_version__isnull=False)
        datafile = DataFile.objects.filter(pk=request.POST.get("file") or 0).first()
        if datafile is None:
            return JsonResponse({"ok": False, "error": "choose a data file"})
        try:
            dag = dryrun.spec_for(template, text=request.POST.get("yaml", ""))
        except InvalidDag as exc:
            return JsonResponse({"ok": False, "error": str(exc)})
        now = flow.spec_of(template).to_dict()
        return JsonResponse(
            {
                "ok": True,
                "run": dryrun.dry_run(dag, datafile),
                "diff": diff.compare(now, dag.to_dict()),
            }
        )

    def rollback_view(self, request, pk: int):
        if not self.has_change_permission(request) or request.method != "POST":
            raise PermissionDenied
        template = get_object_or_404(DagTemplate, pk=pk, current_version__isnull=False)
        try:
            number = int(request.POST.get("version", ""))
            history.rollback(template, number, actor(request))
        except (ValueError, InvalidDag) as exc:
            messages.error(request, f"rollback refused: {exc}")
        else:
            messages.success(request, f"{template.name}: version {number} is current again")
        return redirect(reverse("admin:dags_dagtemplate_history", args=[pk]))

    def reprocess_view(self, request, pk: int):
        if not self.has_change_permission(request) or request.method != "POST":
            raise PermissionDenied
        template = get_object_or_404(DagTemplate, pk=pk, current_version__isnull=False)
        files = DataFile.objects.filter(stream=template.trigger_stream)
        what = request.POST.get("what", "")
        if what.startswith("file:") and what[5:].isdigit():
            files = files.filter(pk=int(what[5:]))
        elif what.startswith("run:") and what[4:].isdigit():
            files = files.filter(run=int(what[4:]))
        else:
            files = files.none()
        chosen = list(files.order_by("subrun", "id")[:5000])
        if not chosen:
            messages.error(request, "nothing to reprocess: choose a file or a run of the stream")
        else:
            runs = history.reprocess(template, chosen, actor(request), request.POST.get("why", ""))
            messages.success(
                request,
                f"{template.name}: {len(runs)} new DAG run(s) with version "
                f"{template.current_version.number}",
            )
        return redirect(reverse("admin:dags_dagtemplate_history", args=[pk]))

    def history_view(self, request, object_id, extra_context=None):
        template = get_object_or_404(DagTemplate, pk=object_id)
        if not self.has_view_permission(request, template):
            raise PermissionDenied
        versions = list(template.versions.order_by("-number"))
        numbers = [v.number for v in versions]
        compare = None
        try:
            a = int(request.GET.get("a", ""))
            b = int(request.GET.get("b", template.current_version.number))
        except (ValueError, AttributeError):
            a = b = None
        if a in numbers and b in numbers:
            docs = [history.snapshot(template.versions.get(number=n))[0] for n in (a, b)]
            compare = diff.compare(*docs)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": template,
            "title": f"History of {template.name}",
            "changes": template.changes.select_related("version").order_by("-id")[:200],
            "events": template.events.order_by("-id")[:50],
            "versions": versions,
            "a": a,
            "b": b,
            "compare": compare,
            "files": dryrun.recent_files(template),
            "runs": sorted(
                set(
                    DataFile.objects.filter(stream=template.trigger_stream)
                    .order_by("-run")
                    .values_list("run", flat=True)[:200]
                ),
                reverse=True,
            )[:20],
            "can_change": self.has_change_permission(request, template),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/dags/dagtemplate/history.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        template = DagTemplate.objects.filter(pk=object_id).first()
        files = dryrun.recent_files(template) if template else []
        return super().change_view(
            request, object_id, form_url, {"dryrun_files": files, **(extra_context or {})}
        )
