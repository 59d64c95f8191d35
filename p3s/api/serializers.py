"""Serializers of the machine API: input validation and output shapes."""

from __future__ import annotations

import math
import re
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse

from django.conf import settings
from rest_framework import serializers

import storage
from p3s.api import limits
from p3s.dags.models import DagRun, DataFile
from p3s.dqm.models import Metric, Product
from p3s.jobs.actions import REPORTABLE
from p3s.jobs.models import Job, JobEvent
from p3s.pilots.models import Pilot

NAME_MAX = 300


def _check_url(value: str) -> str:
    try:
        storage.check_url(value, load=False)
    except storage.UnsupportedScheme as exc:
        raise serializers.ValidationError(exc.reason) from exc
    if "://" not in value:
        raise serializers.ValidationError(
            "must be a URL such as file:///data/run1.h5 (schemes: file, root, xroot, http(s))"
        )
    if not PurePosixPath(unquote(urlparse(value).path)).name:
        raise serializers.ValidationError("the URL names no file")
    return value


class FileAnnounceSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=1000, required=False)
    urls = serializers.ListField(
        child=serializers.CharField(max_length=1000),
        required=False,
        min_length=1,
        max_length=8,
        help_text="replicas, most preferred first (instead of url); the first is the identity",
    )
    stream = serializers.RegexField(r"^[a-z0-9][a-z0-9_-]{0,31}$", max_length=32)
    run = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    subrun = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)
    timestamp = serializers.DateTimeField()
    data_ts_end = serializers.DateTimeField(required=False, help_text="end of the data range")
    events = serializers.IntegerField(min_value=0, max_value=10**9, default=0)
    size = serializers.IntegerField(min_value=0, max_value=2**62, default=0)
    checksum = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")

    def validate_url(self, value: str) -> str:
        return _check_url(value)

    def validate_urls(self, value: list[str]) -> list[str]:
        for i, url in enumerate(value):
            try:
                _check_url(url)
            except serializers.ValidationError as exc:
                raise serializers.ValidationError(f"urls[{i}]: {exc.detail[0]}") from exc
        if len(set(value)) != len(value):
            raise serializers.ValidationError("the same URL appears twice")
        return value

    def validate(self, attrs: dict) -> dict:
        urls = attrs.get("urls") or []
        if "url" in attrs and urls and urls[0] != attrs["url"]:
            raise serializers.ValidationError({"urls": "when both are given, urls[0] must be url"})
        if "url" not in attrs:
            if not urls:
                raise serializers.ValidationError({"url": "give url or urls"})
            attrs["url"] = urls[0]
        attrs["replicas"] = [u for u in urls if u != attrs["url"]]
        end = attrs.get("data_ts_end")
        if end is not None and end < attrs["timestamp"]:
            raise serializers.ValidationError(
                {"data_ts_end": ["the data range must not end before it starts (timestamp)"]}
            )
        return attrs

    def to_model_fields(self) -> dict:
        d = self.validated_data
        name = PurePosixPath(unquote(urlparse(d["url"]).path)).name[:NAME_MAX]
        return {
            "url": d["url"],
            "name": name,
            "stream": d["stream"],
            "run": d["run"],
            "subrun": d["subrun"],
            "data_ts": d["timestamp"],
            "data_ts_end": d.get("data_ts_end"),
            "events": d["events"],
            "size": d["size"],
            "checksum": d["checksum"],
            "replicas": d["replicas"],
        }


class DagRunBriefSerializer(serializers.ModelSerializer):
    template = serializers.CharField(source="template.name")
    version = serializers.IntegerField(source="version.number")

    class Meta:
        model = DagRun
        fields = ["id", "template", "version", "state", "created", "ended"]


class FileSerializer(serializers.ModelSerializer):
    timestamp = serializers.DateTimeField(source="data_ts")
    data_ts_end = serializers.DateTimeField(source="data_end", read_only=True)
    dagruns = DagRunBriefSerializer(many=True, read_only=True)

    class Meta:
        model = DataFile
        fields = [
            "id",
            "url",
            "name",
            "stream",
            "run",
            "subrun",
            "timestamp",
            "data_ts_end",
            "events",
            "size",
            "checksum",
            "replicas",
            "created",
            "dagruns",
        ]


_TIME = serializers.DateTimeField()  # DRF's own representation of a time, for file_answer


def file_answer(datafile: DataFile, runs: list[DagRun]) -> dict:
    """What :class:`FileSerializer` answers for a file just announced (with its ``runs``,
    newest first), built directly: setting up a ModelSerializer's fields for each answer
    cost a fifth of the announcement (a profile; tests compare the two)."""

    def time(value):
        return None if value is None else _TIME.to_representation(value)

    f = datafile
    return {
        "id": f.pk,
        "url": f.url,
        "name": f.name,
        "stream": f.stream,
        "run": f.run,
        "subrun": f.subrun,
        "timestamp": time(f.data_ts),
        "data_ts_end": time(f.data_end),
        "events": f.events,
        "size": f.size,
        "checksum": f.checksum,
        "replicas": f.replicas,
        "created": time(f.created),
        "dagruns": [
            {
                "id": r.pk,
                "template": r.template.name,
                "version": r.version.number,
                "state": r.state,
                "created": time(r.created),
                "ended": time(r.ended),
            }
            for r in runs
        ],
    }


class JobEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobEvent
        fields = ["at", "from_state", "to_state", "actor", "reason", "attempt"]


class JobSerializer(serializers.ModelSerializer):
    template = serializers.CharField(source="dagrun.template.name", read_only=True)
    run = serializers.IntegerField(source="dagrun.file.run", read_only=True)
    file = serializers.CharField(source="dagrun.file.name", read_only=True)
    max_attempts = serializers.IntegerField(source="settings.max_attempts", read_only=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "dagrun",
            "template",
            "run",
            "file",
            "stage",
            "part",
            "payload",
            "args",
            "queue",
            "priority",
            "data_ts",
            "state",
            "attempt",
            "max_attempts",
            "pilot",
            "timeout",
            "event_fraction",
            "inputs",
            "outputs",
            "released_at",
            "exit_code",
            "message",
            "drop_reason",
            "created",
            "updated",
            "dispatched_at",
            "started_at",
            "ended_at",
        ]
        read_only_fields = fields


class JobDetailSerializer(JobSerializer):
    events = JobEventSerializer(many=True, read_only=True)

    class Meta(JobSerializer.Meta):
        fields = JobSerializer.Meta.fields + ["parents", "log_tail", "events"]
        read_only_fields = fields


class ReportAnswerSerializer(serializers.Serializer):
    """What a pilot gets back from a report: enough to know where its job stands, and with
    ``claim`` in the report, its next job (the claim's job spec, or null when none waits)."""

    id = serializers.IntegerField()
    state = serializers.CharField()
    attempt = serializers.IntegerField()
    dagrun = serializers.IntegerField()
    next = serializers.JSONField(required=False, allow_null=True)


class PrioritySerializer(serializers.Serializer):
    priority = serializers.IntegerField(min_value=-(10**6), max_value=10**6)


class DagRunSerializer(serializers.ModelSerializer):
    template = serializers.CharField(source="template.name")
    version = serializers.IntegerField(source="version.number")
    file = FileSerializer(read_only=True)
    jobs = JobSerializer(many=True, read_only=True)

    class Meta:
        model = DagRun
        fields = [
            "id",
            "template",
            "version",
            "state",
            "data_ts",
            "created",
            "ended",
            "file",
            "jobs",
        ]


class DagRunListSerializer(serializers.ModelSerializer):
    template = serializers.CharField(source="template.name")
    version = serializers.IntegerField(source="version.number")
    file = serializers.CharField(source="file.name")
    run = serializers.IntegerField(source="file.run")

    class Meta:
        model = DagRun
        fields = [
            "id",
            "template",
            "version",
            "state",
            "file",
            "run",
            "data_ts",
            "created",
            "ended",
        ]


class PilotRegisterSerializer(serializers.Serializer):
    host = serializers.CharField(max_length=255)
    site = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    batch_system = serializers.CharField(
        max_length=32, required=False, allow_blank=True, default=""
    )
    batch_id = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    queues = serializers.ListField(
        child=serializers.RegexField(r"^[a-z0-9][a-z0-9_-]{0,31}$"),
        min_length=1,
        max_length=20,
        default=lambda: ["default"],
    )
    resources = serializers.DictField(required=False, default=dict)
    version = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")

    def validate_resources(self, value):
        return limits.bounded_json(value, "resources")

    def validate(self, attrs):
        for name in ("host", "site", "batch_system", "batch_id", "version"):
            limits.check_text(attrs.get(name) or "", name)
        return attrs


class PilotSerializer(serializers.ModelSerializer):
    token = serializers.CharField(source="token.name", read_only=True)

    class Meta:
        model = Pilot
        fields = [
            "id",
            "host",
            "site",
            "batch_system",
            "batch_id",
            "queues",
            "resources",
            "version",
            "state",
            "job",
            "heartbeat_interval",
            "registered",
            "last_seen",
            "jobs_done",
            "exit_reason",
            "token",
        ]


class HeartbeatSerializer(serializers.Serializer):
    job = serializers.IntegerField(required=False, allow_null=True, default=None)
    progress = serializers.DictField(required=False, allow_null=True, default=None)

    def validate_progress(self, value):
        return None if value is None else limits.bounded_json(value, "progress")


class ClaimSerializer(serializers.Serializer):
    wait = serializers.FloatField(min_value=0, default=0)
    time_left = serializers.FloatField(min_value=0, required=False, allow_null=True, default=None)

    def validate_wait(self, value):
        return min(value, settings.P3S["MAX_WAIT"])


class ExitSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, allow_blank=True, default="")
    ok = serializers.BooleanField(default=True)

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("reason"), str):
            data = {**data, "reason": limits.clean_free_text(data["reason"])}
        return super().to_internal_value(data)


METRIC_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_.:-]{0,99}$"


class MetricInSerializer(serializers.Serializer):
    name = serializers.RegexField(METRIC_NAME_RE)
    value = serializers.FloatField()
    labels = serializers.DictField(
        child=serializers.CharField(max_length=100), required=False, default=dict
    )

    def validate_value(self, value):
        if not math.isfinite(value):
            raise serializers.ValidationError("must be a finite number")
        return value

    def validate_labels(self, value):
        return limits.check_labels(value)


KEY_RE = r"^[A-Za-z0-9_.:-]{1,64}$"


def attempt_field():
    return serializers.IntegerField(
        min_value=1,
        max_value=32767,
        required=False,
        allow_null=True,
        default=None,
        help_text="the job attempt the pilot ran (from its claim): results of an older attempt are refused with 409",
    )


def key_field():
    return serializers.RegexField(
        KEY_RE.replace("{1,64}", "{0,64}"),  # "" (the default): no key
        required=False,
        default="",
        allow_blank=True,  # "" is the default: no key (and the schema's default stays valid)
        help_text="client idempotency key (or the Idempotency-Key header): a retry with the same key stores nothing twice",
    )


class MetricsSerializer(serializers.Serializer):
    metrics = MetricInSerializer(many=True, allow_empty=False, max_length=5000)
    attempt = attempt_field()
    key = key_field()


class MetricsEnvelopeSerializer(serializers.Serializer):
    """A metrics delivery without its metrics (read by :func:`lean_metrics`)."""

    attempt = attempt_field()
    key = key_field()


METRIC_NAME = re.compile(METRIC_NAME_RE)


def lean_metrics(items) -> list[dict] | None:
    """The metrics of a delivery when every one is plainly valid (a name, a finite number,
    short printable labels), read in plain Python; else None, and :class:`MetricsSerializer`
    reads them and answers anything wrong with its usual 400. DRF's field machinery took
    0.3 s of the 0.5 s an ADC+FFT job's 2,218 metrics cost the server (issue 12)."""
    if type(items) is not list or not 1 <= len(items) <= 5000:
        return None
    out = []
    try:
        for m in items:
            name, value, labels = m["name"], m["value"], m.get("labels", {})
            if type(name) is not str or not METRIC_NAME.match(name):
                return None
            if type(value) not in (int, float) or not math.isfinite(value):
                return None
            if type(labels) is not dict or not all(
                type(v) is str and 0 < len(v) <= 100 and v.strip() == v for v in labels.values()
            ):
                return None
            out.append({"name": name, "value": float(value), "labels": limits.check_labels(labels)})
    except (KeyError, TypeError, AttributeError, serializers.ValidationError):
        return None
    return out


class ReportSerializer(serializers.Serializer):
    state = serializers.ChoiceField(REPORTABLE)
    outputs = serializers.ListField(
        child=serializers.CharField(max_length=1000), required=False, default=list, max_length=1000
    )
    metrics = MetricInSerializer(many=True, required=False, default=list, max_length=5000)
    exit_code = serializers.IntegerField(required=False, allow_null=True, default=None)
    message = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    log_tail = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200000, trim_whitespace=False
    )
    attempt = attempt_field()
    claim = ClaimSerializer(
        required=False,
        help_text="only with state finished: claim the next job in the same request "
        "(report-and-claim); the answer's 'next' holds it",
    )

    def to_internal_value(self, data):
        # Free text from payload logs keeps what it can: a NUL becomes U+FFFD, not a 400
        # that would leave the job unreported.
        if isinstance(data, dict):
            data = {
                k: limits.clean_free_text(v)
                if k in ("message", "log_tail") and isinstance(v, str)
                else v
                for k, v in data.items()
            }
        return super().to_internal_value(data)

    def validate(self, attrs):
        if attrs["state"] == "failed" and attrs.get("exit_code") is None:
            raise serializers.ValidationError("a failed report needs its exit_code")
        return attrs


class ReleaseSerializer(serializers.Serializer):
    """``POST jobs/{id}/outputs/``: a running job's data outputs, final, for its children."""

    outputs = serializers.ListField(
        child=serializers.RegexField(
            r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$",
            max_length=1000,
            error_messages={"invalid": "is not a URL (scheme://...)"},
        ),
        min_length=1,
        max_length=1000,
    )
    attempt = attempt_field()


class ReleaseAnswerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    attempt = serializers.IntegerField()
    released_at = serializers.DateTimeField(allow_null=True)
    children = serializers.ListField(
        child=serializers.IntegerField(), help_text="the jobs this release made"
    )


class ProductItemSerializer(serializers.Serializer):
    """What describes one product (an item of a batch, or the fields of a single upload)."""

    kind = serializers.ChoiceField(["png", "bokeh", "json"])
    title = serializers.CharField(max_length=200)
    labels = serializers.JSONField(required=False, default=dict)
    key = key_field()

    def validate_title(self, value):
        return limits.check_text(value, "title")

    def validate_labels(self, value):
        return limits.check_labels(limits.form_json(value, "labels"))


class ProductUploadSerializer(ProductItemSerializer):
    file = serializers.FileField()
    attempt = attempt_field()

    def validate_file(self, value):
        check_upload_size(value)
        return value


def check_upload_size(upload) -> None:
    limit = settings.P3S["MAX_UPLOAD_BYTES"]
    if upload.size > limit:
        raise serializers.ValidationError(f"is {upload.size} bytes; the limit is {limit}")


class ResumeSerializer(serializers.Serializer):
    stages = serializers.ListField(
        child=serializers.RegexField(r"^[a-z0-9][a-z0-9_-]{0,63}$"),
        required=False,
        default=list,
        max_length=200,
        help_text="stages to resume; empty: every paused stage of the template",
    )


class ProductSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = [
            "id",
            "job",
            "run",
            "kind",
            "title",
            "labels",
            "size",
            "data_ts",
            "created",
            "url",
        ]

    def get_url(self, obj) -> str:
        return f"/products/{obj.pk}/file"


class MetricSerializer(serializers.ModelSerializer):
    class Meta:
        model = Metric
        fields = ["id", "job", "name", "value", "labels", "run", "data_ts"]
