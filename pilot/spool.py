"""The on-disk spool: what the pilot still owes the server for jobs that ended.

When a job ends, everything to send about it (product uploads, metrics, the final report)
is written here first, as one JSON file per job, and removed action by action as the
server accepts them. So a server outage loses nothing: the pilot retries from the spool
before it claims anything new, and if it gives up the spool stays in its work dir.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Entry:
    """What is owed for one job: ``actions`` in the order they must be sent.

    Each action is ``{"op": "product", "path", "kind", "title", "labels"}``,
    ``{"op": "metrics", "metrics": [...]}`` or ``{"op": "report", "body": {...}}``.
    ``keep`` asks to keep the job's work dir (failed jobs) once everything is delivered.
    """

    job: int
    jobdir: str
    actions: list[dict[str, Any]] = field(default_factory=list)
    keep: bool = False


class Spool:
    """A directory of :class:`Entry` files, delivered oldest first."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, entry: Entry) -> Path:
        return self.directory / f"job-{entry.job}.json"

    def save(self, entry: Entry) -> Path:
        """Write (or rewrite) an entry atomically."""
        path = self._path(entry)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(asdict(entry), fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        return path

    def remove(self, entry: Entry) -> None:
        self._path(entry).unlink(missing_ok=True)

    def entries(self) -> Iterator[Entry]:
        """Pending entries, oldest first."""
        paths = sorted(self.directory.glob("job-*.json"), key=lambda p: p.stat().st_mtime_ns)
        for path in paths:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                yield Entry(**data)
            except (OSError, ValueError, TypeError) as exc:
                log.error("spool file %s is unreadable (%s): set aside as .bad", path, exc)
                path.replace(path.with_suffix(".bad"))

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("job-*.json"))
