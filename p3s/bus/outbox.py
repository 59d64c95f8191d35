"""Writing p3s events to the outbox, in the caller's transaction (so an event exists if and
only if its change committed). Off unless ``P3S_BUS_URL`` is set: then nothing is written."""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder


def enabled() -> bool:
    return bool(os.environ.get("P3S_BUS_URL", "").strip())


def emit(kind: str, payload: dict[str, Any]) -> None:
    """Record one event of ``kind`` (dagrun.finished, alarm.opened, alarm.cleared, run.verdict)."""
    if not enabled():
        return
    from p3s.bus.models import OutboxEvent

    clean = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    OutboxEvent.objects.create(kind=kind, payload=clean)
