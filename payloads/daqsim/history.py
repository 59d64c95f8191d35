"""One simulated beam and cosmic history: the TPC, BI and CRT streams on one clock.

Everything is a deterministic function of ``(seed, run)`` and the absolute time, so files of
different streams written separately (by separate ``p3s-daqsim`` calls) agree about the same
instants:

* **SPS spills.** The SPS delivers one slow-extracted spill per supercycle; supercycle ``k``
  starts at ``k * cycle_s`` seconds after the Unix epoch, its spill lasts ``spill_s`` from
  ``spill_offset_s`` into it. BI data come bundled per supercycle (one BI file per cycle, one
  record per spill). Defaults: a 4.8 s spill in a 32.4 s supercycle, typical of SPS fixed-target
  operation of the protoDUNE era (the design note only says "tens of seconds"; assumed values,
  configurable).
* **Triggers.** The TPC and the CRT record a readout window (3 ms, DETECTOR.md) at every
  trigger, every ``trigger_spacing_s`` (0.25 s, ``writer.EVENT_SPACING_S``); a trigger inside a
  spill is a beam trigger.
* **Beam particles.** Each beam trigger carries a bucket of beam particles seen by the BI
  (Poisson, ``bi_particles_per_trigger``); the first of them enters the TPC in APA
  ``beam_apa`` at the trigger time (``beam_tick`` into the window), along the beam axis. Species
  fractions (``composition``) are an assumed 1 GeV/c tertiary-beam mix (electrons, pions,
  protons, muons), momentum spread 3 % as in ``beam.BeamConfig``.
* **Cosmic muons.** ``tpc.make_tracks`` per APA and trigger (``SimConfig.tracks_per_apa``: ~8
  per APA per 3 ms window, DETECTOR.md's ~50 over 6 APAs) - on every APA, read out or not.
* **CRT hits.** The tagger here is a plane over the TPC's top, 2 (drift side) x 8 (along the
  beam) patches, each an x-measuring and a z-measuring module of 64 strips (32 modules). A muon
  entering through the top is tagged (with ``crt_efficiency``): one hit on each module of its
  patch, at its time plus ``crt_time_jitter_ns``. Random hits come from ``crt.simulate_crt_event``.

Truth: :func:`spills`, :func:`beam_bucket`, :func:`tpc_tracks` and :func:`crt_tags` are what
the writers use and what tests compare with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from payloads.daqsim import beam as bi
from payloads.daqsim import crt
from payloads.daqsim.tpc import TRACK_DTYPE, SimConfig, make_tracks

SPECIES = ("e", "pi", "p", "mu")  # BI particle-identification codes 0..3


@dataclass(frozen=True)
class HistoryConfig:
    """Knobs of the shared history (see the module docstring for the sources)."""

    seed: int = 1
    run: int = 1
    cycle_s: float = 32.4
    spill_s: float = 4.8
    spill_offset_s: float = 1.0
    trigger_spacing_s: float = 0.25
    window_ns: float = 3.0e6
    beam_tick: float = 500.0
    beam_apa: int = 0
    bi_particles_per_trigger: float = 6.0
    composition: tuple[float, ...] = (0.45, 0.30, 0.20, 0.05)  # SPECIES order
    crt_efficiency: float = 0.95
    crt_time_jitter_ns: float = 3.0
    crt_random_hits: float = 100.0
    sim: SimConfig = field(default_factory=SimConfig)
    beam: bi.BeamConfig = field(default_factory=bi.BeamConfig)


# -- time --------------------------------------------------------------------------------


def unix(t: datetime) -> float:
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def spills(h: HistoryConfig, t0: float, t1: float) -> list[tuple[float, float]]:
    """(start, end) Unix seconds of the spills that overlap [t0, t1]."""
    out = []
    for k in range(
        math.floor((t0 - h.spill_offset_s - h.spill_s) / h.cycle_s), math.floor(t1 / h.cycle_s) + 1
    ):
        s = k * h.cycle_s + h.spill_offset_s
        if s <= t1 and s + h.spill_s >= t0:
            out.append((s, s + h.spill_s))
    return out


def cycle_start(h: HistoryConfig, t: float) -> float:
    """Start of the supercycle holding ``t`` (BI files are bundled per cycle)."""
    return math.floor(t / h.cycle_s) * h.cycle_s


def beam_on(h: HistoryConfig, t: float) -> bool:
    """Whether a trigger at Unix time ``t`` falls inside a spill."""
    phase = t - cycle_start(h, t)
    return h.spill_offset_s <= phase <= h.spill_offset_s + h.spill_s


def trigger_key(t: float) -> int:
    """The trigger's identity in the randomness: its time in milliseconds."""
    return int(round(t * 1000.0))


def beam_triggers(h: HistoryConfig, s0: float, s1: float) -> np.ndarray:
    """Trigger times (the ``trigger_spacing_s`` grid from the epoch) inside a spill."""
    k0 = math.ceil(s0 / h.trigger_spacing_s - 1e-9)
    k1 = math.floor(s1 / h.trigger_spacing_s + 1e-9)
    return np.arange(k0, k1 + 1) * h.trigger_spacing_s


# -- beam ------------------------------------------------------------------------------


def beam_bucket(h: HistoryConfig, t: float) -> dict[str, np.ndarray]:
    """The beam particles of the trigger at ``t``: ``time`` (Unix s), ``species`` (code),
    ``momentum_gev``, ``x_mm``, ``y_mm`` at the profile monitors. The first one enters the TPC.
    Empty outside spills."""
    if not beam_on(h, t):
        n = 0
        rng = None
    else:
        rng = np.random.default_rng([h.seed, h.run, trigger_key(t), 71])
        n = 1 + int(rng.poisson(max(h.bi_particles_per_trigger - 1, 0)))
    cfg = h.beam
    if rng is None:
        z = np.zeros(0)
        return {"time": z, "species": z.astype(np.uint8), "momentum_gev": z, "x_mm": z, "y_mm": z}
    frac = np.asarray(h.composition) / np.sum(h.composition)
    dt = np.concatenate([[0.0], np.sort(rng.uniform(0, h.trigger_spacing_s, n - 1))])
    return {
        "time": t + dt,
        "species": rng.choice(len(SPECIES), n, p=frac).astype(np.uint8),
        "momentum_gev": rng.normal(cfg.momentum_gev, cfg.momentum_gev * cfg.momentum_spread, n),
        "x_mm": rng.normal(cfg.centre_mm[0], cfg.sigma_mm[0], n),
        "y_mm": rng.normal(cfg.centre_mm[1], cfg.sigma_mm[1], n),
    }


def beam_track(h: HistoryConfig, bucket: dict[str, np.ndarray]) -> np.ndarray:
    """The TPC track (``TRACK_DTYPE``, face 0 of ``beam_apa``) of a bucket's first particle."""
    det = h.sim.det
    width = det.n_x // 2 * det.pitch_x_mm
    drift = 4400 * det.drift_mm_per_tick
    if bucket["time"].size == 0:
        return np.zeros(0, dtype=TRACK_DTYPE)
    species = int(bucket["species"][0])
    # Range in the TPC: pions and muons cross it, protons stop, electrons shower (a short
    # dense segment here).
    length = {0: 400.0, 1: width, 2: 900.0, 3: width}[species]
    x0 = drift / 2 + 10.0 * bucket["x_mm"][0]
    y0 = 3000.0 + 10.0 * bucket["y_mm"][0]
    start = np.array([x0, y0, 1.0])
    end = np.array([x0 + 0.05 * length, y0 - 0.1 * length, min(length, width - 1.0)])
    t0 = h.beam_tick
    rec = (
        0,
        t0,
        start,
        end,
        start[2] / det.pitch_x_mm,
        t0 + start[0] / det.drift_mm_per_tick,
        end[2] / det.pitch_x_mm,
        t0 + end[0] / det.drift_mm_per_tick,
    )
    return np.array([rec], dtype=TRACK_DTYPE)


# -- cosmics and the TPC ----------------------------------------------------------------


def cosmic_tracks(h: HistoryConfig, t: float, apa: int) -> np.ndarray:
    """The cosmic muons of one APA in the trigger window at ``t`` (``TRACK_DTYPE``)."""
    rng = np.random.default_rng([h.seed, h.run, trigger_key(t), apa, 61])
    return make_tracks(h.sim, rng)


def tpc_tracks(h: HistoryConfig, t: float, apa: int) -> np.ndarray:
    """Every track of one APA-event at ``t``: cosmics, plus the beam particle on beam triggers."""
    tracks = cosmic_tracks(h, t, apa)
    if apa == h.beam_apa and beam_on(h, t):
        tracks = np.concatenate([tracks, beam_track(h, beam_bucket(h, t))])
    return tracks


# -- the CRT ------------------------------------------------------------------------------

N_PATCH_Z = crt.N_MODULES // 4  # 8 patches along the beam on each drift side


def crt_geometry(h: HistoryConfig) -> dict[str, float]:
    """Strip widths of the top tagger (mm) and the detector box it covers."""
    det = h.sim.det
    width = det.n_x // 2 * det.pitch_x_mm
    drift = 4400 * det.drift_mm_per_tick
    total_z = det.n_apas * width
    return {
        "apa_width_mm": width,
        "drift_mm": drift,
        "height_mm": 6000.0,
        "patch_z_mm": total_z / N_PATCH_Z,
        "strip_x_mm": drift / crt.N_STRIPS,
        "strip_z_mm": total_z / N_PATCH_Z / crt.N_STRIPS,
    }


TAG_DTYPE = np.dtype(
    [
        ("apa", "i4"),
        ("face", "i4"),
        ("track", "i4"),
        ("time_ns", "f8"),  # in the window
        ("x_mm", "f8"),  # drift distance from the APA, at the top
        ("z_mm", "f8"),  # along the APA (face-local), at the top
    ]
)


def crt_tags(h: HistoryConfig, t: float) -> np.ndarray:
    """The muons the top tagger sees in the window at ``t`` (``TAG_DTYPE``), all APAs."""
    geo = crt_geometry(h)
    rng = np.random.default_rng([h.seed, h.run, trigger_key(t), 67])
    rows = []
    for apa in range(h.sim.det.n_apas):
        for k, tr in enumerate(cosmic_tracks(h, t, apa)):
            top = tr["start"] if tr["start"][1] >= tr["end"][1] else tr["end"]
            if top[1] < geo["height_mm"] - 1.0 or rng.random() >= h.crt_efficiency:
                continue
            time_ns = tr["t0"] * h.sim.det.tick_us * 1e3
            rows.append((apa, int(tr["face"]), k, time_ns, float(top[0]), float(top[2])))
    return np.array(rows, dtype=TAG_DTYPE)


def tag_hits(h: HistoryConfig, tags: np.ndarray, t: float) -> np.ndarray:
    """The strip hits (``crt.HIT_DTYPE``) the tags leave: one per module of their patch."""
    geo = crt_geometry(h)
    rng = np.random.default_rng([h.seed, h.run, trigger_key(t), 73])
    hits = np.zeros(2 * tags.size, dtype=crt.HIT_DTYPE)
    for i, tag in enumerate(tags):
        z_global = tag["apa"] * geo["apa_width_mm"] + tag["z_mm"]
        iz = min(int(z_global // geo["patch_z_mm"]), N_PATCH_Z - 1)
        patch = int(tag["face"]) * N_PATCH_Z + iz
        sx = min(int(tag["x_mm"] // geo["strip_x_mm"]), crt.N_STRIPS - 1)
        sz = min(int((z_global - iz * geo["patch_z_mm"]) // geo["strip_z_mm"]), crt.N_STRIPS - 1)
        for j, (module, strip) in enumerate(((2 * patch, sx), (2 * patch + 1, sz))):
            hits[2 * i + j] = (
                module,
                strip,
                tag["time_ns"] + rng.normal(0, h.crt_time_jitter_ns),
                int(np.clip(rng.gamma(8.0, 150.0), 0, 4095)),
            )
    return hits


def crt_record(
    h: HistoryConfig, t: float, cfg: crt.CrtConfig, truth: dict
) -> tuple[np.ndarray, np.ndarray]:
    """One CRT record at ``t``: hits sorted by time (random ones plus the tags') and the tags."""
    rng = np.random.default_rng([h.seed, h.run, trigger_key(t), 37])
    noise_cfg = crt.CrtConfig(
        hits_per_event=h.crt_random_hits,
        dead_strips=cfg.dead_strips,
        hot_strips=cfg.hot_strips,
        hot_factor=cfg.hot_factor,
        window_ns=h.window_ns,
    )
    tags = crt_tags(h, t)
    hits = tag_hits(h, tags, t)
    dead = np.isin(hits["module"].astype(int) * crt.N_STRIPS + hits["strip"], truth["dead_strips"])
    hits = np.concatenate([crt.simulate_crt_event(noise_cfg, truth, rng), hits[~dead]])
    return np.sort(hits, order="time_ns"), tags


# -- BI records ---------------------------------------------------------------------------


def bi_spill(h: HistoryConfig, s0: float, s1: float, truth: dict) -> dict[str, np.ndarray]:
    """One BI record: every beam particle of the spill [s0, s1] (the buckets of its beam
    triggers) with time, species, momentum and position, and the fibre-monitor counts
    ``(monitor, plane, fibre)`` they leave (1 mm multiple scattering between monitors)."""
    parts = [beam_bucket(h, float(t)) for t in beam_triggers(h, s0, s1)]
    keys = ("time", "species", "momentum_gev", "x_mm", "y_mm")
    cat = {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in keys}
    rng = np.random.default_rng([h.seed, h.run, trigger_key(s0), 79])
    fibres = np.zeros((bi.N_MONITORS, 2, bi.N_FIBRES), dtype=np.uint16)
    for m in range(bi.N_MONITORS):
        for p, key in enumerate(("x_mm", "y_mm")):
            pos = cat[key] + rng.normal(0, 1.0, cat[key].size) + bi.N_FIBRES / 2
            idx = np.floor(pos).astype(int)
            np.add.at(fibres[m, p], idx[(idx >= 0) & (idx < bi.N_FIBRES)], 1)
    fibres[:, :, truth["dead_fibres"]] = 0
    return {
        "time_s": cat["time"].astype(np.float64),
        "species": cat["species"].astype(np.uint8),
        "momentum_gev": cat["momentum_gev"].astype(np.float32),
        "x_mm": cat["x_mm"].astype(np.float32),
        "y_mm": cat["y_mm"].astype(np.float32),
        "fibres": fibres,
    }
