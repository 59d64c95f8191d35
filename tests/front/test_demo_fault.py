"""The demo's injected fault raises the noise of exactly one APA plane of a raw file."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pytest

from payloads.daqsim import writer
from payloads.daqsim.tpc import SimConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def robust_rms(path: Path, apa: int) -> dict[str, float]:
    """Median over a plane's channels of the robust RMS (1.4826 MAD), per plane."""
    out = {}
    with h5py.File(path) as h5:
        offline = h5["channel_map"][()]
        adc = h5["event_0"][f"apa_{apa}"][()].astype(float)
    for plane, (lo, hi) in {"u": (0, 800), "v": (800, 1600), "x": (1600, 2560)}.items():
        rows = adc[(offline >= lo) & (offline < hi)]
        dev = np.abs(rows - np.median(rows, axis=1, keepdims=True))
        out[plane] = float(np.median(1.4826 * np.median(dev, axis=1)))
    return out


def test_inject_noise_triples_the_noise_of_one_plane_and_leaves_the_others(demo, tmp_path):
    info = writer.write_tpc_file(
        tmp_path, apas=[0, 1], cfg=SimConfig(), seed=3, run=2, subrun=1, n_events=1,
        start=datetime(2026, 12, 1, tzinfo=UTC),
    )  # fmt: skip
    before = {apa: robust_rms(info.path, apa) for apa in (0, 1)}
    assert demo.inject_noise(info.path, 1, "x") == 960  # DETECTOR.md: 960 collection channels
    after = {apa: robust_rms(info.path, apa) for apa in (0, 1)}
    assert after[1]["x"] == pytest.approx(demo.FAULT_FACTOR * before[1]["x"], rel=0.05)
    assert after[1]["u"] == before[1]["u"] and after[1]["v"] == before[1]["v"]
    assert after[0] == before[0]
