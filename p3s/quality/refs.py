"""What the checks read from the conditions app: the current reference set and conditions.

The conditions app (``p3s.conditions``, INTERFACES.md section 5) owns references and
conditions; this module is the only place the quality app calls it, so the checks can run
(with reference checks undefined) where that app is not installed.

A reference is anything with ``id``, ``name``, ``expired``, ``hist_for(name, labels)`` and
``metric_for(name, labels)``; an optional ``run`` names the reference run and an optional
``metric_stats_for(name, labels) -> (mean, std) | None`` gives the reference spread.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: Channel ranges of the planes within an APA (DETECTOR.md: 800 u, 800 v, 960 x wires' channels),
#: used when no ``channel-map`` condition is current.
DEFAULT_PLANES = {"u": [0, 800], "v": [800, 1600], "x": [1600, 2560]}


class Reference(Protocol):
    id: int
    name: str
    expired: bool

    def hist_for(self, name: str, labels: dict) -> dict | None: ...

    def metric_for(self, name: str, labels: dict) -> float | None: ...


def current_reference(
    template: str | None, stream: str, run: int | None = None
) -> Reference | None:
    """The reference set current for a template and stream (and valid for ``run``), or None."""
    if not template:
        return None
    try:
        from p3s.conditions.references import current_reference as current
    except ImportError:
        return None
    return current(template, stream, run)


def condition_data(name: str, run: int | None = None) -> dict[str, Any] | None:
    """The ``data`` of the condition ``name`` current for ``run``, or None."""
    try:
        from p3s.conditions.services import current_condition
    except ImportError:
        return None
    cond = current_condition(name, run=run)
    return None if cond is None else cond.data


def describe(ref: Reference | None) -> dict | None:
    """The reference as the run verdict shows it."""
    if ref is None:
        return None
    return {
        "id": ref.id,
        "name": ref.name,
        "run": getattr(ref, "run", None),
        "expired": bool(ref.expired),
    }


def metric_stats(ref: Reference, name: str, labels: dict) -> tuple[float | None, float | None]:
    """(reference value, reference spread or None) of a metric on an element."""
    stats_for = getattr(ref, "metric_stats_for", None)
    if stats_for is not None:
        got = stats_for(name, labels)
        if got is not None:
            return got
    return ref.metric_for(name, labels), None


def planes_of(run: int | None) -> dict[str, list[int]]:
    data = condition_data("channel-map", run) or {}
    return data.get("planes") or DEFAULT_PLANES


def known_bad(run: int | None) -> dict[str, dict[str, set[int]]]:
    """APA (as a string) -> status -> offline channels in the known-bad list (``bad-channels``).

    A channel is known bad *for a status*: a channel listed as dead that turns noisy is news.
    """
    out: dict[str, dict[str, set[int]]] = {}
    for row in (condition_data("bad-channels", run) or {}).get("channels") or ():
        try:
            apa, channel, status = str(row["apa"]), int(row["channel"]), str(row["status"])
        except (KeyError, TypeError, ValueError):
            log.warning("bad-channels condition: ignoring the malformed row %r", row)
            continue
        out.setdefault(apa, {}).setdefault(status, set()).add(channel)
    return out


def bands(run: int | None) -> dict | None:
    return (condition_data("bands", run) or {}).get("planes")
