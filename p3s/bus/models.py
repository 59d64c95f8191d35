"""The outbox: p3s events written in the transaction of the change they describe, drained to
the broker by ``manage.py p3s_bus publish`` (p3s.bus.publisher)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class OutboxEvent(models.Model):
    kind = models.CharField(max_length=64, help_text="dagrun.finished, alarm.opened, ...")
    payload = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # publisher.drain_once: the unsent events in order.
            models.Index(fields=["id"], name="outbox_unsent", condition=Q(sent_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.pk} {self.kind}"
