"""``dqm-daq``: metadata only - records, timestamps, sizes, flags, boards present, completeness.

Never reads ADC data: dataset shapes come from the HDF5 headers and completeness from the
chunk index (every chunk's offset + size must lie inside the file), so a truncated file is
caught here at the cost of a few kilobytes of reading.
"""

from __future__ import annotations

import sys

import h5py
import numpy as np

from payloads import plots
from payloads.detector import DEFAULT
from payloads.errors import RawFileError
from payloads.rawio import FORMAT_BI, FORMAT_CRT, FORMAT_TPC, RawFile, apa_dataset
from payloads.stages import common

STREAM_FORMATS = {"tpc": FORMAT_TPC, "bi": FORMAT_BI, "crt": FORMAT_CRT}


def build_parser():
    p = common.make_parser("dqm-daq", __doc__.splitlines()[0])
    p.add_argument(
        "--stream",
        choices=sorted(STREAM_FORMATS),
        default=None,
        help="expected stream (default: the job's file stream, else tpc)",
    )
    p.add_argument("--no-plots", action="store_true")
    return p


def check_dataset_complete(ds: h5py.Dataset, file_size: int) -> int:
    """Number of chunks of ``ds`` missing or lying (partly) beyond the end of the file."""
    if ds.chunks is None:
        off = ds.id.get_offset()
        return int(off is None or off + ds.id.get_storage_size() > file_size)
    n_expected = int(np.prod([-(-s // c) for s, c in zip(ds.shape, ds.chunks, strict=True)]))
    bad = n_expected - ds.id.get_num_chunks()
    for i in range(ds.id.get_num_chunks()):
        info = ds.id.get_chunk_info(i)
        if info.byte_offset is None or info.byte_offset + info.size > file_size:
            bad += 1
    return bad


def inspect_tpc(raw: RawFile) -> dict:
    """Per-event metadata of a TPC file: sizes, flags, missing FEMBs and broken chunks."""
    det = raw.det
    size = raw.size
    rows = []
    for pos in range(raw.n_events):
        grp = raw.group(pos)
        attrs = raw.event_attrs(pos)
        present = np.atleast_1d(attrs.get("fembs_present", [])).astype(np.int64)
        missing_fembs = sum(
            det.n_fembs - bin(int(m) & ((1 << det.n_fembs) - 1)).count("1") for m in present
        )
        missing_ds, broken = 0, 0
        for apa in raw.apas:
            name = apa_dataset(apa)
            if name not in grp:
                missing_ds += 1
                continue
            ds = grp[name]
            if ds.shape != (det.n_channels, det.n_ticks) or ds.dtype != np.int16:
                raise RawFileError(
                    f"raw file {raw.path}: dataset {grp.name}/{name} has shape "
                    f"{ds.shape} and type {ds.dtype}, expected "
                    f"{(det.n_channels, det.n_ticks)} int16"
                )
            broken += check_dataset_complete(ds, size)
        rows.append(
            (
                int(raw.index["event"][pos]),
                float(raw.index["timestamp"][pos]),
                int(raw.index["size"][pos]),
                int(attrs.get("flags", 0)),
                missing_fembs,
                missing_ds,
                broken,
            )
        )
    return {"rows": np.array(rows, dtype=float).reshape(-1, 7)}


def inspect_other(raw: RawFile) -> dict:
    rows = []
    for pos in range(raw.n_events):
        raw.group(pos)
        rows.append(
            (
                int(raw.index["event"][pos]),
                float(raw.index["timestamp"][pos]),
                int(raw.index["size"][pos]),
                int(raw.index["flags"][pos]),
                0,
                0,
                0,
            )
        )
    return {"rows": np.array(rows, dtype=float).reshape(-1, 7)}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()

    def body(job, args, result):
        path = common.data_file(job, args)
        out = common.output_dir(job, args)
        stream = args.stream or job.file.get("stream") or "tpc"
        if stream not in STREAM_FORMATS:
            raise RawFileError(
                f"dqm-daq: unknown stream {stream!r}; expected one of {sorted(STREAM_FORMATS)}"
            )
        with RawFile(path, expect=STREAM_FORMATS[stream], det=DEFAULT) as raw:
            info = inspect_tpc(raw) if stream == "tpc" else inspect_other(raw)
            labels = common.labels_of(job, raw.attrs)
            n_bytes = raw.bytes_read
            file_size = raw.size
            n_apas = len(raw.apas) if stream == "tpc" else 0
        rows = info["rows"]
        n = rows.shape[0]
        span = float(rows[:, 1].max() - rows[:, 1].min()) if n > 1 else 0.0
        result.add_metric("daq_events", n, **labels)
        result.add_metric("daq_file_size_mb", file_size / 1e6, **labels)
        result.add_metric("daq_event_rate_hz", (n - 1) / span if span > 0 else 0.0, **labels)
        result.add_metric(
            "daq_error_flags", int(np.count_nonzero(rows[:, 3])) if n else 0, **labels
        )
        result.add_metric("daq_bytes_read", n_bytes, **labels)
        if stream == "tpc":
            result.add_metric("daq_apas", n_apas, **labels)
            result.add_metric("daq_missing_fembs", rows[:, 4].sum(), **labels)
            result.add_metric("daq_missing_datasets", rows[:, 5].sum(), **labels)
            result.add_metric("daq_incomplete_chunks", rows[:, 6].sum(), **labels)
            if rows[:, 5].sum() or rows[:, 6].sum():
                raise RawFileError(
                    f"raw file {path}: {int(rows[:, 5].sum())} APA datasets missing and "
                    f"{int(rows[:, 6].sum())} data chunks missing or beyond the end of "
                    "the file (truncated?)"
                )
        if not args.no_plots and n:
            stem = common.output_name(job, "daq", path, "")
            f = plots.plot_series(
                rows[:, 0],
                {"record size [MB]": rows[:, 2] / 1e6},
                "record",
                "size [MB]",
                f"{path.name}: record sizes",
                out / f"{stem}-sizes.png",
            )
            result.add_product(f, "png", "record sizes", stream=stream)
            fig = plots.bokeh_scatter(
                rows[:, 0],
                rows[:, 1] - rows[0, 1],
                f"{path.name}: record times",
                "record",
                "seconds since the first record",
            )
            f = plots.save_bokeh(fig, out / f"{stem}-times.json")
            result.add_product(f, "bokeh", "record timestamps (interactive)", stream=stream)
        print(f"dqm-daq: {path.name}: {n} records, {n_bytes} bytes of metadata read", flush=True)

    return common.run_stage("dqm-daq", parser, argv, body)


if __name__ == "__main__":
    sys.exit(main())
