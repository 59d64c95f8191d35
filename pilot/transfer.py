"""Inputs by URL for a job: pick the replica to read, stage small parent outputs locally.

The raw file is not copied: the payload reads it by URL through :mod:`storage` (h5py asks
for the byte ranges it needs). Before the payload starts the pilot

* orders the file's replicas (``file.url`` then ``file.replicas``) by the site preference
  ``P3S_REPLICA_PREFERENCE`` (comma list of URL prefixes: ``file``, ``root://eos.example``,
  ``https``...; unmatched replicas keep their announced order, after the matched ones) and
  puts the first that answers as ``inputs[0]``; one that is missing, refused or not
  answering is skipped, with a line in the job's log;
* copies parent outputs that are not on a local file system (``root://``, ``https://``)
  into ``<jobdir>/inputs/`` and names the local copies in ``inputs`` and ``parents``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PREFERENCE_ENV = "P3S_REPLICA_PREFERENCE"


def preference() -> list[str]:
    return [p.strip() for p in os.environ.get(PREFERENCE_ENV, "").split(",") if p.strip()]


def replica_order(urls: list[str], prefs: list[str]) -> list[str]:
    """``urls`` sorted by the first preference each starts with (stable; unmatched last)."""

    def rank(url: str) -> int:
        for i, p in enumerate(prefs):
            if url.startswith(p if "://" in p or p == "/" else f"{p}:") or (
                p == "file" and url.startswith("/")
            ):
                return i
        return len(prefs)

    return sorted(dict.fromkeys(urls), key=rank)


def choose_replica(urls: list[str], prefs: list[str], notes: list[str]) -> str | None:
    """The first replica, in preference order, whose size the storage answers."""
    import storage
    from storage import retry

    quick = retry.Policy(attempts=2, base=0.2, cap=1.0)
    for url in replica_order(urls, prefs):
        try:
            storage.size(url, quick)
        except storage.StorageError as exc:
            notes.append(f"replica {url} skipped: {exc.reason}")
            continue
        return url
    return None


def prepare_inputs(spec: dict[str, Any], jobdir: Path) -> dict[str, Any]:
    """The job spec with the chosen replica as ``inputs[0]`` and parent outputs local.

    What was decided is written to ``<jobdir>/transfer.log`` (the job's full log takes it)."""
    import storage

    spec = dict(spec)
    notes: list[str] = []
    file = dict(spec.get("file") or {})
    replicas = [u for u in [file.get("url"), *(file.get("replicas") or [])] if u]
    inputs = list(spec.get("inputs") or [])
    if len(replicas) > 1:
        chosen = choose_replica(replicas, preference(), notes)
        if chosen is not None:
            notes.append(f"reading the raw file from {chosen}")
            if inputs and inputs[0] in replicas:
                inputs[0] = chosen
            elif not inputs:
                inputs = [chosen]
        else:
            notes.append("no replica answered; the payload gets the first one")
    parents = {k: list(v) for k, v in (spec.get("parents") or {}).items()}
    local: dict[str, str] = {}
    for urls in parents.values():
        for url in urls:
            if storage.scheme_of(url) in ("", "file") or url in local:
                continue
            dest = jobdir / "inputs" / storage.Location(url).name
            dest.parent.mkdir(parents=True, exist_ok=True)
            copied = storage.get(url, dest)
            local[url] = dest.as_uri()
            notes.append(f"staged parent output {url} ({copied} bytes)")
    if local:
        parents = {k: [local.get(u, u) for u in v] for k, v in parents.items()}
        inputs = [inputs[0], *(local.get(u, u) for u in inputs[1:])] if inputs else inputs
    spec["inputs"], spec["parents"] = inputs, parents
    if notes:
        jobdir.mkdir(parents=True, exist_ok=True)
        with open(jobdir / "transfer.log", "a", encoding="utf-8") as fh:
            fh.write("".join(f"p3s-pilot: {n}\n" for n in notes))
        for note in notes:
            log.info("job %s: %s", spec.get("id"), note)
    return spec
