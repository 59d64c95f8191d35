"""Draining the outbox to the broker: each event is sent with its id (``p3s-event-id``), and
marked sent in the transaction that holds its row lock once the broker confirmed it (AMQP
publisher confirms, STOMP receipts). Rows are locked with SKIP LOCKED, so two publishers never
send the same event. A publisher that dies after the broker confirmed and before its commit
sends that event again on restart with the same id: consumers drop repeats by that id.
"""

from __future__ import annotations

import json

from django.db import transaction
from django.utils import timezone

from p3s.bus.backends import Backend
from p3s.bus.consumer import names
from p3s.bus.models import OutboxEvent

BATCH = 100


def drain_once(backend: Backend, batch: int = BATCH) -> int:
    """Send up to ``batch`` unsent events in order; returns how many were sent."""
    dest = names()["events"]
    with transaction.atomic():
        rows = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True)
            .order_by("id")[:batch]
        )
        for row in rows:
            body = json.dumps(
                {"id": row.pk, "kind": row.kind, "at": row.created.isoformat(), **row.payload}
            )
            backend.send(dest, body.encode(), {"p3s-event-id": str(row.pk), "p3s-kind": row.kind})
        if rows:
            OutboxEvent.objects.filter(pk__in=[r.pk for r in rows]).update(sent_at=timezone.now())
    return len(rows)
