"""Writing raw files and their truth sidecars (``<name>.truth.hdf5``)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from payloads.daqsim import beam, crt
from payloads.daqsim import history as hist
from payloads.daqsim.tpc import SimConfig, make_static, simulate_apa_event
from payloads.daqsim.truth import truth_path as truth_path_of
from payloads.rawio import FORMAT_BI, FORMAT_CRT, FORMAT_TPC, INDEX_DTYPE, apa_dataset, event_group

EVENT_SPACING_S = 0.25  # seconds between records in a file
SUBRUN_SECONDS = 60.0
WINDOW_S = 3.0e-3  # a record's readout window (DETECTOR.md: 6,000 ticks of 0.5 us)


@dataclass
class FileInfo:
    """What the DAQ announces about a written file."""

    path: Path
    stream: str
    run: int
    subrun: int
    timestamp: str
    events: int
    size: int
    checksum: str
    truth: Path
    timestamp_end: str = ""

    def announcement(self) -> dict:
        """The JSON body of ``POST /api/v1/files/`` (with the data range when known)."""
        out = {
            "url": self.path.resolve().as_uri(),
            "stream": self.stream,
            "run": self.run,
            "subrun": self.subrun,
            "timestamp": self.timestamp,
            "events": self.events,
            "size": self.size,
            "checksum": self.checksum,
        }
        if self.timestamp_end:
            out["data_ts_end"] = self.timestamp_end
        return out


def adler32_of(path: Path) -> str:
    """``adler32:xxxxxxxx`` of a file, read in 1 MiB blocks."""
    value = 1
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            value = zlib.adler32(block, value)
    return f"adler32:{value & 0xFFFFFFFF:08x}"


def file_name(stream: str, run: int, subrun: int) -> str:
    return f"p3s_{stream}_run{run:06d}_{subrun:04d}.h5"


def _header(
    h5: h5py.File,
    fmt: str,
    stream: str,
    run: int,
    subrun: int,
    start: datetime,
    n_events: int,
    end: datetime | None = None,
) -> None:
    h5.attrs["format"] = fmt
    h5.attrs["stream"] = stream
    h5.attrs["run"] = run
    h5.attrs["subrun"] = subrun
    h5.attrs["timestamp"] = _iso(start)
    h5.attrs["n_events"] = n_events
    # One clock: the data time range (p3s.dags.matching.derive_end reads it at announcement).
    h5.attrs["time_end"] = _iso(end or _range_end(start, n_events))


def _range_end(start: datetime, n_events: int) -> datetime:
    """The end of the last record's window."""
    return start + timedelta(seconds=max(n_events - 1, 0) * EVENT_SPACING_S + WINDOW_S)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _finish(
    path: Path,
    truth: Path,
    stream: str,
    run: int,
    subrun: int,
    start: datetime,
    n_events: int,
    end: datetime | None = None,
) -> FileInfo:
    return FileInfo(
        path=path,
        stream=stream,
        run=run,
        subrun=subrun,
        timestamp=_iso(start),
        events=n_events,
        size=path.stat().st_size,
        checksum=adler32_of(path),
        truth=truth,
        timestamp_end=_iso(end or _range_end(start, n_events)),
    )


def write_tpc_file(
    out_dir: Path,
    *,
    seed: int,
    run: int,
    subrun: int,
    n_events: int,
    apas: list[int],
    start: datetime,
    cfg: SimConfig | None = None,
    progress: tqdm | None = None,
    daq_fault_rate: float = 0.0,
    history: hist.HistoryConfig | None = None,
) -> FileInfo:
    """Write one raw TPC file and its truth sidecar.

    Parameters
    ----------
    out_dir : Path
        Folder for both files.
    seed, run, subrun : int
        Seed the randomness: same arguments, same bytes of ADC data.
    n_events : int
        Records in the file.
    apas : list of int
        APAs read out (one dataset each per event).
    start : datetime
        Time of the first record (UTC).
    cfg : SimConfig, optional
        Detector model knobs.
    progress : tqdm, optional
        Advanced by one per APA-event.
    daq_fault_rate : float
        Probability per record that one FEMB drops out: its bit in ``fembs_present`` is cleared,
        its rows are zero, and the record's ``flags`` get bit 0 (truth: ``missing_fembs``).
    history : HistoryConfig, optional
        Take the tracks (cosmics and beam particles) from the shared history of the three
        streams (``history.tpc_tracks``) instead of drawing cosmics per file.

    Returns
    -------
    FileInfo
    """
    cfg = cfg or SimConfig()
    det = cfg.det
    path = out_dir / file_name("tpc", run, subrun)
    truth_path = truth_path_of(path)
    statics = {a: make_static(cfg, seed, run, a) for a in apas}
    apa_bytes = det.n_channels * det.n_ticks * 2
    with h5py.File(path, "w") as h5, h5py.File(truth_path, "w") as th:
        _header(h5, FORMAT_TPC, "tpc", run, subrun, start, n_events)
        h5.attrs["apas"] = np.asarray(apas, dtype=np.int32)
        h5.attrs["n_channels"] = det.n_channels
        h5.attrs["n_ticks"] = det.n_ticks
        h5.attrs["tick_us"] = det.tick_us
        h5.attrs["chunking"] = "one chunk per FEMB: 128 readout rows x all ticks"
        h5.create_dataset("channel_map", data=det.readout_to_offline.astype(np.int32))
        th.attrs["config"] = json.dumps(_jsonable(asdict(cfg)))
        th.attrs["seed"] = seed
        for a, st in statics.items():
            g = th.create_group(f"apa_{a}")
            for name in (
                "pedestal",
                "noise_rms",
                "dead",
                "noisy",
                "noisy_rms",
                "sticky",
                "line_freqs",
                "line_amps",
                "line_phases",
                "comb_channels",
                "comb_freqs",
                "comb_amps",
            ):
                g.create_dataset(name, data=getattr(st, name))
        index = np.zeros(n_events, dtype=INDEX_DTYPE)
        for i in range(n_events):
            t = start + timedelta(seconds=i * EVENT_SPACING_S)
            name = event_group(i)
            grp = h5.create_group(name)
            grp.attrs["event"] = i
            grp.attrs["timestamp"] = _iso(t)
            on_beam = history is not None and hist.beam_on(history, hist.unix(t))
            grp.attrs["trigger"] = "beam" if on_beam else "random"
            present = np.full(len(apas), (1 << det.n_fembs) - 1, dtype=np.int64)
            fault_rng = np.random.default_rng([seed, run, subrun, i, 41])
            missing = None
            if fault_rng.random() < daq_fault_rate:
                missing = (int(fault_rng.integers(len(apas))), int(fault_rng.integers(det.n_fembs)))
                present[missing[0]] &= ~(1 << missing[1])
            grp.attrs["flags"] = 0 if missing is None else 1
            grp.attrs["fembs_present"] = present
            tgrp = th.create_group(name)
            tgrp.attrs["missing_fembs"] = np.array(
                [] if missing is None else [missing], dtype=np.int64
            )
            for k, a in enumerate(apas):
                rng = np.random.default_rng([seed, run, subrun, i, a, 5])
                tracks = None if history is None else hist.tpc_tracks(history, hist.unix(t), a)
                adc, truth = simulate_apa_event(cfg, statics[a], rng, tracks=tracks)
                rows = adc[det.readout_to_offline]
                if missing is not None and missing[0] == k:
                    n_f = det.channels_per_femb
                    rows[missing[1] * n_f : (missing[1] + 1) * n_f] = 0
                grp.create_dataset(
                    apa_dataset(a),
                    data=rows,
                    chunks=(det.channels_per_femb, det.n_ticks),
                )
                tg = tgrp.create_group(apa_dataset(a))
                # Charge is sparse (compresses to little); the signal is make_signal(charge).
                tg.create_dataset(
                    "charge",
                    data=truth.charge,
                    chunks=(det.n_u, det.n_ticks),
                    compression="gzip",
                    compression_opts=1,
                    shuffle=True,
                )
                tg.create_dataset("coherent", data=truth.coherent)
                tg.create_dataset("coherent_rms", data=truth.coherent_rms)
                tg.create_dataset("tracks", data=truth.tracks)
                tg.create_dataset("wires", data=truth.wires)  # charge per track and wire
                tg.create_dataset("stuck_channel", data=truth.stuck_channel)
                tg.create_dataset("stuck_tick", data=truth.stuck_tick)
                tg.create_dataset("stuck_true", data=truth.stuck_true)
                tg.create_dataset("comb_phases", data=truth.comb_phases)
                if progress is not None:
                    progress.update(1)
            index[i] = (i, name.encode(), t.timestamp(), apa_bytes * len(apas), grp.attrs["flags"])
        h5.create_dataset("index", data=index)
    return _finish(path, truth_path, "tpc", run, subrun, start, n_events)


def _write_records(
    out_dir: Path,
    stream: str,
    fmt: str,
    *,
    run: int,
    subrun: int,
    n_events: int,
    start: datetime,
    truth: dict,
    make_event: Callable[[int], dict[str, np.ndarray]],
    attrs: dict | None = None,
    progress: tqdm | None = None,
    times: list[datetime] | None = None,
    end: datetime | None = None,
) -> FileInfo:
    """Write a small-record stream (BI, CRT): one group per event holding the datasets
    ``make_event(i)`` returns, the event index, and the truth sidecar. ``times``: the records'
    times (default: every EVENT_SPACING_S from ``start``); ``end``: the end of the range."""
    path = out_dir / file_name(stream, run, subrun)
    truth_path = truth_path_of(path)
    index = np.zeros(n_events, dtype=INDEX_DTYPE)
    with h5py.File(path, "w") as h5:
        _header(h5, fmt, stream, run, subrun, start, n_events, end)
        for key, value in (attrs or {}).items():
            h5.attrs[key] = value
        for i in range(n_events):
            t = times[i] if times else start + timedelta(seconds=i * EVENT_SPACING_S)
            grp = h5.create_group(event_group(i))
            grp.attrs["event"] = i
            grp.attrs["timestamp"] = _iso(t)
            size = 0
            for name, data in make_event(i).items():
                grp.create_dataset(name, data=data)
                size += data.nbytes
            index[i] = (i, event_group(i).encode(), t.timestamp(), size, 0)
            if progress is not None:
                progress.update(1)
        h5.create_dataset("index", data=index)
    with h5py.File(truth_path, "w") as th:
        th.attrs["truth"] = json.dumps(truth)
    return _finish(path, truth_path, stream, run, subrun, start, n_events, end)


def write_bi_file(
    out_dir: Path,
    *,
    seed: int,
    run: int,
    subrun: int,
    n_events: int,
    start: datetime,
    cfg: beam.BeamConfig | None = None,
    progress: tqdm | None = None,
    history: hist.HistoryConfig | None = None,
) -> FileInfo:
    """Write one beam-instrumentation file (momenta and fibre-monitor counts) with truth.

    With ``history`` the file is the SPS supercycle holding ``start``, one record per spill
    (``history.bi_spill``: particle times, species, momenta, positions, fibre counts), and
    ``n_events`` is ignored."""
    cfg = cfg or beam.BeamConfig()
    truth = beam.beam_truth(cfg, seed, run)
    if history is not None:
        return _write_bi_cycle(
            out_dir, history, truth, run=run, subrun=subrun, start=start, progress=progress
        )

    def event(i: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([seed, run, subrun, i, 31])
        return beam.simulate_bi_event(cfg, truth, rng)

    return _write_records(
        out_dir,
        "bi",
        FORMAT_BI,
        run=run,
        subrun=subrun,
        n_events=n_events,
        start=start,
        truth=truth,
        make_event=event,
        progress=progress,
    )


def _write_bi_cycle(
    out_dir: Path,
    h: hist.HistoryConfig,
    truth: dict,
    *,
    run: int,
    subrun: int,
    start: datetime,
    progress: tqdm | None,
) -> FileInfo:
    c0 = hist.cycle_start(h, hist.unix(start))
    spills = hist.spills(h, c0, c0 + h.cycle_s - 1e-6)
    records = [hist.bi_spill(h, s0, s1, truth) for s0, s1 in spills]
    truth = dict(
        truth,
        spills=[[s0, s1] for s0, s1 in spills],
        species=list(hist.SPECIES),
        composition=[
            np.bincount(r["species"], minlength=len(hist.SPECIES)).tolist() for r in records
        ],
    )

    def as_dt(t: float) -> datetime:
        return datetime.fromtimestamp(t, UTC)

    return _write_records(
        out_dir,
        "bi",
        FORMAT_BI,
        run=run,
        subrun=subrun,
        n_events=len(records),
        start=as_dt(c0),
        truth=truth,
        make_event=lambda i: records[i],
        attrs={"spill_starts": [s0 for s0, _ in spills], "spill_ends": [s1 for _, s1 in spills]},
        progress=progress,
        times=[as_dt(s0) for s0, _ in spills],
        end=as_dt(c0 + h.cycle_s),
    )


def write_crt_file(
    out_dir: Path,
    *,
    seed: int,
    run: int,
    subrun: int,
    n_events: int,
    start: datetime,
    cfg: crt.CrtConfig | None = None,
    progress: tqdm | None = None,
    history: hist.HistoryConfig | None = None,
) -> FileInfo:
    """Write one CRT file (strip hits per record) with truth.

    With ``history`` the records hold the hits of the shared history's muons entering through
    the top (``history.crt_record``) over random hits; the truth lists the tags per record."""
    cfg = cfg or crt.CrtConfig()
    truth = crt.crt_truth(cfg, seed, run)
    tags: dict[str, list] = {}

    def event(i: int) -> dict[str, np.ndarray]:
        if history is not None:
            t = hist.unix(start) + i * EVENT_SPACING_S
            hits, tag = hist.crt_record(history, t, cfg, truth)
            tags[str(i)] = tag.tolist()
            return {"hits": hits}
        rng = np.random.default_rng([seed, run, subrun, i, 37])
        return {"hits": crt.simulate_crt_event(cfg, truth, rng)}

    attrs: dict[str, float] = {"n_modules": crt.N_MODULES, "n_strips": crt.N_STRIPS}
    if history is not None:
        truth["tags"] = tags  # filled as the records are written, before the truth is
        truth["tag_fields"] = list(hist.TAG_DTYPE.names or ())
        attrs.update(hist.crt_geometry(history), patches_z=hist.N_PATCH_Z)

    return _write_records(
        out_dir,
        "crt",
        FORMAT_CRT,
        run=run,
        subrun=subrun,
        n_events=n_events,
        start=start,
        truth=truth,
        make_event=event,
        attrs=attrs,
        progress=progress,
    )


def _jsonable(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj
