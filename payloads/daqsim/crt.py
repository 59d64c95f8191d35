"""Cosmic-ray tagger (CRT) events: hits on scintillator strips of 32 modules x 64 strips."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_MODULES = 32
N_STRIPS = 64
HIT_DTYPE = np.dtype([("module", "u1"), ("strip", "u1"), ("time_ns", "f4"), ("adc", "u2")])


@dataclass(frozen=True)
class CrtConfig:
    hits_per_event: float = 400.0
    dead_strips: int = 5
    hot_strips: int = 2
    hot_factor: float = 20.0
    window_ns: float = 3.0e6


def crt_truth(cfg: CrtConfig, seed: int, run: int) -> dict:
    """Dead and hot strips (global strip = module x 64 + strip) for a run."""
    rng = np.random.default_rng([seed, run, 29])
    special = rng.permutation(N_MODULES * N_STRIPS)[: cfg.dead_strips + cfg.hot_strips]
    return {
        "dead_strips": np.sort(special[: cfg.dead_strips]).tolist(),
        "hot_strips": np.sort(special[cfg.dead_strips :]).tolist(),
    }


def simulate_crt_event(cfg: CrtConfig, truth: dict, rng: np.random.Generator) -> np.ndarray:
    """One CRT record: an array of ``HIT_DTYPE`` hits sorted by time."""
    n_total = N_MODULES * N_STRIPS
    rate = np.ones(n_total)
    rate[truth["hot_strips"]] = cfg.hot_factor
    rate[truth["dead_strips"]] = 0.0
    counts = rng.poisson(rate * cfg.hits_per_event / n_total)
    strip = np.repeat(np.arange(n_total), counts)
    hits = np.zeros(strip.size, dtype=HIT_DTYPE)
    hits["module"] = strip // N_STRIPS
    hits["strip"] = strip % N_STRIPS
    hits["time_ns"] = rng.uniform(0, cfg.window_ns, strip.size)
    hits["adc"] = np.clip(rng.gamma(4.0, 150.0, strip.size), 0, 4095)
    return np.sort(hits, order="time_ns")
