"""``dqm-adcfft``: ADC statistics, board health and localised lines from one read of the events.

Writes ``adcfft-<job>-<file>.h5`` (kind ``p3s-adcfft/1``): per APA group ``apa_<k>`` with
per-channel ``mean``, ``median``, ``rms``, ``rms_clean``, ``rms_quiet``, ``ptp``,
``stuck_fraction``, ``sticky_excess``, ``bit_occupancy``, flags ``dead``, ``noisy``, ``sticky``,
``comb`` and ``comb_score`` (attribute ``comb_base_hz``); means of ``median``, ``rms`` and
``stuck_fraction`` per ASIC (``*_by_asic``, 160), FEMB (``*_by_femb``, 20) and FEMB-plane group
(``*_by_group``, 60); spectra ``spectrum_femb`` (60 x 3001: group = FEMB x 3 + plane),
``spectrum_plane`` (3 x 3001), ``spectrum_apa``, ``spectrum_coarse`` (channels x 300, 3.3 kHz
bins); ``lines`` (plane, freq_hz, amplitude (per channel), significance, plane_amplitude,
n_channels: single lines, not comb harmonics), ``line_channels`` (line row, channel, amplitude),
``combs`` (plane, base_hz, n_harmonics); board figures ``femb_pedestal_mean``, ``femb_rms_mean``,
``femb_dead_fraction`` (20 x 3), ``asic_pedestal_shift``, ``asic_rms_ratio`` (20 x 8 x 3),
``femb_missing`` (20). SIG reads bad channels, sticky channels, comb and lines from it.

Conditions (``payloads/conditions.py``): ``bad-channels`` (known-bad channels: the ``*_new``
counts), ``channel-map`` (board of each channel) and ``bands`` (per-plane error bands of the
ASIC figures); without them the built-in defaults of ``payloads/detector.py`` apply.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import h5py
import numpy as np

from payloads import conditions
from payloads.detector import DEFAULT, PLANES, Detector
from payloads.dqm import adc as adcm
from payloads.dqm import boards as boardm
from payloads.dqm import fft as fftm
from payloads.dqm import lines as linem
from payloads.dqm import onepass
from payloads.jobio import Result, release_outputs
from payloads.rawio import FORMAT_TPC, RawFile, select_events
from payloads.stages import adcfft_products, common

KIND = "p3s-adcfft/1"
LINE_DTYPE = np.dtype(
    [
        ("plane", "i4"),
        ("freq_hz", "f8"),
        ("amplitude", "f8"),
        ("significance", "f8"),
        ("plane_amplitude", "f8"),
        ("n_channels", "i4"),
    ]
)
LINE_CHANNEL_DTYPE = np.dtype([("line", "i4"), ("channel", "i4"), ("amplitude", "f4")])
COMB_DTYPE = np.dtype([("plane", "i4"), ("base_hz", "f8"), ("n_harmonics", "i4")])


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


def analyse_apa(
    stats: dict[str, np.ndarray],
    power: np.ndarray,
    det: Detector,
    line_threshold: float = 6.0,
    comb_base_hz: float = 51.4e3,
    comb_threshold: float = 3.0,
    bands: dict | None = None,
    waves=None,
    partial: dict | None = None,
) -> dict:
    """Everything dqm-adcfft derives for one APA from its channel statistics and mean power.

    ``waves``: the events' ADC arrays (or a callable returning them), for the signal-free
    per-channel line amplitudes (:func:`payloads.dqm.lines.localise_lines`). ``partial``: the
    per-ASIC sums and coarse map of ``power`` taken with it
    (:func:`payloads.dqm.onepass.stats_and_power`).

    Returns
    -------
    dict
        ``stats``, ``bad`` masks, ``spectra``, ``lines`` (per plane: single lines, each with
        the channels and boards carrying it), ``combs`` (per plane), ``coarse``,
        ``comb_score``, ``comb``, ``comb_base_hz``, ``boards`` (:func:`boards.board_summary`).
    """
    freqs = det.freqs()
    bad = adcm.find_bad_channels(stats, det)
    excl = bad["dead"] | bad["noisy"]
    part = partial or {}
    spectra = fftm.average_spectra(power, det, exclude=excl, asic_sum=part.get("asic_sum"))
    found = linem.localise_lines(
        power,
        spectra,
        det,
        exclude=excl,
        threshold=line_threshold,
        waves=waves,
        baseline=stats["median"],
        noise=adcm.noise_rms(stats, bad["sticky"]),
    )
    combs, singles = [], []
    for p in range(3):
        c, s_ = linem.find_combs(found[p], freqs[1] - freqs[0])
        combs.append(c)
        singles.append(s_)
    bases = [c["base_hz"] for cs in combs for c in cs]
    base = float(np.median(bases)) if bases else comb_base_hz
    score = fftm.comb_score(power, freqs, base_hz=base)
    comb = (score > comb_threshold) & ~bad["dead"]
    return {
        "stats": stats,
        "bad": bad,
        "spectra": spectra,
        "lines": singles,
        "combs": combs,
        "coarse": part["coarse"] if "coarse" in part else fftm.coarse_spectra(power),
        "comb_score": score,
        "comb": comb,
        "comb_base_hz": base,
        "boards": boardm.board_summary(stats, bad, det, bands=bands),
    }


def analyse_event(adc: np.ndarray, det: Detector = DEFAULT, workers: int = 1, **options) -> dict:
    """:func:`analyse_apa` of one APA-event in memory (``adc`` int16 ``(n_channels, n_ticks)``):
    statistics, power spectrum, and everything derived, the event its own line-fit data.
    ``options`` are :func:`analyse_apa`'s."""
    codes, power, partial = onepass.stats_and_power(adc, det, workers)
    stats = adcm.compute_channel_stats(adc, codes=codes)
    return analyse_apa(stats, power, det, waves=[adc], partial=partial, **options)


def analyse_file(
    raw: RawFile,
    positions: np.ndarray,
    line_threshold: float = 6.0,
    comb_base_hz: float = 51.4e3,
    comb_threshold: float = 3.0,
    workers: int = 1,
    det: Detector | None = None,
    bands: dict | None = None,
    fit_events: int = 3,
) -> dict[int, dict]:
    """ADC statistics, spectra, lines and board health of the chosen events, per APA
    (:func:`analyse_apa` on the statistics averaged over events and the mean power; the lines'
    signal-free amplitudes are fitted on the first ``fit_events`` events, kept in memory:
    30.7 MB each)."""
    det = det or raw.det
    out: dict[int, dict] = {}
    buf = np.empty((det.n_channels, det.n_ticks), dtype=np.int16)
    work = np.empty((64, det.n_ticks), dtype=np.float32)  # compute_power's block
    pbuf = np.empty((det.n_channels, det.n_freqs), dtype=np.float32)
    for apa in raw.apas:
        per_event = []
        power_sum = np.zeros((det.n_channels, det.n_freqs), dtype=np.float32)
        part_sum: dict[str, np.ndarray] | None = {}
        kept: list[np.ndarray] = []  # events for the lines' signal-free fit
        for i, pos in enumerate(positions):
            adc = raw.read_apa(int(pos), apa, out=buf)
            codes, p, part = onepass.stats_and_power(adc, det, workers, out=pbuf, work=work)
            per_event.append(adcm.compute_channel_stats(adc, codes=codes))
            power_sum += p
            if part is None or part_sum is None:
                part_sum = None
            else:
                for k, v in part.items():
                    part_sum[k] = part_sum[k] + v if k in part_sum else v

            if len(positions) == 1:
                kept = [adc]  # no copy: nothing overwrites it before analyse_apa
            elif i < fit_events:
                kept.append(adc.copy())
        power = power_sum / len(positions)
        if part_sum:
            part_sum = {k: v / np.float32(len(positions)) for k, v in part_sum.items()}
        out[apa] = analyse_apa(
            adcm.combine_stats(per_event),
            power,
            det,
            line_threshold,
            comb_base_hz,
            comb_threshold,
            bands,
            waves=kept,
            partial=part_sum or None,
        )
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
            g.attrs["comb_base_hz"] = res["comb_base_hz"]
            for k in ("femb", "plane", "apa"):
                g.create_dataset(f"spectrum_{k}", data=res["spectra"][k].astype(np.float32))
            g.create_dataset(
                "spectrum_coarse", data=res["coarse"].astype(np.float32), compression="lzf"
            )
            write_lines(g, res)
            b = res["boards"]
            for key in ("pedestal_mean", "rms_mean", "dead_fraction"):
                g.create_dataset(f"femb_{key}", data=b["femb"][key])
            for key in ("pedestal_shift", "rms_ratio"):
                g.create_dataset(f"asic_{key}", data=b["asic"][key])
            g.create_dataset("femb_missing", data=b["femb_missing"])


def write_lines(g: h5py.Group, res: dict) -> None:
    """The ``lines``, ``line_channels`` and ``combs`` datasets of one APA group."""
    rows: list[tuple] = []
    chans: list[tuple[int, int, float]] = []
    for p in range(3):
        for ln in res["lines"][p]:
            rows.append(
                (
                    p,
                    ln["freq_hz"],
                    ln["amplitude"],
                    ln["significance"],
                    ln["plane_amplitude"],
                    len(ln["channels"]),
                )
            )
            chans.extend(
                (len(rows) - 1, int(c), float(a))
                for c, a in zip(ln["channels"], ln["channel_amplitudes"], strict=True)
            )
    g.create_dataset("lines", data=np.array(rows, dtype=LINE_DTYPE))
    g.create_dataset("line_channels", data=np.array(chans, dtype=LINE_CHANNEL_DTYPE))
    combs = [(p, c["base_hz"], len(c["harmonics"])) for p in range(3) for c in res["combs"][p]]
    g.create_dataset("combs", data=np.array(combs, dtype=COMB_DTYPE))


def add_metrics(
    result: Result,
    analysis: dict[int, dict],
    labels: dict[str, str],
    det: Detector = DEFAULT,
    known: dict | None = None,
) -> None:
    """Plane, board and ASIC metrics (INTERFACES.md section 1; docs/payloads.md says what each
    measures). ``known`` is the ``bad-channels`` condition (channels beyond it are *new*)."""
    freqs = det.freqs()
    lo = (freqs > 1e3) & (freqs < 100e3)
    for apa, res in analysis.items():
        bad = res["bad"]
        kb = conditions.known_bad(known, apa, det.n_channels)
        for row in adcm.summarize_planes(res["stats"], bad, det):
            lab = dict(labels, apa=apa, plane=row["plane"])
            result.add_metric("adc_pedestal_mean", row["pedestal_mean"], **lab)
            result.add_metric("adc_rms_mean", row["rms_mean"], **lab)
            result.add_metric("adc_dead_channels", row["dead"], **lab)
            result.add_metric("adc_noisy_channels", row["noisy"], **lab)
            result.add_metric("adc_sticky_channels", row["sticky"], **lab)
            result.add_metric("adc_stuck_fraction_mean", row["stuck_fraction_mean"], **lab)
            sl = det.plane_slice(row["plane"])
            new_dead = bad["dead"][sl] & ~kb["any"][sl]
            new_noisy = bad["noisy"][sl] & ~kb["any"][sl]
            result.add_metric("adc_dead_channels_new", int(new_dead.sum()), **lab)
            result.add_metric("adc_noisy_channels_new", int(new_noisy.sum()), **lab)
        add_board_metrics(result, res["boards"], labels, apa, det)
        for p, name in enumerate(PLANES):
            found = res["lines"][p] + [h for c in res["combs"][p] for h in c["harmonics"]]
            lab = dict(labels, apa=apa, plane=name)
            result.add_metric("fft_line_count", len(res["lines"][p]), **lab)
            result.add_metric(
                "fft_line_max_amplitude",
                max((ln["plane_amplitude"] for ln in found), default=0.0),
                **dict(lab, scope="plane"),
            )
            for f in range(det.n_fembs):
                amp = max((ln["femb_amplitudes"].get(f, 0.0) for ln in found), default=0.0)
                result.add_metric("fft_line_max_amplitude", amp, **dict(lab, femb=f))
            result.add_metric(
                "fft_lowfreq_power", float(res["spectra"]["plane"][p][lo].sum()), **lab
            )
        result.add_metric("fft_comb_channels", int(res["comb"].sum()), **dict(labels, apa=apa))
        result.add_metric("adc_board_faults", len(res["boards"]["faults"]), **dict(labels, apa=apa))


def add_board_metrics(
    result: Result, b: dict, labels: dict[str, str], apa: int, det: Detector
) -> None:
    """Per-FEMB and per-ASIC figures of one APA; figures without a value (NaN: the ASICs of a
    dead board) are left out here rather than one stderr line each in the stage shell."""

    def add(name: str, value: float, **lab) -> None:
        if np.isfinite(value):
            result.add_metric(name, value, **lab)

    for f in range(det.n_fembs):
        result.add_metric("adc_femb_missing", int(b["femb_missing"][f]), **labels, apa=apa, femb=f)
        for p, name in enumerate(PLANES):
            lab = dict(labels, apa=apa, plane=name, femb=f)
            add("adc_pedestal_mean", b["femb"]["pedestal_mean"][f, p], **lab)
            add("adc_rms_mean", b["femb"]["rms_mean"][f, p], **lab)
            add("adc_dead_fraction", b["femb"]["dead_fraction"][f, p], **lab)
            for a in range(det.asics_per_femb):
                la = dict(lab, asic=a)
                add("adc_pedestal_mean", b["asic"]["pedestal_mean"][f, a, p], **la)
                add("adc_rms_mean", b["asic"]["rms_mean"][f, a, p], **la)
                add("adc_asic_pedestal_shift", b["asic"]["pedestal_shift"][f, a, p], **la)
                add("adc_asic_rms_ratio", b["asic"]["rms_ratio"][f, a, p], **la)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()

    def body(job, args, result):
        path = common.data_file(job, args)
        frac = common.event_fraction(job, args)
        out = common.output_dir(job, args)
        det = conditions.detector_with_map(conditions.load_condition(job, "channel-map"), DEFAULT)
        known = conditions.load_condition(job, "bad-channels")
        bands = conditions.load_condition(job, "bands")
        t0 = time.perf_counter()
        with RawFile(path, expect=FORMAT_TPC) as raw:
            common.apply_split(raw, args)
            positions = select_events(raw.n_events, frac)
            analysis = analyse_file(
                raw,
                positions,
                args.line_threshold,
                args.comb_base_khz * 1e3,
                args.comb_threshold,
                det=det,
                bands=bands,
            )
            events = raw.event_numbers()[positions]
            labels = common.labels_of(job, raw.attrs)
            n_bytes = raw.bytes_read
            n_apa_events = len(positions) * len(raw.apas)
        seconds = time.perf_counter() - t0
        dest = out / common.output_name(job, "adcfft", path)
        write_output(dest, path, positions, events, analysis)
        result.add_output(dest)
        release_outputs(result)  # SIG starts now; the tables and plots follow
        add_metrics(result, analysis, labels, det, known)
        result.add_metric("adcfft_events", len(positions), **labels)
        result.add_metric("adcfft_raw_bytes_read", n_bytes, **labels)
        result.add_metric("adcfft_seconds_per_apa_event", seconds / max(n_apa_events, 1), **labels)
        stem = common.output_name(job, "adcfft", path, "")
        adcfft_products.add_tables(result, out, stem, analysis, det)
        adcfft_products.add_histograms(result, out, stem, analysis, det)
        if not args.no_plots:
            adcfft_products.make_plots(result, out, stem, analysis, det)
        print(
            f"dqm-adcfft: {path.name}: {len(positions)} events x {len(analysis)} APAs in "
            f"{seconds:.2f} s, {n_bytes / 1e6:.1f} MB read",
            flush=True,
        )

    return common.run_stage("dqm-adcfft", parser, argv, body)


if __name__ == "__main__":
    sys.exit(main())
