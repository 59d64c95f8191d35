"""Probe a staging area, bounded by a timeout so that a hung server cannot stall the sweeper.

A probe writes a small marker file (``.p3s-probe``) into the area with :func:`storage.put`,
checks the area answers (:func:`storage.probe`) and asks its disk use (:func:`storage.usage`;
HTTP gives none: the figures stay empty). Writing is the question that matters: an area
that can be listed but refuses writes (read-only, quota, expired credentials) cannot take
outputs. Each probe runs in a worker thread; the caller waits at most ``timeout`` seconds.
A probe still hung from an earlier pass is not started again (at most one thread per
area is ever stuck): the area counts as not answering until it returns.
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime

import storage
from storage import retry

MARKER = ".p3s-probe"
# One try, no back-off: the probe is repeated every pass anyway, and its streaks decide.
POLICY = retry.NONE

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="staging-probe")
_pending: dict[str, Future] = {}


@dataclass(frozen=True)
class Probe:
    ok: bool
    error: str = ""
    seconds: float = 0.0
    total: int | None = None
    free: int | None = None


def probe_area(url: str) -> Probe:
    """Write the marker, check the area, read its usage (no timeout of its own)."""
    started = time.monotonic()
    fd, tmp = tempfile.mkstemp(prefix="p3s-probe-")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(f"p3s staging probe {datetime.now(UTC).isoformat()}\n")
        storage.put(tmp, storage.join(url, MARKER), POLICY)
        storage.probe(url, POLICY)
    except storage.StorageError as exc:
        return Probe(False, exc.reason or str(exc), time.monotonic() - started)
    except Exception as exc:  # a probe must never break the sweeper
        return Probe(False, f"{type(exc).__name__}: {exc}", time.monotonic() - started)
    finally:
        os.unlink(tmp)
    try:
        total, free = storage.usage(url, POLICY)
    except storage.StorageError:
        total = free = None  # answers, but gives no disk use (HTTP)
    return Probe(True, "", time.monotonic() - started, total, free)


def probe_all(urls: list[str], timeout: float) -> dict[str, Probe]:
    """Probe every area in parallel; none takes longer than ``timeout`` seconds to judge."""
    futures: dict[str, Future | None] = {}
    for url in urls:
        old = _pending.get(url)
        if old is not None and not old.done():
            futures[url] = None
            continue
        futures[url] = _pending[url] = _pool.submit(probe_area, url)
    deadline = time.monotonic() + timeout
    out: dict[str, Probe] = {}
    for url, fut in futures.items():
        if fut is None:
            out[url] = Probe(False, f"the previous probe is still waiting (over {timeout:g} s)")
            continue
        try:
            out[url] = fut.result(max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            out[url] = Probe(False, f"no answer within {timeout:g} s", timeout)
    return out
