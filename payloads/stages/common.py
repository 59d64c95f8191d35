"""What every stage shell shares: argument parsing, the job contract, errors, outputs."""

from __future__ import annotations

import argparse
import math
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import h5py

import storage
from payloads.errors import InputError, PayloadError
from payloads.jobio import JobSpec, Result, load_job, url_to_path, write_result


def make_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A parser with the options every stage accepts (all optional under a pilot)."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument(
        "--input",
        default=None,
        help="raw data file (default: the job's first input or its file url)",
    )
    p.add_argument(
        "--event-fraction",
        type=float,
        default=None,
        help="fraction of events to process (default: the job's event_fraction)",
    )
    p.add_argument("--output-dir", default=None, help="where to write outputs (default: the job's)")
    p.add_argument(
        "--split",
        default=None,
        metavar="apa:K/N|events:K/N",
        help="process only share K of N of the file: APAs apas[K::N], or the K-th of N "
        "contiguous event ranges (set by the server for a split stage, p3s.dags.split)",
    )
    return p


class EmptyShare(Exception):
    """This part of a split stage has nothing to do (more parts than APAs or events)."""


def apply_split(raw, args: argparse.Namespace) -> None:
    """Narrow an open raw file to this job's share (``--split``): its APA list, or its event
    index (every event access goes through the index). Raises :class:`EmptyShare` when the
    share is empty; :func:`run_stage` then succeeds with no output."""
    if not getattr(args, "split", None):
        return
    by, k, n = parse_split(args.split)
    if by == "apa":
        raw.apas = list(raw.apas)[k::n]
        if not raw.apas:
            raise EmptyShare(f"APA share {k}/{n} of {raw.path.name} is empty")
    else:
        total = int(raw.index.size)
        lo, hi = total * k // n, total * (k + 1) // n
        raw.index = raw.index[lo:hi]
        if hi <= lo:
            raise EmptyShare(f"event share {k}/{n} of {raw.path.name} ({total} events) is empty")


def parse_split(text: str) -> tuple[str, int, int]:
    by, _, share = text.partition(":")
    k, _, n = share.partition("/")
    if by not in ("apa", "events") or not (k.isdigit() and n.isdigit()) or not 0 <= int(k) < int(n):
        raise InputError(f"--split {text!r}: expected apa:K/N or events:K/N with 0 <= K < N")
    return by, int(k), int(n)


def run_stage(
    prog: str,
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    body: Callable[[JobSpec, argparse.Namespace, Result], None],
) -> int:
    """Parse arguments, load the job, run ``body``, write the result; map errors to exit codes.

    Exit 0: done. Exit 2: a :class:`PayloadError` (bad input: message names what is wrong).
    Exit 1: an unexpected error (traceback, then a one-line summary last).
    """
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        job = load_job()
        result = Result()
        try:
            body(job, args, result)
        except EmptyShare as exc:
            result = Result()
            print(f"{prog}: {exc}: nothing to do", flush=True)
        drop_non_finite(prog, result)
        write_result(result)
        return 0
    except PayloadError as exc:
        print(f"{prog}: {exc}", file=sys.stderr, flush=True)
        return 2
    except Exception as exc:  # noqa: BLE001 - the pilot needs a message, not a crash dump only
        traceback.print_exc()
        print(f"{prog}: unexpected {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1


def drop_non_finite(prog: str, result: Result) -> None:
    """Leave out metrics whose value is NaN or infinite (not JSON; the server would refuse the
    report), saying so on stderr."""
    kept = [m for m in result.metrics if math.isfinite(m["value"])]
    for m in result.metrics:
        if not math.isfinite(m["value"]):
            print(
                f"{prog}: metric {m['name']} {m['labels']} is {m['value']}; not reported",
                file=sys.stderr,
            )
    result.metrics = kept


def data_file(job: JobSpec, args: argparse.Namespace) -> Path | storage.Location:
    """The raw data file of the job: ``--input``, else ``inputs[0]``, else ``file.url``.

    A local path for ``file://`` URLs and plain paths; a :class:`storage.Location` for the
    URLs read over the network (``root://``, ``http(s)://``), which :class:`RawFile` opens."""
    url = args.input or (job.inputs[0] if job.inputs else None) or job.file.get("url")
    if not url:
        raise InputError("no input file: the job has no inputs and no file url (use --input)")
    try:
        return storage.location(url)
    except storage.UnsupportedScheme as exc:
        raise InputError(str(exc)) from exc


def event_fraction(job: JobSpec, args: argparse.Namespace) -> float:
    f = args.event_fraction if args.event_fraction is not None else job.event_fraction
    if not 0 < f <= 1:
        raise InputError(f"event fraction must be in (0, 1], got {f}")
    return float(f)


def output_dir(job: JobSpec, args: argparse.Namespace) -> Path:
    d = Path(args.output_dir or job.output_dir or ".").resolve()
    d.mkdir(parents=True, exist_ok=True)
    return d


def output_name(job: JobSpec, kind: str, raw: Path | storage.Location, suffix: str = ".h5") -> str:
    """``<kind>-<job id>-<raw stem><suffix>``: unique per job, readable per file."""
    return f"{kind}-{job.id}-{raw.stem}{suffix}"


def find_parent_output(job: JobSpec, kind: str, group: str | None = None) -> Path | None:
    """The first parent output (HDF5) whose ``kind`` attribute is ``kind``, if any; with
    ``group``, the first that also holds that group (a split parent has one output per part)."""
    for path in parent_outputs(job, kind):
        if group is None:
            return path
        with h5py.File(path, "r") as h5:
            if group in h5:
                return path
    return None


def parent_outputs(job: JobSpec, kind: str) -> list[Path]:
    """Every parent output (HDF5) whose ``kind`` attribute is ``kind``, in part order (a split
    parent has one output per part; an empty part has none)."""
    urls = [u for urls in job.parents.values() for u in urls] or job.inputs[1:]
    found = []
    for url in urls:
        try:
            path = url_to_path(url)
        except ValueError:
            continue
        if path.suffix != ".h5" or not path.is_file():
            continue
        try:
            with h5py.File(path, "r") as h5:
                if h5.attrs.get("kind") == kind:
                    found.append(path)
        except OSError as exc:
            raise InputError(f"parent output {path} cannot be read as HDF5 ({exc})") from exc
    return found


def parent_shares(
    job: JobSpec, kind: str, args: argparse.Namespace
) -> list[tuple[Path, list[int], list[int]]]:
    """This job's share of the parent outputs of ``kind``: ``(path, events, apas)`` per
    output, the events and APAs its ``events``/``apas`` attributes list, narrowed by
    ``--split`` as :func:`apply_split` narrows a raw file (APAs: ``sorted(all)[K::N]`` over
    every output's APAs, so a stage split like its parent reads the part of its own APAs;
    events: the K-th of N contiguous ranges of all the events). Outputs left with nothing are
    left out; raises :class:`EmptyShare` when nothing is left at all."""
    rows = []
    for path in parent_outputs(job, kind):
        with h5py.File(path, "r") as h5:
            rows.append(
                (path, [int(e) for e in h5.attrs["events"]], [int(a) for a in h5.attrs["apas"]])
            )
    if not getattr(args, "split", None):
        return rows
    by, k, n = parse_split(args.split)
    if by == "apa":
        mine = set(sorted({a for _, _, apas in rows for a in apas})[k::n])
        out = [(p, ev, [a for a in apas if a in mine]) for p, ev, apas in rows]
    else:
        events = sorted({e for _, ev, _ in rows for e in ev})
        mine = set(events[len(events) * k // n : len(events) * (k + 1) // n])
        out = [(p, [e for e in ev if e in mine], apas) for p, ev, apas in rows]
    out = [r for r in out if r[1] and r[2]]
    if not out:
        raise EmptyShare(f"share {args.split} of the parent outputs ({kind}) is empty")
    return out


def labels_of(job: JobSpec, attrs: dict) -> dict[str, str]:
    """Metric labels for the file: stream and run."""
    return {
        "stream": str(attrs.get("stream", job.file.get("stream", ""))),
        "run": str(attrs.get("run", job.file.get("run", ""))),
    }
