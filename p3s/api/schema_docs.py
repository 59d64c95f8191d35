"""Response schemas of API operations whose answer is a plain dict (for the OpenAPI schema,
issue 14: every operation described, with request and response), and the pilot key header."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

PILOT_KEY = OpenApiParameter(
    "X-P3S-Pilot-Key",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=True,
    description="the per-pilot key the registration answered; a pilot acts only as itself",
)


class PilotRegistered(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField(help_text="send it as X-P3S-Pilot-Key on every later call")
    heartbeat_interval = serializers.FloatField(help_text="seconds")
    state = serializers.CharField()


class HeartbeatAnswer(serializers.Serializer):
    command = serializers.ChoiceField(["continue", "kill-job", "exit"])
    heartbeat_interval = serializers.FloatField()


class ClaimFile(serializers.Serializer):
    url = serializers.CharField()
    stream = serializers.CharField()
    run = serializers.IntegerField()
    subrun = serializers.IntegerField()
    timestamp = serializers.DateTimeField()
    events = serializers.IntegerField()


class ClaimedJob(serializers.Serializer):
    id = serializers.IntegerField()
    stage = serializers.CharField()
    payload = serializers.CharField(help_text="an entry point of the p3s.payloads group")
    args = serializers.ListField(child=serializers.CharField())
    file = ClaimFile()
    inputs = serializers.ListField(child=serializers.CharField(), help_text="raw file first")
    parents = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="parent stage -> its output URLs",
    )
    output_dir = serializers.CharField(
        help_text="where the outputs go: a local path, or a URL (root://, https://) the pilot "
        "publishes them to"
    )
    output_fallback = serializers.CharField(
        help_text="the same place on the fallback staging area, for the pilot to publish to "
        "when output_dir does not answer ('' when there is none)"
    )
    event_fraction = serializers.FloatField()
    timeout = serializers.FloatField()
    attempt = serializers.IntegerField()
    dagrun = serializers.IntegerField()
    conditions = serializers.DictField(
        child=serializers.CharField(), help_text="condition name -> URL of the current version"
    )


class MetricsStored(serializers.Serializer):
    count = serializers.IntegerField()
    replayed = serializers.BooleanField(required=False, help_text="a retry: nothing stored twice")


class Resumed(serializers.Serializer):
    template = serializers.CharField()
    resumed = serializers.ListField(child=serializers.CharField())


class Summary(serializers.Serializer):
    jobs = serializers.JSONField(help_text="by_state, by_queue, by_stage (counts)")
    claimable = serializers.DictField(child=serializers.IntegerField(), help_text="per queue")
    top_priority = serializers.DictField(child=serializers.IntegerField(), help_text="per queue")
    pilots = serializers.JSONField(help_text="by_state, by_queue")
    latency = serializers.JSONField(help_text="runs, median_s, p90_s, max_s over the last hour")


class Health(serializers.Serializer):
    status = serializers.CharField(help_text="ok")
    sweeper = serializers.JSONField(required=False, help_text="with ?deep=1: the last pass")
