"""Checks of condition data per known name: sizes, types, finite numbers, ordered bands.

:func:`check_data` raises :class:`django.core.exceptions.ValidationError` with every problem
found, each message naming the place (``planes.u.rms.warning: ...``), so the admin form
shows what to fix. Names without a checker (new kinds of conditions) need only be a JSON
object.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError

PLANES = ("u", "v", "x")
STATUSES = ("dead", "noisy", "sticky")
N_APAS = 6  # DETECTOR.md: 6 APAs
N_FEMBS = 20  # DETECTOR.md: 20 FEMBs per APA
ASICS_PER_FEMB = 8  # DETECTOR.md: 8 ASICs per FEMB


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _int_list(errors: list[str], where: str, value: Any, size: int, top: int) -> None:
    if not isinstance(value, list):
        errors.append(f"{where}: must be a list of {size} whole numbers")
        return
    if len(value) != size:
        errors.append(f"{where}: has {len(value)} entries, expected {size} (one per channel)")
    bad = [i for i, v in enumerate(value) if not _is_int(v) or not 0 <= v < top]
    if bad:
        errors.append(
            f"{where}: entry {bad[0]} is {value[bad[0]]!r}, expected a whole number 0-{top - 1}"
            + (f" ({len(bad)} such entries)" if len(bad) > 1 else "")
        )


def check_channel_map(data: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    n = data.get("n_channels")
    if not _is_int(n) or n <= 0:
        return [f"n_channels: must be a positive whole number, not {n!r}"]
    planes = data.get("planes")
    if not isinstance(planes, dict) or sorted(planes) != sorted(PLANES):
        errors.append('planes: must map "u", "v" and "x" to [first, end) channel ranges')
    else:
        edge = 0
        for plane in PLANES:
            rng = planes[plane]
            ok = isinstance(rng, list) and len(rng) == 2 and all(_is_int(v) for v in rng)
            if not ok or rng[0] != edge or rng[1] <= rng[0]:
                errors.append(
                    f"planes.{plane}: must be [first, end) whole numbers starting at {edge} "
                    f"(planes in order u, v, x, adjacent), not {rng!r}"
                )
                break
            edge = rng[1]
        else:
            if edge != n:
                errors.append(f"planes: the x plane ends at {edge}, expected n_channels = {n}")
    _int_list(errors, "femb", data.get("femb"), n, N_FEMBS)
    _int_list(errors, "asic", data.get("asic"), n, ASICS_PER_FEMB)
    return errors


def check_bad_channels(data: dict[str, Any]) -> list[str]:
    channels = data.get("channels")
    if not isinstance(channels, list):
        return ["channels: must be a list of {apa, channel, status, note} objects"]
    errors: list[str] = []
    seen: set[tuple[int, int]] = set()
    for i, item in enumerate(channels):
        where = f"channels[{i}]"
        if not isinstance(item, dict):
            errors.append(f"{where}: must be an object with apa, channel, status")
            continue
        apa, ch, status = item.get("apa"), item.get("channel"), item.get("status")
        if not _is_int(apa) or not 0 <= apa < N_APAS:
            errors.append(f"{where}.apa: must be a whole number 0-{N_APAS - 1}, not {apa!r}")
        if not _is_int(ch) or not 0 <= ch < 2560:
            errors.append(f"{where}.channel: must be an offline channel 0-2559, not {ch!r}")
        if status not in STATUSES:
            errors.append(f"{where}.status: must be one of {', '.join(STATUSES)}, not {status!r}")
        if not isinstance(item.get("note", ""), str):
            errors.append(f"{where}.note: must be text")
        if (apa, ch) in seen:
            errors.append(f"{where}: APA {apa} channel {ch} is listed twice")
        seen.add((apa, ch))
    return errors


def _band(errors: list[str], where: str, value: Any) -> tuple[float, float] | None:
    if not (isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)):
        errors.append(f"{where}: must be [low, high] finite numbers, not {value!r}")
        return None
    if value[0] >= value[1]:
        errors.append(f"{where}: low {value[0]} must be below high {value[1]}")
        return None
    return value[0], value[1]


def check_bands(data: dict[str, Any]) -> list[str]:
    planes = data.get("planes")
    if not isinstance(planes, dict) or not planes:
        return ['planes: must map planes ("u", "v", "x") to their pedestal and rms bands']
    errors: list[str] = []
    for plane, quantities in planes.items():
        if plane not in PLANES:
            errors.append(f"planes.{plane}: unknown plane, expected one of u, v, x")
            continue
        if not isinstance(quantities, dict) or not quantities:
            errors.append(f"planes.{plane}: must map pedestal and rms to their bands")
            continue
        for quantity, levels in quantities.items():
            where = f"planes.{plane}.{quantity}"
            if not isinstance(levels, dict) or set(levels) != {"warning", "error"}:
                errors.append(f"{where}: must have exactly a warning and an error band")
                continue
            warning = _band(errors, f"{where}.warning", levels["warning"])
            error = _band(errors, f"{where}.error", levels["error"])
            if warning and error and not (error[0] <= warning[0] and warning[1] <= error[1]):
                errors.append(
                    f"{where}: the warning band {list(warning)} must lie inside the "
                    f"error band {list(error)}"
                )
    return errors


CHECKERS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "channel-map": check_channel_map,
    "bad-channels": check_bad_channels,
    "bands": check_bands,
}


def _finite_everywhere(value: Any, where: str = "data") -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where}: {value!r} is not a finite number"
    if isinstance(value, dict):
        for k, v in value.items():
            found = _finite_everywhere(v, f"{where}.{k}")
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _finite_everywhere(v, f"{where}[{i}]")
            if found:
                return found
    return None


def check_data(name: str, data: Any) -> None:
    """Raise ValidationError listing what is wrong with ``data`` for condition ``name``."""
    if not isinstance(data, dict):
        raise ValidationError(f"the data of condition {name!r} must be a JSON object")
    problem = _finite_everywhere(data)
    if problem:
        raise ValidationError(problem)
    checker = CHECKERS.get(name)
    errors = checker(data) if checker else []
    if errors:
        raise ValidationError([f"{name}: {e}" for e in errors])
