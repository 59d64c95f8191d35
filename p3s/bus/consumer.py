"""File-arrival messages -> announcements, through the same validation and service function as
``POST /api/v1/files/`` (FileAnnounceSerializer, flow.announce_file).

A message is a JSON object with the REST body's fields. It is acknowledged only after its
announcement committed, so a consumer killed mid-batch loses nothing (the broker redelivers
what was not acknowledged) and duplicates nothing (an announcement is idempotent by URL). A
malformed message is logged and parked on the dead-letter queue with the reason, then
acknowledged: it never stops the consumer.
"""

from __future__ import annotations

import json
import logging
import os

from p3s.bus.backends import Backend, Message

log = logging.getLogger("p3s.bus")
ACTOR = "bus"


def names() -> dict[str, str]:
    return {
        "files": os.environ.get("P3S_BUS_FILES", "p3s.files"),
        "dead": os.environ.get("P3S_BUS_DEAD", "p3s.files.dead"),
        "events": os.environ.get("P3S_BUS_EVENTS", "p3s.events"),
    }


def announce_message(body: bytes) -> tuple[str, str]:
    """("new" | "known", file url) or ("bad", reason). Changes nothing when bad."""
    from p3s.api.serializers import FileAnnounceSerializer
    from p3s.dags import flow

    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return "bad", f"not JSON: {exc}"
    if not isinstance(data, dict):
        return "bad", "a file-arrival message must be a JSON object"
    ser = FileAnnounceSerializer(data=data)
    if not ser.is_valid():
        return "bad", "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in ser.errors.items())
    ann = flow.announce_file(ser.to_model_fields(), actor=ACTOR)
    return ("new" if ann.created else "known"), ann.file.url


def handle(backend: Backend, msg: Message, dead: str) -> str:
    """Announce one message, park it if malformed, then acknowledge it."""
    outcome, detail = announce_message(msg.body)
    if outcome == "bad":
        log.warning("bus: malformed file message parked on %s: %s", dead, detail)
        backend.send(dead, msg.body, {"p3s-reason": detail[:500]})
    backend.ack(msg)
    return outcome


def consume_once(backend: Backend, wait: float = 1.0, limit: int = 100) -> int:
    """Handle up to ``limit`` waiting messages; returns how many (a sweeper-style unit)."""
    n = names()
    done = 0
    while done < limit:
        msg = backend.get(n["files"], wait if done == 0 else 0.2)
        if msg is None:
            break
        handle(backend, msg, n["dead"])
        done += 1
    return done
