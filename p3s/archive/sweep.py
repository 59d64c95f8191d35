"""The sweeper's unit for p3s.archive: archive, delete outputs, prune; bounded work per call,
at most once per ``P3S_ARCHIVE_INTERVAL``."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from p3s.archive import conf
from p3s.archive.outputs import archive_runs, delete_outputs
from p3s.archive.prune import prune

_last: datetime | None = None


def archive_and_prune(now: datetime | None = None) -> int:
    """One pass of each step; returns how many things changed (copies, deletions, rows)."""
    global _last
    now = now or timezone.now()
    if _last is not None and now - _last < timedelta(seconds=conf.INTERVAL):
        return 0
    _last = now
    return run_once(now)


def run_once(now: datetime | None = None) -> int:
    now = now or timezone.now()
    return archive_runs(now).total + delete_outputs(now).total + prune(now).total
