"""Reading the truth sidecar of a synthetic TPC file (for tests and studies)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import h5py
import numpy as np

from payloads.daqsim.faults import FaultConfig
from payloads.daqsim.tpc import ApaStatic, EventTruth, SimConfig, make_signal, track_wire_truth
from payloads.detector import Detector

#: Not ``.h5``: a sidecar must never match the raw files' ``*.h5`` patterns (DAG triggers, listings).
TRUTH_SUFFIX = ".truth.hdf5"


def truth_path(raw_path: str | Path) -> Path:
    """The sidecar next to a raw file."""
    return Path(raw_path).with_suffix(TRUTH_SUFFIX)


@dataclass
class TpcTruth:
    """Static and per-event truth of one raw TPC file."""

    path: Path
    cfg: SimConfig

    def static(self, apa: int) -> ApaStatic:
        with h5py.File(self.path, "r") as th:
            g = th[f"apa_{apa}"]
            kw = {f.name: g[f.name][()] for f in fields(ApaStatic) if f.name in g}
        kw.setdefault("line_phases", np.zeros_like(kw["line_amps"]))  # files before phases
        return ApaStatic(apa=apa, **kw)

    def event(self, event: int, apa: int) -> EventTruth:
        with h5py.File(self.path, "r") as th:
            g = th[f"event_{event}/apa_{apa}"]
            charge = g["charge"][()]
            tracks = g["tracks"][()]
            if "wires" in g:
                wires = g["wires"][()]
            else:  # files written before the per-wire truth: the same rows from the tracks
                wires = track_wire_truth(self.cfg, tracks)
                wires = wires[charge[wires["channel"]].any(axis=1)]  # not on dead channels
            truth = EventTruth(
                signal=make_signal(self.cfg, charge),
                coherent=g["coherent"][()],
                coherent_rms=g["coherent_rms"][()],
                tracks=tracks,
                charge=charge,
                stuck_channel=g["stuck_channel"][()],
                stuck_tick=g["stuck_tick"][()],
                stuck_true=g["stuck_true"][()],
                comb_phases=g["comb_phases"][()] if "comb_phases" in g else None,
                wires=wires,
            )
        return truth


def load_tpc_truth(raw_path: str | Path) -> TpcTruth:
    """Open the truth of a raw TPC file written by ``p3s-daqsim``."""
    path = truth_path(raw_path)
    with h5py.File(path, "r") as th:
        conf = json.loads(th.attrs["config"])
    det = Detector(**conf.pop("det"))
    for k, v in conf.items():
        if isinstance(v, list):
            conf[k] = tuple(v)
    if isinstance(conf.get("faults"), dict):
        conf["faults"] = FaultConfig.from_dict(conf["faults"])
    return TpcTruth(path=path, cfg=SimConfig(det=det, **conf))


def load_json_truth(raw_path: str | Path) -> dict:
    """Truth of a BI or CRT file (a JSON attribute)."""
    with h5py.File(truth_path(raw_path), "r") as th:
        return json.loads(th.attrs["truth"])
