"""Beam instrumentation (BI) events: momentum spectrometer and fibre beam-profile monitors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_FIBRES = 192  # 1 mm fibres per plane
N_MONITORS = 3


@dataclass(frozen=True)
class BeamConfig:
    momentum_gev: float = 1.0
    momentum_spread: float = 0.03
    centre_mm: tuple[float, float] = (4.0, -6.0)  # x, y at the monitors (offset from fibre 96)
    sigma_mm: tuple[float, float] = (8.0, 10.0)
    particles_per_event: int = 60
    dead_fibres: int = 2


def beam_truth(cfg: BeamConfig, seed: int, run: int) -> dict:
    """The beam parameters and dead fibres for a run."""
    rng = np.random.default_rng([seed, run, 23])
    # dead fibres inside the beam spot of both planes, where they show
    dead = np.sort(
        rng.choice(np.arange(N_FIBRES // 2 - 8, N_FIBRES // 2 + 6), cfg.dead_fibres, replace=False)
    )
    return {
        "momentum_gev": cfg.momentum_gev,
        "momentum_spread": cfg.momentum_spread,
        "centre_mm": list(cfg.centre_mm),
        "sigma_mm": list(cfg.sigma_mm),
        "dead_fibres": dead.tolist(),
    }


def simulate_bi_event(
    cfg: BeamConfig, truth: dict, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """One BI record: per-particle momenta and fibre hit counts ``(monitor, plane, fibre)``."""
    n = rng.poisson(cfg.particles_per_event)
    momenta = rng.normal(cfg.momentum_gev, cfg.momentum_gev * cfg.momentum_spread, n)
    fibres = np.zeros((N_MONITORS, 2, N_FIBRES), dtype=np.uint16)
    for m in range(N_MONITORS):
        for p in range(2):
            pos = rng.normal(cfg.centre_mm[p], cfg.sigma_mm[p], n) + N_FIBRES / 2
            idx = np.floor(pos).astype(int)
            idx = idx[(idx >= 0) & (idx < N_FIBRES)]
            np.add.at(fibres[m, p], idx, 1)
    fibres[:, :, truth["dead_fibres"]] = 0
    return {"momentum_gev": momenta.astype(np.float32), "fibres": fibres}
