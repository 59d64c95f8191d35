"""The machine API (DAQ, pilots, operators' tools). Views translate HTTP into domain calls."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import django_filters
from django.db.models import Count, Max
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from p3s.accounts import roles
from p3s.accounts.models import ApiToken, hash_key
from p3s.api import admission, log_views
from p3s.api import schema_docs as sd
from p3s.api import serializers as s
from p3s.api.filters import UTCDateTimeFilter
from p3s.api.health import HealthView
from p3s.api.parsers import PlainYAMLParser, SafeJSONParser, TextYAMLParser, YAMLParser
from p3s.api.pilot_views import PILOT_HOT_ACTIONS, ReportMixin, lean_beat
from p3s.api.product_views import ProductUploadMixin
from p3s.api.renderers import YAMLRenderer
from p3s.conditions.services import condition_urls
from p3s.dags import flow, history, spec
from p3s.dags.models import DagRun, DagTemplate, DataFile
from p3s.dqm import services as dqm
from p3s.exceptions import NotYours
from p3s.jobs import actions, breaker, claim, wakeup
from p3s.jobs.models import Job
from p3s.jobs.states import JobState
from p3s.pilots import beat as beats
from p3s.pilots import services as pilots
from p3s.pilots.models import Pilot, PilotState
from p3s.staging import areas as staging_areas

__all__ = ["HealthView"]  # served at /healthz, from p3s.api.health

PILOT_KEY_HEADER = "HTTP_X_P3S_PILOT_KEY"


def _token(request) -> ApiToken:
    if not isinstance(request.auth, ApiToken):
        raise NotYours("pilot calls need a pilot API token")
    return request.auth


def _job_id(pk) -> int:
    try:
        return int(pk)
    except (TypeError, ValueError):
        raise Http404(f"no job {pk!r}") from None


def _pilot_key(request) -> str | None:
    return request.META.get(PILOT_KEY_HEADER)


def _pilot_id(pk) -> int:
    try:
        return int(pk)
    except (TypeError, ValueError):
        raise NotYours(f"no pilot {pk!r}") from None


# -- files ---------------------------------------------------------------------------------


class FileFilter(django_filters.FilterSet):
    since = UTCDateTimeFilter(field_name="data_ts", lookup_expr="gte")

    class Meta:
        model = DataFile
        fields = ["stream", "run", "subrun"]


class FileViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Data files. DAQ announces them (POST); operators read them."""

    lookup_value_regex = r"[0-9]+"  # ids are numbers: anything else is a 404 at routing

    queryset = DataFile.objects.prefetch_related("dagruns__template", "dagruns__version")
    serializer_class = s.FileSerializer
    filterset_class = FileFilter

    def get_permissions(self):
        return [roles.IsDaq()] if self.action == "create" else [roles.IsOperator()]

    @extend_schema(
        request=s.FileAnnounceSerializer, responses={201: s.FileSerializer, 200: s.FileSerializer}
    )
    def create(self, request):
        ser = s.FileAnnounceSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        ann = flow.announce_file(ser.to_model_fields(), actor=roles.actor_of(request))
        if ann.created:  # the rows just written, with their templates and versions: no re-read
            runs = sorted(ann.dagruns, key=lambda run: -run.pk)  # DagRun's ordering
            return Response(s.file_answer(ann.file, runs), status=201)
        datafile = self.get_queryset().get(pk=ann.file.pk)
        return Response(s.FileSerializer(datafile).data, status=200)


# -- pilots --------------------------------------------------------------------------------


def job_spec(job: Job, request=None) -> dict:
    """What a pilot gets at claim: the payloads.jobio.JobSpec fields plus the DAG run.

    With the request, ``conditions`` maps each condition name to the URL of its version
    current for the file's run (p3s.conditions.services.condition_urls)."""
    f = job.dagrun.file
    # On the staging area in use, and the other one for the pilot to fall back on.
    out_dir, out_fallback = staging_areas.output_dirs(
        f"run{f.run:06d}", f"dagrun{job.dagrun_id}", f"{job.stage}-job{job.pk}-a{job.attempt}"
    )
    return {
        "id": job.pk,
        "stage": job.stage,
        "payload": job.payload,
        "args": job.args,
        "file": {
            "url": f.url,
            "replicas": f.replicas,
            "stream": f.stream,
            "run": f.run,
            "subrun": f.subrun,
            "timestamp": f.data_ts.isoformat(),
            "timestamp_end": f.data_end.isoformat(),
            "events": f.events,
        },
        "inputs": job.inputs,
        "parents": job.parents,
        "output_dir": out_dir,
        "output_fallback": out_fallback,
        "event_fraction": job.event_fraction,
        "timeout": job.timeout,
        "attempt": job.attempt,
        "dagrun": job.dagrun_id,
        "conditions": condition_urls(f.run, f.data_ts, request) if request is not None else {},
    }


class PilotViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Pilots register, heartbeat, claim and say goodbye; operators read them."""

    lookup_value_regex = r"[0-9]+"  # ids are numbers: anything else is a 404 at routing

    queryset = Pilot.objects.select_related("token")
    serializer_class = s.PilotSerializer
    token_cache_actions = PILOT_HOT_ACTIONS
    filterset_fields = ["state", "host", "batch_system"]

    def get_permissions(self):
        if self.action in ("create", "heartbeat", "claim", "exit"):
            return [roles.IsPilot()]
        return [roles.IsOperator()]

    def _me(self, request, pk, beat_job: int | None = None) -> Pilot:
        return pilots.authenticate(_pilot_id(pk), _token(request), _pilot_key(request), beat_job)

    @extend_schema(
        request=s.PilotRegisterSerializer,
        responses={201: sd.PilotRegistered},
    )
    def create(self, request):
        ser = s.PilotRegisterSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        pilot, key = pilots.register(_token(request), dict(ser.validated_data))
        return Response(
            {
                "id": pilot.pk,
                "key": key,
                "heartbeat_interval": pilot.heartbeat_interval,
                "state": pilot.state,
            },
            status=201,
        )

    @extend_schema(
        request=s.HeartbeatSerializer,
        responses={200: sd.HeartbeatAnswer},
        parameters=[sd.PILOT_KEY],
    )
    @action(detail=True, methods=["post"])
    def heartbeat(self, request, pk=None):
        lean, key = lean_beat(request.data), _pilot_key(request)
        tried = getattr(request, "beat_missed", False)  # the lane's statement found no pilot
        if lean is not None and key and not tried:  # a plain body: one statement when it can
            done = beats.beat(_pilot_id(pk), _token(request).key_hash, hash_key(key), *lean)
            if done is not None:
                return Response({"command": done[0], "heartbeat_interval": done[1]})
        # The job the beat is about, read with the pilot (checked again by the serializer).
        raw = request.data.get("job") if isinstance(request.data, dict) else None
        pilot = self._me(request, pk, raw if type(raw) is int else None)
        ser = s.HeartbeatSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        command = pilots.heartbeat(pilot, ser.validated_data["job"], ser.validated_data["progress"])
        return Response({"command": command, "heartbeat_interval": pilot.heartbeat_interval})

    @extend_schema(
        request=s.ClaimSerializer,
        responses={200: sd.ClaimedJob, 204: None},
        parameters=[sd.PILOT_KEY],
    )
    @action(detail=True, methods=["post"])
    def claim(self, request, pk=None):
        pilot = self._me(request, pk)
        if pilot.state not in (PilotState.IDLE, PilotState.BUSY):
            return Response(
                {"detail": f"pilot {pilot.pk} is {pilot.state}: register again"}, status=409
            )
        ser = s.ClaimSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        wait, time_left = ser.validated_data["wait"], ser.validated_data["time_left"]
        deadline = time.monotonic() + wait
        actor = f"pilot:{pilot.pk}"
        touched = 0.0
        while True:
            seen = wakeup.generation()
            job = claim.claim_next(pilot.pk, pilot.queues, time_left, actor=actor)
            if job is not None:
                return Response(job_spec(job, request))  # the claim itself refreshed last_seen
            now = time.monotonic()
            if now - touched > pilot.heartbeat_interval / 2:
                pilots.touch(pilot)  # a pilot in a long poll is alive; once per half beat is enough
                touched = now
            if now >= deadline:
                return Response(status=204)
            with admission.idle():  # a waiting long poll holds a thread, not a working slot
                wakeup.wait_for_change(seen, deadline - now)

    @extend_schema(
        request=s.ExitSerializer, responses={200: s.PilotSerializer}, parameters=[sd.PILOT_KEY]
    )
    @action(detail=True, methods=["post"])
    def exit(self, request, pk=None):
        pilot = self._me(request, pk)
        ser = s.ExitSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        pilot = pilots.say_goodbye(pilot, ser.validated_data["reason"], ser.validated_data["ok"])
        return Response(s.PilotSerializer(pilot).data)


# -- jobs ----------------------------------------------------------------------------------


class JobFilter(django_filters.FilterSet):
    since = UTCDateTimeFilter(field_name="updated", lookup_expr="gte")
    template = django_filters.CharFilter(field_name="dagrun__template__name")
    run = django_filters.NumberFilter(field_name="dagrun__file__run")

    class Meta:
        model = Job
        fields = ["state", "stage", "dagrun", "pilot", "queue", "payload"]


class JobViewSet(
    ReportMixin,
    ProductUploadMixin,
    log_views.LogMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The job queue: pilots report on their jobs; operators read, retry, cancel, reprioritise."""

    lookup_value_regex = r"[0-9]+"  # ids are numbers: anything else is a 404 at routing

    queryset = Job.objects.select_related("dagrun__template", "dagrun__file", "settings")
    filterset_class = JobFilter
    parser_classes = [SafeJSONParser, MultiPartParser, FormParser]

    def get_serializer_class(self):
        return s.JobDetailSerializer if self.action == "retrieve" else s.JobSerializer

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action == "retrieve":
            qs = qs.prefetch_related("events")
        return qs

    def get_permissions(self):
        if self.action in (
            "report",
            "outputs",
            "products",
            "products_batch",
            "metrics",
        ) or log_views.pilot_call(self):
            return [roles.IsPilot()]
        return [roles.IsOperator()]

    def _my_job(self, request, pk) -> tuple[Job, Pilot]:
        pilot = pilots.by_key(_token(request), _pilot_key(request))
        job = get_object_or_404(Job.objects.select_related("dagrun__file", "settings"), pk=pk)
        return job, pilot

    def _fence(self, pilot: Pilot, attempt: int | None):
        return lambda job: actions.check_current_attempt(job, pilot.pk, attempt)

    @staticmethod
    def _client_key(request, d: dict) -> str:
        key = d.get("key") or request.headers.get("Idempotency-Key", "")
        if key and not re.fullmatch(s.KEY_RE, key):
            raise ValidationError({"key": ["1 to 64 letters, digits or _.:-"]})
        return key

    @extend_schema(
        request=s.MetricsSerializer,
        responses={201: sd.MetricsStored, 200: sd.MetricsStored},
        parameters=[sd.PILOT_KEY],
    )
    @action(detail=True, methods=["post"])
    def metrics(self, request, pk=None):
        job, pilot = self._my_job(request, pk)
        data = request.data if isinstance(request.data, dict) else {"metrics": request.data}
        lean = s.lean_metrics(data.get("metrics"))
        ser = s.MetricsEnvelopeSerializer(data=data) if lean else s.MetricsSerializer(data=data)
        ser.is_valid(raise_exception=True)
        d = {**ser.validated_data, "metrics": lean} if lean else ser.validated_data
        attempt = d["attempt"]
        actions.check_current_attempt(job, pilot.pk, attempt)
        key = self._client_key(request, d)
        rows = dqm.record_metrics(
            job,
            d["metrics"],
            attempt=attempt or job.attempt,
            key=key,
            fence=self._fence(pilot, attempt or job.attempt),
        )
        if key and not rows:
            return Response({"count": len(d["metrics"]), "replayed": True}, status=200)
        return Response({"count": len(rows)}, status=201)

    @extend_schema(request=None, responses={200: s.JobSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        job = actions.retry(int(get_object_or_404(Job, pk=pk).pk), roles.actor_of(request))
        return Response(s.JobSerializer(self.get_queryset().get(pk=job.pk)).data)

    @extend_schema(request=None, responses={200: s.JobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = actions.cancel(int(get_object_or_404(Job, pk=pk).pk), roles.actor_of(request))
        return Response(s.JobSerializer(self.get_queryset().get(pk=job.pk)).data)

    @extend_schema(request=s.PrioritySerializer, responses={200: s.JobSerializer})
    def partial_update(self, request, pk=None):
        job = get_object_or_404(Job, pk=pk)
        ser = s.PrioritySerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        extra = set(request.data) - {"priority"} if isinstance(request.data, dict) else set()
        if extra:
            raise ValidationError(
                {"detail": [f"only priority can be changed, not {', '.join(sorted(extra))}"]}
            )
        actions.set_priority(job.pk, ser.validated_data["priority"], roles.actor_of(request))
        return Response(s.JobSerializer(self.get_queryset().get(pk=job.pk)).data)


# -- DAG runs and templates ----------------------------------------------------------------


class DagRunFilter(django_filters.FilterSet):
    template = django_filters.CharFilter(field_name="template__name")
    run = django_filters.NumberFilter(field_name="file__run")
    since = UTCDateTimeFilter(field_name="created", lookup_expr="gte")

    class Meta:
        model = DagRun
        fields = ["state", "file"]


class DagRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """DAG runs: one template on one file, its state and its version (operators read)."""

    lookup_value_regex = r"[0-9]+"  # ids are numbers: anything else is a 404 at routing
    queryset = DagRun.objects.select_related("template", "version", "file")
    filterset_class = DagRunFilter

    def get_serializer_class(self):
        return s.DagRunSerializer if self.action == "retrieve" else s.DagRunListSerializer

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action == "retrieve":
            qs = qs.prefetch_related(
                "jobs__settings", "jobs__dagrun__template", "jobs__dagrun__file", "file__dagruns"
            )
        return qs


def _template_out(template: DagTemplate) -> dict:
    dag = flow.spec_of(template)
    return {
        "name": template.name,
        "version": template.current_version.number,
        "enabled": template.enabled,
        # Stages the circuit breaker paused, with why (p3s.jobs.breaker); resume with POST resume/.
        "paused": {st.stage: st.paused_reason for st in template.stage_settings.all() if st.paused},
        "updated": template.updated,
        "spec": dag.to_dict(),
        "yaml": history.current_source(template),  # the text as sent, comments kept
    }


class DagViewSet(viewsets.ViewSet):
    """DAG templates as YAML or JSON: read by operators, written by experts."""

    permission_classes = [roles.ReadOperatorWriteExpert]
    parser_classes = [SafeJSONParser, YAMLParser, TextYAMLParser, PlainYAMLParser]
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, YAMLRenderer]
    lookup_field = "name"
    lookup_value_regex = r"[a-z0-9][a-z0-9_-]{0,63}"

    def _templates(self):
        return DagTemplate.objects.select_related("current_version").prefetch_related(
            "stage_settings"
        )

    def list(self, request):
        templates = self._templates().filter(current_version__isnull=False)
        if request.accepted_renderer.format == "yaml":  # one document per template
            return Response("".join("---\n" + history.current_source(t) for t in templates))
        return Response([_template_out(t) for t in templates])

    def retrieve(self, request, name=None):
        template = get_object_or_404(self._templates(), name=name, current_version__isnull=False)
        if request.accepted_renderer.format == "yaml":
            return Response(history.current_source(template))
        return Response(_template_out(template))

    def _parse(self, request) -> tuple[spec.DagSpec, str]:
        data = request.data
        if isinstance(data, dict) and "_data" in data:
            source, data = data["_source"], data["_data"]
        else:
            import json

            source = json.dumps(data, indent=1)
        if not isinstance(data, dict):
            raise ValidationError(
                {"detail": ["a DAG template must be a mapping with name, trigger and stages"]}
            )
        return spec.validate(data), source

    def create(self, request):
        dag, source = self._parse(request)
        applied = flow.apply_spec(dag, actor=roles.actor_of(request), source=source)
        template = self._templates().get(pk=applied.template.pk)
        out = _template_out(template) | {"new_version": applied.new_version}
        return Response(out, status=201 if applied.created else 200)

    @extend_schema(
        request=s.ResumeSerializer,
        responses={200: sd.Resumed},
    )
    @action(detail=True, methods=["post"], permission_classes=[roles.IsOperator])
    def resume(self, request, name=None):
        """Resume stages the circuit breaker paused (all of them without ``stages``)."""
        template = get_object_or_404(DagTemplate, name=name)
        ser = s.ResumeSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        stages = ser.validated_data["stages"] or None
        resumed = breaker.resume(template, stages, roles.actor_of(request))
        return Response({"template": template.name, "resumed": resumed})

    def update(self, request, name=None):
        dag, source = self._parse(request)
        if dag.name != name:
            raise ValidationError(
                {"name": [f"the body names {dag.name!r} but the URL names {name!r}"]}
            )
        applied = flow.apply_spec(dag, actor=roles.actor_of(request), source=source)
        template = self._templates().get(pk=applied.template.pk)
        out = _template_out(template) | {"new_version": applied.new_version}
        return Response(out, status=201 if applied.created else 200)


# -- summary, health -----------------------------------------------------------------------


def summary_data() -> dict:
    """Queue depth by stage, queue and state; pilots by state; latency figures."""
    jobs_by_state: dict[str, int] = {}
    by_queue: dict[str, dict[str, int]] = {}
    by_stage: dict[str, dict[str, int]] = {}
    live = [JobState.WAITING, JobState.DISPATCHED, JobState.RUNNING]
    for row in (
        Job.objects.filter(state__in=live).values("state", "queue", "stage").annotate(n=Count("id"))
    ):
        jobs_by_state[row["state"]] = jobs_by_state.get(row["state"], 0) + row["n"]
        q = by_queue.setdefault(row["queue"], {})
        q[row["state"]] = q.get(row["state"], 0) + row["n"]
        st = by_stage.setdefault(row["stage"], {})
        st[row["state"]] = st.get(row["state"], 0) + row["n"]
    hour_ago = timezone.now() - timedelta(hours=1)
    for row in (
        Job.objects.filter(ended_at__gte=hour_ago)
        .exclude(state__in=live)
        .values("state", "stage")
        .annotate(n=Count("id"))
    ):
        key = f"{row['state']}_last_hour"
        jobs_by_state[key] = jobs_by_state.get(key, 0) + row["n"]
        st = by_stage.setdefault(row["stage"], {})
        st[key] = st.get(key, 0) + row["n"]
    top = {
        r["queue"]: r["p"]
        for r in Job.objects.filter(state=JobState.WAITING)
        .values("queue")
        .annotate(p=Max("priority"))
    }
    pilots_by_state: dict[str, int] = {}
    pilots_by_queue: dict[str, dict[str, int]] = {}
    for pilot in Pilot.objects.filter(state__in=[PilotState.IDLE, PilotState.BUSY]).only(
        "state", "queues"
    ):
        for q in pilot.queues:
            pq = pilots_by_queue.setdefault(q, {})
            pq[pilot.state] = pq.get(pilot.state, 0) + 1
    for row in Pilot.objects.values("state").annotate(n=Count("id")):
        pilots_by_state[row["state"]] = row["n"]
    return {
        "jobs": {"by_state": jobs_by_state, "by_queue": by_queue, "by_stage": by_stage},
        "claimable": {q: v.get(JobState.WAITING, 0) for q, v in by_queue.items()},
        "top_priority": top,
        "pilots": {"by_state": pilots_by_state, "by_queue": pilots_by_queue},
        "latency": latency_figures(hour_ago),
    }


def latency_figures(since) -> dict:
    """Seconds from file arrival to the end of its DAG run, over runs ended since ``since``."""
    runs = list(
        DagRun.objects.filter(ended__gte=since)
        .select_related("file")
        .values_list("file__created", "ended")[:5000]
    )
    values = sorted((end - start).total_seconds() for start, end in runs if end and start)
    if not values:
        return {"runs": 0}

    def pct(p: float) -> float:
        return round(values[min(len(values) - 1, int(p * len(values)))], 3)

    return {
        "runs": len(values),
        "median_s": pct(0.5),
        "p90_s": pct(0.9),
        "max_s": round(values[-1], 3),
    }


class SummaryView(APIView):
    permission_classes = [roles.IsOperatorOrPilot]

    @extend_schema(responses={200: sd.Summary}, summary="queue, pilots and latency summary")
    def get(self, request):
        return Response(summary_data())
