"""Detector identity of a metric: the series is (metric, detector element), never the run.

A metric's labels mix the detector element it describes (``stream``, ``apa``, ``plane``,
``femb``, ``asic``, ``channel``, and labels such as ``freq_khz``) with the context it came from
(``run``, ``subrun``, ``file``, ``event``, ``job``). Alarms, check results and the result tree
key on the element only, so run N+1 continues the series of run N (INTERFACES.md section 1).
"""

from __future__ import annotations

import json
from typing import Any

#: Labels that say where a value came from, not which part of the detector it describes.
CONTEXT_LABELS = frozenset({"run", "subrun", "file", "event", "job"})


def element_labels(labels: dict[str, Any] | None) -> dict[str, str]:
    """The labels that name the detector element (context labels dropped), as strings."""
    return {str(k): str(v) for k, v in (labels or {}).items() if str(k) not in CONTEXT_LABELS}


def element_key(labels: dict[str, Any] | None) -> str:
    """Canonical JSON of the element labels (sorted keys): one key per detector element."""
    return json.dumps(element_labels(labels), sort_keys=True)[:500]


def series_key(labels: dict[str, Any] | None) -> str:
    """The series of a metric within one metric name: its element key."""
    return element_key(labels)
