"""CRT-TPC muon matching: are the muons the cosmic-ray tagger saw in the TPC, where and when?

The top tagger (``payloads/daqsim/history.py``) is 16 patches (2 drift sides x 8 along the
beam), each an x-measuring module (``2 p``) and a z-measuring module (``2 p + 1``) of 64 strips;
its geometry is in the CRT file's attributes (``strip_x_mm``, ``strip_z_mm``, ``patch_z_mm``,
``apa_width_mm``, ``patches_z``). A *tag* is a pair of hits on the two modules of one patch
within ``coincidence_ns``; it gives the muon's time and its (x, z) where it entered the TPC.

In the TPC's collection view that point is at wire ``z / pitch`` of the tag's face and tick
``t / tick + x / v_drift``. The muon is *found* when a collection wire within ``search_wires``
of that wire has a sample above ``threshold`` ADC within ``search_ticks`` of that tick. The
residuals are taken at the above-threshold sample nearest to the prediction (in ticks, then
wires): time residual (tick difference x 0.5 us, which also holds the CRT's x resolution, 55 mm
strips ~ 69 ticks wide) and position residual along z (wire difference x 4.79 mm; z strips
are ~27 mm wide, so ~8 mm RMS expected, DETECTOR.md pitch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from payloads.detector import DEFAULT, Detector

TAG_DTYPE = np.dtype(
    [("apa", "i4"), ("face", "i4"), ("time_ns", "f8"), ("x_mm", "f8"), ("z_mm", "f8")]
)


@dataclass(frozen=True)
class MatchConfig:
    coincidence_ns: float = 20.0
    threshold_adc: float = 30.0
    search_wires: int = 12
    search_ticks: int = 120


def find_tags(
    hits: np.ndarray, geo: dict, det: Detector = DEFAULT, cfg: MatchConfig = MatchConfig()
) -> np.ndarray:
    """Tags (``TAG_DTYPE``, z face-local to the APA) from one record's strip hits."""
    n_pz = int(geo["patches_z"])
    rows = []
    mod = hits["module"].astype(int)
    for patch in range(2 * n_pz):
        hx = hits[mod == 2 * patch]
        hz = hits[mod == 2 * patch + 1]
        if not hx.size or not hz.size:
            continue
        used = np.zeros(hz.size, dtype=bool)
        for h in hx:
            dt = np.abs(hz["time_ns"] - h["time_ns"])
            dt[used] = np.inf
            j = int(np.argmin(dt))
            if dt[j] > cfg.coincidence_ns:
                continue
            used[j] = True
            z_global = (patch % n_pz) * geo["patch_z_mm"] + (int(hz[j]["strip"]) + 0.5) * geo[
                "strip_z_mm"
            ]
            apa = int(z_global // geo["apa_width_mm"])
            rows.append(
                (
                    apa,
                    patch // n_pz,
                    0.5 * (float(h["time_ns"]) + float(hz[j]["time_ns"])),
                    (int(h["strip"]) + 0.5) * geo["strip_x_mm"],
                    z_global - apa * geo["apa_width_mm"],
                )
            )
    return np.array(rows, dtype=TAG_DTYPE)


def predict(tag: np.void, det: Detector = DEFAULT) -> tuple[int, float]:
    """Collection channel (offline, within the APA) and tick where the tagged muon enters."""
    wire = min(int(tag["z_mm"] // det.pitch_x_mm), det.n_x // 2 - 1)
    channel = det.n_u + det.n_v + int(tag["face"]) * (det.n_x // 2) + wire
    tick = tag["time_ns"] / (det.tick_us * 1e3) + tag["x_mm"] / det.drift_mm_per_tick
    return channel, float(tick)


def match_tag(
    adc: np.ndarray,
    tag: np.void,
    det: Detector = DEFAULT,
    cfg: MatchConfig = MatchConfig(),
    above=None,
) -> tuple[bool, float, float]:
    """(found, time residual us, position residual mm) of one tag in one APA-event's ADC.

    ``above``: a precomputed boolean map of collection samples above threshold (per APA-event)."""
    if above is None:
        above = above_threshold(adc, det, cfg)
    channel, tick = predict(tag, det)
    x0 = det.plane_slice(2).start
    face_lo = x0 + int(tag["face"]) * (det.n_x // 2)
    lo = max(channel - cfg.search_wires, face_lo)
    hi = min(channel + cfg.search_wires + 1, face_lo + det.n_x // 2)
    t_lo = max(int(tick) - cfg.search_ticks, 0)
    t_hi = min(int(tick) + cfg.search_ticks + 1, det.n_ticks)
    if t_hi <= t_lo:
        return False, float("nan"), float("nan")
    box = above[lo - x0 : hi - x0, t_lo:t_hi]
    wires, ticks = np.nonzero(box)
    if wires.size == 0:
        return False, float("nan"), float("nan")
    dtick = ticks + t_lo - tick
    dwire = wires + lo - channel
    k = int(np.lexsort((np.abs(dwire), np.abs(dtick)))[0])
    return True, float(dtick[k]) * det.tick_us, float(dwire[k]) * det.pitch_x_mm


def above_threshold(
    adc: np.ndarray, det: Detector = DEFAULT, cfg: MatchConfig = MatchConfig()
) -> np.ndarray:
    """Collection samples more than the threshold over their channel's median."""
    x = adc[det.plane_slice(2)].astype(np.float32)
    x -= np.median(x, axis=1, keepdims=True)
    return x > cfg.threshold_adc


def summarize(found: list[bool], dt_us: list[float], dz_mm: list[float]) -> dict[str, float]:
    """Match fraction and residual mean/RMS over the tags of the read-out APAs."""
    f = np.asarray(found, dtype=bool)
    dt = np.asarray(dt_us, dtype=float)[f] if f.size else np.zeros(0)
    dz = np.asarray(dz_mm, dtype=float)[f] if f.size else np.zeros(0)
    nan = float("nan")
    return {
        "tags": int(f.size),
        "fraction": float(f.mean()) if f.size else nan,
        "dt_mean_us": float(dt.mean()) if dt.size else nan,
        "dt_rms_us": float(dt.std()) if dt.size else nan,
        "dz_mean_mm": float(dz.mean()) if dz.size else nan,
        "dz_rms_mm": float(dz.std()) if dz.size else nan,
    }
