"""Log files on disk: checked while they are written, read back by pages, searched, removed.

Every read streams the gzip file (a 20 MB log never sits in memory whole) and every search is
bounded by a number of matches and a time budget, so no request can hold a worker for long.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
# The pilot's cut marker and footer lines come on top of its cap.
SLACK = 64 * 1024
LINE_CHARS = 2000  # a line shown or matched is cut to this many characters
MAX_MATCHES = 200
SEARCH_SECONDS = 2.0
MAX_QUERY = 200


class BadLog(ValueError):
    """The upload is not a log this server stores (not gzip, truncated, too big)."""


def root() -> Path:
    return Path(settings.DATA_ROOT) / "logs"


def max_bytes() -> int:
    """The biggest decompressed log accepted: ``P3S_LOG_MAX_BYTES`` plus the pilot's lines."""
    return int(settings.P3S["LOG_MAX_BYTES"]) + SLACK


def path_of(name: str) -> Path:
    path = (root() / name).resolve()
    if root().resolve() not in path.parents:
        raise ValueError(f"log name {name!r} is outside {root()}")
    return path


def new_name(job_id: int, attempt: int, when: datetime) -> str:
    """``YYYY/MM/DD/job<id>-a<attempt>-<random>.log.gz``: by day, so old days are easy to
    find on disk; the random part keeps two racing uploads from writing one file."""
    return f"{when:%Y/%m/%d}/job{job_id}-a{attempt}-{uuid.uuid4().hex[:8]}.log.gz"


@dataclass
class Written:
    size: int = 0
    compressed_size: int = 0
    lines: int = 0
    sha256: str = ""


def write_checked(upload: BinaryIO, name: str) -> Written:
    """Copy a gzip upload to ``name``, checking it on the way: one complete gzip member,
    at most :func:`max_bytes` once decompressed (a gzip bomb is refused early). Raises
    BadLog (and leaves no file) when it is not."""
    limit = max_bytes()
    target = path_of(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    inflate = zlib.decompressobj(wbits=31)  # gzip header and trailer (CRC, length) checked
    digest = hashlib.sha256()
    out = Written()
    last = b"\n"
    try:
        with open(target, "xb") as fh:
            while chunk := upload.read(CHUNK):
                if inflate.eof:
                    raise BadLog("data after the end of the gzip stream")
                digest.update(chunk)
                fh.write(chunk)
                out.compressed_size += len(chunk)
                data = inflate.decompress(chunk, limit + 1 - out.size)
                while True:
                    out.size += len(data)
                    out.lines += data.count(b"\n")
                    if data:
                        last = data[-1:]
                    if out.size > limit:
                        raise BadLog(f"decompressed, the log is over {limit} bytes")
                    if not inflate.unconsumed_tail:
                        break
                    data = inflate.decompress(inflate.unconsumed_tail, limit + 1 - out.size)
                if inflate.unused_data:
                    raise BadLog("data after the end of the gzip stream")
            if not inflate.eof:
                raise BadLog("the gzip stream is incomplete (truncated upload?)")
    except zlib.error as exc:
        target.unlink(missing_ok=True)
        raise BadLog(f"not a gzip-compressed log: {exc}") from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    out.lines += last != b"\n"  # a last line without its newline is a line
    out.sha256 = digest.hexdigest()
    return out


def remove_file(name: str) -> None:
    try:
        path = path_of(name)
        path.unlink(missing_ok=True)
    except (OSError, ValueError) as exc:
        log.warning("could not remove log file %s: %s", name, exc)
        return
    for parent in (path.parent, path.parent.parent, path.parent.parent.parent):
        if parent == root():
            break
        try:
            parent.rmdir()  # an emptied day (month, year) directory goes too
        except OSError:
            break


def open_raw(name: str) -> BinaryIO:
    return open(path_of(name), "rb")


def iter_lines(name: str) -> Iterator[str]:
    """The log's lines (without their newline), decoded leniently, streamed."""
    with gzip.open(path_of(name), "rb") as fh:
        for raw in fh:
            yield raw.rstrip(b"\r\n").decode("utf-8", errors="replace")


def iter_chunks(name: str) -> Iterator[bytes]:
    """The decompressed log in chunks (for a client that does not take gzip)."""
    with gzip.open(path_of(name), "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def page(name: str, start: int, count: int) -> list[tuple[int, str]]:
    """Lines ``start`` .. ``start + count - 1`` (numbered from 1) as ``(number, text)``."""
    out: list[tuple[int, str]] = []
    start = max(1, start)
    for number, text in enumerate(iter_lines(name), 1):
        if number >= start + count:
            break
        if number >= start:
            out.append((number, text[:LINE_CHARS]))
    return out


@dataclass
class Found:
    query: str
    matches: list[tuple[int, str]] = field(default_factory=list)
    scanned: int = 0  # lines read
    stopped: str = ""  # why the search ended before the last line ("" when it did not)


def search(
    name: str, query: str, max_matches: int = MAX_MATCHES, seconds: float = SEARCH_SECONDS
) -> Found:
    """Lines containing ``query`` (case-insensitive, plain text: no pattern can be slow),
    at most ``max_matches`` of them and for at most ``seconds``."""
    needle = query.casefold()
    found = Found(query)
    deadline = time.monotonic() + seconds
    for number, text in enumerate(iter_lines(name), 1):
        found.scanned = number
        if needle in text.casefold():
            found.matches.append((number, text[:LINE_CHARS]))
            if len(found.matches) >= max_matches:
                found.stopped = f"the first {max_matches} matches are shown"
                break
        if number % 4096 == 0 and time.monotonic() > deadline:
            found.stopped = f"the search stopped after {seconds:g} s at line {number}"
            break
    return found


def disk_usage() -> tuple[int, int]:
    """``(files, bytes)`` under the log root (for the operations docs' figures and tests)."""
    files = size = 0
    for dirpath, _dirs, names in os.walk(root()):
        for n in names:
            files += 1
            size += os.path.getsize(os.path.join(dirpath, n))
    return files, size
