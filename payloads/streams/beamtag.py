"""Beam-on/beam-off tagging of TPC events from the BI spill times, and TPC activity per APA.

A TPC event is *beam-on* when its trigger time falls inside a spill recorded in the BI files
(attributes ``spill_starts``/``spill_ends``, Unix seconds, one BI file per SPS supercycle:
``payloads/daqsim/history.py``). The activity of an APA-event is the number of collection-plane
samples more than ``threshold`` ADC above their channel's median (a MIP crossing a collection
wire peaks at up to ~190 ADC over ~3.5 ADC of noise, DETECTOR.md), in thousands
(``crtmatch.above_threshold``, computed once per APA-event for both analyses). Beam particles
add tracks to the beam APA on beam triggers only, so the beam-on/off ratio of that APA rises
above 1 while the others stay near 1 (cosmics do not know about the SPS).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np


def read_spills(paths: Iterable[str | Path]) -> np.ndarray:
    """``(n, 2)`` spill [start, end] Unix seconds from BI files (sorted, duplicates merged)."""
    rows = []
    for path in paths:
        with h5py.File(path, "r") as h5:
            starts = np.atleast_1d(h5.attrs.get("spill_starts", []))
            ends = np.atleast_1d(h5.attrs.get("spill_ends", []))
        rows += list(zip(starts.tolist(), ends.tolist(), strict=True))
    return np.array(sorted(set(rows)), dtype=float).reshape(-1, 2)


def tag_beam(times: np.ndarray, spills: np.ndarray) -> np.ndarray:
    """Whether each trigger time (Unix s) falls inside a spill."""
    times = np.asarray(times, dtype=float)
    if spills.size == 0:
        return np.zeros(times.shape, dtype=bool)
    inside = (times[:, None] >= spills[None, :, 0]) & (times[:, None] <= spills[None, :, 1])
    return np.asarray(inside.any(axis=1))


def compare_activity(activity: dict[int, list[float]], beam: list[bool]) -> dict[int, dict]:
    """Per APA: mean activity of beam-on and beam-off events and their ratio (NaN if one side
    has no events)."""
    on = np.asarray(beam, dtype=bool)
    out = {}
    for apa, values in activity.items():
        v = np.asarray(values, dtype=float)
        a_on = float(v[on].mean()) if on.any() else float("nan")
        a_off = float(v[~on].mean()) if (~on).any() else float("nan")
        ratio = (
            a_on / a_off if np.isfinite(a_on) and np.isfinite(a_off) and a_off > 0 else float("nan")
        )
        out[apa] = {
            "on": a_on,
            "off": a_off,
            "ratio": ratio,
            "n_on": int(on.sum()),
            "n_off": int((~on).sum()),
        }
    return out
