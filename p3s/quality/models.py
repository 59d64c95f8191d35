"""Data quality: the check catalogue, check results (history and latest), run sign-off."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Flag(models.TextChoices):
    UNDEFINED = "undefined"
    GOOD = "good"
    WARNING = "warning"
    BAD = "bad"


#: Worst-case order for the roll-up: undefined < good < warning < bad (INTERFACES.md section 5).
FLAG_RANK = {Flag.UNDEFINED: 0, Flag.GOOD: 1, Flag.WARNING: 2, Flag.BAD: 3}


def worst(flags) -> str:
    """The worst of some flags; undefined when there are none."""
    return str(max(flags, key=lambda f: FLAG_RANK[Flag(f)], default=Flag.UNDEFINED))


class CheckKind(models.TextChoices):
    RANGE = "range", "range: warning and error bounds on a metric"
    REFERENCE_HIST = "reference_hist", "histogram against the reference histogram"
    REFERENCE_METRIC = "reference_metric", "metric against the reference value (pull)"
    BAD_CHANNELS_NEW = "bad_channels_new", "dead/noisy channels beyond the known-bad list"
    BAND = "band", "per-board pedestal or noise against the bands condition"


class Check(models.Model):
    """One automatic check: what it reads (a metric or a histogram), where, and its bounds.

    ``metric`` is a metric name for range, reference_metric, band and bad_channels_new on
    ``adc_*_new`` metrics; a histogram name (the product's ``hist`` label) for reference_hist;
    empty for bad_channels_new on the ``p3s-badch-1`` table. ``params`` holds the kind's
    settings (documented in docs/operator-guide.md and p3s.quality.checks).
    """

    name = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True, help_text="what a failure means and what to do")
    kind = models.CharField(max_length=20, choices=CheckKind.choices)
    template = models.CharField(
        max_length=64, blank=True, help_text="DAG template name (e.g. tpc-dqm); empty: any"
    )
    stream = models.CharField(max_length=32, default="tpc")
    metric = models.CharField(
        max_length=100, blank=True, help_text="metric name, or histogram name for reference_hist"
    )
    labels = models.JSONField(
        default=dict, blank=True, help_text='only elements with these labels, e.g. {"plane": "x"}'
    )
    scope = models.JSONField(
        default=list,
        blank=True,
        help_text='element labels the input must have, e.g. ["femb"]; empty: any',
    )
    warning_low = models.FloatField(null=True, blank=True)
    warning_high = models.FloatField(null=True, blank=True)
    error_low = models.FloatField(null=True, blank=True)
    error_high = models.FloatField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True, help_text="kind-specific settings")
    enabled = models.BooleanField(default=True)
    source = models.CharField(
        max_length=300, blank=True, help_text="the YAML file it was loaded from; empty: the admin"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["stream", "metric", "name"]
        indexes = [
            # quality.evaluate: enabled checks of the metrics or histograms just recorded.
            models.Index(fields=["metric", "enabled"], name="check_metric_enabled"),
        ]

    def __str__(self) -> str:
        return self.name

    def matches(self, element: dict) -> bool:
        if any(str(element.get(k)) != str(v) for k, v in (self.labels or {}).items()):
            return False
        return all(k in element for k in (self.scope or ()))


class ResultFields(models.Model):
    """What a check found on one element: the flag and its evidence."""

    check_ref = models.ForeignKey(Check, on_delete=models.CASCADE, related_name="+")
    flag = models.CharField(max_length=10, choices=Flag.choices)
    element = models.JSONField(default=dict, help_text="element labels (stream, apa, plane, ...)")
    element_key = models.CharField(max_length=500)
    apa = models.CharField(max_length=8, blank=True)
    plane = models.CharField(max_length=4, blank=True)
    femb = models.CharField(max_length=8, blank=True)
    stream = models.CharField(max_length=32, blank=True)
    template = models.CharField(max_length=64, blank=True)
    run = models.PositiveIntegerField()
    job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    product = models.ForeignKey(
        "dqm.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    value = models.FloatField(null=True, blank=True)
    reference = models.FloatField(null=True, blank=True)
    statistic = models.FloatField(null=True, blank=True)
    p_value = models.FloatField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True, help_text="one line: why this flag")
    data_ts = models.DateTimeField()

    class Meta:
        abstract = True

    @property
    def check_name(self) -> str:
        # The field is ``check_ref``: a field or property named ``check`` would hide
        # Model.check(), which Django's system checks call.
        return self.check_ref.name


class CheckResult(ResultFields):
    """History of what went wrong: every warning, bad or undefined result, with its evidence.

    Good results are not kept one by one (a full detector makes thousands per file): they are
    counted in :class:`RunTally` and the latest one per element is in :class:`LatestResult`.
    """

    reference_set = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="id of the reference set compared with"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-data_ts", "-id"]
        indexes = [
            # quality.verdict.run_quality: the results of one run.
            models.Index(fields=["run", "check_ref"], name="checkresult_run"),
            # dqm retention and the run page's history of one element.
            models.Index(fields=["created"], name="checkresult_created"),
        ]

    def __str__(self) -> str:
        return f"{self.check_ref_id} {self.element_key}: {self.flag}"


class LatestResult(ResultFields):
    """The latest result per (check, element), upserted on evaluation: the tree reads only this."""

    result = models.ForeignKey(CheckResult, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["check_ref", "element_key"], name="latest_one_per_elem")
        ]
        indexes = [
            # quality.tree.latest_tree / apa_plane_grid: one stream's latest results.
            models.Index(fields=["stream", "template"], name="latest_stream"),
        ]

    def __str__(self) -> str:
        return f"{self.check_ref_id} {self.element_key}: {self.flag} (latest)"


class RunTally(models.Model):
    """How often each check gave each flag in a run (the run verdict and the run page)."""

    run = models.PositiveIntegerField()
    check_ref = models.ForeignKey(Check, on_delete=models.CASCADE, related_name="+")
    template = models.CharField(max_length=64, blank=True)
    stream = models.CharField(max_length=32, blank=True)
    good = models.PositiveIntegerField(default=0)
    warning = models.PositiveIntegerField(default=0)
    bad = models.PositiveIntegerField(default=0)
    undefined = models.PositiveIntegerField(default=0)
    last_data_ts = models.DateTimeField()

    class Meta:
        constraints = [
            # quality.evaluate.save and quality.verdict.run_quality: one row per run and check.
            models.UniqueConstraint(fields=["run", "check_ref"], name="tally_one_per_run_check")
        ]

    def __str__(self) -> str:
        return f"run {self.run} {self.check_ref_id}: {self.good}/{self.warning}/{self.bad}"


class Verdict(models.TextChoices):
    GOOD = "good"
    BAD = "bad"


class RunSignoff(models.Model):
    """An operator's verdict on a run; every sign-off is kept, the newest counts."""

    run = models.PositiveIntegerField()
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    comment = models.TextField(blank=True)
    automatic = models.CharField(
        max_length=10, choices=Flag.choices, help_text="the automatic verdict when signed"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=200, help_text="who signed (user:name or role:token)")
    signed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-signed_at", "-id"]
        indexes = [
            # quality.verdict: the newest sign-off of a run.
            models.Index(fields=["run", "-signed_at"], name="signoff_run"),
        ]

    def __str__(self) -> str:
        return f"run {self.run}: {self.verdict} by {self.actor}"
