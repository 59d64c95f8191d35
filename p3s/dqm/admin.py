"""Expert admin for DQM: alarm rules and retention rules are edited here; results are read-only."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from p3s.dqm import alarms, retention
from p3s.dqm.models import (
    ACTIVE_ALARM_STATES,
    Alarm,
    AlarmRule,
    Metric,
    Product,
    RetentionRule,
    RetentionTarget,
)
from p3s.exceptions import IllegalTransition
from p3s.front.adminkit import ExpertAdmin, ReadOnlyAdmin, actor


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    list_display = ["id", "thumb", "title", "kind", "run", "label_text", "job", "data_ts", "size"]
    list_filter = ["kind"]
    search_fields = ["title", "=run"]
    raw_id_fields = ["job"]
    list_per_page = 50

    @admin.display(description="")
    def thumb(self, obj):
        if obj.kind == "png":
            return format_html(
                '<a href="{}"><img src="{}" loading="lazy" style="height:48px"></a>',
                reverse("front:product", args=[obj.pk]),
                reverse("front:product-thumb", args=[obj.pk]),
            )
        return format_html('<a href="{}">{}</a>', reverse("front:product", args=[obj.pk]), obj.kind)

    @admin.display(description="labels")
    def label_text(self, obj):
        return ", ".join(f"{k}={v}" for k, v in obj.labels.items())


@admin.register(Metric)
class MetricAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "value", "label_text", "run", "job", "data_ts"]
    search_fields = ["=name", "=run"]
    raw_id_fields = ["job"]
    list_per_page = 100

    @admin.display(description="labels")
    def label_text(self, obj):
        return ", ".join(f"{k}={v}" for k, v in obj.labels.items())


class AlarmRuleForm(forms.ModelForm):
    webhook = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=AlarmRule._meta.get_field("webhook").help_text,
    )

    class Meta:
        model = AlarmRule
        fields = [
            "name",
            "description",
            "metric",
            "labels",
            "comparison",
            "threshold",
            "severity",
            "enabled",
            "webhook",
        ]

    def clean_labels(self):
        labels = self.cleaned_data.get("labels") or {}
        if not isinstance(labels, dict) or not all(
            isinstance(v, (str, int)) for v in labels.values()
        ):
            raise forms.ValidationError(
                'labels must be a JSON object of names to values, e.g. {"apa": "3", "plane": "x"}'
            )
        return {str(k): str(v) for k, v in labels.items()}


@admin.register(AlarmRule)
class AlarmRuleAdmin(ExpertAdmin):
    form = AlarmRuleForm
    list_display = [
        "name",
        "condition",
        "label_text",
        "severity",
        "enabled",
        "has_webhook",
        "active_alarms",
        "updated",
    ]
    list_filter = ["severity", "enabled", "metric"]
    search_fields = ["name", "metric", "description"]
    actions = ["enable", "disable", "test_webhook"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not obj.enabled:
            n = alarms.clear_alarms_of(obj)
            if n:
                self.message_user(
                    request, f"{n} active alarm(s) of the disabled rule {obj.name} cleared"
                )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(n_active=Count("alarms", filter=Q(alarms__state__in=ACTIVE_ALARM_STATES)))
        )

    @admin.display(description="labels")
    def label_text(self, obj):
        return ", ".join(f"{k}={v}" for k, v in obj.labels.items()) or "every series"

    @admin.display(description="webhook", boolean=True)
    def has_webhook(self, obj):
        return bool(obj.webhook)

    @admin.display(description="active alarms", ordering="n_active")
    def active_alarms(self, obj):
        return obj.n_active

    @admin.action(description="Enable selected rules")
    def enable(self, request, queryset):
        self.message_user(request, f"{queryset.update(enabled=True)} rule(s) enabled")

    @admin.action(description="Disable selected rules (their active alarms clear)")
    def disable(self, request, queryset):
        cleared = sum(alarms.clear_alarms_of(rule) for rule in queryset)
        self.message_user(
            request,
            f"{queryset.update(enabled=False)} rule(s) disabled, {cleared} alarm(s) cleared",
        )

    @admin.action(description="Send a test message to the selected rules' webhooks")
    def test_webhook(self, request, queryset):
        for rule in queryset:
            if not rule.webhook:
                self.message_user(request, f"{rule.name}: no webhook", messages.WARNING)
            elif alarms.send_test(rule):
                self.message_user(request, f"{rule.name}: {rule.webhook} accepted the test message")
            else:
                self.message_user(
                    request,
                    f"{rule.name}: {rule.webhook} did not accept it (see the server log)",
                    messages.ERROR,
                )


@admin.register(Alarm)
class AlarmAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "rule",
        "severity",
        "state",
        "condition",
        "label_text",
        "value",
        "last_value",
        "run",
        "opened_at",
        "acked_by",
        "cleared_at",
    ]
    list_filter = ["state", "severity", "rule"]
    list_select_related = ["rule"]
    raw_id_fields = ["job"]
    actions = ["acknowledge"]

    @admin.display(description="labels")
    def label_text(self, obj):
        return ", ".join(f"{k}={v}" for k, v in obj.labels.items())

    @admin.action(description="Acknowledge selected open alarms")
    def acknowledge(self, request, queryset):
        done = 0
        for pk in queryset.values_list("pk", flat=True)[:1000]:
            try:
                alarms.acknowledge(pk, actor(request))
                done += 1
            except IllegalTransition as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, f"{done} alarm(s) acknowledged")


class RetentionRuleForm(forms.ModelForm):
    class Meta:
        model = RetentionRule
        fields = ["target", "days", "kind", "stream", "metric", "enabled"]

    def clean(self):
        data = super().clean()
        target = data.get("target")
        if data.get("days") is not None and data["days"] <= 0:
            self.add_error("days", "keep at least some time: days must be above 0")
        if data.get("kind") and target != RetentionTarget.PRODUCTS:
            self.add_error("kind", "a kind applies to products only")
        if data.get("metric") and target != RetentionTarget.METRICS:
            self.add_error("metric", "a metric name applies to metrics only")
        if data.get("stream") and target == RetentionTarget.ALARMS:
            self.add_error("stream", "alarms are not per stream")
        return data


@admin.register(RetentionRule)
class RetentionRuleAdmin(ExpertAdmin):
    form = RetentionRuleForm
    list_display = ["__str__", "target", "days", "kind", "stream", "metric", "enabled"]
    list_filter = ["target", "enabled"]
    readonly_fields = ["due_now"]
    actions = ["apply_now"]

    @admin.display(description="older than the limit now")
    def due_now(self, obj):
        if not obj or not obj.pk:
            return "-"
        cutoff = timezone.now() - timedelta(days=obj.days)
        if obj.target == RetentionTarget.PRODUCTS:
            qs = Product.objects.filter(created__lt=cutoff)
            qs = qs.filter(kind=obj.kind) if obj.kind else qs
        elif obj.target == RetentionTarget.METRICS:
            qs = Metric.objects.filter(created__lt=cutoff)
            qs = qs.filter(name=obj.metric) if obj.metric else qs
        elif obj.target == RetentionTarget.LOGS:
            return retention.logs_due(obj, cutoff).count()
        else:
            return Alarm.objects.filter(state="cleared", cleared_at__lt=cutoff).count()
        if obj.stream:
            qs = qs.filter(job__dagrun__file__stream=obj.stream)
        return qs.count()

    @admin.action(description="Apply all enabled retention rules now (one batch)")
    def apply_now(self, request, queryset):
        n = retention.apply_retention()
        self.message_user(
            request, f"retention deleted {n} row(s); the sweeper continues with the rest"
        )
