"""Copy a file to the archive by URL and prove the copy: sha256 of the source and of the copy
read back through the storage layer (so it works for file:// and root:// alike)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import storage
from storage.local import path_of

CHUNK = 4 * 1024 * 1024


def chosen(url: str, fraction: float) -> bool:
    """Whether ``url`` falls in the archived ``fraction``: a hash, the same on every pass."""
    if fraction <= 0.0:
        return False
    if fraction >= 1.0:
        return True
    h = int.from_bytes(hashlib.sha256(url.encode()).digest()[:8], "big")
    return h / 2.0**64 < fraction


def sha256_of(url: str) -> tuple[str, int]:
    """(``sha256:<hex>``, size) of the file at ``url``, read through the storage layer."""
    digest = hashlib.sha256()
    size = 0
    with storage.open_input(url) as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return f"sha256:{digest.hexdigest()}", size


def is_local(url: str) -> bool:
    return storage.scheme_of(url) in ("", "file")


@dataclass
class Copy:
    checksum: str
    size: int
    ok: bool
    error: str = ""


def copy_verified(source: str, dest: str) -> Copy:
    """Copy ``source`` to ``dest`` and compare the sha256 of both; never raises a mismatch,
    says it. Storage errors (missing source, refused write) propagate."""
    checksum, size = sha256_of(source)
    # A bad copy from an earlier pass goes first: over XRootD, storage.put refuses to
    # replace an existing file ("[3018] ... file exists", seen against xrootd 5.5.3).
    storage.remove(dest)
    if is_local(source):
        storage.put(path_of(source), dest)
    else:
        fd, tmp = tempfile.mkstemp(prefix="p3s-archive-")
        os.close(fd)
        try:
            storage.get(source, tmp)
            storage.put(tmp, dest)
        finally:
            Path(tmp).unlink(missing_ok=True)
    copied, copied_size = sha256_of(dest)
    if copied != checksum or copied_size != size:
        return Copy(
            checksum,
            size,
            False,
            f"the copy reads back as {copied} ({copied_size} bytes), the source is "
            f"{checksum} ({size} bytes)",
        )
    return Copy(checksum, size, True)


def still_good(dest: str, checksum: str) -> str:
    """'' when the archived copy at ``dest`` still has ``checksum``, else what is wrong."""
    try:
        found, size = sha256_of(dest)
    except storage.StorageError as exc:
        return f"the archived copy cannot be read: {exc}"
    if found != checksum:
        return f"the archived copy reads as {found} ({size} bytes), recorded {checksum}"
    return ""


def files_of(url: str) -> list[str]:
    """The files an output names: itself, or for a local directory every file under it."""
    if is_local(url):
        path = path_of(url)
        if path.is_dir():
            return [str(p) for p in sorted(path.rglob("*")) if p.is_file()]
    return [url]


def under(url: str, roots: list[str]) -> bool:
    """Whether ``url`` lies under one of the staging ``roots`` (no ``..`` escapes)."""
    if is_local(url):
        path = os.path.normpath(str(path_of(url)))
        for root in roots:
            if is_local(root):
                base = os.path.normpath(str(path_of(root)))
                if path.startswith(base.rstrip("/") + "/"):
                    return True
        return False
    if "/../" in url or url.endswith("/.."):
        return False
    return any(not is_local(r) and url.startswith(r.rstrip("/") + "/") for r in roots)
