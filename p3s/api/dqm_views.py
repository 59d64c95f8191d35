"""DQM results for programs: alarms (and acknowledging them), products, metrics. Read: operator."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from p3s.accounts import roles
from p3s.api import serializers as s
from p3s.api.filters import UTCDateTimeFilter
from p3s.dqm import alarms
from p3s.dqm.models import ACTIVE_ALARM_STATES, Alarm, Metric, Product


class AlarmSerializer(serializers.ModelSerializer):
    rule = serializers.CharField(source="rule.name", read_only=True)
    metric = serializers.CharField(source="rule.metric", read_only=True)

    class Meta:
        model = Alarm
        fields = [
            "id",
            "rule",
            "metric",
            "condition",
            "severity",
            "state",
            "labels",
            "value",
            "last_value",
            "run",
            "job",
            "data_ts",
            "last_data_ts",
            "opened_at",
            "acked_at",
            "acked_by",
            "cleared_at",
        ]
        read_only_fields = fields


class AlarmFilter(django_filters.FilterSet):
    state = django_filters.CharFilter(
        method="filter_state", help_text="open, acknowledged, cleared or active"
    )
    rule = django_filters.CharFilter(field_name="rule__name")
    since = UTCDateTimeFilter(field_name="opened_at", lookup_expr="gte")

    class Meta:
        model = Alarm
        fields = ["severity", "run"]

    def filter_state(self, qs, name, value):
        if value == "active":
            return qs.filter(state__in=ACTIVE_ALARM_STATES)
        return qs.filter(state=value)


class AlarmViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alarms raised by the alarm rules; operators acknowledge them."""

    lookup_value_regex = r"[0-9]+"  # ids are numbers: anything else is a 404 at routing

    queryset = Alarm.objects.select_related("rule").order_by("-opened_at", "-id")
    serializer_class = AlarmSerializer
    filterset_class = AlarmFilter
    permission_classes = [roles.IsOperator]

    @extend_schema(request=None, responses={200: AlarmSerializer})
    @action(detail=True, methods=["post"])
    def ack(self, request, pk=None):
        alarm = alarms.acknowledge(int(self.get_object().pk), roles.actor_of(request))
        return Response(AlarmSerializer(alarm).data)


def _labels(qs, request):
    """``?label.apa=3&label.plane=x``: filter on labels (exact values; no lookups)."""
    from p3s.api.limits import LABEL_KEY, check_text

    for key, value in request.query_params.items():
        if key.startswith("label."):
            name = key[6:]
            if not LABEL_KEY.match(name) or "__" in name:
                raise ValidationError(
                    {
                        key[:60]: [
                            "label filters take a label name and an exact value, e.g. label.apa=3"
                        ]
                    }
                )
            qs = qs.filter(**{f"labels__{name}": check_text(value, key[:60])})
    return qs


class ProductFilter(django_filters.FilterSet):
    since = UTCDateTimeFilter(field_name="data_ts", lookup_expr="gte")
    stream = django_filters.CharFilter(field_name="job__dagrun__file__stream")
    dagrun = django_filters.NumberFilter(field_name="job__dagrun")
    apa = django_filters.CharFilter(field_name="labels__apa")
    plane = django_filters.CharFilter(field_name="labels__plane")

    class Meta:
        model = Product
        fields = ["run", "kind", "job"]


class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Visual products, latest data first; ``url`` is the file."""

    lookup_value_regex = r"[0-9]+"  # ids are numbers: anything else is a 404 at routing

    queryset = Product.objects.order_by("-data_ts", "-id")
    serializer_class = s.ProductSerializer
    filterset_class = ProductFilter
    permission_classes = [roles.IsOperator]

    def get_queryset(self):
        return _labels(super().get_queryset(), self.request)


class MetricFilter(django_filters.FilterSet):
    since = UTCDateTimeFilter(field_name="data_ts", lookup_expr="gte")
    until = UTCDateTimeFilter(field_name="data_ts", lookup_expr="lt")
    apa = django_filters.CharFilter(field_name="labels__apa")
    plane = django_filters.CharFilter(field_name="labels__plane")

    class Meta:
        model = Metric
        fields = ["name", "run", "job"]


class MetricViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Metric values (what the strip charts draw), latest data first."""

    lookup_value_regex = r"[0-9]+"  # ids are numbers: anything else is a 404 at routing

    queryset = Metric.objects.order_by("-data_ts", "-id")
    serializer_class = s.MetricSerializer
    filterset_class = MetricFilter
    permission_classes = [roles.IsOperator]

    def get_queryset(self):
        return _labels(super().get_queryset(), self.request)
