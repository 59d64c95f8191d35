"""DQM results: visual products and numeric metrics (alarms build on metrics)."""

from __future__ import annotations

from django.db import models


class ProductKind(models.TextChoices):
    PNG = "png", "PNG image"
    BOKEH = "bokeh", "bokeh JSON item"
    JSON = "json", "JSON data"


def product_path(instance: Product, filename: str) -> str:
    # The stored name is built by the server, never taken from the client (no ../ tricks).
    ext = {"png": "png", "bokeh": "json", "json": "json"}[instance.kind]
    # One directory per attempt: a late upload of an old attempt never overwrites the new one's.
    where = f"run{instance.run:06d}/job{instance.job_id}/attempt{instance.attempt}"
    return f"{where}/{instance.slug}.{ext}"


class Product(models.Model):
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="products")
    run = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=ProductKind.choices)
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80)
    labels = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to=product_path, max_length=300)
    size = models.PositiveIntegerField(default=0)
    data_ts = models.DateTimeField()
    created = models.DateTimeField(auto_now_add=True)
    attempt = models.PositiveSmallIntegerField(default=1, help_text="the job attempt that made it")
    key = models.CharField(
        max_length=64, blank=True, help_text="the client's idempotency key: a retry stores nothing"
    )

    class Meta:
        ordering = ["-data_ts", "-id"]
        constraints = [
            # api JobViewSet.products: five identical (retried, parallel) uploads make one product.
            models.UniqueConstraint(
                fields=["job", "key"], name="product_one_per_key", condition=~models.Q(key="")
            ),
        ]
        indexes = [
            # front products gallery: latest first, by run and kind.
            models.Index(fields=["run", "kind", "-data_ts"], name="product_run_kind"),
            models.Index(fields=["-data_ts", "-id"], name="product_latest"),
            # dqm.retention: products by arrival time.
            models.Index(fields=["created"], name="product_created"),
            # front product page: the same product on other data.
            models.Index(fields=["title", "-data_ts"], name="product_title_ts"),
        ]

    def __str__(self) -> str:
        return self.title


class Metric(models.Model):
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="metrics")
    name = models.CharField(max_length=100)
    value = models.FloatField()
    labels = models.JSONField(default=dict, blank=True)
    run = models.PositiveIntegerField()
    data_ts = models.DateTimeField(help_text="when the data were taken: the strip charts' x axis")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-data_ts", "-id"]
        indexes = [
            # front strip charts: one metric over time.
            models.Index(fields=["name", "data_ts"], name="metric_name_ts"),
            # front compare page (views.quality): the metrics of one run.
            models.Index(fields=["run", "name"], name="metric_run_name"),
            # dqm.retention: metrics by arrival time.
            models.Index(fields=["created"], name="metric_created"),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class MetricBatch(models.Model):
    """One accepted delivery of metrics (a metrics POST or a finished report's metrics).

    Its key is unique per job: a retried delivery (the answer was lost) finds its batch and
    stores nothing again. A report's metrics use the key ``report-a<attempt>``.
    """

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="metric_batches")
    attempt = models.PositiveSmallIntegerField(default=1)
    key = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # dqm.services.record_metrics: the lookup of a retried delivery, and its guarantee.
            models.UniqueConstraint(fields=["job", "key"], name="metricbatch_one_per_key"),
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} {self.key}: {self.count} metric(s)"


# -- alarms -----------------------------------------------------------------------------


class Comparison(models.TextChoices):
    GT = "gt", "value > threshold"
    GE = "ge", "value >= threshold"
    LT = "lt", "value < threshold"
    LE = "le", "value <= threshold"

    @property
    def symbol(self) -> str:
        return {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[self.value]


class Severity(models.TextChoices):
    WARNING = "warning"
    CRITICAL = "critical"


class AlarmRule(models.Model):
    """A limit on one metric, optionally restricted to some labels (e.g. apa=3, plane=x).

    Each detector element of matching metrics (labels without run, file, ...:
    :mod:`p3s.dqm.series`) is its own series: one alarm per series opens when the limit is
    broken and clears when newer data are back in range, whatever run they come from.
    """

    name = models.SlugField(max_length=80, unique=True)
    description = models.TextField(
        blank=True, help_text="what it means for the detector and what to do"
    )
    metric = models.CharField(max_length=100, help_text="metric name, e.g. adc_rms_mean")
    labels = models.JSONField(
        default=dict,
        blank=True,
        help_text='only metrics with these labels, e.g. {"plane": "x"}; empty: every series',
    )
    comparison = models.CharField(max_length=2, choices=Comparison.choices, default=Comparison.GT)
    threshold = models.FloatField()
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    enabled = models.BooleanField(default=True)
    webhook = models.URLField(
        blank=True,
        max_length=500,
        help_text="POST a JSON message here when an alarm opens or clears (optional)",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["metric", "name"]
        indexes = [
            # dqm.alarms.check_metrics: enabled rules of the metrics just recorded.
            models.Index(fields=["metric", "enabled"], name="alarmrule_metric"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def condition(self) -> str:
        return f"{self.metric} {Comparison(self.comparison).symbol} {self.threshold:g}"

    def matches(self, labels: dict) -> bool:
        return all(str(labels.get(k)) == str(v) for k, v in (self.labels or {}).items())

    def breaks(self, value: float) -> bool:
        t = self.threshold
        return {
            "gt": value > t,
            "ge": value >= t,
            "lt": value < t,
            "le": value <= t,
        }[self.comparison]


class AlarmState(models.TextChoices):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


ACTIVE_ALARM_STATES = (AlarmState.OPEN, AlarmState.ACKNOWLEDGED)


class Alarm(models.Model):
    """One breach of one rule on one series, from opening to clearing."""

    rule = models.ForeignKey(AlarmRule, on_delete=models.CASCADE, related_name="alarms")
    series = models.CharField(
        max_length=500, help_text="the metric's element labels (no run, file, job), canonical JSON"
    )
    labels = models.JSONField(default=dict, blank=True, help_text="the element labels")
    state = models.CharField(max_length=16, choices=AlarmState.choices, default=AlarmState.OPEN)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    condition = models.CharField(max_length=200, help_text="the rule's condition when it opened")
    value = models.FloatField(help_text="the value that opened it")
    last_value = models.FloatField()
    run = models.PositiveIntegerField(null=True, blank=True, help_text="run where it opened")
    job = models.ForeignKey(
        "jobs.Job",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="job (and so file) where it opened",
    )
    data_ts = models.DateTimeField(help_text="data time of the first value out of range")
    last_run = models.PositiveIntegerField(
        null=True, blank=True, help_text="run of the latest value seen"
    )
    last_job = models.ForeignKey(
        "jobs.Job",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="job (and so file) of the latest value seen",
    )
    last_data_ts = models.DateTimeField(help_text="data time of the latest value seen for it")
    opened_at = models.DateTimeField(auto_now_add=True)
    acked_at = models.DateTimeField(null=True, blank=True)
    acked_by = models.CharField(max_length=150, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # No alarm storm: at most one open or acknowledged alarm per rule and series.
            models.UniqueConstraint(
                fields=["rule", "series"],
                name="alarm_one_active_per_series",
                condition=models.Q(state__in=["open", "acknowledged"]),
            ),
        ]
        indexes = [
            # front alarms page and dashboard, api alarms list: by state, newest first.
            models.Index(fields=["state", "-opened_at"], name="alarm_state_opened"),
            # dqm.alarms.check_metrics: the latest alarm of a series.
            models.Index(fields=["rule", "series", "-id"], name="alarm_rule_series"),
        ]

    def __str__(self) -> str:
        return f"{self.rule.name} {self.series} ({self.state})"

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_ALARM_STATES


# -- retention --------------------------------------------------------------------------


class RetentionTarget(models.TextChoices):
    PRODUCTS = "products", "products (files and rows)"
    METRICS = "metrics", "metrics"
    ALARMS = "alarms", "cleared alarms"
    LOGS = "logs", "full job logs (files and rows)"


class RetentionRule(models.Model):
    """Delete DQM results older than some days; rules narrow by kind, stream or metric name."""

    target = models.CharField(max_length=16, choices=RetentionTarget.choices)
    days = models.FloatField(help_text="keep this many days (by arrival time on the server)")
    kind = models.CharField(
        max_length=16,
        choices=ProductKind.choices,
        blank=True,
        help_text="products only: this kind; empty: all",
    )
    stream = models.CharField(
        max_length=32, blank=True, help_text="only results of files of this stream; empty: all"
    )
    metric = models.CharField(
        max_length=100, blank=True, help_text="metrics only: this metric name; empty: all"
    )
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["target", "days"]

    def __str__(self) -> str:
        scope = " ".join(
            x for x in (self.kind, self.metric, f"stream {self.stream}" if self.stream else "") if x
        )
        return f"{self.target}{' ' + scope if scope else ''} older than {self.days:g} days"
