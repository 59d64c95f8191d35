"""Data files, DAG templates (versioned graphs + live tunables) and DAG runs."""

from __future__ import annotations

from django.db import models


class DataFile(models.Model):
    """A raw data file DAQ announced. Idempotent by URL."""

    url = models.CharField(max_length=1000, unique=True)
    name = models.CharField(max_length=300, help_text="the file name part of the URL")
    stream = models.CharField(max_length=32)
    run = models.PositiveIntegerField()
    subrun = models.PositiveIntegerField(default=0)
    data_ts = models.DateTimeField(help_text="when the data were taken (start of its range)")
    # One clock for every stream (p3s.dags.matching): the data time range [data_ts, data_ts_end].
    data_ts_end = models.DateTimeField(
        null=True, blank=True, help_text="end of the data time range; null: the file is an instant"
    )
    events = models.PositiveIntegerField(default=0)
    size = models.BigIntegerField(default=0)
    checksum = models.CharField(max_length=100, blank=True)
    replicas = models.JSONField(
        default=list, blank=True, help_text="further URLs of the same file (the first is url)"
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-data_ts", "-id"]
        indexes = [
            # api FileViewSet filters by stream/run; front runs page groups by run.
            models.Index(fields=["run", "subrun"], name="datafile_run"),
            models.Index(fields=["stream", "-data_ts"], name="datafile_stream_ts"),
            # p3s.dags.matching.overlapping: files of a stream whose range meets a window.
            models.Index(fields=["stream", "data_ts", "data_ts_end"], name="datafile_stream_range"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def data_end(self):
        """The end of the data time range (the start when the file is an instant)."""
        return self.data_ts_end or self.data_ts


class DagTemplate(models.Model):
    """A named workflow. Its graph lives in versions; its tunables in StageSettings."""

    name = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    trigger_stream = models.CharField(max_length=32)
    trigger_pattern = models.CharField(
        max_length=200, blank=True, help_text="fnmatch on the file name"
    )
    max_age = models.FloatField(
        null=True, blank=True, help_text="seconds: waiting jobs on older data are dropped"
    )
    max_waiting = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="per stage: beyond this many waiting jobs, the oldest data are dropped",
    )
    # p3s.dags.overload: {"budget": s, "stages": [...], "floor": f}; empty = off.
    adaptive_prescale = models.JSONField(
        default=dict,
        db_default={},
        blank=True,
        help_text="adaptive prescale: latency budget, stages, floor",
    )
    current_version = models.ForeignKey(
        "DagVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "DAG template"

    def __str__(self) -> str:
        return self.name


class DagVersion(models.Model):
    """An immutable graph: stages (payload, args, queue, parents). Runs keep their version."""

    template = models.ForeignKey(DagTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    graph = models.JSONField(help_text="stage name -> {payload, args, queue, parents}")
    source = models.TextField(blank=True, help_text="the YAML or JSON it was made from")
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["template", "-number"]
        verbose_name = "DAG version"
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="dagversion_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.template.name} v{self.number}"


class StageSettings(models.Model):
    """Live tunables of one stage of a template, shared by all its versions and runs."""

    template = models.ForeignKey(
        DagTemplate, on_delete=models.CASCADE, related_name="stage_settings"
    )
    stage = models.CharField(max_length=64)
    priority = models.IntegerField(default=0)
    timeout = models.FloatField(default=600.0)
    max_attempts = models.PositiveSmallIntegerField(default=2)
    prescale = models.FloatField(default=1.0)
    event_fraction = models.FloatField(default=1.0)
    # p3s.dags.split: "" (one job), "apa:N" or "events:N" (N parallel parts, joined on all).
    split = models.CharField(max_length=16, blank=True, default="", db_default="")
    # p3s.dags.overload: the adaptive prescale's factor on ``prescale`` (1 = none).
    adaptive_factor = models.FloatField(default=1.0, db_default=1.0)
    # The circuit breaker (p3s.jobs.breaker): a stage whose jobs keep failing is paused, its
    # waiting jobs not claimed, until an operator resumes it.
    paused = models.BooleanField(default=False)
    paused_reason = models.TextField(blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["template", "-priority", "stage"]
        verbose_name_plural = "stage settings"
        constraints = [
            models.UniqueConstraint(fields=["template", "stage"], name="stagesettings_unique_stage")
        ]

    def __str__(self) -> str:
        return f"{self.template.name}/{self.stage}"


class DagRunState(models.TextChoices):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PARTIAL = "partial"
    CANCELLED = "cancelled"


class DagRun(models.Model):
    """One template run on one file."""

    template = models.ForeignKey(DagTemplate, on_delete=models.PROTECT, related_name="runs")
    version = models.ForeignKey(DagVersion, on_delete=models.PROTECT, related_name="runs")
    file = models.ForeignKey(DataFile, on_delete=models.CASCADE, related_name="dagruns")
    state = models.CharField(
        max_length=16, choices=DagRunState.choices, default=DagRunState.RUNNING
    )
    data_ts = models.DateTimeField()
    created = models.DateTimeField(auto_now_add=True)
    ended = models.DateTimeField(null=True, blank=True)
    # 0 for the run the file's arrival started; 1, 2, ... for operator reprocessings
    # (p3s.dags.history.reprocess), each with the version current at the time.
    generation = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        verbose_name = "DAG run"
        indexes = [
            # api DagRunViewSet and the dashboard filter running runs, newest first.
            models.Index(fields=["state", "-id"], name="dagrun_state"),
            # api.views.latency_figures: runs ended in the last hour.
            models.Index(
                fields=["ended"], name="dagrun_ended", condition=models.Q(ended__isnull=False)
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "file", "generation"], name="dagrun_one_per_template_file"
            )
        ]

    def __str__(self) -> str:
        return f"{self.template.name} #{self.pk} on {self.file.name}"


class TemplateEvent(models.Model):
    """Something done to a template outside the expert's own edits (e.g. a forced reload of
    the shipped defaults that replaced the expert's version), for the record."""

    template = models.ForeignKey(DagTemplate, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=32)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.template_id} {self.action} by {self.actor}"


class TemplateChange(models.Model):
    """One change of a template (p3s.dags.history): who, when, what changed (old and new
    values), the whole template after it and the text it was made from, comments included."""

    template = models.ForeignKey(DagTemplate, on_delete=models.CASCADE, related_name="changes")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=32, default="edit")
    version = models.ForeignKey(DagVersion, on_delete=models.PROTECT, related_name="changes")
    changes = models.JSONField(default=list, help_text="[{what, old, new}]")
    spec = models.JSONField(help_text="the template after the change (spec.to_dict)")
    source = models.TextField(blank=True, help_text="the YAML or JSON as sent, comments kept")

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.template_id} {self.action} by {self.actor}"


from p3s.dags.matching_models import StreamMatch  # noqa: E402,F401  (matching waits)
