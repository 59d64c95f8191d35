"""Safe workflow changes through the API: versions, diff, history, dry run, rollback and
reprocessing (issue 14). The domain logic is in p3s.dags.{diff,dryrun,history}."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from p3s.accounts import roles
from p3s.dags import diff, dryrun, history
from p3s.dags.models import DagTemplate, DataFile


def _template(name: str) -> DagTemplate:
    return get_object_or_404(
        DagTemplate.objects.select_related("current_version"),
        name=name,
        current_version__isnull=False,
    )


class ChangeSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    actor = serializers.CharField()
    action = serializers.CharField(help_text="create, edit, rollback")
    version = serializers.IntegerField(source="version.number")
    changes = serializers.JSONField(help_text="[{what, old, new}]")


class VersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    created = serializers.DateTimeField()
    created_by = serializers.CharField()
    current = serializers.BooleanField()
    stages = serializers.ListField(child=serializers.CharField())


class DiffSerializer(serializers.Serializer):
    template = serializers.CharField()
    a = serializers.IntegerField()
    b = serializers.IntegerField()
    stages_added = serializers.ListField(child=serializers.CharField())
    stages_removed = serializers.ListField(child=serializers.CharField())
    edges_added = serializers.ListField(child=serializers.CharField())
    edges_removed = serializers.ListField(child=serializers.CharField())
    graph_changed = serializers.BooleanField()
    changes = serializers.JSONField(help_text="[{what, old, new, kind}]")


class DryRunRequest(serializers.Serializer):
    file = serializers.IntegerField(min_value=1, help_text="id of a data file (a recent one)")
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="a version number (default: the current one)"
    )
    yaml = serializers.CharField(
        required=False, max_length=200_000, help_text="an edit not saved yet, instead of a version"
    )


class DryRunAnswer(serializers.Serializer):
    template = serializers.CharField()
    file = serializers.JSONField()
    trigger_matches = serializers.BooleanField()
    trigger = serializers.CharField()
    jobs = serializers.JSONField(
        help_text="per stage: payload, created, state, prescale_decision, args, queue, "
        "priority, timeout, inputs, why"
    )
    would_run = serializers.IntegerField()
    prescaled_out = serializers.IntegerField()
    never_created = serializers.IntegerField()


class RollbackRequest(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)


class ReprocessRequest(serializers.Serializer):
    file = serializers.IntegerField(min_value=1, required=False, help_text="a data file id")
    run = serializers.IntegerField(min_value=0, required=False, help_text="every file of a run")
    why = serializers.CharField(required=False, default="", max_length=500, allow_blank=True)

    def validate(self, attrs):
        if ("file" in attrs) == ("run" in attrs):
            raise ValidationError({"detail": ["give either file or run"]})
        return attrs


class VersionsView(APIView):
    permission_classes = [roles.IsOperator]

    @extend_schema(responses={200: VersionSerializer(many=True)}, summary="versions of a template")
    def get(self, request, name):
        template = _template(name)
        return Response(
            [
                {
                    "number": v.number,
                    "created": v.created,
                    "created_by": v.created_by,
                    "current": v.pk == template.current_version_id,
                    "stages": v.graph["order"],
                }
                for v in template.versions.order_by("-number")
            ]
        )


class HistoryView(APIView):
    permission_classes = [roles.IsOperator]

    @extend_schema(
        responses={200: ChangeSerializer(many=True)}, summary="who changed what, old and new"
    )
    def get(self, request, name):
        template = _template(name)
        changes = template.changes.select_related("version").order_by("-id")[:500]
        return Response(ChangeSerializer(changes, many=True).data)


class DiffView(APIView):
    permission_classes = [roles.IsOperator]

    @extend_schema(
        parameters=[
            OpenApiParameter("a", int, required=True, description="the older version number"),
            OpenApiParameter("b", int, description="the newer version (default: the current)"),
        ],
        responses={200: DiffSerializer},
        summary="diff of two versions (graph and tunables)",
    )
    def get(self, request, name):
        template = _template(name)
        numbers = {}
        for key in ("a", "b"):
            raw = request.query_params.get(key, "" if key == "a" else None)
            if raw is None:
                numbers[key] = template.current_version.number
                continue
            if not raw.isdigit():
                raise ValidationError({key: ["a version number"]})
            numbers[key] = int(raw)
        docs = {}
        for key, number in numbers.items():
            version = template.versions.filter(number=number).first()
            if version is None:
                raise ValidationError({key: [f"the template {name!r} has no version {number}"]})
            docs[key] = history.snapshot(version)[0]
        return Response({"template": name, **numbers, **diff.compare(docs["a"], docs["b"])})


class DryRunView(APIView):
    permission_classes = [roles.IsExpert]

    @extend_schema(
        request=DryRunRequest,
        responses={200: DryRunAnswer},
        summary="what a version (or an unsaved edit) would do with a file; creates nothing",
    )
    def post(self, request, name):
        template = _template(name)
        ser = DryRunRequest(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        datafile = DataFile.objects.filter(pk=d["file"]).first()
        if datafile is None:
            raise ValidationError({"file": [f"no data file {d['file']}"]})
        dag = dryrun.spec_for(template, d.get("version"), d.get("yaml"))
        return Response(dryrun.dry_run(dag, datafile))


class RollbackView(APIView):
    permission_classes = [roles.IsExpert]

    @extend_schema(
        request=RollbackRequest,
        responses={200: ChangeSerializer},
        summary="make a version current again, with its tunables",
    )
    def post(self, request, name):
        template = _template(name)
        ser = RollbackRequest(data=request.data)
        ser.is_valid(raise_exception=True)
        change = history.rollback(template, ser.validated_data["version"], roles.actor_of(request))
        return Response(ChangeSerializer(change).data)


class ReprocessView(APIView):
    permission_classes = [roles.IsOperator]

    @extend_schema(
        request=ReprocessRequest,
        responses={
            201: inline_serializer(
                "Reprocessed",
                {
                    "template": serializers.CharField(),
                    "version": serializers.IntegerField(),
                    "dagruns": serializers.ListField(child=serializers.IntegerField()),
                },
            )
        },
        summary="reprocess a file or a run with the current version (new DAG runs)",
    )
    def post(self, request, name):
        template = _template(name)
        ser = ReprocessRequest(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        files = DataFile.objects.filter(stream=template.trigger_stream).order_by("subrun", "id")
        files = files.filter(pk=d["file"]) if "file" in d else files.filter(run=d["run"])
        files = list(files[:5000])
        if not files:
            what = f"file {d['file']}" if "file" in d else f"run {d['run']}"
            raise ValidationError(
                {"detail": [f"no {template.trigger_stream} data for {what}: nothing to reprocess"]}
            )
        runs = history.reprocess(template, files, roles.actor_of(request), d["why"])
        return Response(
            {
                "template": name,
                "version": template.current_version.number,
                "dagruns": [r.pk for r in runs],
            },
            status=201,
        )


urlpatterns = [
    path(f"dags/<str:name>/{suffix}/", view.as_view(), name=f"dag-{suffix}")
    for suffix, view in (
        ("versions", VersionsView),
        ("history", HistoryView),
        ("diff", DiffView),
        ("dryrun", DryRunView),
        ("rollback", RollbackView),
        ("reprocess", ReprocessView),
    )
]


# -- the schema of the DAG template endpoints (p3s.api.views.DagViewSet) --------------------


class DagTemplateOut(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField(help_text="the current version number")
    enabled = serializers.BooleanField()
    paused = serializers.DictField(
        child=serializers.CharField(), help_text="stage -> why the circuit breaker paused it"
    )
    updated = serializers.DateTimeField()
    spec = serializers.JSONField(help_text="the template: name, trigger, policy, stages")
    yaml = serializers.CharField(help_text="the template's YAML as saved (comments kept)")


class DagTemplateSaved(DagTemplateOut):
    new_version = serializers.BooleanField(help_text="whether the graph changed")


class DagTemplateIn(serializers.Serializer):
    """A template as JSON, or the same as YAML (Content-Type application/yaml)."""

    name = serializers.RegexField(r"^[a-z0-9][a-z0-9_-]{0,63}$")
    description = serializers.CharField(required=False)
    enabled = serializers.BooleanField(required=False)
    trigger = serializers.JSONField(help_text="{stream, pattern}")
    policy = serializers.JSONField(required=False, help_text="{max_age, max_waiting}")
    stages = serializers.JSONField(
        help_text="stage -> {payload, args, queue, parents, priority, timeout, max_attempts, "
        "prescale, event_fraction}"
    )


def describe_dag_viewset(viewset) -> None:
    """Request and response schemas of the DAG template endpoints (issue 14)."""
    from drf_spectacular.utils import extend_schema_view

    fmt = OpenApiParameter(
        "format", str, enum=["json", "yaml"], description="yaml: the YAML text as saved"
    )
    extend_schema_view(
        list=extend_schema(
            summary="DAG templates", parameters=[fmt], responses={200: DagTemplateOut(many=True)}
        ),
        retrieve=extend_schema(
            summary="one DAG template", parameters=[fmt], responses={200: DagTemplateOut}
        ),
        create=extend_schema(
            summary="create or update a template (YAML or JSON)",
            request=DagTemplateIn,
            responses={201: DagTemplateSaved, 200: DagTemplateSaved},
        ),
        update=extend_schema(
            summary="replace a template (YAML or JSON)",
            request=DagTemplateIn,
            responses={200: DagTemplateSaved, 201: DagTemplateSaved},
        ),
        resume=extend_schema(summary="resume stages the circuit breaker paused"),
    )(viewset)
