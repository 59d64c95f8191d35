"""``file://`` URLs and plain paths."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from storage.errors import NotFound, PermissionRefused, StorageError, Transient
from storage.reader import LocalInputFile

SCHEMES = ("", "file")
TRANSIENT_ERRNOS = {errno.EIO, errno.EAGAIN, errno.ETIMEDOUT, errno.ESTALE, errno.EINTR}


def path_of(url: str) -> Path:
    parsed = urlparse(url)
    return Path(unquote(parsed.path) if parsed.scheme == "file" else url)


def mapped(url: str, exc: OSError) -> StorageError:
    """The storage error for an ``OSError`` from the local file system."""
    text = exc.strerror or str(exc)
    if isinstance(exc, FileNotFoundError | NotADirectoryError | IsADirectoryError):
        return NotFound(url, f"no such file ({text})")
    if isinstance(exc, PermissionError):
        return PermissionRefused(url, f"permission refused ({text})")
    if exc.errno in TRANSIENT_ERRNOS:
        return Transient(url, text)
    return StorageError(url, text)


class Local:
    name = "file"

    def open(self, url: str) -> LocalInputFile:
        path = path_of(url)
        try:
            if path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "is a directory")
            return LocalInputFile(str(path))
        except OSError as exc:
            raise mapped(url, exc) from exc

    def size(self, url: str) -> int:
        try:
            return path_of(url).stat().st_size
        except OSError as exc:
            raise mapped(url, exc) from exc

    def exists(self, url: str) -> bool:
        return path_of(url).exists()

    def put(self, src: str | Path, url: str) -> int:
        """Copy local ``src`` to ``url`` (via a temporary name, so readers never see half)."""
        dest = path_of(url)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
            os.close(fd)
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
            return dest.stat().st_size
        except OSError as exc:
            raise mapped(url, exc) from exc

    def get(self, url: str, dest: str | Path) -> int:
        try:
            shutil.copyfile(path_of(url), dest)
            return Path(dest).stat().st_size
        except OSError as exc:
            raise mapped(url, exc) from exc

    def remove(self, url: str) -> None:
        try:
            path_of(url).unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise mapped(url, exc) from exc

    def usage(self, url: str) -> tuple[int, int]:
        """(total, free) bytes of the file system holding ``url``."""
        try:
            du = shutil.disk_usage(path_of(url))
        except OSError as exc:
            raise mapped(url, exc) from exc
        return du.total, du.free

    def probe(self, url: str) -> None:
        """Raise unless the directory ``url`` exists and is writable."""
        path = path_of(url)
        if not path.is_dir():
            raise NotFound(url, "staging directory does not exist")
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionRefused(url, "staging directory is not writable")
