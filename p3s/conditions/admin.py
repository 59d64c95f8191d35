"""Expert admin: conditions (an edit saves a new version; old ones never change, history in
view) and reference sets (made from chosen runs or DAG runs; snapshots read-only)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import FieldError, PermissionDenied
from django.db.models import Count
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from p3s.conditions import references, services
from p3s.conditions.models import Condition, ReferenceHist, ReferenceMetric, ReferenceSet
from p3s.dags.models import DagRun, DagTemplate
from p3s.front.adminkit import ExpertAdmin, ReadOnlyAdmin, is_expert

JSON_WIDGET = forms.Textarea(
    attrs={"rows": 24, "cols": 100, "spellcheck": "false", "style": "font-family: monospace"}
)


class ConditionForm(forms.ModelForm):
    class Meta:
        model = Condition
        fields = [
            "name",
            "data",
            "valid_from_run",
            "valid_to_run",
            "valid_from",
            "valid_to",
            "comment",
        ]
        widgets = {"data": JSON_WIDGET}


@admin.register(Condition)
class ConditionAdmin(ExpertAdmin):
    """Saving a changed condition writes version N+1 owned by the editor; version N stays."""

    form = ConditionForm
    list_display = ["name", "version", "validity", "owner", "comment_start", "created"]
    list_filter = ["name"]
    search_fields = ["name", "owner", "comment"]
    readonly_fields = ["version", "owner", "digest", "created", "versions"]
    save_as_continue = False

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "name"] if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False  # history is kept: a wrong version is replaced by a newer one

    @admin.display(description="comment")
    def comment_start(self, obj):
        return obj.comment[:80]

    @admin.display(description="all versions of this name")
    def versions(self, obj):
        if not obj.pk:
            return "-"
        current = services.current_condition(obj.name)
        rows = Condition.objects.filter(name=obj.name).only(
            "pk",
            "name",
            "version",
            "owner",
            "created",
            "comment",
            "valid_from_run",
            "valid_to_run",
            "valid_from",
            "valid_to",
        )
        return format_html(
            "<table><tr><th>version</th><th>validity</th><th>owner</th><th>made</th>"
            "<th>comment</th></tr>{}</table>",
            format_html_join(
                "",
                '<tr><td><a href="{}">v{}</a>{}</td><td>{}</td><td>{}</td><td>{}</td>'
                "<td>{}</td></tr>",
                (
                    (
                        reverse("admin:conditions_condition_change", args=[c.pk]),
                        c.version,
                        " (current)" if current and current.pk == c.pk else "",
                        c.validity,
                        c.owner,
                        c.created.strftime("%Y-%m-%d %H:%M"),
                        c.comment[:120],
                    )
                    for c in rows
                ),
            ),
        )

    def save_model(self, request, obj, form, change):
        obj.owner = request.user.get_username()
        if change:  # never overwrite: the edited copy becomes a new row
            old = obj.version
            obj.pk = None
            obj._state.adding = True
            services.save_as_next_version(obj)
            obj.replaced_version = old
        else:
            services.save_as_next_version(obj)

    def response_change(self, request, obj):
        """Say what happened (a new version) and show it, not the unchanged old one."""
        messages.success(
            request,
            f"Saved as version {obj.version} of {obj.name}; version {obj.replaced_version} "
            "is unchanged",
        )
        if "_continue" in request.POST:
            return redirect(reverse("admin:conditions_condition_change", args=[obj.pk]))
        return redirect(reverse("admin:conditions_condition_changelist") + f"?name={obj.name}")


# -- references -----------------------------------------------------------------------


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise forms.ValidationError(
            f"{what}: whole numbers separated by commas or spaces"
        ) from None


class MakeReferenceForm(forms.Form):
    template = forms.ChoiceField(help_text="the DAG template whose products become the reference")
    stream = forms.CharField(max_length=32, initial="tpc")
    runs = forms.CharField(required=False, help_text="runs (all their DAG runs of the template)")
    dagruns = forms.CharField(required=False, help_text="or chosen DAG run ids")
    name = forms.CharField(max_length=200, required=False, help_text="default: run N")
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    valid_from_run = forms.IntegerField(min_value=0, required=False)
    valid_to_run = forms.IntegerField(min_value=0, required=False)
    valid_until = forms.DateTimeField(required=False, help_text="UTC, e.g. 2026-12-31 00:00")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = DagTemplate.objects.order_by("name").values_list("name", flat=True)
        self.fields["template"].choices = [(n, n) for n in names]

    def clean_runs(self):
        return _ints(self.cleaned_data["runs"], "runs")

    def clean_dagruns(self):
        return _ints(self.cleaned_data["dagruns"], "DAG runs")

    def clean(self):
        data = super().clean()
        if not data.get("runs") and not data.get("dagruns") and not self.errors:
            raise forms.ValidationError("give the runs or the DAG runs to make it from")
        return data


def _make(request, **kwargs) -> ReferenceSet | None:
    try:
        ref = references.make_reference(owner=request.user.get_username(), **kwargs)
    except references.ReferenceRefused as exc:
        messages.error(request, f"No reference made: {exc}")
        return None
    n_h, n_m = ref.hists.count(), ref.metrics.count()
    messages.success(
        request, f"Reference {ref.pk} ({ref.name}) made: {n_h} histograms, {n_m} metrics"
    )
    if ref.notes:
        messages.warning(request, f"Left out: {ref.notes[:500]}")
    return ref


@admin.register(ReferenceSet)
class ReferenceSetAdmin(ExpertAdmin):
    """Add = make a reference from runs; a set's snapshot is read-only, its validity editable."""

    list_display = [
        "id",
        "template",
        "stream",
        "name",
        "runs",
        "owner",
        "created",
        "active",
        "is_expired",
        "n_hists",
        "n_metrics",
    ]
    list_filter = ["template", "stream", "active"]
    search_fields = ["name", "template", "owner"]
    fields = [
        "template",
        "stream",
        "name",
        "comment",
        "source_runs",
        "source_dagruns",
        "owner",
        "created",
        "valid_from_run",
        "valid_to_run",
        "valid_until",
        "active",
        "superseded_by",
        "expiry",
        "contents",
        "notes",
    ]
    readonly_fields = [
        "template",
        "stream",
        "source_runs",
        "source_dagruns",
        "owner",
        "created",
        "superseded_by",
        "expiry",
        "contents",
        "notes",
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                hist_count=Count("hists", distinct=True),
                metric_count=Count("metrics", distinct=True),
            )
        )

    def has_delete_permission(self, request, obj=None):
        return False  # history is kept: withdraw one by clearing "active"

    @admin.display(description="runs")
    def runs(self, obj):
        return ", ".join(str(r) for r in obj.source_runs[:6]) + (
            " ..." if len(obj.source_runs) > 6 else ""
        )

    @admin.display(description="expired", boolean=True)
    def is_expired(self, obj):
        return obj.expired

    @admin.display(description="expiry")
    def expiry(self, obj):
        return obj.expired_reason or "current"

    @admin.display(description="hists")
    def n_hists(self, obj):
        return obj.hist_count

    @admin.display(description="metrics")
    def n_metrics(self, obj):
        return obj.metric_count

    @admin.display(description="contents")
    def contents(self, obj):
        hists = reverse("admin:conditions_referencehist_changelist")
        metrics = reverse("admin:conditions_referencemetric_changelist")
        return format_html(
            '<a href="{}?reference__id__exact={}">{} histograms</a> · '
            '<a href="{}?reference__id__exact={}">{} metrics</a>',
            hists,
            obj.pk,
            obj.hist_count,
            metrics,
            obj.pk,
            obj.metric_count,
        )

    def add_view(self, request, form_url="", extra_context=None):
        """Making a reference: choose template, stream, runs or DAG runs, validity."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = MakeReferenceForm(request.POST or None, initial=request.GET.dict())
        if request.method == "POST" and form.is_valid():
            ref = _make(request, **form.cleaned_data)
            if ref is not None:
                return redirect(reverse("admin:conditions_referenceset_change", args=[ref.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Make a reference",
            "form": form,
            "good_runs": _good_signoffs(),
        }
        return TemplateResponse(request, "admin/conditions/referenceset/make.html", context)


def _good_signoffs() -> list[int]:
    """Recent runs signed off good, when the quality app keeps sign-offs (else empty)."""
    try:
        from p3s.quality.models import RunSignoff

        newest: dict[int, str] = {}
        rows = RunSignoff.objects.order_by("-signed_at", "-id").values_list("run", "verdict")
        for run, verdict in rows[:200]:
            newest.setdefault(run, verdict)  # the newest sign-off of a run counts
        return [run for run, verdict in newest.items() if verdict == "good"][:10]
    except (ImportError, FieldError):  # no sign-offs here, or not by these field names
        return []


@admin.action(description="Make a reference from the selected DAG runs (runs signed off good)")
def make_reference_from_dagruns(modeladmin, request, queryset):
    """On the DAG run list: one reference per template and stream among the selected runs."""
    if not is_expert(request):
        raise PermissionDenied
    groups: dict[tuple[str, str], list[DagRun]] = {}
    for run in queryset.select_related("template", "file"):
        groups.setdefault((run.template.name, run.file.stream), []).append(run)
    for (template, stream), runs in sorted(groups.items()):
        numbers = sorted({r.file.run for r in runs})
        bad = [n for n in numbers if references.signed_off_good(n) is False]
        if bad:
            messages.error(
                request, f"{template}/{stream}: runs {bad} are not signed off good: no reference"
            )
            continue
        _make(request, template=template, stream=stream, dagruns=[r.pk for r in runs])


# The DAG run list (p3s.dags.admin) gains the action; registered here so the conditions app
# owns it. Admin modules load in INSTALLED_APPS order, dags before conditions.
if DagRun in admin.site._registry:
    _dagruns_admin = admin.site._registry[DagRun]
    _dagruns_admin.actions = [*(_dagruns_admin.actions or []), make_reference_from_dagruns]


@admin.register(ReferenceHist)
class ReferenceHistAdmin(ReadOnlyAdmin):
    list_display = ["reference", "name", "element_key", "n_sources", "bins"]
    list_filter = ["name"]
    list_select_related = ["reference"]
    search_fields = ["name", "element_key"]

    @admin.display(description="bins")
    def bins(self, obj):
        return len(obj.body.get("counts", []))


@admin.register(ReferenceMetric)
class ReferenceMetricAdmin(ReadOnlyAdmin):
    list_display = ["reference", "name", "element_key", "mean", "std", "n"]
    list_filter = ["name"]
    list_select_related = ["reference"]
    search_fields = ["name", "element_key"]
