"""A job's whole log, packed for the server: gzip-compressed, capped in size.

The payload's captured stdout and stderr (:data:`pilot.runner.LOG_NAME`) are copied into
``payload.log.gz`` in the job dir, followed by the pilot's own lines about the job (how the
payload ended). A log bigger than the cap (``P3S_LOG_MAX_BYTES``, 20 MB by default) keeps its
head and its tail, half the cap each, cut at line ends, with one line in between that says how
many bytes were cut. The copy streams in chunks: a huge log never sits in memory.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from pilot.runner import LOG_NAME

PACKED_NAME = "payload.log.gz"
MAX_BYTES_ENV = "P3S_LOG_MAX_BYTES"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MIN_MAX_BYTES = 1024
CHUNK = 1024 * 1024
# How far back (head) or on (tail) a cut looks for a line end before cutting mid-line.
LINE_SLACK = 4096


@dataclass(frozen=True)
class PackedLog:
    path: Path
    size: int  # bytes of the payload's log as the node had it
    kept: int  # of those, bytes in the packed log
    cut: int  # bytes cut from the middle (size - kept)


def max_bytes(env: dict[str, str] | None = None) -> int:
    """The cap from ``P3S_LOG_MAX_BYTES`` (at least 1 KiB; the default when unset or bad)."""
    raw = (os.environ if env is None else env).get(MAX_BYTES_ENV, "")
    try:
        value = int(raw)
    except ValueError:
        return DEFAULT_MAX_BYTES
    return max(MIN_MAX_BYTES, value)


def cut_marker(cut: int, size: int) -> bytes:
    return (
        f"\n[p3s pilot: {cut} bytes cut here from the middle of this {size}-byte log; "
        f"the first and last parts are kept]\n"
    ).encode()


class _Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


def _copy(src: BinaryIO, dst: _Sink, count: int) -> None:
    while count > 0:
        data = src.read(min(CHUNK, count))
        if not data:
            return
        dst.write(data)
        count -= len(data)


def _cut_points(src: BinaryIO, size: int, cap: int) -> tuple[int, int]:
    """``(head_end, tail_start)``: keep ``[0, head_end)`` and ``[tail_start, size)``, at most
    ``cap`` bytes in all, cut after a newline when one is near the cut."""
    head_end = cap // 2
    tail_start = size - (cap - head_end)
    src.seek(max(0, head_end - LINE_SLACK))
    before = src.read(min(LINE_SLACK, head_end))
    newline = before.rfind(b"\n")
    if newline >= 0:
        head_end = max(0, head_end - LINE_SLACK) + newline + 1
    src.seek(tail_start)
    after = src.read(LINE_SLACK)
    newline = after.find(b"\n")
    if 0 <= newline < len(after) - 1:
        tail_start += newline + 1
    return head_end, tail_start


def pack(jobdir: Path, footer: str = "", cap: int | None = None) -> PackedLog | None:
    """Write ``jobdir/payload.log.gz``; None when the payload left no log at all."""
    source = jobdir / LOG_NAME
    cap = max_bytes() if cap is None else max(MIN_MAX_BYTES, cap)
    target = jobdir / PACKED_NAME
    try:
        src = open(source, "rb")
    except FileNotFoundError:
        if not footer:
            return None
        src = None
    size = kept = 0
    with open(target, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        if src is not None:
            with src:
                size = os.fstat(src.fileno()).st_size
                if size <= cap:
                    _copy(src, out, size)
                    kept = size
                else:
                    head_end, tail_start = _cut_points(src, size, cap)
                    src.seek(0)
                    _copy(src, out, head_end)
                    out.write(cut_marker(tail_start - head_end, size))
                    src.seek(tail_start)
                    _copy(src, out, size - tail_start)
                    kept = head_end + size - tail_start
        if footer:
            out.write(b"\n" + footer.encode("utf-8", errors="replace") + b"\n")
    return PackedLog(target, size, kept, size - kept)
