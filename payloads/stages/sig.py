"""``dqm-sig``: signal processing of the chosen events (noise filtering, deconvolution, ROIs).

Uses the bad, sticky and comb channels and the narrow lines of a parent ``dqm-adcfft`` output
when there is one (else finds them itself from the same events). Writes ``sig-<job>-<file>.h5``
(kind ``p3s-sig/1``): per event group ``event_<n>/apa_<k>`` with ``deconvolved`` (float32,
electrons per tick, zero outside ROIs), ``filtered`` (int16 ADC, baseline 0, noise filtered; first ``--keep-filtered`` events only),
``rms_raw``, ``rms_filtered``, ``rms_deconvolved`` per channel and the ``bad`` channel mask;
attributes ``mended``, ``induction_scale`` (U, V, X factors applied to the charge) and
``time_shift`` (U, V, X ticks subtracted from the times).
"""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path

import h5py
import numpy as np

from payloads import plots
from payloads.detector import DEFAULT, PLANES, Detector
from payloads.dqm import adc as adcm
from payloads.dqm import fft as fftm
from payloads.dqm import lines as linem
from payloads.dqm.sig import SigConfig, SigResult, process_apa
from payloads.errors import InputError
from payloads.jobio import Result, release_outputs
from payloads.rawio import FORMAT_TPC, RawFile, apa_dataset, event_group, select_events
from payloads.stages import adcfft, common

KIND = "p3s-sig/1"


def build_parser():
    p = common.make_parser("dqm-sig", __doc__.splitlines()[0])
    p.add_argument("--comb-base-khz", type=float, default=51.4, help="harmonic comb base frequency")
    p.add_argument(
        "--comb-max-khz", type=float, default=600.0, help="highest comb harmonic notched"
    )
    p.add_argument(
        "--keep-filtered",
        type=int,
        default=1,
        help="store the noise-filtered waveforms of this many events (deconvolved: all)",
    )
    p.add_argument("--no-plots", action="store_true", help="metrics and outputs only")
    return p


def channel_info_from_adcfft(path: Path, apa: int) -> dict:
    """Bad/sticky/comb channels and lines of one APA from a ``dqm-adcfft`` output.

    ``lines`` (plane -> frequencies) holds the lines notched plane-wide: those an older output
    gives without their channels; ``line_channels`` (channel -> frequencies) the others, on
    the boards that carry them (:func:`board_notches`).
    """
    with h5py.File(path, "r") as h5:
        if f"apa_{apa}" not in h5:
            raise InputError(f"parent output {path} has no group apa_{apa}")
        g = h5[f"apa_{apa}"]
        lines = g["lines"][()]
        carried = g["line_channels"][()] if "line_channels" in g else None
        found = [
            [
                {
                    "freq_hz": float(ln["freq_hz"]),
                    "channels": None
                    if carried is None
                    else carried["channel"][carried["line"] == i],
                }
                for i, ln in enumerate(lines)
                if ln["plane"] == p
            ]
            for p in range(3)
        ]
        return {
            "bad": g["dead"][()] | g["noisy"][()],
            "sticky": g["sticky"][()],
            "comb": g["comb"][()],
            "comb_base_hz": float(g.attrs.get("comb_base_hz", 0.0)) or None,
            **board_notches(found, DEFAULT),
        }


def channel_info_from_data(adc: np.ndarray, det: Detector) -> dict:
    """The same information found directly from one APA-event (lines localised to their
    channels and boards as ``dqm-adcfft`` does, :func:`payloads.dqm.lines.localise_lines`)."""
    stats = adcm.compute_channel_stats(adc)
    bad = adcm.find_bad_channels(stats, det)
    excl = bad["dead"] | bad["noisy"]
    power = fftm.compute_power(adc)
    spectra = fftm.average_spectra(power, det, exclude=excl)
    freqs = det.freqs()
    found = linem.localise_lines(
        power,
        spectra,
        det,
        exclude=excl,
        waves=[adc],
        baseline=stats["median"],
        noise=adcm.noise_rms(stats, bad["sticky"]),
    )
    singles = [linem.find_combs(found[p], freqs[1] - freqs[0])[1] for p in range(3)]
    return {
        "bad": excl,
        "sticky": bad["sticky"],
        "comb": (fftm.comb_score(power, freqs) > 3.0) & ~bad["dead"],
        **board_notches(singles, det),
    }


def board_notches(lines: list[list[dict]], det: Detector, share: float = 0.25) -> dict:
    """Where each line is notched: on the FEMB-plane groups that carry it, not plane-wide.

    A group carries the line when at least ``share`` of its channels were reported with it
    (the line finder finds >= 95 % of the carrying channels, so the group's other channels get
    the notch too); a channel reported alone keeps its own notch. A line given without
    channels (``channels`` None) is notched plane-wide. Returns ``lines`` (plane ->
    frequencies, plane-wide) and ``line_channels`` (channel -> frequencies).
    """
    plane_wide: dict[int, list[float]] = {p: [] for p in range(3)}
    per_channel: dict[int, list[float]] = {}
    for p in range(3):
        groups = det.group_channels(p)  # (n_fembs, n_per_group)
        for ln in lines[p]:
            chans = ln.get("channels")
            if chans is None:
                plane_wide[p].append(float(ln["freq_hz"]))
                continue
            chans = np.asarray(chans, dtype=int)
            hit = np.isin(groups, chans)
            full = groups[hit.mean(axis=1) >= share].ravel()
            for ch in np.union1d(full, chans):
                per_channel.setdefault(int(ch), []).append(float(ln["freq_hz"]))
    return {
        "lines": {p: np.asarray(f, dtype=float) for p, f in plane_wide.items()},
        "line_channels": {ch: np.asarray(f) for ch, f in per_channel.items()},
    }


def comb_notches(comb: np.ndarray, base_hz: float, max_hz: float) -> dict[int, np.ndarray]:
    harmonics = np.arange(1, int(max_hz // base_hz) + 1) * base_hz
    return {int(ch): harmonics for ch in np.flatnonzero(comb)}


def channel_notches(
    ci: dict, base_hz: float = 51.4e3, max_hz: float = 600e3
) -> dict[int, np.ndarray]:
    """Per-channel notches of a channel-info dict: the comb's harmonics on comb channels and
    the lines on the boards that carry them (``line_channels``)."""
    out = comb_notches(ci["comb"], ci.get("comb_base_hz") or base_hz, max_hz)
    for ch, f in ci.get("line_channels", {}).items():
        out[ch] = np.union1d(out.get(ch, np.zeros(0)), f)
    return out


def write_event(h5: h5py.File, event: int, apa: int, res: SigResult, filtered: bool) -> None:
    """One APA-event's outputs; the (bulky, noise-like) filtered waveform only when asked."""
    g = h5.require_group(event_group(event)).create_group(apa_dataset(apa))
    n_t = res.deconvolved.shape[1]
    g.create_dataset("deconvolved", data=res.deconvolved, chunks=(128, n_t), compression="lzf")
    if filtered:
        g.create_dataset(
            "filtered",
            data=np.clip(np.rint(res.filtered), -32768, 32767).astype(np.int16),
            chunks=(128, n_t),
            compression="lzf",
        )
    for name in ("rms_raw", "rms_filtered", "rms_deconvolved", "bad"):
        g.create_dataset(name, data=getattr(res, name))
    g.attrs["mended"] = res.mended
    g.attrs["induction_scale"] = res.induction_scale  # U, V, X factors applied to the charge
    g.attrs["time_shift"] = res.time_shift  # U, V, X ticks subtracted from the times


def summarize(res: SigResult, det: Detector) -> list[dict]:
    rows = []
    for p, name in enumerate(PLANES):
        sl = det.plane_slice(p)
        live = ~res.bad[sl]
        rows.append(
            {
                "plane": name,
                "rms_raw": float(np.mean(res.rms_raw[sl][live])),
                "rms_filtered": float(np.mean(res.rms_filtered[sl][live])),
                "coherent_rms": float(np.sqrt(np.mean(res.common[p::3] ** 2))),
                "roi_fraction": float(res.roi[sl].mean()),
                "induction_scale": float(res.induction_scale[p]),
                "time_shift": float(res.time_shift[p]),
            }
        )
    return rows


def display_data(
    event: int, apa: int, adc: np.ndarray, res: SigResult, det: Detector
) -> tuple[int, int, dict[str, dict[str, plots.Pooled]], np.ndarray]:
    """What the displays of one APA-event need, pooled for drawing later (a few MB, where
    the full images are about 180 MB an APA): per plane its raw, filtered and deconvolved
    panels, and the collection image of the interactive display."""
    planes = {}
    for p, name in enumerate(PLANES):
        sl = det.plane_slice(p)
        raw = adc[sl].astype(np.float32)
        raw -= np.median(raw[:, ::4], axis=1, keepdims=True)
        planes[name] = plots.pool_panels(
            {
                f"raw (baseline subtracted) [ADC], plane {name.upper()}": raw,
                "noise filtered [ADC]": res.filtered[sl],
                "deconvolved, in ROIs [electrons/tick]": res.deconvolved[sl],
            }
        )
    img = res.deconvolved[det.plane_slice(2)]
    small = img.reshape(img.shape[0] // 2, 2, img.shape[1] // 8, 8).max(axis=(1, 3))
    return event, apa, planes, small


def display_products(
    result: Result,
    out: Path,
    stem: str,
    data: tuple[int, int, dict[str, dict[str, plots.Pooled]], np.ndarray],
    det: Detector,
) -> None:
    """The event displays of one APA-event (:func:`display_data`): a PNG per plane and the
    interactive collection image."""
    event, apa, planes, small = data
    for name, panels in planes.items():
        f = plots.plot_event_display(
            panels,
            f"event {event} APA {apa} plane {name.upper()}",
            out / f"{stem}-ev{event}-apa{apa}-{name}.png",
        )
        result.add_product(
            f,
            "png",
            f"event {event} APA {apa} plane {name.upper()}: raw and processed",
            apa=apa,
            plane=name,
        )
    shape = det.plane_slice(2)
    fig = plots.bokeh_image(
        small,
        f"event {event} APA {apa}: deconvolved collection",
        "collection channel",
        "tick",
        dw=shape.stop - shape.start,
        dh=small.shape[1] * 8,
    )
    f = plots.save_bokeh(fig, out / f"{stem}-ev{event}-apa{apa}-x.json")
    result.add_product(
        f,
        "bokeh",
        f"event {event} APA {apa} deconvolved collection (interactive)",
        apa=apa,
        plane="x",
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()

    def body(job, args, result):
        det = DEFAULT
        path = common.data_file(job, args)
        frac = common.event_fraction(job, args)
        out = common.output_dir(job, args)
        parent = common.find_parent_output(job, adcfft.KIND)
        cfg = SigConfig()
        dest = out / common.output_name(job, "sig", path)
        stem = common.output_name(job, "sig", path, "")
        t0 = time.perf_counter()
        rows: dict[tuple[int, str], list[dict]] = {}
        mended: dict[int, int] = {}
        busy = 0.0  # seconds inside process_apa
        displays = []  # drawn once the output is released
        with RawFile(path, expect=FORMAT_TPC) as raw, h5py.File(dest, "w") as h5:
            common.apply_split(raw, args)
            positions = select_events(raw.n_events, frac)
            events = raw.event_numbers()[positions]
            labels = common.labels_of(job, raw.attrs)
            h5.attrs["kind"] = KIND
            h5.attrs["source"] = str(path)
            h5.attrs["events"] = events
            h5.attrs["apas"] = np.asarray(raw.apas)
            h5.attrs["channel_info"] = "parent dqm-adcfft" if parent else "own"
            info: dict[int, dict] = {}
            for k, pos in enumerate(positions):
                for apa in raw.apas:
                    adc = raw.read_apa(int(pos), apa)
                    if apa not in info:
                        info[apa] = (
                            channel_info_from_adcfft(
                                common.find_parent_output(job, adcfft.KIND, f"apa_{apa}") or parent,
                                apa,
                            )
                            if parent
                            else channel_info_from_data(adc, det)
                        )
                    ci = info[apa]
                    t1 = time.perf_counter()
                    res = process_apa(
                        adc,
                        det,
                        cfg,
                        sticky=ci["sticky"],
                        bad=ci["bad"],
                        notches=ci["lines"],
                        extra_notches=channel_notches(
                            ci, args.comb_base_khz * 1e3, args.comb_max_khz * 1e3
                        ),
                    )
                    busy += time.perf_counter() - t1
                    write_event(h5, int(events[k]), apa, res, filtered=k < args.keep_filtered)
                    mended[apa] = mended.get(apa, 0) + res.mended
                    for row in summarize(res, det):
                        rows.setdefault((apa, row["plane"]), []).append(row)
                    if k == 0 and not args.no_plots:
                        if displays and callable(displays[-1]):  # the one before: pool it now
                            displays[-1] = displays[-1]()
                        # Pooled only when the next one comes, or after the release: the last
                        # APA-event's arrays are held anyway until then.
                        displays.append(partial(display_data, int(events[k]), apa, adc, res, det))
            n_apa_events = len(positions) * len(raw.apas)
            n_bytes = raw.bytes_read
        seconds = time.perf_counter() - t0
        result.add_output(dest)
        release_outputs(result)  # RECO and Vis start now; the displays follow
        for data in displays:
            display_products(result, out, stem, data() if callable(data) else data, det)
        for (apa, plane), rs in rows.items():
            lab = dict(labels, apa=apa, plane=plane)
            for key in ("rms_raw", "rms_filtered", "coherent_rms", "roi_fraction"):
                result.add_metric(f"sig_{key}", float(np.mean([r[key] for r in rs])), **lab)
            if plane != "x":
                scales = [r["induction_scale"] for r in rs]
                result.add_metric("sig_induction_scale", float(np.median(scales)), **lab)
                shifts = [r["time_shift"] for r in rs]
                result.add_metric("sig_time_shift", float(np.median(shifts)), **lab)
        for apa, n in mended.items():
            result.add_metric("sig_mended_samples", n / len(positions), **dict(labels, apa=apa))
        for apa, ci in info.items():
            result.add_metric(
                "sig_line_notch_channels", len(ci["line_channels"]), **dict(labels, apa=apa)
            )
        result.add_metric("sig_events", len(positions), **labels)
        result.add_metric("sig_raw_bytes_read", n_bytes, **labels)
        result.add_metric("sig_seconds_per_apa_event", busy / max(n_apa_events, 1), **labels)
        print(
            f"dqm-sig: {path.name}: {len(positions)} events x {len(info)} APAs in {seconds:.2f} s",
            flush=True,
        )

    return common.run_stage("dqm-sig", parser, argv, body)


if __name__ == "__main__":
    sys.exit(main())
