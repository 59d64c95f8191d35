"""Generator data turned into metrics and histograms as dqm-adcfft emits them (INTERFACES.md
sections 1-3), for the quality tests: real daqsim ADC, real payload statistics (payloads.dqm).

Faults are injected into the generator's static features of one APA (so every event shows
them): a noise rise on one plane, a pedestal shift on one ASIC, a dead (frozen) FEMB, a pickup
line on a few boards of one plane.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from payloads.daqsim.tpc import SimConfig, make_static, simulate_apa_event
from payloads.detector import DEFAULT, PLANES
from payloads.dqm import adc as adcm
from payloads.dqm import fft as fftm

DET = DEFAULT
#: Clean runs: the generator's defaults (noise, pickup, bad channels, cosmic tracks) with the
#: narrow lines on a fixed APA (with the default (None) each run draws which APAs carry lines,
#: and a reference could never match). QUIET: the same without tracks, for the fault tests.
CLEAN = SimConfig(line_apas=(1,))
QUIET = SimConfig(line_apas=(1,), signals=False)
PEDESTAL_RANGE = {"u": (1850.0, 2850.0), "v": (1850.0, 2850.0), "x": (400.0, 1400.0)}
SPECTRUM_BINS = 200


@dataclass(frozen=True)
class Fault:
    kind: str  # noise_plane, asic_pedestal, dead_femb, pickup
    apa: int
    plane: str = "u"
    femb: int = 0
    asic: int = 0
    size: float = 0.0  # noise factor, pedestal shift (ADC) or line amplitude (ADC)
    fembs: tuple[int, ...] = ()


def _apply(static, fault: Fault, rng: np.random.Generator):
    sl = DET.plane_slice(fault.plane)
    if fault.kind == "noise_plane":
        static.noise_rms[sl] *= fault.size
    elif fault.kind == "asic_pedestal":
        static.pedestal[DET.asic == fault.femb * 8 + fault.asic] += fault.size
    elif fault.kind == "dead_femb":
        static.dead = np.union1d(static.dead, np.flatnonzero(DET.femb == fault.femb))
    elif fault.kind == "pickup":
        chans = np.flatnonzero(
            np.isin(DET.femb, fault.fembs) & (DET.plane_index == PLANES.index(fault.plane))
        )
        amps = np.zeros((1, DET.n_channels))
        amps[0, chans] = fault.size
        static.line_freqs = np.append(static.line_freqs, 177.3e3)
        static.line_amps = np.vstack([static.line_amps, amps])
        static.line_phases = np.vstack(
            [static.line_phases, rng.uniform(0, 2 * np.pi, (1, DET.n_channels))]
        )
    else:
        raise ValueError(fault.kind)
    return static


def simulate_apa(
    run: int, apa: int, events: int = 1, fault: Fault | None = None, seed: int = 11, cfg=CLEAN
):
    """``events`` int16 ADC arrays of one APA of a run (clean, or with the fault if on this APA)."""
    static = make_static(cfg, seed, run, apa)
    if fault is not None and fault.apa == apa:
        static = _apply(dataclasses.replace(static), fault, np.random.default_rng(run))
    return [
        simulate_apa_event(cfg, static, np.random.default_rng([seed, run, e, apa]))[0]
        for e in range(events)
    ]


def _hist(name: str, apa: int, plane: str, edges, counts, profile: bool = False) -> dict:
    return {
        "format": "p3s-hist-1",
        "name": name,
        "title": f"APA {apa} plane {plane}: {name}",
        "x_label": name,
        "y_label": "channels",
        "edges": [float(e) for e in edges],
        "counts": [float(c) for c in counts],
        "profile": profile,
        "log_y": False,
    }


def _live_mean(values: np.ndarray, where: np.ndarray, live: np.ndarray) -> float:
    """Mean over the live channels of ``where``; over all of them when none is live (a dead or
    wholly noisy board must show as such, not vanish)."""
    ok = where & live
    return float(values[ok].mean() if ok.any() else values[where].mean())


def apa_products(apa: int, adcs: list[np.ndarray]):
    """(metrics, hists, table) of one APA: metrics as ``{"name", "value", "labels"}`` dicts,
    hists as ``(labels, p3s-hist-1 dict)`` pairs, the ``p3s-badch-1`` table."""
    stats = adcm.combine_stats([adcm.compute_channel_stats(a) for a in adcs])
    bad = adcm.find_bad_channels(stats, DET)
    power = sum(fftm.compute_power(a) for a in adcs) / len(adcs)
    spectra = fftm.average_spectra(power, DET, exclude=bad["dead"] | bad["noisy"])
    freqs = DET.freqs()
    metrics: list[dict] = []

    def add(name, value, **labels):
        metrics.append({"name": name, "value": float(value), "labels": {"apa": str(apa), **labels}})

    for row in adcm.summarize_planes(stats, bad, DET):
        p = row["plane"]
        add("adc_pedestal_mean", row["pedestal_mean"], plane=p)
        add("adc_rms_mean", row["rms_mean"], plane=p)
        add("adc_dead_channels", row["dead"], plane=p)
        add("adc_noisy_channels", row["noisy"], plane=p)
    live = ~(bad["dead"] | bad["noisy"])
    med, rms = stats["median"], stats["rms"]
    for p, plane in enumerate(PLANES):
        in_plane = DET.plane_index == p
        plane_ped = float(np.median(med[in_plane]))
        plane_rms = float(np.median(rms[in_plane & live]))
        lines = fftm.find_lines(spectra["plane"][p], freqs)
        add(
            "fft_line_max_amplitude",
            max((ln["amplitude"] for ln in lines), default=0.0),
            plane=plane,
            scope="plane",
        )
        for f in range(DET.n_fembs):
            board = in_plane & (DET.femb == f)
            add("adc_pedestal_mean", med[board].mean(), plane=plane, femb=str(f))
            add("adc_rms_mean", _live_mean(rms, board, live), plane=plane, femb=str(f))
            add("adc_dead_fraction", bad["dead"][board].mean(), plane=plane, femb=str(f))
            lines = fftm.find_lines(spectra["femb"][3 * f + p], freqs)
            add(
                "fft_line_max_amplitude",
                max((ln["amplitude"] for ln in lines), default=0.0),
                plane=plane,
                femb=str(f),
            )
            for a in range(8):
                chip = board & (DET.asic == f * 8 + a)
                lab = {"plane": plane, "femb": str(f), "asic": str(a)}
                add("adc_pedestal_mean", med[chip].mean(), **lab)
                add("adc_asic_pedestal_shift", np.median(med[chip]) - plane_ped, **lab)
                add("adc_asic_rms_ratio", _live_mean(rms, chip, live) / plane_rms, **lab)
    for f in range(DET.n_fembs):
        add("adc_femb_missing", float(bad["dead"][DET.femb == f].all()), femb=str(f))
    hists = []
    for p, plane in enumerate(PLANES):
        sl = DET.plane_slice(p)
        labels = {"apa": str(apa), "plane": plane}
        counts, edges = np.histogram(rms[sl], bins=80, range=(0.0, 20.0))
        hists.append(({**labels, "hist": "adc_rms"}, _hist("adc_rms", apa, plane, edges, counts)))
        counts, edges = np.histogram(med[sl], bins=100, range=PEDESTAL_RANGE[plane])
        hists.append(
            ({**labels, "hist": "adc_pedestal"}, _hist("adc_pedestal", apa, plane, edges, counts))
        )
        spec = spectra["plane"][p][1:]  # 3000 bins above DC -> 200
        spec = spec.reshape(SPECTRUM_BINS, -1).mean(axis=1)
        edges = np.linspace(freqs[1] / 1e3, freqs[-1] / 1e3, SPECTRUM_BINS + 1)
        hists.append(
            (
                {**labels, "hist": "fft_spectrum"},
                _hist("fft_spectrum", apa, plane, edges, spec, profile=True),
            )
        )
    table = {
        "format": "p3s-badch-1",
        "dead": [int(c) for c in np.flatnonzero(bad["dead"])],
        "noisy": [int(c) for c in np.flatnonzero(bad["noisy"])],
        "sticky": [int(c) for c in np.flatnonzero(bad["sticky"])],
    }
    return metrics, hists, table


def known_bad_of(run: int, apas, seed: int = 11) -> dict:
    """The ``bad-channels`` condition data for a run: the generator's dead and noisy channels."""
    rows = []
    for apa in apas:
        static = make_static(CLEAN, seed, run, apa)
        rows += [{"apa": apa, "channel": int(c), "status": "dead"} for c in static.dead]
        rows += [{"apa": apa, "channel": int(c), "status": "noisy"} for c in static.noisy]
    return {"channels": rows}


@functools.lru_cache(maxsize=64)
def products(run: int, apa: int, fault: Fault | None = None, events: int = 1, tracks: bool = True):
    """Cached :func:`apa_products` of generator data (tests share one simulation)."""
    return apa_products(apa, simulate_apa(run, apa, events, fault, cfg=CLEAN if tracks else QUIET))
