"""Synthetic TPC readout: noise, pickup, bad channels and straight cosmic tracks, with truth.

All arrays are per APA in offline channel order, float32 ADC, shape ``(n_channels, n_ticks)``
until :func:`digitize` turns them into int16 codes. Static features (pedestals, noise levels,
bad channels, pickup lines) are the hardware's: they depend on ``(seed, apa)`` only, so one seed
is one detector in every file of every run (injected faults also use the run); the per-event
parts use ``(seed, run, subrun, event, apa)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft

from payloads.daqsim import faults as fault_models
from payloads.daqsim.faults import FaultConfig
from payloads.detector import DEFAULT, Detector
from payloads.response import ac_coupling_spectrum, response_spectrum


@dataclass(frozen=True)
class SimConfig:
    """Knobs of the synthetic detector (defaults from DETECTOR.md)."""

    det: Detector = DEFAULT
    ped_induction: float = 2350.0
    ped_collection: float = 900.0
    ped_spread: float = 100.0
    noise_induction: float = 4.0
    noise_collection: float = 3.5
    noise_spread: float = 0.5
    noise_corner_hz: float = 100e3
    noise_white_fraction: float = 0.005
    coherent_rms: tuple[float, float] = (1.0, 2.0)
    coherent_band_hz: tuple[float, float] = (20e3, 60e3)
    line_freqs_hz: tuple[float, ...] = (310e3, 625e3)
    line_amp: tuple[float, float] = (2.0, 3.0)
    #: APAs carrying the narrow lines; None: about half of them, chosen from the seed.
    line_apas: tuple[int, ...] | None = None
    comb_base_hz: float = 51.4e3
    comb_max_hz: float = 0.6e6
    comb_amp: float = 1.5
    comb_fembs: int = 2
    sticky_fraction: float = 0.005
    sticky_probability: float = 0.25
    sticky_window: int = 8
    dead_fraction: float = 0.003
    n_noisy: int = 3
    noisy_rms: tuple[float, float] = (35.0, 50.0)
    tracks_per_apa: float = 8.0
    #: When set, every APA-event gets exactly this many tracks, separated in the collection view.
    separated_tracks: int | None = None
    #: When set, every APA-event gets one straight track per entry instead of cosmics, crossing
    #: ``track_wires`` collection wires at that many ticks per wire (the drift angle), at a random
    #: place, sign and vertical slope, separated from the others in the collection view.
    track_slopes: tuple[float, ...] | None = None
    track_wires: int = 48
    electrons_per_mm: float = 25000.0 / 4.79
    ac_coupling: bool = True
    signals: bool = True
    noise: bool = True
    #: Board and channel faults (payloads/daqsim/faults.py); None: none.
    faults: FaultConfig | None = None


@dataclass
class ApaStatic:
    """Per-APA features that stay fixed for a run."""

    apa: int
    pedestal: np.ndarray
    noise_rms: np.ndarray
    dead: np.ndarray
    noisy: np.ndarray
    noisy_rms: np.ndarray
    sticky: np.ndarray
    line_freqs: np.ndarray
    line_amps: np.ndarray  # (n_lines, n_channels)
    line_phases: np.ndarray
    comb_channels: np.ndarray
    comb_freqs: np.ndarray
    comb_amps: np.ndarray  # (n_harmonics,)
    #: Coherent-noise gain per channel (faults.py); None: 1 everywhere.
    coupling: np.ndarray | None = None
    #: Sticky channels following the "forced low bits" model (faults.py); the others snap.
    sticky_forced: np.ndarray | None = None


@dataclass
class EventTruth:
    """What was injected into one APA-event."""

    signal: np.ndarray  # (n_channels, n_ticks) float32 ADC, before digitisation
    coherent: np.ndarray  # (n_groups, n_ticks) float32
    coherent_rms: np.ndarray  # (n_groups,)
    tracks: np.ndarray  # structured, see TRACK_DTYPE
    #: (n_channels, n_ticks) electrons; the signal is make_signal(charge)
    charge: np.ndarray | None = None
    #: (n_harmonics, n_comb_channels) phases of the comb, radians
    comb_phases: np.ndarray | None = None
    stuck_channel: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    stuck_tick: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    stuck_true: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    #: per track, wire and run of ticks: the electrons that wire sees (``WIRE_TRUTH_DTYPE``)
    wires: np.ndarray | None = None


TRACK_DTYPE = np.dtype(
    [
        ("face", "i4"),
        ("t0", "f8"),
        ("start", "f8", (3,)),  # x (drift, mm), y (vertical, mm), z (along beam, mm)
        ("end", "f8", (3,)),
        ("wire0", "f8"),  # collection view: wire (0-479 within the face) and tick
        ("tick0", "f8"),
        ("wire1", "f8"),
        ("tick1", "f8"),
    ]
)


#: The charge a wire sees from one track: on a collection wire the electrons collected, on an
#: induction wire the electrons drifting past it (what the deconvolution returns on each plane).
#: One row per (track, channel, run of ticks without a gap over ``WIRE_GAP_TICKS``); ``tick`` is
#: the charge-weighted mean arrival tick, ``peak_tick`` the tick with the most charge;
#: ``isolated`` says no other track's charge on that channel comes within ``WIRE_ISOLATION_TICKS``.
WIRE_TRUTH_DTYPE = np.dtype(
    [
        ("track", "i4"),
        ("channel", "i4"),
        ("plane", "i1"),
        ("electrons", "f8"),
        ("tick", "f8"),
        ("peak_tick", "i4"),
        ("first_tick", "i4"),
        ("last_tick", "i4"),
        ("isolated", "?"),
    ]
)
WIRE_GAP_TICKS = 3
WIRE_ISOLATION_TICKS = 40


def make_static(cfg: SimConfig, seed: int, run: int, apa: int) -> ApaStatic:
    """Draw one APA's fixed features (pedestals, noise levels, bad channels, pickup).

    They are the hardware's, so they depend on ``(seed, apa)`` only: every run of one seed sees
    the same detector (a reference from one run then fits the next). ``run`` enters only the
    injected faults' draws (:func:`payloads.daqsim.faults.extend_static`)."""
    det = cfg.det
    rng = np.random.default_rng([seed, apa, 17])
    n = det.n_channels
    plane = det.plane_index
    coll = plane == 2
    pedestal = np.where(coll, cfg.ped_collection, cfg.ped_induction) + rng.normal(
        0, cfg.ped_spread, n
    )
    noise = np.where(coll, cfg.noise_collection, cfg.noise_induction) + rng.uniform(
        -cfg.noise_spread, cfg.noise_spread, n
    )
    n_dead = max(1, round(cfg.dead_fraction * n))
    n_sticky = max(1, round(cfg.sticky_fraction * n))
    special = rng.permutation(n)[: n_dead + cfg.n_noisy + n_sticky]
    dead = np.sort(special[:n_dead])
    noisy = np.sort(special[n_dead : n_dead + cfg.n_noisy])
    sticky = np.sort(special[n_dead + cfg.n_noisy :])
    # Sticky codes matter on channels whose pedestal sits near a multiple of 64.
    pedestal[sticky] = np.round(pedestal[sticky] / 64) * 64 + rng.uniform(-3, 3, sticky.size)
    noisy_rms = rng.uniform(*cfg.noisy_rms, cfg.n_noisy)
    has_lines = (apa in cfg.line_apas) if cfg.line_apas is not None else bool(rng.random() < 0.5)
    n_lines = len(cfg.line_freqs_hz) if has_lines else 0
    bin_hz = det.sampling_hz / det.n_ticks
    line_freqs = (
        np.asarray(cfg.line_freqs_hz[:n_lines]) + rng.uniform(-0.45, 0.45, n_lines) * bin_hz
    )
    line_amps = rng.uniform(*cfg.line_amp, (n_lines, 1)) * rng.uniform(0.9, 1.1, (n_lines, n))
    line_phases = rng.uniform(0, 2 * np.pi, (n_lines, n))
    fembs = rng.permutation(det.n_fembs)[: cfg.comb_fembs]
    comb_channels = np.sort(det.group_channels(2)[fembs].ravel())
    n_harm = int(cfg.comb_max_hz // cfg.comb_base_hz)
    comb_freqs = cfg.comb_base_hz * np.arange(1, n_harm + 1)
    comb_amps = cfg.comb_amp / np.sqrt(np.arange(1, n_harm + 1))
    static = ApaStatic(
        apa,
        pedestal,
        noise,
        dead,
        noisy,
        noisy_rms,
        sticky,
        line_freqs,
        line_amps,
        line_phases,
        comb_channels,
        comb_freqs,
        comb_amps,
    )
    return fault_models.extend_static(cfg, static, seed, run)


def noise_shape(det: Detector, corner_hz: float, white_fraction: float) -> np.ndarray:
    """Amplitude spectrum of the incoherent noise on the rfft bins, normalised to unit RMS.

    Power ``w + (1 - w) / (1 + (f/fc)^2)^2``: flat to ``fc`` (~100 kHz), then falling.
    """
    f = det.freqs()
    power = white_fraction + (1 - white_fraction) / (1 + (f / corner_hz) ** 2) ** 2
    power[0] = 0.0
    return np.sqrt(power / _unit_variance(power, det.n_ticks))


def _unit_variance(power: np.ndarray, n: int) -> float:
    # Variance of irfft(X) when E|X_k|^2 = 2 power_k (complex normal, unit variance per part).
    w = np.full(power.size, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return float((w * 2 * power).sum() / n**2)


def colored_noise(
    rng: np.random.Generator, amp: np.ndarray, n_rows: int, n_ticks: int
) -> np.ndarray:
    """``(n_rows, n_ticks)`` float32 Gaussian noise with amplitude spectrum ``amp`` (unit RMS)."""
    spec = rng.standard_normal((n_rows, 2 * amp.size), dtype=np.float32).view(np.complex64)
    spec *= amp.astype(np.float32)
    return sfft.irfft(spec, n=n_ticks, axis=1, workers=1)


def _add_sines(
    out: np.ndarray,
    rows: np.ndarray | slice,
    freq_hz: float,
    amps: np.ndarray,
    phases: np.ndarray,
    tick_s: float,
) -> None:
    t = np.arange(out.shape[1]) * tick_s
    c = np.cos(2 * np.pi * freq_hz * t).astype(np.float32)
    s = np.sin(2 * np.pi * freq_hz * t).astype(np.float32)
    a = (amps * np.cos(phases)).astype(np.float32)[:, None]
    b = (amps * np.sin(phases)).astype(np.float32)[:, None]
    out[rows] += a * c - b * s


def make_tracks(cfg: SimConfig, rng: np.random.Generator) -> np.ndarray:
    """Straight cosmic-muon segments in one APA's two drift volumes (``TRACK_DTYPE``), or the
    tracks at chosen drift angles when ``cfg.track_slopes`` is set (:func:`make_slope_tracks`)."""
    if cfg.track_slopes is not None:
        return make_slope_tracks(cfg, rng)
    det = cfg.det
    width = det.n_x // 2 * det.pitch_x_mm  # collection-plane width of one face
    height = 6000.0
    drift = 4400 * det.drift_mm_per_tick
    n_target = (
        cfg.separated_tracks
        if cfg.separated_tracks is not None
        else rng.poisson(cfg.tracks_per_apa)
    )
    tracks: list[tuple] = []
    tries = 0
    while len(tracks) < n_target and tries < 2000:
        tries += 1
        face = int(rng.integers(2))
        t0 = float(rng.uniform(50, det.n_ticks - 4400 - 100))
        # Cosmic angular spread: cos^2 about the vertical, random azimuth.
        cos_t = rng.uniform(0, 1) ** (1 / 3)
        sin_t = np.sqrt(1 - cos_t**2)
        phi = rng.uniform(0, 2 * np.pi)
        d = np.array([sin_t * np.cos(phi), -cos_t, sin_t * np.sin(phi)])
        p = np.array([rng.uniform(0, drift), rng.uniform(0, height), rng.uniform(0, width)])
        lo = np.array([0.0, 0.0, 0.0])
        hi = np.array([drift, height, width])
        s_min, s_max = -np.inf, np.inf
        for k in range(3):
            if abs(d[k]) < 1e-9:
                continue
            a, b = (lo[k] - p[k]) / d[k], (hi[k] - p[k]) / d[k]
            s_min, s_max = max(s_min, min(a, b)), min(s_max, max(a, b))
        start, end = p + s_min * d, p + s_max * d
        w0, w1 = start[2] / det.pitch_x_mm, end[2] / det.pitch_x_mm
        k0, k1 = t0 + start[0] / det.drift_mm_per_tick, t0 + end[0] / det.drift_mm_per_tick
        rec = (face, t0, start, end, w0, k0, w1, k1)
        if cfg.separated_tracks is not None:
            if abs(w1 - w0) < 30 or abs(w1 - w0) > 400:
                continue
            if any(_too_close(rec, other) for other in tracks):
                continue
        tracks.append(rec)
    return np.array(tracks, dtype=TRACK_DTYPE)


def make_slope_tracks(cfg: SimConfig, rng: np.random.Generator) -> np.ndarray:
    """One straight track per ``cfg.track_slopes`` entry (ticks per collection wire).

    Each crosses ``cfg.track_wires`` collection wires at a random place in one face, drifting
    towards or away from the wires (random sign), with a vertical rise of up to half its run
    along z (so the U and V views see other slopes); tracks stay apart in the collection view.
    """
    det = cfg.det
    width = det.n_x // 2 * det.pitch_x_mm
    height, drift = 6000.0, 4400 * det.drift_mm_per_tick
    tracks: list[tuple] = []
    for slope in cfg.track_slopes or ():
        for _ in range(500):
            face = int(rng.integers(2))
            dz = cfg.track_wires * det.pitch_x_mm
            dx = float(slope) * cfg.track_wires * det.drift_mm_per_tick * rng.choice([-1, 1])
            dy = rng.uniform(-0.5, 0.5) * dz
            z0 = rng.uniform(2 * det.pitch_x_mm, width - dz - 2 * det.pitch_x_mm)
            x0 = rng.uniform(max(0.0, -dx) + 20.0, drift - max(0.0, dx) - 20.0)
            y0 = rng.uniform(abs(dy) + 10.0, height - abs(dy) - 10.0)
            t0 = float(rng.uniform(50, det.n_ticks - 4400 - 100))
            start = np.array([x0, y0, z0])
            end = start + np.array([dx, dy, dz])
            rec = (
                face,
                t0,
                start,
                end,
                z0 / det.pitch_x_mm,
                t0 + x0 / det.drift_mm_per_tick,
                end[2] / det.pitch_x_mm,
                t0 + end[0] / det.drift_mm_per_tick,
            )
            if not any(_too_close(rec, other) for other in tracks):
                tracks.append(rec)
                break
    return np.array(tracks, dtype=TRACK_DTYPE)


def _too_close(a: tuple, b: tuple, margin_wires: float = 12.0, margin_ticks: float = 80.0) -> bool:
    """Whether two tracks' collection-view projections come near each other."""
    if a[0] != b[0]:
        return False
    pa = np.linspace([a[4], a[5]], [a[6], a[7]], 200)
    pb = np.linspace([b[4], b[5]], [b[6], b[7]], 200)
    dw = np.abs(pa[:, None, 0] - pb[None, :, 0]) / margin_wires
    dt = np.abs(pa[:, None, 1] - pb[None, :, 1]) / margin_ticks
    return bool((np.maximum(dw, dt) < 1).any())


def _track_samples(cfg: SimConfig, tr: np.void) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """One track sampled every 0.5 mm: its U, V and X channels, arrival ticks and electrons."""
    det = cfg.det
    angle = np.deg2rad(35.7)
    step = 0.5  # mm
    start, end = tr["start"], tr["end"]
    length = float(np.linalg.norm(end - start))
    n = max(2, int(length / step))
    s = (np.arange(n) + 0.5) / n
    pts = start[None, :] + s[:, None] * (end - start)[None, :]
    dq = np.full(n, cfg.electrons_per_mm * length / n)
    tick = tr["t0"] + pts[:, 0] / det.drift_mm_per_tick
    y, z = pts[:, 1], pts[:, 2]
    face = int(tr["face"])
    ch_x = det.n_u + det.n_v + face * (det.n_x // 2) + np.floor(z / det.pitch_x_mm).astype(int)
    ch_x = np.clip(ch_x, det.n_u + det.n_v, det.n_channels - 1)
    zz = z + face * det.n_x // 2 * det.pitch_x_mm
    ch_u = (
        np.floor((zz * np.cos(angle) + y * np.sin(angle)) / det.pitch_uv_mm).astype(int) % det.n_u
    )
    ch_v = det.n_u + (
        np.floor((zz * np.cos(angle) - y * np.sin(angle) + 10000.0) / det.pitch_uv_mm).astype(int)
        % det.n_v
    )
    return [ch_u, ch_v, ch_x], tick, dq


def deposit_charge(cfg: SimConfig, tracks: np.ndarray) -> np.ndarray:
    """Electrons arriving per (offline channel, tick) for a set of tracks."""
    det = cfg.det
    q = np.zeros((det.n_channels, det.n_ticks), dtype=np.float64)
    for tr in tracks:
        chans, tick, dq = _track_samples(cfg, tr)
        t_lo = np.floor(tick).astype(int)
        frac = tick - t_lo
        ok = (t_lo >= 0) & (t_lo < det.n_ticks - 1)
        for ch in chans:
            np.add.at(q, (ch[ok], t_lo[ok]), dq[ok] * (1 - frac[ok]))
            np.add.at(q, (ch[ok], t_lo[ok] + 1), dq[ok] * frac[ok])
    return q


def track_wire_truth(cfg: SimConfig, tracks: np.ndarray) -> np.ndarray:
    """The charge each wire of each plane sees from each track (``WIRE_TRUTH_DTYPE`` rows).

    Built from the same samples as :func:`deposit_charge`, so the rows of one channel sum to its
    deposited charge when the tracks do not overlap.
    """
    det = cfg.det
    parts = []
    for k, tr in enumerate(tracks):
        chans, tick, dq = _track_samples(cfg, tr)
        ok = (tick >= 0) & (tick < det.n_ticks - 1)
        for plane, ch in enumerate(chans):
            c, t, q = ch[ok], tick[ok], dq[ok]
            if c.size == 0:
                continue
            order = np.lexsort((t, c))
            c, t, q = c[order], t[order], q[order]
            new = np.r_[True, (np.diff(c) != 0) | (np.diff(t) > WIRE_GAP_TICKS)]
            run = np.cumsum(new) - 1
            first = np.flatnonzero(new)
            part = np.zeros(first.size, dtype=WIRE_TRUTH_DTYPE)
            part["track"], part["channel"], part["plane"] = k, c[first], plane
            part["electrons"] = np.bincount(run, weights=q)
            part["tick"] = np.bincount(run, weights=q * t) / part["electrons"]
            part["first_tick"] = np.floor(t[first])
            part["last_tick"] = np.ceil(t[np.r_[first[1:], t.size] - 1])
            # tick with the most charge: charge per (run, rounded tick), largest per run
            key, inv = np.unique(run * det.n_ticks + np.rint(t).astype(int), return_inverse=True)
            per = np.bincount(inv, weights=q)
            best = np.lexsort((-per, key // det.n_ticks))
            head = np.r_[True, np.diff(key[best] // det.n_ticks) != 0]
            part["peak_tick"] = key[best][head] % det.n_ticks
            part["isolated"] = True
            parts.append(part)
    out = np.concatenate(parts) if parts else np.zeros(0, WIRE_TRUTH_DTYPE)
    iso = WIRE_ISOLATION_TICKS
    wires, counts = np.unique(out["channel"], return_counts=True)
    for ch in wires[counts > 1]:
        idx = np.flatnonzero(out["channel"] == ch)
        for i in idx:
            j = idx[out["track"][idx] != out["track"][i]]
            near = (out["first_tick"][j] <= out["last_tick"][i] + iso) & (
                out["last_tick"][j] >= out["first_tick"][i] - iso
            )
            out["isolated"][i] = not near.any()
    return out


def make_signal(cfg: SimConfig, charge: np.ndarray) -> np.ndarray:
    """ADC waveforms (float32) of the deposited charge through field, electronics and AC coupling."""
    det = cfg.det
    out = np.zeros(charge.shape, dtype=np.float32)
    ac = ac_coupling_spectrum(det.n_ticks) if cfg.ac_coupling else 1.0
    for plane in range(3):
        sl = det.plane_slice(plane)
        rows = np.flatnonzero(charge[sl].any(axis=1)) + sl.start
        if rows.size == 0:
            continue
        spec = sfft.rfft(charge[rows], axis=1, workers=1)
        spec *= response_spectrum(plane, det.n_ticks) * ac
        out[rows] = sfft.irfft(spec, n=det.n_ticks, axis=1, workers=1)
    return out


def simulate_apa_event(
    cfg: SimConfig, static: ApaStatic, rng: np.random.Generator, tracks: np.ndarray | None = None
) -> tuple[np.ndarray, EventTruth]:
    """One APA-event: int16 ADC codes in offline order and the truth of what went in.

    Parameters
    ----------
    cfg : SimConfig
        Model knobs.
    static : ApaStatic
        The APA's fixed features (:func:`make_static`).
    rng : numpy.random.Generator
        Source of the event's randomness.
    tracks : numpy.ndarray, optional
        The event's tracks (``TRACK_DTYPE``) from a shared history (``history.tpc_tracks``);
        None: cosmics drawn here (:func:`make_tracks`).

    Returns
    -------
    adc : numpy.ndarray
        ``(n_channels, n_ticks)`` int16, offline order.
    truth : EventTruth
    """
    det = cfg.det
    n, nt = det.n_channels, det.n_ticks
    tick_s = det.tick_us * 1e-6
    fault_seed = (int(rng.integers(2**62)),) if cfg.faults is not None else None
    if cfg.noise:
        wave = colored_noise(
            rng, noise_shape(det, cfg.noise_corner_hz, cfg.noise_white_fraction), n, nt
        )
        wave *= static.noise_rms.astype(np.float32)[:, None]
    else:
        wave = np.zeros((n, nt), dtype=np.float32)
    # Coherent noise: one waveform per FEMB-plane group, band-limited to ~20-60 kHz.
    f = det.freqs()
    lo, hi = cfg.coherent_band_hz
    band = np.exp(-0.5 * ((f - 0.5 * (lo + hi)) / (0.5 * (hi - lo))) ** 2)
    band[0] = 0.0
    band /= np.sqrt(_unit_variance(band**2, nt))
    n_groups = det.n_fembs * 3
    coherent = colored_noise(rng, band, n_groups, nt)
    coh_rms = rng.uniform(*cfg.coherent_rms, n_groups).astype(np.float32)
    coherent *= coh_rms[:, None]
    if cfg.noise:
        if static.coupling is None:
            wave += coherent[det.group]
        else:
            wave += coherent[det.group] * static.coupling[:, None]
    else:
        coherent[:] = 0.0
        coh_rms[:] = 0.0
    for k, fr in enumerate(static.line_freqs):
        _add_sines(wave, slice(None), fr, static.line_amps[k], static.line_phases[k], tick_s)
    comb_phases = np.zeros((static.comb_freqs.size, static.comb_channels.size))
    if static.comb_channels.size:
        for h, (fr, amp) in enumerate(zip(static.comb_freqs, static.comb_amps, strict=True)):
            phases = comb_phases[h] = rng.uniform(0, 2 * np.pi, static.comb_channels.size)
            _add_sines(
                wave,
                static.comb_channels,
                fr,
                np.full(static.comb_channels.size, amp),
                phases,
                tick_s,
            )
    if tracks is None or not cfg.signals:
        tracks = make_tracks(cfg, rng) if cfg.signals else np.zeros(0, dtype=TRACK_DTYPE)
    charge = deposit_charge(cfg, tracks) if tracks.size else np.zeros((n, nt))
    signal = make_signal(cfg, charge) if tracks.size else np.zeros_like(wave)
    wave += signal
    if static.noisy.size:
        wave[static.noisy] += (
            rng.standard_normal((static.noisy.size, nt), dtype=np.float32)
            * static.noisy_rms.astype(np.float32)[:, None]
        )
    if fault_seed is not None:
        fault_models.before_digitize(cfg, static, wave, fault_seed)
    wave += static.pedestal.astype(np.float32)[:, None]
    adc = np.clip(np.rint(wave), 0, det.adc_max).astype(np.int16)
    truth = EventTruth(
        signal=signal,
        coherent=coherent,
        coherent_rms=coh_rms,
        tracks=tracks,
        comb_phases=comb_phases,
    )
    apply_sticky(cfg, static, adc, rng, truth)
    adc[static.dead] = np.rint(static.pedestal[static.dead]).astype(np.int16)[:, None]
    if fault_seed is not None:
        fault_models.after_digitize(cfg, static, adc, fault_seed, truth)
    signal[static.dead] = 0.0  # truth is the signal as read out
    charge[static.dead] = 0.0
    truth.charge = charge.astype(np.float32)
    wires = track_wire_truth(cfg, tracks)
    truth.wires = wires[~np.isin(wires["channel"], static.dead)]
    return adc, truth


def apply_sticky(
    cfg: SimConfig, static: ApaStatic, adc: np.ndarray, rng: np.random.Generator, truth: EventTruth
) -> None:
    """Stick the 6 low bits at 0x00/0x3F on the sticky channels (in place), recording truth.

    A sample within ``sticky_window`` codes of a multiple of 64 ``b`` snaps, with probability
    ``sticky_probability``, to ``b`` (from above) or ``b - 1`` (from below).
    """
    chans, ticks, trues = [], [], []
    for ch in fault_models.snap_channels(static):
        row = adc[ch].astype(np.int32)
        b = np.rint(row / 64.0).astype(np.int32) * 64
        dist = row - b
        near = (np.abs(dist) <= cfg.sticky_window) & (rng.random(row.size) < cfg.sticky_probability)
        snapped = np.where(dist >= 0, b, b - 1)
        hit = near & (snapped != row)
        idx = np.flatnonzero(hit)
        chans.append(np.full(idx.size, ch, np.int32))
        ticks.append(idx.astype(np.int32))
        trues.append(row[idx].astype(np.int16))
        adc[ch, idx] = snapped[idx]
    if chans:
        truth.stuck_channel = np.concatenate(chans)
        truth.stuck_tick = np.concatenate(ticks)
        truth.stuck_true = np.concatenate(trues)


def simulate_apa(
    cfg: SimConfig, seed: int, event: int, apa: int = 0, run: int = 1
) -> tuple[np.ndarray, EventTruth, ApaStatic]:
    """One APA-event in memory (no file): ``(adc, truth, static)``; handy in tests and studies."""
    static = make_static(cfg, seed, run, apa)
    adc, truth = simulate_apa_event(cfg, static, np.random.default_rng([seed, run, event, apa]))
    return adc, truth, static
