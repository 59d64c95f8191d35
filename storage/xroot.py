"""``root://`` (and ``xroot://``) URLs through the XRootD Python bindings (PyPI ``xrootd``).

Why the bindings themselves and not ``fsspec-xrootd`` (which wraps them): measured on one
20-event, 61.5 MB raw file (one APA, 600 ticks) read by h5py with an event fraction of 0.1,
against the same local xrootd 5.5.3 (2026-12-02, 2 cores shared): through
:class:`storage.reader.InputFile` over the bindings 6.6 MB moved (0.107 of the file, 48
requests, 0.94 s); through fsspec-xrootd 0.5.5 with its default read-ahead cache (5 MB
blocks) 36.7 MB moved (0.60 of the file, 0.44 s). Bytes over the WAN are what counts here,
and the bindings also give a status with an error number to sort errors by (3011 no such
file, 3010 permission refused); fsspec would be one more layer to tune away.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

# The client's own connection retries would hide an outage for two minutes (its defaults):
# we retry ourselves, with back-off, and must be able to fail over to another replica.
os.environ.setdefault("XRD_CONNECTIONRETRY", "1")
os.environ.setdefault("XRD_CONNECTIONWINDOW", "5")
os.environ.setdefault("XRD_REQUESTTIMEOUT", "30")
os.environ.setdefault("XRD_STREAMTIMEOUT", "30")
os.environ.setdefault("XRD_TIMEOUTRESOLUTION", "1")  # else timeouts are checked every 15 s
# After a connection error the client refuses that server for this long (default 1800 s):
# a long-lived process (the sweeper's staging probe, a pilot) would not see a server that
# came back for half an hour. Measured: with 5 s, a restarted xrootd answers the next put.
os.environ.setdefault("XRD_STREAMERRORWINDOW", "5")

from XRootD import client  # noqa: E402
from XRootD.client.flags import MkDirFlags, OpenFlags, QueryCode  # noqa: E402

from storage.errors import NotFound, PermissionRefused, StorageError, Transient  # noqa: E402

SCHEMES = ("root", "xroot")
TIMEOUT = int(os.environ.get("P3S_XRD_TIMEOUT", "30"))  # seconds per request
OPEN_TIMEOUT = int(os.environ.get("P3S_XRD_OPEN_TIMEOUT", "10"))  # a dead server: give up
CHUNK = 8 * 1024 * 1024
# kXR error numbers (XProtocol.hh): answers from a server that will not change on retry.
NOT_FOUND = {3011}
REFUSED = {3010, 3030}
# Overloaded / server busy / I/O error at the server: worth another try.
BUSY = {3007, 3012, 3024, 3026}


def mapped(url: str, status: object, what: str) -> StorageError:
    """The storage error for a failed XRootD status."""
    code = int(getattr(status, "code", 0))
    num = int(getattr(status, "errno", 0))
    text = str(getattr(status, "message", "")).strip()
    message = f"{what}: {text}"
    if code == 400:  # errErrorResponse: the server answered
        if num in NOT_FOUND:
            return NotFound(url, message)
        if num in REFUSED:
            return PermissionRefused(url, message)
        if num in BUSY:
            return Transient(url, message)
        return StorageError(url, message)
    # No answer: connection refused, operation expired, socket error...
    return Transient(url, message)


def split(url: str) -> tuple[str, str]:
    """``root://host:port//a/b`` -> (``root://host:port``, ``/a/b``)."""
    p = urlparse(url)
    path = p.path
    while path.startswith("//"):
        path = path[1:]
    return f"{p.scheme}://{p.netloc}", path


class XrdHandle:
    def __init__(self, url: str):
        self.url = url
        self._open()

    def _open(self) -> None:
        self.file = client.File()
        status, _ = self.file.open(self.url, OpenFlags.READ, timeout=OPEN_TIMEOUT)
        if not status.ok:
            raise mapped(self.url, status, "open")
        status, info = self.file.stat(timeout=TIMEOUT)
        if not status.ok:
            raise mapped(self.url, status, "stat")
        self.size = int(info.size)

    def read_at(self, offset: int, n: int) -> bytes:
        status, data = self.file.read(offset, n, timeout=TIMEOUT)
        if not status.ok:
            err = mapped(self.url, status, f"read {n} bytes at {offset}")
            if err.retriable:  # the next try opens afresh (the connection may be new)
                try:
                    self.file.close(timeout=5)
                    self._open()
                except StorageError:
                    pass
            raise err
        return bytes(data)

    def close(self) -> None:
        if self.file.is_open():
            self.file.close(timeout=5)


class XRootD:
    name = "root"

    def open(self, url: str) -> XrdHandle:
        return XrdHandle(url)

    def _fs(self, url: str) -> tuple[client.FileSystem, str]:
        base, path = split(url)
        return client.FileSystem(base), path

    def size(self, url: str) -> int:
        fs, path = self._fs(url)
        status, info = fs.stat(path, timeout=TIMEOUT)
        if not status.ok:
            raise mapped(url, status, "stat")
        return int(info.size)

    def exists(self, url: str) -> bool:
        try:
            self.size(url)
        except NotFound:
            return False
        return True

    def put(self, src: str | Path, url: str) -> int:
        """Write local ``src`` to ``url`` (directories made as needed; an old file replaced)."""
        f = client.File()
        # DELETE: create, replacing an old file. With NEW as well the server refuses a file
        # that exists ([3018] file exists), so a second put of one name failed.
        flags = OpenFlags.DELETE | OpenFlags.MAKEPATH
        status, _ = f.open(url, flags, timeout=TIMEOUT)
        if not status.ok:
            raise mapped(url, status, "open for writing")
        total = 0
        try:
            with open(src, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    status, _ = f.write(chunk, offset=total, timeout=TIMEOUT)
                    if not status.ok:
                        raise mapped(url, status, f"write at {total}")
                    total += len(chunk)
        finally:
            status, _ = f.close(timeout=TIMEOUT)
        if not status.ok:
            raise mapped(url, status, "close after writing")
        return total

    def get(self, url: str, dest: str | Path) -> int:
        handle = XrdHandle(url)
        total = 0
        try:
            with open(dest, "wb") as out:
                while total < handle.size:
                    data = handle.read_at(total, min(CHUNK, handle.size - total))
                    if not data:
                        raise StorageError(url, f"short read at {total} of {handle.size}")
                    out.write(data)
                    total += len(data)
        finally:
            handle.close()
        return total

    def remove(self, url: str) -> None:
        fs, path = self._fs(url)
        status, _ = fs.rm(path, timeout=TIMEOUT)
        if not status.ok:
            err = mapped(url, status, "remove")
            if not isinstance(err, NotFound):
                raise err

    def mkdir(self, url: str) -> None:
        fs, path = self._fs(url)
        status, _ = fs.mkdir(path, MkDirFlags.MAKEPATH, timeout=TIMEOUT)
        if not status.ok and int(getattr(status, "errno", 0)) != 3018:  # 3018: exists
            raise mapped(url, status, "mkdir")

    def usage(self, url: str) -> tuple[int, int]:
        """(total, free) bytes of the space holding ``url`` (``kXR_Qspace``)."""
        fs, path = self._fs(url)
        status, answer = fs.query(QueryCode.SPACE, path or "/", timeout=TIMEOUT)
        if not status.ok:
            raise mapped(url, status, "space query")
        text = answer.decode(errors="replace").strip("\x00")
        fields = dict(kv.split("=", 1) for kv in text.split("&") if "=" in kv)
        try:
            return int(fields["oss.space"]), int(fields["oss.free"])
        except (KeyError, ValueError) as exc:
            raise StorageError(url, f"space query answered {text!r}") from exc

    def probe(self, url: str) -> None:
        fs, path = self._fs(url)
        status, _ = fs.stat(path or "/", timeout=TIMEOUT)
        if not status.ok:
            raise mapped(url, status, "stat")
