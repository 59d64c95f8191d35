"""Board-level and channel-level faults of the synthetic TPC, each with its truth.

DETECTOR.md ("Board faults", "Sticky codes", "Coherent noise") lists what the readout does
wrong; :class:`FaultConfig` chooses which of those an APA gets and where:

* narrow pickup lines on chosen FEMBs and planes (``board_lines``): appended to the APA's
  ``line_freqs``/``line_amps`` (amplitude 0 on the channels not carrying them), so the truth of
  every line is per channel;
* sticky codes by two models (``sticky_model``): ``"snap"`` (samples within a few codes of a
  multiple of 64 snap onto it: :func:`payloads.daqsim.tpc.apply_sticky`; pedestal near such a
  multiple), ``"forced"`` (the 6 low bits of a share of the samples forced to 0x00, 0x01 or 0x3F
  wherever the sample is: large excursions; pedestal anywhere), or ``"both"`` (alternating
  channels);
* ASIC baseline shifts (``asic_shifts``: a wrong baseline setting, e.g. a collection ASIC put
  near the induction pedestal, ~2,300 ADC), noisy ASICs (``noisy_asics``: extra white noise);
* dead FEMBs (all zeros, as a dropped board) and frozen FEMBs (each channel constant);
* per-channel coupling gains of the coherent noise (``coupling_spread``: gains uniform in
  ``1 +- spread``; Wire-Cell's protoDUNE filter scales the group median per channel for this).

The faults are deterministic in ``(seed, run, apa)`` (static parts) and drawn from a generator of
their own, so a configuration without faults gives the same bytes as before they existed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import numpy as np

from payloads.detector import PLANES, Detector

if TYPE_CHECKING:  # pragma: no cover - types only
    from payloads.daqsim.tpc import ApaStatic, EventTruth, SimConfig

#: Fields of :class:`payloads.daqsim.tpc.ApaStatic` that this module fills.
STATIC_FIELDS = ("coupling", "sticky_forced")


@dataclass(frozen=True)
class FaultConfig:
    """Which faults to inject (all empty: none).

    Attributes
    ----------
    apas : tuple of int or None
        APAs that get the faults; None: every APA.
    board_lines : tuple
        ``(freq_hz, amplitude_adc, fembs, planes)`` per line, ``planes`` a string of ``u``, ``v``,
        ``x``; every channel of those FEMB-plane groups carries the line (amplitude +-10 % per
        channel, random phase).
    sticky_model : str
        ``"snap"``, ``"forced"`` or ``"both"`` (applies to the APA's sticky channels).
    forced_probability : float
        Share of a forced-sticky channel's samples whose low bits are forced.
    asic_shifts : tuple
        ``(femb, asic, plane, shift_adc)``: pedestal shift of one ASIC's channels of a plane.
    noisy_asics : tuple
        ``(femb, asic, rms_adc)``: extra white noise on every channel of an ASIC.
    dead_fembs, frozen_fembs : tuple of int
        Boards read as all zeros, or as constant values (each channel its pedestal).
    coupling_spread : float
        Coherent-noise gain per channel uniform in ``1 +- coupling_spread``.
    """

    apas: tuple[int, ...] | None = None
    board_lines: tuple[tuple, ...] = ()
    sticky_model: str = "snap"
    forced_probability: float = 0.3
    asic_shifts: tuple[tuple, ...] = ()
    noisy_asics: tuple[tuple, ...] = ()
    dead_fembs: tuple[int, ...] = ()
    frozen_fembs: tuple[int, ...] = ()
    coupling_spread: float = 0.0

    def applies(self, apa: int) -> bool:
        return self.apas is None or apa in self.apas

    @classmethod
    def from_dict(cls, data: dict) -> FaultConfig:
        """Rebuild from ``dataclasses.asdict`` output read back from JSON (lists -> tuples)."""

        def tup(v):
            return tuple(tup(x) for x in v) if isinstance(v, list | tuple) else v

        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault fields {unknown}; known: {sorted(known)}")
        return cls(**{k: tup(v) for k, v in data.items()})


def _rng(seed: int, run: int, apa: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed, run, apa, 1009, salt])


def channels_of(det: Detector, femb: int, asic: int | None = None, plane: str | None = None):
    """Offline channels of a FEMB (or one of its ASICs), optionally of one plane only."""
    mask = det.femb == femb
    if asic is not None:
        mask &= det.asic == femb * det.asics_per_femb + asic
    if plane is not None:
        mask &= det.plane_index == PLANES.index(plane)
    return np.flatnonzero(mask)


def extend_static(cfg: SimConfig, static: ApaStatic, seed: int, run: int) -> ApaStatic:
    """Add the static faults of ``cfg.faults`` to an APA's features (board lines, coupling
    gains, pedestal shifts, forced-sticky channels)."""
    faults = cfg.faults
    if faults is None or not faults.applies(static.apa):
        return static
    det = cfg.det
    rng = _rng(seed, run, static.apa, 1)
    n = det.n_channels
    freqs, amps, phases = [static.line_freqs], [static.line_amps], [static.line_phases]
    for freq, amp, fembs, planes in faults.board_lines:
        a = np.zeros(n)
        for f in np.atleast_1d(fembs):
            for p in planes:
                ch = channels_of(det, int(f), plane=p)
                a[ch] = amp * rng.uniform(0.9, 1.1, ch.size)
        freqs.append(np.array([float(freq)]))
        amps.append(a[None, :])
        phases.append(rng.uniform(0, 2 * np.pi, (1, n)))
    pedestal = static.pedestal.copy()
    for femb, asic, plane, shift in faults.asic_shifts:
        pedestal[channels_of(det, int(femb), int(asic), plane)] += float(shift)
    coupling = None
    if faults.coupling_spread:
        s = faults.coupling_spread
        coupling = rng.uniform(1 - s, 1 + s, n).astype(np.float32)
    forced = np.zeros(0, np.int64)
    if faults.sticky_model == "forced":
        forced = static.sticky.copy()
    elif faults.sticky_model == "both":
        forced = static.sticky[::2].copy()
    # make_static puts sticky pedestals near a multiple of 64 (the snap model needs it); bits
    # forced "wherever the sample is" do not care, so those pedestals go anywhere in the cell
    pedestal[forced] += rng.uniform(0, 64, forced.size)
    return replace(
        static,
        pedestal=pedestal,
        line_freqs=np.concatenate(freqs),
        line_amps=np.concatenate(amps),
        line_phases=np.concatenate(phases),
        coupling=coupling,
        sticky_forced=forced,
    )


def before_digitize(cfg: SimConfig, static: ApaStatic, wave: np.ndarray, event_seed) -> None:
    """Analogue faults on the float waveforms (in place): noisy ASICs."""
    faults = cfg.faults
    if faults is None or not faults.applies(static.apa) or not faults.noisy_asics:
        return
    det = cfg.det
    rng = np.random.default_rng([*event_seed, 2])
    for femb, asic, rms in faults.noisy_asics:
        ch = channels_of(det, int(femb), int(asic))
        wave[ch] += rng.standard_normal((ch.size, wave.shape[1]), dtype=np.float32) * np.float32(
            rms
        )


def apply_forced_sticky(
    cfg: SimConfig, static: ApaStatic, adc: np.ndarray, event_seed, truth: EventTruth
) -> None:
    """Force the 6 low bits of a share of the forced-sticky channels' samples to 0x00, 0x01 or
    0x3F (in place), appending the changed samples to the truth's stuck samples."""
    chans = static.sticky_forced if static.sticky_forced is not None else np.zeros(0, int)
    if chans.size == 0 or cfg.faults is None:
        return
    rng = np.random.default_rng([*event_seed, 3])
    p = cfg.faults.forced_probability
    c_all, t_all, v_all = [truth.stuck_channel], [truth.stuck_tick], [truth.stuck_true]
    for ch in chans:
        row = adc[ch].astype(np.int32)
        hit = rng.random(row.size) < p
        low = rng.choice(np.array([0, 1, 63]), size=row.size, p=[0.45, 0.1, 0.45])
        new = np.clip((row & ~63) | low, 0, cfg.det.adc_max)
        idx = np.flatnonzero(hit & (new != row))
        c_all.append(np.full(idx.size, ch, np.int32))
        t_all.append(idx.astype(np.int32))
        v_all.append(row[idx].astype(np.int16))
        adc[ch, idx] = new[idx]
    truth.stuck_channel = np.concatenate(c_all).astype(np.int32)
    truth.stuck_tick = np.concatenate(t_all).astype(np.int32)
    truth.stuck_true = np.concatenate(v_all).astype(np.int16)


def after_digitize(
    cfg: SimConfig, static: ApaStatic, adc: np.ndarray, event_seed, truth: EventTruth
) -> None:
    """Digital faults on the codes (in place): forced sticky bits, dead and frozen FEMBs."""
    faults = cfg.faults
    if faults is None or not faults.applies(static.apa):
        return
    apply_forced_sticky(cfg, static, adc, event_seed, truth)
    det = cfg.det
    for femb in faults.dead_fembs:
        ch = channels_of(det, int(femb))
        adc[ch] = 0
        truth.signal[ch] = 0.0
    for femb in faults.frozen_fembs:
        ch = channels_of(det, int(femb))
        adc[ch] = np.rint(static.pedestal[ch]).astype(np.int16)[:, None]
        truth.signal[ch] = 0.0


def snap_channels(static: ApaStatic) -> np.ndarray:
    """Sticky channels that follow the snap model (the others are forced)."""
    forced = static.sticky_forced if static.sticky_forced is not None else np.zeros(0, int)
    return np.setdiff1d(static.sticky, forced)
