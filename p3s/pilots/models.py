"""Pilots: the wrapper processes on batch nodes that claim and run jobs."""

from __future__ import annotations

from django.db import models


class PilotState(models.TextChoices):
    IDLE = "idle"  # registered, polling for work
    BUSY = "busy"  # running a job
    LOST = "lost"  # silent for more than LOST_AFTER_BEATS heartbeats
    EXITED = "exited"  # said goodbye
    INVALID = "invalid"  # failed its environment validation


class Pilot(models.Model):
    token = models.ForeignKey("accounts.ApiToken", on_delete=models.PROTECT, related_name="pilots")
    key_hash = models.CharField(
        max_length=64,
        db_index=True,  # every pilot request finds its pilot by this (pilots.by_key)
        help_text="hash of the per-pilot key given at registration",
    )
    host = models.CharField(max_length=255)
    site = models.CharField(max_length=100, blank=True)
    batch_system = models.CharField(max_length=32, blank=True)
    batch_id = models.CharField(max_length=100, blank=True)
    queues = models.JSONField(default=list)
    resources = models.JSONField(default=dict, blank=True)
    version = models.CharField(max_length=32, blank=True)
    state = models.CharField(max_length=16, choices=PilotState.choices, default=PilotState.IDLE)
    job = models.ForeignKey(
        "jobs.Job",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="the job it is running now",
    )
    heartbeat_interval = models.FloatField()
    registered = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField()
    jobs_done = models.PositiveIntegerField(default=0)
    exit_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # jobs.sweep.find_lost_pilots: live pilots by last_seen.
            models.Index(fields=["state", "last_seen"], name="pilot_state_seen"),
        ]

    def __str__(self) -> str:
        return f"pilot {self.pk} on {self.host} ({self.state})"


class ServerBeacon(models.Model):
    """One row: when the API server last said it was up, and since when it has been up.

    A pilot's silence only counts while the server could hear it: after an outage, every
    pilot gets its full grace again (pilots.beacon, jobs.sweep.find_lost_pilots).
    """

    alive_at = models.DateTimeField()
    up_since = models.DateTimeField()

    def __str__(self) -> str:
        return f"server up since {self.up_since:%F %T}, alive at {self.alive_at:%F %T}"
