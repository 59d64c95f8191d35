"""When new work moves between the staging areas: pure rules, no database.

* On the primary: switch to the fallback when the primary failed ``down_after`` probes in
  a row and the fallback answered its last probe. If the fallback is down too, stay: there
  is nowhere better to go (both areas raise the ``staging-down`` alarm).
* On the fallback: switch back when the primary answered ``up_after`` probes in a row (a
  primary that answers one probe in two never gets work back: no flapping), or at once
  when the fallback failed ``down_after`` probes in a row while the primary answered its
  last one.
* Without a configured fallback new work is always on the primary.
"""

from __future__ import annotations

from dataclasses import dataclass

PRIMARY, FALLBACK = "primary", "fallback"


@dataclass(frozen=True)
class AreaState:
    """What the probes said of one area."""

    healthy: bool | None  # the last probe answered (None: never probed)
    good_streak: int = 0
    bad_streak: int = 0
    error: str = ""


@dataclass(frozen=True)
class Switch:
    to: str
    reason: str


def _probes(n: int) -> str:
    return f"{n} probe{'s' if n != 1 else ''} in a row"


def decide(
    in_use: str,
    primary: AreaState,
    fallback: AreaState | None,
    down_after: int = 1,
    up_after: int = 3,
) -> Switch | None:
    """The switch to make now, or None to stay where new work goes."""
    if fallback is None:
        if in_use != PRIMARY:
            return Switch(PRIMARY, "no fallback area is configured any more")
        return None
    if in_use == PRIMARY:
        if primary.bad_streak >= down_after and fallback.healthy and fallback.bad_streak == 0:
            return Switch(
                FALLBACK,
                f"the primary failed {_probes(primary.bad_streak)}: {primary.error}".rstrip(": "),
            )
        return None
    if primary.good_streak >= up_after:
        return Switch(PRIMARY, f"the primary answered {_probes(primary.good_streak)}")
    if fallback.bad_streak >= down_after and primary.healthy:
        return Switch(
            PRIMARY,
            f"the fallback failed {_probes(fallback.bad_streak)} ({fallback.error}) "
            "and the primary answers",
        )
    return None
