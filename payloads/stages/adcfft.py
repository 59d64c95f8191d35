"""``dqm-adcfft``: ADC statistics and spectra from one read of the chosen events.

Writes ``adcfft-<job>-<file>.h5`` (kind ``p3s-adcfft/1``): per APA group ``apa_<k>`` with
per-channel ``mean``, ``median``, ``rms``, ``ptp``, ``stuck_fraction``, ``sticky_excess``,
``bit_occupancy``, flags ``dead``, ``noisy``, ``sticky``, ``comb`` and ``comb_score``;
means of ``median``, ``rms`` and ``stuck_fraction`` per ASIC (``*_by_asic``, 160), FEMB
(``*_by_femb``, 20) and FEMB-plane group (``*_by_group``, 60);
spectra ``spectrum_femb`` (60 x 3001: group = FEMB x 3 + plane), ``spectrum_plane`` (3 x 3001),
``spectrum_apa``, ``spectrum_coarse`` (channels x 300, 3.3 kHz bins); ``lines`` (plane,
freq_hz, amplitude, significance). SIG reads bad channels, sticky channels and lines from it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import h5py
import numpy as np

from payloads import plots
from payloads.detector import DEFAULT, PLANES
from payloads.dqm import adc as adcm
from payloads.dqm import fft as fftm
from payloads.jobio import Result
from payloads.rawio import FORMAT_TPC, RawFile, select_events
from payloads.stages import common

KIND = "p3s-adcfft/1"
LINE_DTYPE = np.dtype(
    [("plane", "i4"), ("freq_hz", "f8"), ("amplitude", "f8"), ("significance", "f8")]
)


def build_parser():
    p = common.make_parser("dqm-adcfft", __doc__.splitlines()[0])
    p.add_argument(
        "--line-threshold",
        type=float,
        default=6.0,
        help="line = peak above this many times the local median spectrum",
    )
    p.add_argument("--comb-base-khz", type=float, default=51.4, help="harmonic comb base frequency")
    p.add_argument(
        "--comb-threshold", type=float, default=3.0, help="comb score flagging a channel"
    )
    p.add_argument("--no-plots", action="store_true", help="metrics and outputs only")
    return p


def analyse_file(
    raw: RawFile,
    positions: np.ndarray,
    line_threshold: float = 6.0,
    comb_base_hz: float = 51.4e3,
    comb_threshold: float = 3.0,
    workers: int = 1,
) -> dict[int, dict]:
    """ADC statistics and spectra of the chosen events, per APA.

    Returns
    -------
    dict
        APA -> ``stats`` (averaged over events), ``bad`` masks, ``spectra``, ``coarse``,
        ``lines`` (per plane lists), ``comb_score``, ``comb``.
    """
    det = raw.det
    out: dict[int, dict] = {}
    buf = np.empty((det.n_channels, det.n_ticks), dtype=np.int16)
    work = np.empty((det.n_channels, det.n_ticks), dtype=np.float32)
    pbuf = np.empty((det.n_channels, det.n_freqs), dtype=np.float32)
    freqs = det.freqs()
    for apa in raw.apas:
        per_event = []
        power_sum = np.zeros((det.n_channels, det.n_freqs), dtype=np.float32)
        for pos in positions:
            adc = raw.read_apa(int(pos), apa, out=buf)
            per_event.append(adcm.compute_channel_stats(adc))
            power_sum += fftm.compute_power(adc, workers=workers, out=pbuf, work=work)
        power = power_sum / len(positions)
        stats = adcm.combine_stats(per_event)
        bad = adcm.find_bad_channels(stats, det)
        spectra = fftm.average_spectra(power, det, exclude=bad["dead"] | bad["noisy"])
        lines = [
            fftm.find_lines(spectra["plane"][p], freqs, threshold=line_threshold) for p in range(3)
        ]
        score = fftm.comb_score(power, freqs, base_hz=comb_base_hz)
        comb = (score > comb_threshold) & ~bad["dead"]
        out[apa] = {
            "stats": stats,
            "bad": bad,
            "spectra": spectra,
            "lines": lines,
            "coarse": fftm.coarse_spectra(power),
            "comb_score": score,
            "comb": comb,
        }
    return out


def write_output(
    path: Path, raw_path: Path, positions: np.ndarray, events: np.ndarray, analysis: dict[int, dict]
) -> None:
    with h5py.File(path, "w") as h5:
        h5.attrs["kind"] = KIND
        h5.attrs["source"] = str(raw_path)
        h5.attrs["event_positions"] = positions
        h5.attrs["events"] = events
        for apa, res in analysis.items():
            g = h5.create_group(f"apa_{apa}")
            for k, v in res["stats"].items():
                g.create_dataset(k, data=v)
            for k, v in res["bad"].items():
                g.create_dataset(k, data=v)
            det = DEFAULT
            for key in ("median", "rms", "stuck_fraction"):
                vals = res["stats"][key].astype(np.float64)
                g.create_dataset(
                    f"{key}_by_asic", data=adcm.aggregate(vals, det.asic, det.n_fembs * 8)
                )
                g.create_dataset(f"{key}_by_femb", data=adcm.aggregate(vals, det.femb, det.n_fembs))
                g.create_dataset(
                    f"{key}_by_group", data=adcm.aggregate(vals, det.group, det.n_fembs * 3)
                )
            g.create_dataset("comb", data=res["comb"])
            g.create_dataset("comb_score", data=res["comb_score"])
            for k, v in res["spectra"].items():
                g.create_dataset(f"spectrum_{k}", data=v.astype(np.float32))
            g.create_dataset(
                "spectrum_coarse", data=res["coarse"].astype(np.float32), compression="lzf"
            )
            rows = [
                (p, ln["freq_hz"], ln["amplitude"], ln["significance"])
                for p in range(3)
                for ln in res["lines"][p]
            ]
            g.create_dataset("lines", data=np.array(rows, dtype=LINE_DTYPE))


def add_metrics(result: Result, analysis: dict[int, dict], labels: dict[str, str]) -> None:
    det = DEFAULT
    for apa, res in analysis.items():
        for row in adcm.summarize_planes(res["stats"], res["bad"], det):
            lab = dict(labels, apa=apa, plane=row["plane"])
            result.add_metric("adc_pedestal_mean", row["pedestal_mean"], **lab)
            result.add_metric("adc_rms_mean", row["rms_mean"], **lab)
            result.add_metric("adc_dead_channels", row["dead"], **lab)
            result.add_metric("adc_noisy_channels", row["noisy"], **lab)
            result.add_metric("adc_sticky_channels", row["sticky"], **lab)
            result.add_metric("adc_stuck_fraction_mean", row["stuck_fraction_mean"], **lab)
        for p, name in enumerate(PLANES):
            lines = res["lines"][p]
            lab = dict(labels, apa=apa, plane=name)
            result.add_metric("fft_line_count", len(lines), **lab)
            result.add_metric(
                "fft_line_max_amplitude", max((ln["amplitude"] for ln in lines), default=0.0), **lab
            )
            lo = (det.freqs() > 1e3) & (det.freqs() < 100e3)
            result.add_metric(
                "fft_lowfreq_power", float(res["spectra"]["plane"][p][lo].sum()), **lab
            )
        result.add_metric("fft_comb_channels", int(res["comb"].sum()), **dict(labels, apa=apa))


def make_products(result: Result, out: Path, stem: str, analysis: dict[int, dict]) -> None:
    det = DEFAULT
    freqs = det.freqs()
    for apa, res in analysis.items():
        st, bad = res["stats"], res["bad"]
        planes = {n: st["rms"][det.plane_slice(p)] for p, n in enumerate(PLANES)}
        peds = {n: st["median"][det.plane_slice(p)] for p, n in enumerate(PLANES)}
        f = plots.plot_histograms_with_bands(
            planes,
            adcm.REFERENCE_RMS,
            "robust RMS [ADC]",
            f"APA {apa}: channel noise",
            out / f"{stem}-apa{apa}-rms.png",
        )
        result.add_product(f, "png", f"APA {apa} noise RMS per plane", apa=apa)
        f = plots.plot_histograms_with_bands(
            peds,
            adcm.REFERENCE_PEDESTAL,
            "pedestal [ADC]",
            f"APA {apa}: pedestals",
            out / f"{stem}-apa{apa}-ped.png",
        )
        result.add_product(f, "png", f"APA {apa} pedestals per plane", apa=apa)
        board = np.column_stack(
            [
                adcm.aggregate(
                    st["rms"][det.plane_slice(p)], det.femb[det.plane_slice(p)], det.n_fembs
                )
                for p in range(3)
            ]
        )
        f = plots.plot_board_map(
            board,
            f"APA {apa}: mean RMS per FEMB and plane",
            "RMS [ADC]",
            out / f"{stem}-apa{apa}-boards.png",
        )
        result.add_product(f, "png", f"APA {apa} board map (RMS)", apa=apa)
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()

    def body(job, args, result):
        path = common.data_file(job, args)
        frac = common.event_fraction(job, args)
        out = common.output_dir(job, args)
        t0 = time.perf_counter()
        with RawFile(path, expect=FORMAT_TPC) as raw:
            positions = select_events(raw.n_events, frac)
            analysis = analyse_file(
                raw, positions, args.line_threshold, args.comb_base_khz * 1e3, args.comb_threshold
            )
            events = raw.event_numbers()[positions]
            labels = common.labels_of(job, raw.attrs)
            n_bytes = raw.bytes_read
            n_apa_events = len(positions) * len(raw.apas)
        seconds = time.perf_counter() - t0
        dest = out / common.output_name(job, "adcfft", path)
        write_output(dest, path, positions, events, analysis)
        result.add_output(dest)
        add_metrics(result, analysis, labels)
        result.add_metric("adcfft_events", len(positions), **labels)
        result.add_metric("adcfft_raw_bytes_read", n_bytes, **labels)
        result.add_metric("adcfft_seconds_per_apa_event", seconds / max(n_apa_events, 1), **labels)
        if not args.no_plots:
            make_products(result, out, common.output_name(job, "adcfft", path, ""), analysis)
        print(
            f"dqm-adcfft: {path.name}: {len(positions)} events x {len(analysis)} APAs in "
            f"{seconds:.2f} s, {n_bytes / 1e6:.1f} MB read",
            flush=True,
        )

    return common.run_stage("dqm-adcfft", parser, argv, body)


if __name__ == "__main__":
    sys.exit(main())
