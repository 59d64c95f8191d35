"""An APA-event generator with detector responses that are NOT those of payloads/response.py.

Independent of ``payloads.daqsim`` (own responses, noise, AC coupling, track model), built from
DETECTOR.md and the physics of the signal formation only, so that SIG is judged on a response it
was not built from (issue 9):

* Electronics: a CR-(RC)^4 shaper (``(t/tau)^4 exp(-t/tau)``, peak at 4 tau), not our
  semi-Gaussian of order 5.3; gain so that 1,000 electrons give ``area`` ADC x tick (DETECTOR.md
  "~40"; the shapes below use 39 and 41).
* Collection: the induced current rises exponentially over the last ``b`` ticks before the
  electrons reach the wire (Shockley-Ramo: the weighting field grows near the wire).
* Induction: the current is ``dq/dt`` of an induced-charge profile ``q(t)`` (the weighting
  potential along the drift averaged over a wire pitch) that is NOT our symmetric exponential
  cusp: an asymmetric triangle or an asymmetric double exponential, with its own widths (the
  zero crossing moves off the plane crossing, the lobes differ by up to 2x). Its integral
  ``int q dt`` (the time the electrons spend in the weighting field, plane spacing over drift
  speed: 4.75 mm over 1.6-2.0 mm/us, 4.8-5.9 ticks) is what sets the charge scale a
  one-dimensional deconvolution sees (the first moment of the response), and differs from ours.
* Noise: white noise low-passed by a 2-pole filter at 150 kHz (DETECTOR.md: falls above
  ~100 kHz), 4 ADC (U/V) and 3.5 ADC (X) RMS; coherent noise per FEMB-plane group in 20-60 kHz,
  1.5 ADC RMS, with per-channel pick-up gains 1 +- 0.15; AC coupling as a causal RC high-pass
  (tau 1.1 ms) on the whole front-end output (a bilinear IIR, where SIG divides by the
  analogue transfer function).
* Tracks: straight lines in (wire, tick) on every plane, each plane with its own wire count
  (the U/V wires are at an angle to the collection wires) and the same total charge on every
  plane (every drifting electron passes both induction planes and is collected); MIP charge
  25,000 e per collection wire, spread uniformly over the ticks the track takes to cross a
  wire's pitch, with 1 tick of diffusion.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from scipy import signal as ssig
from scipy.special import erf

from payloads.daqsim.tpc import WIRE_TRUTH_DTYPE
from payloads.detector import DEFAULT as DET

FINE = 20  # sub-samples per tick of the response integration
N_T = DET.n_ticks


@dataclass(frozen=True)
class Shape:
    """A foreign response model (see the module docstring)."""

    name: str
    area: float  # collection ADC x tick per 1,000 e
    tau: float  # CR-RC^4 time constant, ticks (peak at 4 tau)
    b: float  # collection current rise, ticks
    profile: str  # "triangle" or "dexp"
    before: float  # q(t) width before the plane crossing, ticks
    after: float  # ... and after it
    lobes: float  # mean induction lobe over the collection peak (DETECTOR.md: 1/3 to 1/2)


#: Two foreign induction shapes: lobe asymmetry, widths and zero crossings unlike ours.
SHAPES = {
    "triangle": Shape("triangle", 41.0, 1.25, 0.6, "triangle", 5.0, 4.0, 0.36),
    "dexp": Shape("dexp", 39.0, 1.3, 0.8, "dexp", 3.0, 3.8, 0.47),
}


def _electronics(t: np.ndarray, shape: Shape) -> np.ndarray:
    x = np.clip(t / shape.tau, 0, None)
    return x**4 * np.exp(-x)


def _profile(t: np.ndarray, shape: Shape) -> np.ndarray:
    """Induced charge (fraction of the drifting charge) at time ``t`` from the plane crossing."""
    if shape.profile == "triangle":
        return np.clip(np.where(t < 0, 1 + t / shape.before, 1 - t / shape.after), 0, None)
    return np.where(t < 0, np.exp(t / shape.before), np.exp(-t / shape.after))


def response(plane: int, shape: Shape) -> np.ndarray:
    """Circular kernel (ADC per electron arriving at tick 0), ``N_T`` samples. The induction
    kernel is scaled so that its mean lobe is ``shape.lobes`` of the collection peak (as a
    model built from DETECTOR.md would be)."""
    r = _raw_response(plane, shape)
    if plane != 2:
        c = _raw_response(2, shape)
        r *= shape.lobes * c.max() / (0.5 * (r.max() - r.min()))
    return r


def _raw_response(plane: int, shape: Shape) -> np.ndarray:
    dt = 1.0 / FINE
    te = np.arange(0, 80, dt)
    h = _electronics(te, shape)
    h *= shape.area / 1000.0 / (h.sum() * dt)  # ADC x tick per electron
    u = np.arange(-40, 40, dt)
    if plane == 2:
        cur = np.where(u < 0, np.exp(u / shape.b), 0.0)
        cur /= cur.sum() * dt
    else:
        cur = np.gradient(_profile(u, shape), dt)
    r = np.convolve(cur, h) * dt  # times u[0] + k dt
    t0 = u[0]
    ticks = np.arange(-40, 80)
    idx = np.rint((ticks - t0) / dt).astype(int)
    out = np.zeros(N_T)
    out[ticks % N_T] = r[idx]
    return out


def figures(plane: int, shape: Shape) -> dict:
    """Peak, lobes, zero crossing and first moment of the kernel (per 1,000 e)."""
    r = 1000 * response(plane, shape)
    t = np.where(np.arange(N_T) < N_T // 2, np.arange(N_T), np.arange(N_T) - N_T)
    out = {"peak": r.max(), "area": r.sum(), "m1": float((r * t).sum()), "peak_tick": t[r.argmax()]}
    if plane != 2:
        out["negative_lobe"] = -r.min()
    return out


def _coloured(rng, shape, cutoff_hz, order=2, band=None):
    white = rng.standard_normal(shape).astype(np.float64)
    fs = 1e6 / DET.tick_us
    if band is None:
        b, a = ssig.butter(order, cutoff_hz, fs=fs)
    else:
        b, a = ssig.butter(order, band, btype="band", fs=fs)
    x = ssig.lfilter(b, a, white, axis=-1)
    return x / x.std(axis=-1, keepdims=True)


def _int_phi(y: np.ndarray) -> np.ndarray:
    """Antiderivative of the normal CDF: ``y Phi(y) + phi(y)``."""
    return y * 0.5 * (1 + erf(y / np.sqrt(2))) + np.exp(-y * y / 2) / np.sqrt(2 * np.pi)


def _deposit(slope: float, n_wires: int, t0: float, q_wire: float, sigma: float = 1.0):
    """Per-tick charge of each wire crossed: uniform over the pitch crossing ``[a, a + slope]``
    convolved with a Gaussian (diffusion), integrated over each tick."""
    edges = np.arange(N_T + 1, dtype=np.float64)
    out = []
    for k in range(n_wires):
        a = t0 + slope * k
        b = a + max(slope, 1e-3)
        # CDF of the smeared box at x: sigma (I((x-a)/s) - I((x-b)/s)) / (b - a)
        cdf = sigma * (_int_phi((edges - a) / sigma) - _int_phi((edges - b) / sigma)) / (b - a)
        q = np.diff(cdf)
        out.append(q_wire * q / q.sum())
    return out


#: The per-wire truth rows are in the format of the project's truth (the fields the tests read).
WIRE_DTYPE = WIRE_TRUTH_DTYPE
TRACK_DTYPE = np.dtype([("wire0", "f8"), ("wire1", "f8"), ("tick0", "f8"), ("tick1", "f8")])


def simulate(shape: Shape, seed: int, slopes: tuple[float, ...], noise: bool = True):
    """One APA-event: int16 ADC and a truth with ``tracks`` and per-wire ``wires`` rows (the
    fields :func:`charge_truth.wire_ratios` reads)."""
    rng = np.random.default_rng([seed, 77])
    charge = np.zeros((DET.n_channels, N_T))
    rows = []
    tracks = np.zeros(len(slopes), TRACK_DTYPE)
    n_tr = len(slopes)
    n_x = rng.integers(30, 50, n_tr)  # collection wires per track
    t_start = [rng.uniform(300, N_T - 300 - s * n - 20) for s, n in zip(slopes, n_x, strict=True)]
    q_track = 25000.0 * n_x * rng.uniform(0.95, 1.05, n_tr)  # the same on every plane
    tk = np.arange(N_T)
    for p in range(3):
        sl = DET.plane_slice(p)
        span = (sl.stop - sl.start) // max(
            n_tr, 1
        )  # each track on its own wires: isolated crossings
        for i, s in enumerate(slopes):
            n_w = int(n_x[i]) if p == 2 else int(round(n_x[i] * rng.uniform(0.8, 1.25)))
            n_w = min(n_w, span - 4)
            s_p = s * n_x[i] / n_w  # the same drift time spread over the plane's wires
            w0 = sl.start + i * span + int(rng.integers(2, span - n_w - 1))
            # the planes are crossed 6 ticks apart (one plane spacing)
            dep = _deposit(s_p, n_w, t_start[i] + 6 * p, q_track[i] / n_w)
            for k, q in enumerate(dep):
                ch = w0 + k
                charge[ch] += q
                nz = np.flatnonzero(q > 1e-3 * q.max())
                rows.append(
                    (
                        i,
                        ch,
                        p,
                        q.sum(),
                        (q * tk).sum() / q.sum(),
                        int(np.argmax(q)),
                        nz[0],
                        nz[-1],
                        0 < k < n_w - 1,
                    )
                )
            if p == 2:
                tracks[i] = (w0, w0 + n_w, t_start[i] + 12, t_start[i] + 12 + s_p * n_w)
    signal = np.zeros_like(charge)
    spec = np.fft.rfft(charge, axis=1)
    for p in range(3):
        sl = DET.plane_slice(p)
        signal[sl] = np.fft.irfft(spec[sl] * np.fft.rfft(response(p, shape)), n=N_T, axis=1)
    wave = signal
    if noise:
        rms = np.where(DET.plane_index == 2, 3.5, 4.0) * rng.uniform(0.88, 1.12, DET.n_channels)
        wave = wave + rms[:, None] * _coloured(rng, (DET.n_channels, N_T), 150e3)
        groups = _coloured(rng, (DET.n_fembs * 3, N_T), None, band=(20e3, 60e3)) * 1.5
        for p in range(3):
            g = DET.group_channels(p)  # (n_fembs, per group)
            gains = rng.uniform(0.85, 1.15, g.shape)
            wave[g] += gains[:, :, None] * groups[p::3][:, None, :]
    # AC coupling: causal RC high-pass, tau 1.1 ms = 2,200 ticks (bilinear transform)
    b, a = ssig.bilinear([2200.0, 0.0], [2200.0, 1.0], fs=1.0)
    wave = ssig.lfilter(b, a, wave, axis=1)
    ped = np.where(DET.plane_index == 2, 900.0, 2350.0) + rng.normal(0, 100, DET.n_channels)
    adc = np.clip(np.rint(wave + ped[:, None]), 0, 4095).astype(np.int16)
    truth = SimpleNamespace(tracks=tracks, wires=np.array(rows, WIRE_DTYPE), charge=charge)
    return adc, truth
