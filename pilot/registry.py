"""The payload registry: names under the ``p3s.payloads`` entry-point group.

The server names a payload; the pilot runs it only if an installed distribution registers
that name here. Nothing else from the server is ever executed.
"""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint, entry_points

GROUP = "p3s.payloads"


def registered_payloads() -> dict[str, EntryPoint]:
    """Registered payload names and their entry points (read afresh on every call)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def find_payload(name: str) -> EntryPoint | None:
    """The entry point of payload ``name``, or None when no such payload is registered."""
    return registered_payloads().get(name)


def payload_command(name: str, args: list[str]) -> list[str]:
    """The argv that runs payload ``name`` in a fresh interpreter (see :mod:`pilot.launch`)."""
    return [sys.executable, "-m", "pilot.launch", name, *args]
