"""Diagnostic payload: sleep, write an output of a given size, exit with a given code.

Used to validate pilots and to load-test the broker::

    diag --seconds 2 --bytes 1000 --exit-code 0

``--record DIR`` appends this attempt's life to ``DIR/job<id>-a<attempt>-<pid>.rec``: a
``start`` line, a ``tick`` line every 50 ms while it sleeps, and a ``stop`` line (times are
``time.time()``), so a chaos run can prove that no job ran twice at once (overlapping
intervals of two attempts) even when a payload is killed without a ``stop`` line.
``--product`` adds a small JSON product, so deliveries of products are exercised too.
``--release`` writes the output before the sleep and releases it at once
(:func:`payloads.jobio.release_outputs`), as a stage that makes its plots after its data.
``--log-lines N`` prints N numbered lines (about 100 bytes each) to stdout, so a job's full
log (pilot/joblog.py) has something bigger than its tail to carry.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from payloads.jobio import Result, load_job, release_outputs, write_result


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="diag", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.0, help="time to sleep")
    parser.add_argument("--bytes", type=int, default=0, help="size of the output file")
    parser.add_argument("--exit-code", type=int, default=0, help="exit code to return")
    parser.add_argument("--metric", type=float, default=None, help="a metric value to report")
    parser.add_argument(
        "--fail-attempts",
        type=int,
        default=0,
        help="fail (exit 3) on attempts up to this number, then succeed",
    )
    parser.add_argument("--record", metavar="DIR", help="append start/tick/stop records there")
    parser.add_argument("--product", action="store_true", help="add a small JSON product")
    parser.add_argument("--log-lines", type=int, default=0, help="print this many log lines")
    parser.add_argument(
        "--release", action="store_true", help="write and release the output before the sleep"
    )
    return parser.parse_args(argv)


class Recorder:
    """Start, tick and stop lines of one attempt, each written and flushed at once."""

    def __init__(self, directory: str | None, job_id: int, attempt: int) -> None:
        self.fh = None
        if directory:
            name = f"job{job_id}-a{attempt}-{os.getpid()}.rec"
            self.fh = open(Path(directory) / name, "a", buffering=1, encoding="utf-8")

    def write(self, what: str, extra: str = "") -> None:
        if self.fh is not None:
            self.fh.write(f"{what} {time.time():.6f} {extra}".rstrip() + "\n")
            self.fh.flush()

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))
            self.write("tick")


def write_output(job, size: int, result: Result) -> None:
    out_dir = Path(job.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"diag-{job.stage or 'out'}-{job.id}.bin"
    with open(out, "wb") as fh:
        remaining = size
        block = b"\0" * min(remaining, 1 << 20)
        while remaining > 0:
            fh.write(block[:remaining])
            remaining -= len(block)
    result.add_output(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    job = load_job()
    print(
        f"diag: job {job.id} stage {job.stage!r} attempt {job.attempt}, {len(job.inputs)} inputs",
        flush=True,
    )
    rec = Recorder(args.record, job.id, job.attempt)
    rec.write("start", os.getcwd())
    for i in range(args.log_lines):
        print(f"diag: log line {i:07d} of job {job.id} " + "." * 64)
    sys.stdout.flush()
    result = Result()
    if args.release and args.bytes > 0:
        write_output(job, args.bytes, result)
        release_outputs(result)
    if args.seconds > 0:
        rec.sleep(args.seconds)
    if job.attempt <= args.fail_attempts:
        print(f"diag: failing on purpose (attempt {job.attempt})", file=sys.stderr)
        rec.write("stop", "3")
        return 3
    if args.bytes > 0 and not result.outputs:
        write_output(job, args.bytes, result)
    result.add_metric("diag_seconds", args.seconds, stage=job.stage or "diag")
    if args.metric is not None:
        result.add_metric("diag_value", args.metric, stage=job.stage or "diag")
    if args.product:
        product = Path(f"diag-{job.id}-a{job.attempt}.json")
        product.write_text(json.dumps({"job": job.id, "attempt": job.attempt}), encoding="utf-8")
        result.add_product(product.resolve(), "json", "diag record", stage=job.stage or "diag")
    write_result(result)
    rec.write("stop", str(args.exit_code))
    if args.exit_code:
        print(f"diag: exiting with code {args.exit_code} as asked", file=sys.stderr)
    return args.exit_code


if __name__ == "__main__":
    sys.exit(main())
