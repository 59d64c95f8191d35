"""The unified priority job queue and its event log."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from p3s.jobs.states import JobState


class Job(models.Model):
    """One stage of one DAG run. Retries reuse the row (attempt + 1)."""

    dagrun = models.ForeignKey("dags.DagRun", on_delete=models.CASCADE, related_name="jobs")
    stage = models.CharField(max_length=64)
    settings = models.ForeignKey(
        "dags.StageSettings", on_delete=models.PROTECT, related_name="jobs"
    )
    payload = models.CharField(max_length=64)
    args = models.JSONField(default=list)
    queue = models.CharField(max_length=32, default="default")
    part = models.CharField(
        max_length=16,
        blank=True,
        default="",
        db_default="",
        help_text="p3s.dags.split: e.g. apa:2/6",
    )
    priority = models.IntegerField(default=0)
    data_ts = models.DateTimeField(
        help_text="copied from the file: LIFO order among equal priorities"
    )
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.WAITING)
    attempt = models.PositiveSmallIntegerField(default=1)
    pilot = models.ForeignKey(
        "pilots.Pilot", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    timeout = models.FloatField(null=True, blank=True, help_text="seconds; fixed at claim")
    event_fraction = models.FloatField(default=1.0, help_text="fixed at claim")
    inputs = models.JSONField(default=list)
    parents = models.JSONField(default=dict)
    outputs = models.JSONField(default=list, blank=True)
    released_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="when this attempt handed its outputs to its children before it finished",
    )
    exit_code = models.IntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    log_tail = models.TextField(blank=True)
    drop_reason = models.CharField(
        max_length=32, blank=True, help_text="prescaled, too-old, queue-depth"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True, help_text="dispatch + timeout + grace")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dagrun", "stage", "part"], name="job_one_per_stage_part"
            ),
        ]
        indexes = [
            # jobs.claim.claim_next: the claim's ORDER BY over claimable rows only.
            models.Index(
                models.F("priority").desc(),
                models.F("data_ts").desc(),
                "id",
                name="job_claim_order",
                condition=Q(state="waiting"),
            ),
            # jobs.sweep.expire_timeouts / requeue_undispatched: live jobs by deadline.
            models.Index(
                fields=["deadline"],
                name="job_live_deadline",
                condition=Q(state__in=["dispatched", "running"]),
            ),
            # jobs.sweep.drop_stale / front dashboard: counts by state and stage.
            models.Index(fields=["state", "stage"], name="job_state_stage"),
            # api JobViewSet default listing and the jobs page: newest first by state.
            models.Index(fields=["state", "-id"], name="job_state_id"),
            # api.views.summary_data and the dashboard: jobs ended in the last hour.
            models.Index(
                fields=["ended_at"], name="job_ended", condition=Q(ended_at__isnull=False)
            ),
            # api JobViewSet filter by pilot.
            models.Index(fields=["pilot", "state"], name="job_pilot_state"),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} {self.stage} ({self.state})"


class JobEvent(models.Model):
    """Every state change: from, to, when, by whom, why."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16)
    actor = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["id"]
        indexes = [
            # front job page and api job detail: a job's events in order.
            models.Index(fields=["job", "id"], name="jobevent_job"),
            # latency figures in the summary: recent finishes.
            models.Index(fields=["to_state", "at"], name="jobevent_state_at"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}: {self.from_state} -> {self.to_state} by {self.actor}"


class LoopBeat(models.Model):
    """The last successful pass of a long-running loop (the sweeper): `/healthz?deep=1` reads
    it to tell a sweeper that died or hangs from one that works."""

    name = models.CharField(max_length=32, unique=True)
    last_ok = models.DateTimeField(help_text="end of the last pass that completed")
    passes = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0, help_text="passes lost to database errors")
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}: last ok {self.last_ok:%Y-%m-%d %H:%M:%S}"
