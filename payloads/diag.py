"""Diagnostic payload: sleep, write an output of a given size, exit with a given code.

Used to validate pilots and to load-test the broker::

    diag --seconds 2 --bytes 1000 --exit-code 0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from payloads.jobio import Result, load_job, write_result


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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    job = load_job()
    print(
        f"diag: job {job.id} stage {job.stage!r} attempt {job.attempt}, {len(job.inputs)} inputs",
        flush=True,
    )
    if args.seconds > 0:
        time.sleep(args.seconds)
    if job.attempt <= args.fail_attempts:
        print(f"diag: failing on purpose (attempt {job.attempt})", file=sys.stderr)
        return 3
    result = Result()
    if args.bytes > 0:
        out_dir = Path(job.output_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"diag-{job.stage or 'out'}-{job.id}.bin"
        with open(out, "wb") as fh:
            remaining = args.bytes
            block = b"\0" * min(remaining, 1 << 20)
            while remaining > 0:
                fh.write(block[:remaining])
                remaining -= len(block)
        result.add_output(out)
    result.add_metric("diag_seconds", args.seconds, stage=job.stage or "diag")
    if args.metric is not None:
        result.add_metric("diag_value", args.metric, stage=job.stage or "diag")
    write_result(result)
    if args.exit_code:
        print(f"diag: exiting with code {args.exit_code} as asked", file=sys.stderr)
    return args.exit_code


if __name__ == "__main__":
    sys.exit(main())
