"""Staging areas for job outputs and the record of each switch between them.

An area is one configured URL (``P3S_STAGING_PRIMARY``, ``P3S_STAGING_FALLBACK``) with what
its last probes said. Exactly one area is ``in_use``: new claims get their ``output_dir`` on
it (:func:`p3s.staging.areas.output_dirs`). Rows are made and updated by the sweeper's
staging step (:func:`p3s.staging.probe.probe_areas`); nothing else writes them.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    PRIMARY = "primary"
    FALLBACK = "fallback"


class StagingArea(models.Model):
    role = models.CharField(max_length=10, choices=Role.choices, unique=True)
    url = models.CharField(max_length=1000, help_text="where outputs go, e.g. root://eos//p3s")
    in_use = models.BooleanField(default=False, help_text="new claims write their outputs here")
    healthy = models.BooleanField(
        null=True, help_text="did the last probe answer (unknown: none yet)"
    )
    good_streak = models.PositiveIntegerField(default=0, help_text="good probes in a row")
    bad_streak = models.PositiveIntegerField(default=0, help_text="failed probes in a row")
    last_probe = models.DateTimeField(null=True, blank=True)
    last_ok = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    probe_seconds = models.FloatField(null=True, blank=True)
    total_bytes = models.BigIntegerField(null=True, blank=True)
    free_bytes = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["role"]

    def __str__(self) -> str:
        return f"{self.role} {self.url}"

    @property
    def used_fraction(self) -> float | None:
        if not self.total_bytes or self.free_bytes is None:
            return None
        return max(0.0, min(1.0, 1.0 - self.free_bytes / self.total_bytes))

    @property
    def used_percent(self) -> float | None:
        f = self.used_fraction
        return None if f is None else 100.0 * f


class StagingSwitch(models.Model):
    """New work moved from one area to another (why, when)."""

    at = models.DateTimeField(auto_now_add=True)
    from_role = models.CharField(max_length=10, choices=Role.choices)
    from_url = models.CharField(max_length=1000)
    to_role = models.CharField(max_length=10, choices=Role.choices)
    to_url = models.CharField(max_length=1000)
    reason = models.TextField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # the dashboard panel and the admin: the latest switches first.
            models.Index(fields=["-at"], name="stagingswitch_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.from_role} -> {self.to_role}"
