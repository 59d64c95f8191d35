"""One factory cycle at a time: an exclusive, non-blocking flock on a lock file."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockBusy(Exception):
    """Another cycle holds the lock; ``holder`` is what it wrote there (its pid)."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"another cycle holds {path} (pid {holder or '?'})")
        self.path = path
        self.holder = holder


@contextmanager
def cycle_lock(path: Path) -> Iterator[None]:
    """Hold ``path`` locked for the block; raise LockBusy at once if someone else has it.

    The lock goes with the process (flock), so a crashed cycle never leaves it stuck.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            raise LockBusy(path, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
