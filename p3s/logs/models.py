"""One row per stored job log; the compressed file lives under ``DATA_ROOT/logs/``."""

from __future__ import annotations

from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from p3s.jobs.models import Job


class JobLog(models.Model):
    """The whole log of one attempt of a job, as the pilot packed it (pilot/joblog.py).

    ``size`` is what the stored file holds once decompressed (counted by the server),
    ``cut_bytes`` what the pilot cut from the middle of a log bigger than its cap, so the
    payload wrote ``size + cut_bytes`` bytes give or take the pilot's marker and footer lines.
    ``sha256`` is the digest of the compressed file as stored (``sha256sum`` checks it).
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="logs")
    attempt = models.PositiveSmallIntegerField()
    key = models.CharField(max_length=64, blank=True, help_text="the pilot's idempotency key")
    name = models.CharField(max_length=300, help_text="path under DATA_ROOT/logs/")
    size = models.BigIntegerField(help_text="bytes, decompressed")
    compressed_size = models.BigIntegerField(help_text="bytes on disk")
    cut_bytes = models.BigIntegerField(default=0, help_text="bytes the pilot cut (size cap)")
    lines = models.IntegerField(default=0)
    sha256 = models.CharField(max_length=64, help_text="of the compressed file")
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["job", "-attempt"]
        constraints = [
            models.UniqueConstraint(fields=["job", "attempt"], name="one_log_per_job_attempt")
        ]

    def __str__(self) -> str:
        return f"log of job {self.job_id} attempt {self.attempt} ({self.size} bytes)"


@receiver(post_delete, sender=JobLog)
def _remove_file(sender, instance: JobLog, **kwargs) -> None:
    """The file goes once the row's deletion is committed (by retention, a pruned job, the
    admin): a file without a row is harmless, a row without its file is not."""
    from p3s.logs.store import remove_file

    name = instance.name
    transaction.on_commit(lambda: remove_file(name))
