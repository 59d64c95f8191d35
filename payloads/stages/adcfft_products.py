"""Products of ``dqm-adcfft``: histogram products (``p3s-hist-1``), tables (bad channels, board
faults, lines) and plots. The histograms and tables are what the server's checks read
(INTERFACES.md sections 2 and 3); the plots are for people.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from payloads.detector import PLANES, Detector
from payloads.dqm import adc as adcm
from payloads.jobio import Result

HIST_FORMAT = "p3s-hist-1"
#: Fixed ranges, so that a run's histogram compares bin by bin with the reference's.
#: Noise: 0-20 ADC in 80 bins (DETECTOR.md: ~4 ADC, noisy channels > 30-40 ADC land in the last
#: bin). Pedestals: 1,000 ADC around DETECTOR.md's ~2,350 (induction) and ~900 (collection).
RMS_RANGE = (0.0, 20.0, 80)
PEDESTAL_RANGE = {"u": (1850.0, 2850.0, 100), "v": (1850.0, 2850.0, 100), "x": (400.0, 1400.0, 100)}
SPECTRUM_BINS = 200


def hist_doc(name, title, x_label, y_label, edges, counts, profile=False, log_y=False) -> dict:
    """One ``p3s-hist-1`` document (finite numbers only: JSON has no NaN)."""
    counts = np.nan_to_num(np.asarray(counts, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    return {
        "format": HIST_FORMAT,
        "name": name,
        "title": title,
        "x_label": x_label,
        "y_label": y_label,
        "edges": [float(e) for e in edges],
        "counts": [float(c) for c in counts],
        "profile": bool(profile),
        "log_y": bool(log_y),
    }


def fixed_histogram(values: np.ndarray, lo: float, hi: float, n: int):
    """Counts in ``n`` fixed bins over [lo, hi]; values outside go to the first or last bin, so
    every channel is counted."""
    edges = np.linspace(lo, hi, n + 1)
    v = np.clip(np.asarray(values, float), lo, np.nextafter(hi, lo))
    return edges, np.histogram(v[np.isfinite(v)], bins=edges)[0]


def rebin_spectrum(freqs: np.ndarray, spectrum: np.ndarray, n_bins: int = SPECTRUM_BINS):
    """Edges (kHz) and mean power of ``n_bins`` equal groups of the non-DC rfft bins."""
    df = freqs[1] - freqs[0]
    k = (freqs.size - 1) // n_bins
    vals = spectrum[1 : 1 + k * n_bins].reshape(n_bins, k).mean(axis=1)
    edges = (np.arange(n_bins + 1) * k + 0.5) * df / 1e3
    return edges, vals


def plane_histograms(res: dict, det: Detector, apa: int) -> dict[tuple[str, str], dict]:
    """The four histograms of INTERFACES.md section 2 per plane: ``(hist, plane) -> doc``."""
    st = res["stats"]
    freqs = det.freqs()
    out = {}
    for p, plane in enumerate(PLANES):
        sl = det.plane_slice(p)
        where = f"APA {apa} plane {plane}"
        e, c = fixed_histogram(st["rms"][sl], *RMS_RANGE)
        out[("adc_rms", plane)] = hist_doc(
            "adc_rms", f"{where}: channel noise", "robust RMS [ADC]", "channels", e, c, log_y=True
        )
        e, c = fixed_histogram(st["median"][sl], *PEDESTAL_RANGE[plane])
        out[("adc_pedestal", plane)] = hist_doc(
            "adc_pedestal", f"{where}: pedestals", "pedestal [ADC]", "channels", e, c, log_y=True
        )
        e, c = rebin_spectrum(freqs, res["spectra"]["plane"][p])
        out[("fft_spectrum", plane)] = hist_doc(
            "fft_spectrum",
            f"{where}: mean power spectrum",
            "frequency [kHz]",
            "power [ADC^2 per 333 Hz bin]",
            e,
            c,
            profile=True,
            log_y=True,
        )
        e = np.arange(sl.start, sl.stop + 1) - 0.5
        out[("adc_rms_per_channel", plane)] = hist_doc(
            "adc_rms_per_channel",
            f"{where}: noise per channel",
            "offline channel",
            "robust RMS [ADC]",
            e,
            st["rms"][sl],
            profile=True,
        )
    return out


def _write_json(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc, allow_nan=False), encoding="utf-8")
    return path


def add_histograms(
    result: Result, out: Path, stem: str, analysis: dict[int, dict], det: Detector
) -> None:
    """Histogram products, kind ``json``, labels ``hist``, ``apa``, ``plane``."""
    for apa, res in analysis.items():
        for (name, plane), doc in plane_histograms(res, det, apa).items():
            f = _write_json(out / f"{stem}-apa{apa}-{plane}-{name}.json", doc)
            result.add_product(f, "json", doc["title"], hist=name, apa=apa, plane=plane)


def bad_channel_table(res: dict) -> dict:
    """The ``p3s-badch-1`` table of one APA (offline channels within the APA)."""
    bad = res["bad"]
    return {
        "format": "p3s-badch-1",
        "dead": [int(c) for c in np.flatnonzero(bad["dead"])],
        "noisy": [int(c) for c in np.flatnonzero(bad["noisy"])],
        "sticky": [int(c) for c in np.flatnonzero(bad["sticky"])],
    }


def lines_table(res: dict) -> dict:
    """``p3s-lines-1``: every line and comb with the boards and channels carrying it."""

    def line(ln: dict) -> dict:
        return {
            "plane": PLANES[ln["plane"]],
            "freq_hz": ln["freq_hz"],
            "amplitude_adc": ln["amplitude"],
            "plane_amplitude_adc": ln["plane_amplitude"],
            "significance": ln["significance"],
            "fembs": ln["fembs"],
            "femb_amplitudes_adc": {str(k): v for k, v in ln["femb_amplitudes"].items()},
            "asics": [list(a) for a in ln["asics"]],
            "channels": [int(c) for c in ln["channels"]],
        }

    return {
        "format": "p3s-lines-1",
        "lines": [line(ln) for p in range(3) for ln in res["lines"][p]],
        "combs": [
            {
                "plane": PLANES[p],
                "base_hz": c["base_hz"],
                "harmonics_hz": [h["freq_hz"] for h in c["harmonics"]],
                "fembs": c["fembs"],
                "channels": [int(x) for x in c["channels"]],
            }
            for p in range(3)
            for c in res["combs"][p]
        ],
    }


def add_tables(
    result: Result, out: Path, stem: str, analysis: dict[int, dict], det: Detector
) -> None:
    """Per APA: bad channels (``table=bad_channels``), board faults (``table=board_faults``,
    ``p3s-boards-1``) and lines (``table=lines``)."""
    for apa, res in analysis.items():
        f = _write_json(out / f"{stem}-apa{apa}-badch.json", bad_channel_table(res))
        result.add_product(f, "json", f"APA {apa} bad channels", table="bad_channels", apa=apa)
        doc = {
            "format": "p3s-boards-1",
            "faults": res["boards"]["faults"],
            "femb_state": res["boards"]["femb_state"],
        }
        f = _write_json(out / f"{stem}-apa{apa}-boards.json", doc)
        result.add_product(f, "json", f"APA {apa} board faults", table="board_faults", apa=apa)
        f = _write_json(out / f"{stem}-apa{apa}-lines.json", lines_table(res))
        result.add_product(f, "json", f"APA {apa} lines and combs", table="lines", apa=apa)


def make_plots(
    result: Result, out: Path, stem: str, analysis: dict[int, dict], det: Detector
) -> None:
    """PNG and bokeh products (fixed colour and axis scales: payloads/plots.py)."""
    from payloads import plots  # matplotlib and bokeh only when plotting

    freqs = det.freqs()
    for apa, res in analysis.items():
        st, bad = res["stats"], res["bad"]
        rms = {n: st["rms"][det.plane_slice(p)] for p, n in enumerate(PLANES)}
        peds = {n: st["median"][det.plane_slice(p)] for p, n in enumerate(PLANES)}
        f = plots.plot_histograms_with_bands(
            rms,
            adcm.REFERENCE_RMS,
            "robust RMS [ADC]",
            f"APA {apa}: channel noise",
            out / f"{stem}-apa{apa}-rms.png",
            ranges={n: RMS_RANGE for n in PLANES},
        )
        result.add_product(f, "png", f"APA {apa} noise RMS per plane", apa=apa)
        f = plots.plot_histograms_with_bands(
            peds,
            adcm.REFERENCE_PEDESTAL,
            "pedestal [ADC]",
            f"APA {apa}: pedestals",
            out / f"{stem}-apa{apa}-ped.png",
            ranges=PEDESTAL_RANGE,
        )
        result.add_product(f, "png", f"APA {apa} pedestals per plane", apa=apa)
        b = res["boards"]
        f = plots.plot_board_map(
            b["femb"]["rms_mean"],
            f"APA {apa}: mean RMS per FEMB and plane",
            "RMS [ADC]",
            out / f"{stem}-apa{apa}-boards.png",
            scale="rms_adc",
        )
        result.add_product(f, "png", f"APA {apa} board map (RMS)", apa=apa)
        f = plots.plot_asic_map(
            np.nan_to_num(b["asic"]["pedestal_shift"], nan=0.0),
            f"APA {apa}: ASIC pedestal minus plane median",
            "pedestal shift [ADC]",
            out / f"{stem}-apa{apa}-asic-ped.png",
            scale="pedestal_shift_adc",
        )
        result.add_product(f, "png", f"APA {apa} ASIC pedestal shifts", apa=apa)
        f = plots.plot_spectra(
            freqs,
            res["spectra"]["plane"],
            res["lines"],
            f"APA {apa}: mean spectra",
            out / f"{stem}-apa{apa}-spectra.png",
        )
        result.add_product(f, "png", f"APA {apa} spectra per plane", apa=apa)
        f = plots.plot_spectrogram(
            res["coarse"],
            freqs[-1] / 1e3,
            f"APA {apa}: channel x frequency",
            out / f"{stem}-apa{apa}-spectrogram.png",
        )
        result.add_product(f, "png", f"APA {apa} channel x frequency", apa=apa)
        chans = np.arange(det.n_channels)
        fig = plots.bokeh_channel_values(
            chans,
            {
                "RMS": st["rms"],
                "dead": np.where(bad["dead"], 0.0, np.nan),
                "noisy": np.where(bad["noisy"], st["rms"], np.nan),
            },
            f"APA {apa}: robust RMS per channel",
            "RMS [ADC]",
        )
        f = plots.save_bokeh(fig, out / f"{stem}-apa{apa}-rms.json")
        result.add_product(f, "bokeh", f"APA {apa} RMS per channel (interactive)", apa=apa)
