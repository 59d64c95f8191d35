"""Detector-element identity of metrics and histograms (INTERFACES.md section 1).

A metric's or histogram's element is its labels minus the context labels (run, subrun, file,
event, job): two runs of the same APA plane are the same element. References and checks match
on the element key. ``p3s.dqm.series`` (quality branch) defines the same two functions for
alarm series; this module is the conditions app's copy until the two are unified.
"""

from __future__ import annotations

import json
from typing import Any

CONTEXT_LABELS = frozenset({"run", "subrun", "file", "event", "job"})


def element_labels(labels: dict[str, Any] | None) -> dict[str, str]:
    """The labels that name a detector element (and other identity labels, e.g. ``freq_khz``)."""
    return {
        str(k): str(v) for k, v in sorted((labels or {}).items()) if str(k) not in CONTEXT_LABELS
    }


def element_key(labels: dict[str, Any] | None) -> str:
    """Canonical text of :func:`element_labels` (sorted JSON, the same form as
    ``p3s.dqm.alarms.series_key``), for indexes and lookups."""
    return json.dumps(element_labels(labels), sort_keys=True)[:500]
