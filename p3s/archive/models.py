"""Rules for what happens to the data of ended DAG runs, and the record of archived copies.

* :class:`OutputRule`: intermediate outputs (the files the jobs named in ``outputs``, under
  the staging areas) of a DAG run that ENDED are deleted ``hours`` after it ended; one rule
  per template, the rule without a template is the default.
* :class:`ArchiveRule`: a ``fraction`` of the outputs (per template and stage) or of the
  products is copied to ``archive_url``, chosen by a hash of the source URL (re-runs pick the
  same files); the copy's sha256 is checked against the source before anything is deleted.
* :class:`PruneRule`: jobs, their events, DAG runs and files of runs ended more than ``days``
  ago leave the database, in batches.
* :class:`RunCleanup`: how far the sweeper got with one ended DAG run.
* :class:`ArchivedCopy`: one verified (or refused) copy.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class OutputRule(models.Model):
    template = models.OneToOneField(
        "dags.DagTemplate",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="output_rule",
        help_text="empty: the default rule, for templates without their own",
    )
    hours = models.FloatField(
        validators=[MinValueValidator(0.0)],
        help_text="delete a DAG run's intermediate outputs this long after the run ended",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["enabled"],
                condition=Q(template__isnull=True, enabled=True),
                name="outputrule_one_default",
            )
        ]

    def __str__(self) -> str:
        who = self.template.name if self.template_id else "default"
        return f"outputs of {who}: delete {self.hours:g} h after the run ended"


class ArchiveTarget(models.TextChoices):
    OUTPUTS = "outputs", "intermediate outputs"
    PRODUCTS = "products", "products (plots)"


class ArchiveRule(models.Model):
    target = models.CharField(max_length=16, choices=ArchiveTarget.choices)
    template = models.ForeignKey(
        "dags.DagTemplate",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="archive_rules",
        help_text="empty: every template",
    )
    stage = models.CharField(max_length=64, blank=True, help_text="empty: every stage")
    fraction = models.FloatField(
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="0..1 of the files, chosen by a hash of their URL (the same on every pass)",
    )
    archive_url = models.CharField(
        max_length=500, help_text="root://host:port//path or a directory (file:// or a path)"
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(fraction__gte=0.0, fraction__lte=1.0), name="archiverule_fraction"
            )
        ]

    def __str__(self) -> str:
        who = self.template.name if self.template_id else "every template"
        stage = self.stage or "every stage"
        return f"{self.fraction:g} of {self.target} of {who}/{stage} -> {self.archive_url}"


class PruneRule(models.Model):
    days = models.FloatField(
        validators=[MinValueValidator(0.0)],
        help_text="prune jobs, events, DAG runs and files of runs ended this long ago",
    )
    keep_dqm = models.BooleanField(
        default=True,
        help_text="keep runs whose jobs still have products or metrics (their own retention "
        "rules delete those first)",
    )
    enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"prune runs ended over {self.days:g} days ago"


class RunCleanup(models.Model):
    """Progress of the sweeper on one ended DAG run (gone with the run when it is pruned)."""

    dagrun = models.OneToOneField(
        "dags.DagRun", primary_key=True, on_delete=models.CASCADE, related_name="cleanup"
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    outputs_deleted_at = models.DateTimeField(null=True, blank=True)
    deleted = models.PositiveIntegerField(default=0, help_text="outputs deleted")
    error = models.TextField(blank=True, help_text="the last problem met (retried next pass)")

    def __str__(self) -> str:
        return f"clean-up of DAG run {self.dagrun_id}"


class ArchivedCopy(models.Model):
    KIND_CHOICES = [("output", "output"), ("product", "product")]

    source = models.CharField(max_length=1000)
    archive_url = models.CharField(max_length=1500)
    kind = models.CharField(max_length=8, choices=KIND_CHOICES)
    template = models.CharField(max_length=100, blank=True)
    stage = models.CharField(max_length=64, blank=True)
    dagrun_id = models.BigIntegerField(
        null=True, blank=True, help_text="a plain number: the copy outlives the pruned run"
    )
    size = models.BigIntegerField(default=0)
    checksum = models.CharField(max_length=80, help_text="sha256:<hex> of the source")
    verified_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="why the copy is not trusted")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "archived copies"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "archive_url"], name="archivedcopy_once")
        ]
        indexes = [
            # p3s.archive.outputs: a run's copies before its outputs are deleted.
            models.Index(fields=["dagrun_id"], name="archivedcopy_dagrun"),
        ]

    def __str__(self) -> str:
        state = "verified" if self.verified_at else "NOT verified"
        return f"{self.source} -> {self.archive_url} ({state})"
