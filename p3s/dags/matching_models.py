"""The record of a matched stage waiting for the files of other streams (p3s.dags.matching)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class StreamMatch(models.Model):
    """One job's wait for the files of other streams overlapping its file's time range."""

    WAITING = "waiting"
    COMPLETE = "complete"  # every asked stream covered the range: released at once
    TIMED_OUT = "timed-out"  # released by the sweeper with what had arrived
    CLOSED = "closed"  # the job left the queue (dropped, cancelled) before the match ended

    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="match")
    streams = models.JSONField(help_text="the streams asked for")
    window = models.FloatField(help_text="seconds added on each side of the file's range")
    range_start = models.DateTimeField(help_text="the file's range start minus the window")
    range_end = models.DateTimeField(help_text="the file's range end plus the window")
    deadline = models.DateTimeField(help_text="the sweeper releases the job after this")
    state = models.CharField(max_length=16, default=WAITING)
    found = models.JSONField(default=dict, help_text="stream -> matched file URLs")
    missing = models.JSONField(default=dict, help_text="stream -> uncovered [start, end] ISO")
    queue = models.CharField(max_length=32, help_text="the queue the job goes to when released")
    created = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "dags"
        indexes = [
            # matching.on_file_announced: waiting matches whose range meets a new file.
            models.Index(
                fields=["range_start", "range_end"],
                name="streammatch_waiting_range",
                condition=Q(state="waiting"),
            ),
            # matching.release_expired (the sweeper): waiting matches past their deadline.
            models.Index(
                fields=["deadline"], name="streammatch_waiting_dl", condition=Q(state="waiting")
            ),
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} matching {', '.join(self.streams)} ({self.state})"
