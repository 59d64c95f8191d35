"""Conditions handed to a payload by the pilot (INTERFACES.md section 4).

The pilot fetches the conditions current for the job's run from the server
(``GET /api/v1/conditions/{name}/``), keeps them in its on-disk cache and writes into the
payload's job file ``"conditions": {"<name>": "<local path of the JSON body>"}``. Payloads never
talk to the server: they read those files here, and fall back to the built-in defaults of
``payloads/detector.py`` when a condition is not given.

Shipped names and ``data`` formats: ``channel-map`` (``n_channels``, ``planes``, ``femb``,
``asic`` per offline channel), ``bad-channels`` (``channels``: ``apa``, ``channel``, ``status``
dead/noisy/sticky, ``note``), ``bands`` (per plane pedestal and RMS warning/error ranges, ADC).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from payloads.detector import Detector
from payloads.errors import InputError


def load_condition(job: Any, name: str) -> dict | None:
    """The ``data`` of condition ``name`` from the job's local conditions, or None.

    ``job.conditions`` maps a name to the local path of the API body (``{"name", "version",
    ..., "data": {...}}``); a file holding the ``data`` object alone is accepted too. None when
    the job names no such condition (run by hand, or an older pilot): the caller uses its
    built-in defaults. A named file that is missing or not JSON is an input error (exit 2,
    naming the file), never silently replaced by defaults.
    """
    paths = getattr(job, "conditions", None) or {}
    path = paths.get(name)
    if not path:
        return None
    p = Path(path)
    try:
        body = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"condition {name!r}: file {p} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise InputError(f"condition {name!r}: {p} is not readable JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise InputError(f"condition {name!r}: {p} holds {type(body).__name__}, not an object")
    data = body.get("data", body) if "name" in body or "version" in body else body
    if not isinstance(data, dict):
        raise InputError(f"condition {name!r}: 'data' in {p} is not an object")
    return data


def known_bad(data: dict | None, apa: int, n_channels: int) -> dict[str, np.ndarray]:
    """Boolean masks ``dead``, ``noisy``, ``sticky`` and ``any`` over an APA's channels from the
    ``bad-channels`` condition (all False without it)."""
    out = {k: np.zeros(n_channels, bool) for k in ("dead", "noisy", "sticky", "any")}
    for row in (data or {}).get("channels", []):
        try:
            if int(row.get("apa", -1)) != int(apa):
                continue
            ch = int(row["channel"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"condition 'bad-channels': bad row {row!r}") from exc
        if not 0 <= ch < n_channels:
            raise InputError(f"condition 'bad-channels': channel {ch} outside 0-{n_channels - 1}")
        status = str(row.get("status", ""))
        if status in out:
            out[status][ch] = True
        out["any"][ch] = True
    return out


def detector_with_map(data: dict | None, base: Detector) -> Detector:
    """``base`` with the FEMB and ASIC of each offline channel from the ``channel-map``
    condition (``asic`` within the FEMB, 0-7, or within the APA, 0-159); ``base`` itself when
    the condition is absent or says the same as the built-in map."""
    if not data:
        return base
    n = base.n_channels
    try:
        femb = np.asarray(data["femb"], dtype=np.int64)
        asic = np.asarray(data["asic"], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError("condition 'channel-map': needs integer lists 'femb' and 'asic'") from exc
    if int(data.get("n_channels", n)) != n or femb.shape != (n,) or asic.shape != (n,):
        raise InputError(f"condition 'channel-map': expected {n} channels")
    if femb.min() < 0 or femb.max() >= base.n_fembs or asic.min() < 0:
        raise InputError("condition 'channel-map': FEMB or ASIC number out of range")
    if asic.max() < base.asics_per_femb:
        asic = femb * base.asics_per_femb + asic
    if np.array_equal(femb, base.femb) and np.array_equal(asic, base.asic):
        return base
    det = Detector(**{f: getattr(base, f) for f in base.__dataclass_fields__})
    # cached properties live in the instance dict: the condition's map replaces them
    det.__dict__["femb"] = femb
    det.__dict__["asic"] = asic
    det.__dict__["group"] = femb * 3 + det.plane_index
    return det
