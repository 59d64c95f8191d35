"""Deconvolved charge against the per-wire truth (shared by the test_truth_deconvolution_* files).

Events carry straight tracks at chosen drift angles (``SimConfig.track_slopes``) on top of the
generator's full noise model (incoherent and coherent noise, AC coupling, bad and sticky
channels); SIG runs as the stage runs it, with the channel information found from the data.
"""

from __future__ import annotations

import numpy as np

from payloads import tolerances as tol
from payloads.daqsim.tpc import SimConfig, simulate_apa
from payloads.detector import DEFAULT as DET
from payloads.dqm.sig import SigConfig, SigResult, process_apa
from payloads.stages.sig import channel_info_from_data, channel_notches

#: Ticks either side of a truth row summed (the output is zero outside ROIs).
WINDOW_PAD = 12

RATIO_DTYPE = np.dtype(
    [("plane", "i1"), ("slope", "f8"), ("ratio", "f8"), ("dt", "f8"), ("dpeak", "f8")]
)


def event_slopes(seed: int, n_random: int = 3) -> tuple[float, ...]:
    """0.3 and 12 ticks per wire (the extremes) and ``n_random`` log-uniform ones between."""
    rng = np.random.default_rng([seed, 9])
    between = np.exp(rng.uniform(np.log(0.3), np.log(12.0), n_random))
    return (0.3, 12.0, *np.round(between, 2))


def angled_event(seed: int, **cfg) -> tuple[np.ndarray, object, SigResult]:
    """Simulate one APA-event with tracks at :func:`event_slopes` and run SIG on it."""
    sim = SimConfig(track_slopes=event_slopes(seed), **cfg)
    adc, truth, _ = simulate_apa(sim, seed=seed, event=0)
    return adc, truth, run_sig(adc)


def run_sig(adc: np.ndarray, cfg: SigConfig | None = None) -> SigResult:
    """SIG as the stage runs it without a parent: bad/sticky channels, lines, comb from the data."""
    ci = channel_info_from_data(adc, DET)
    return process_apa(
        adc,
        DET,
        cfg,
        sticky=ci["sticky"],
        bad=ci["bad"],
        notches=ci["lines"],
        extra_notches=channel_notches(ci),
    )


def wire_ratios(res: SigResult, truth) -> np.ndarray:
    """Per isolated wire crossing (>= ``CHARGE_MIN_ELECTRONS``, live channel): deconvolved over
    true charge, charge-weighted time minus the true one, and peak tick minus the true one."""
    tracks = truth.tracks
    slope = np.abs(tracks["tick1"] - tracks["tick0"]) / np.abs(tracks["wire1"] - tracks["wire0"])
    rows = truth.wires
    rows = rows[
        rows["isolated"]
        & ~res.bad[rows["channel"]]
        & (rows["electrons"] >= tol.CHARGE_MIN_ELECTRONS)
    ]
    out = np.zeros(rows.size, RATIO_DTYPE)
    for i, r in enumerate(rows):
        a = max(0, r["first_tick"] - WINDOW_PAD)
        b = min(DET.n_ticks, r["last_tick"] + WINDOW_PAD + 1)
        seg = res.deconvolved[r["channel"], a:b].astype(np.float64)
        q = seg.sum()
        centre = (seg * np.arange(a, b)).sum() / q if q > 0 else np.inf
        out[i] = (
            r["plane"],
            slope[r["track"]],
            q / r["electrons"],
            centre - r["tick"],
            a + int(np.argmax(seg)) - r["peak_tick"],
        )
    return out
