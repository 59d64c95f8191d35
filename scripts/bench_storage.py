#!/usr/bin/env python3
"""Input throughput of one raw file over XRootD and from local disk, in the same run.

Writes one synthetic raw TPC file (full detector geometry, ``--events`` events of one APA),
starts a real xrootd on a private port over a copy of it (tests/storage/servers.py), and reads
every APA-event of it through :class:`payloads.rawio.RawFile` both ways, alternating, each
``--repeats`` times; reports the median MB/s of each and their ratio (XRootD / local). The
local read is served from the page cache, so the ratio is the cost of the protocol and the
storage layer on the loopback, not of a network.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _read_all(url: str) -> tuple[float, int]:
    from payloads.rawio import RawFile

    t0 = time.perf_counter()
    with RawFile(url) as raw:
        for pos in range(raw.n_events):
            for apa in raw.apas:
                raw.read_apa(pos, apa)
        n = raw.bytes_read
    return time.perf_counter() - t0, n


def run(quick: bool = False, events: int | None = None, repeats: int | None = None) -> dict:
    from payloads.daqsim import writer
    from storage.xrdserver import XrootdServer

    events = events or (2 if quick else 4)
    repeats = repeats or (2 if quick else 3)
    tmp = Path(tempfile.mkdtemp(prefix="p3s-bench-storage-"))
    server = XrootdServer()
    try:
        server.start()
        info = writer.write_tpc_file(
            tmp, seed=1, run=1, subrun=1, n_events=events, apas=[0], start=datetime.now(UTC)
        )
        shutil.copyfile(info.path, server.data / info.path.name)
        server.own(server.data / info.path.name)
        remote = server.url(info.path.name)
        local_s, remote_s = [], []
        size = 0
        for _ in range(repeats):
            t, size = _read_all(str(info.path))
            local_s.append(t)
            t, _ = _read_all(remote)
            remote_s.append(t)
        local_mbs = size / statistics.median(local_s) / 1e6
        remote_mbs = size / statistics.median(remote_s) / 1e6
        return {
            "file_mb": round(info.path.stat().st_size / 1e6, 1),
            "bytes_read_mb": round(size / 1e6, 1),
            "events": events,
            "repeats": repeats,
            "local_mb_s": round(local_mbs, 1),
            "xrootd_mb_s": round(remote_mbs, 1),
            "ratio_xrootd_to_local": round(remote_mbs / local_mbs, 3),
        }
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def markdown(d: dict) -> list[str]:
    return [
        "",
        "## Input throughput: one raw file over XRootD and from local disk",
        "",
        f"{d['file_mb']} MB file, {d['events']} events of one APA, every APA-event read "
        f"through RawFile, median of {d['repeats']}: local {d['local_mb_s']} MB/s, XRootD "
        f"(loopback, xrootd on a private port) {d['xrootd_mb_s']} MB/s, "
        f"ratio {d['ratio_xrootd_to_local']}.",
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--events", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    args = p.parse_args()
    print(json.dumps(run(args.quick, args.events, args.repeats), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
