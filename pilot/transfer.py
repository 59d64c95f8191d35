"""Inputs by URL for a job: pick the replica to read, stage small parent outputs locally.

The raw file is not copied: the payload reads it by URL through :mod:`storage` (h5py asks
for the byte ranges it needs). Before the payload starts the pilot

* orders the file's replicas (``file.url`` then ``file.replicas``) by the site preference
  ``P3S_REPLICA_PREFERENCE`` (comma list of URL prefixes: ``file``, ``root://eos.example``,
  ``https``...; unmatched replicas keep their announced order, after the matched ones) and
  puts the first that answers as ``inputs[0]``; one that is missing, refused or not
  answering is skipped, with a line in the job's log;
* copies parent outputs that are not on a local file system (``root://``, ``https://``)
  into ``<jobdir>/inputs/`` and names the local copies in ``inputs`` and ``parents``;
* when the claim's ``output_dir`` is a URL on a remote staging area, gives the payload
  ``<jobdir>/outputs/`` to write into instead and keeps the URL as ``output_url``.

After the payload, :func:`publish_outputs` copies what it wrote there to ``output_url``
with :func:`storage.put`; if that area does not take them, to ``output_fallback`` (the same
place on the other staging area, named in the claim). The job reports the URLs where the
outputs actually are, so child jobs read them from there.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PREFERENCE_ENV = "P3S_REPLICA_PREFERENCE"
LOCAL_OUTPUTS = "outputs"  # under the job dir, when the staging area is remote
# A staging area that does not answer is left for the fallback after two quick tries.
PUBLISH_POLICY_ATTEMPTS = 2


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
    out = str(spec.get("output_dir") or "")
    if out and storage.scheme_of(out) not in ("", "file"):
        spec["output_url"], spec["output_dir"] = out, str(jobdir / LOCAL_OUTPUTS)
        notes.append(f"outputs are written locally, then published to {out}")
    _note(spec, jobdir, notes)
    return spec


def _note(spec: dict[str, Any], jobdir: Path, notes: list[str]) -> None:
    """Append ``notes`` to the job's ``transfer.log`` (and the pilot's log)."""
    if not notes:
        return
    jobdir.mkdir(parents=True, exist_ok=True)
    with open(jobdir / "transfer.log", "a", encoding="utf-8") as fh:
        fh.write("".join(f"p3s-pilot: {n}\n" for n in notes))
    for note in notes:
        log.info("job %s: %s", spec.get("id"), note)


def publish_outputs(spec: dict[str, Any], outputs: list[str], jobdir: Path) -> list[str]:
    """``outputs`` (URLs) with those written under ``<jobdir>/outputs/`` published to the
    staging area of the claim, or to its fallback when that one does not take them.

    Returns the URLs where the outputs are now; raises :class:`storage.StorageError` when
    neither area takes an output. Without an ``output_url`` (a local staging area) the
    outputs are already in place and are returned as they are."""
    import storage
    from storage import retry
    from storage.local import path_of

    target = str(spec.get("output_url") or "")
    if not target:
        return list(outputs)
    fallback = str(spec.get("output_fallback") or "")
    local_root = Path(spec.get("output_dir") or jobdir / LOCAL_OUTPUTS).resolve()
    policy = retry.Policy(attempts=PUBLISH_POLICY_ATTEMPTS, base=0.2, cap=1.0)
    notes: list[str] = []
    published = []
    try:
        for url in outputs:
            path = path_of(url) if storage.scheme_of(url) in ("", "file") else None
            if path is None or local_root not in path.resolve().parents:
                published.append(url)  # not in the local staging dir: reported as it is
                continue
            rel = path.resolve().relative_to(local_root).as_posix()
            try:
                dest = _where(target, rel)
                size = storage.put(path, dest, policy)
            except storage.StorageError as exc:
                if not fallback or target == fallback:
                    raise
                notes.append(f"publishing to {target} failed ({exc.reason}); using {fallback}")
                target = fallback
                dest = _where(target, rel)
                size = storage.put(path, dest, policy)
            notes.append(f"published output {rel} ({size} bytes) to {dest}")
            published.append(dest)
    finally:
        _note(spec, jobdir, notes)
    return published


def _where(area: str, rel: str) -> str:
    """``rel`` under the staging place ``area`` (a URL, or a plain path): a URL."""
    import storage

    if storage.scheme_of(area) in ("", "file"):
        base = area if storage.scheme_of(area) else Path(area).resolve().as_uri()
        return storage.join(base, rel)
    return storage.join(area, rel)
