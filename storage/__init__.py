"""One storage layer for the pilot and the payloads: read and write files by URL.

No Django here. Schemes: ``file://`` and plain paths, ``root://`` / ``xroot://`` (XRootD),
``http://`` / ``https://`` (range requests). Every operation retries transient errors with
back-off (:mod:`storage.retry`) and raises :class:`NotFound` or :class:`PermissionRefused`
at once, so a pilot can move on to another replica without waiting.

    with storage.open_input("root://eos.example//raw/run1.h5") as fh:
        h5 = h5py.File(fh, "r")          # h5py reads only the byte ranges it needs
        ...
    fh.counters.bytes_fetched             # bytes moved over the network
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from storage import retry
from storage.errors import NotFound, PermissionRefused, StorageError, Transient, UnsupportedScheme
from storage.reader import InputFile, LocalInputFile

__all__ = [
    "NotFound",
    "PermissionRefused",
    "StorageError",
    "Transient",
    "UnsupportedScheme",
    "InputFile",
    "LocalInputFile",
    "Location",
    "backend",
    "check_url",
    "location",
    "open_input",
    "put",
    "get",
    "exists",
    "size",
    "remove",
    "usage",
    "probe",
    "supported_schemes",
]

# scheme -> (module, class); modules are imported on first use (the XRootD bindings are
# optional: without them root:// URLs are refused with the reason).
_BACKENDS = {
    "": ("storage.local", "Local"),
    "file": ("storage.local", "Local"),
    "root": ("storage.xroot", "XRootD"),
    "xroot": ("storage.xroot", "XRootD"),
    "http": ("storage.http", "Http"),
    "https": ("storage.http", "Http"),
}
_loaded: dict[str, Any] = {}


def scheme_of(url: str) -> str:
    return urlparse(str(url)).scheme.lower() if "://" in str(url) else ""


def backend(url: str) -> Any:
    """The backend object for ``url``'s scheme; :class:`UnsupportedScheme` if there is none."""
    scheme = scheme_of(url)
    if scheme not in _BACKENDS:
        known = ", ".join(s for s in _BACKENDS if s) + " and plain paths"
        raise UnsupportedScheme(str(url), f"no storage backend for scheme {scheme!r} ({known})")
    module, cls = _BACKENDS[scheme]
    if module not in _loaded:
        try:
            _loaded[module] = getattr(importlib.import_module(module), cls)()
        except ImportError as exc:
            raise UnsupportedScheme(
                str(url), f"the {scheme} backend cannot load on this node ({exc})"
            ) from exc
    return _loaded[module]


def supported_schemes() -> list[str]:
    """Schemes whose backend loads here."""
    out = []
    for scheme in _BACKENDS:
        try:
            backend(f"{scheme}://x/y" if scheme else "/x")
        except UnsupportedScheme:
            continue
        out.append(scheme)
    return out


def check_url(url: str, load: bool = True) -> None:
    """Raise :class:`UnsupportedScheme` (a ``ValueError``) if no backend reads ``url``.

    With ``load=False`` only the scheme is checked against the backends there are (the
    server does this at announcement: pilots, not the server, load the XRootD bindings)."""
    if load:
        backend(url)
        return
    scheme = scheme_of(url)
    if scheme not in _BACKENDS:
        known = ", ".join(s for s in _BACKENDS if s) + " and plain paths"
        raise UnsupportedScheme(str(url), f"no storage backend for scheme {scheme!r} ({known})")


def open_input(url: str | Path, policy: retry.Policy = retry.DEFAULT) -> InputFile | LocalInputFile:
    """A seekable, read-only binary file object for ``url`` (counters in ``.counters``)."""
    url = str(url)
    be = backend(url)
    handle = retry.call(lambda: be.open(url), f"open {url}", policy)
    if isinstance(handle, LocalInputFile):
        return handle
    return InputFile(url, handle, policy)


def put(src: str | Path, url: str, policy: retry.Policy = retry.DEFAULT) -> int:
    """Write the local file ``src`` to ``url``; returns the bytes written."""
    be = backend(url)
    return retry.call(lambda: be.put(src, url), f"write {url}", policy)


def get(url: str, dest: str | Path, policy: retry.Policy = retry.DEFAULT) -> int:
    """Copy ``url`` to the local file ``dest``; returns the bytes copied."""
    be = backend(url)
    return retry.call(lambda: be.get(url, dest), f"copy {url}", policy)


def exists(url: str, policy: retry.Policy = retry.DEFAULT) -> bool:
    be = backend(url)
    return bool(retry.call(lambda: be.exists(url), f"exists {url}", policy))


def size(url: str, policy: retry.Policy = retry.DEFAULT) -> int:
    be = backend(url)
    return int(retry.call(lambda: be.size(url), f"size {url}", policy))


def remove(url: str, policy: retry.Policy = retry.DEFAULT) -> None:
    be = backend(url)
    retry.call(lambda: be.remove(url), f"remove {url}", policy)


def usage(url: str, policy: retry.Policy = retry.DEFAULT) -> tuple[int, int]:
    """(total, free) bytes of the storage holding ``url`` (a :class:`StorageError` where the
    backend gives no figure, e.g. HTTP)."""
    be = backend(url)
    total, free = retry.call(lambda: be.usage(url), f"usage {url}", policy)
    return int(total), int(free)


def probe(url: str, policy: retry.Policy = retry.DEFAULT) -> None:
    """Raise unless the staging area ``url`` answers (its directory exists, can be listed)."""
    be = backend(url)
    retry.call(lambda: be.probe(url), f"probe {url}", policy)


def join(base: str, *parts: str) -> str:
    """``base`` (a URL or a path) with path ``parts`` appended."""
    base = str(base).rstrip("/")
    return "/".join([base, *(p.strip("/") for p in parts)])


@dataclass(frozen=True)
class Location:
    """A remote input named by URL, with the path-like bits payloads use for names."""

    url: str

    @property
    def name(self) -> str:
        return PurePosixPath(unquote(urlparse(self.url).path)).name

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name).stem

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    def __str__(self) -> str:
        return self.url


def location(url: str | Path) -> Path | Location:
    """A local :class:`~pathlib.Path` for ``file://`` URLs and plain paths, else a
    :class:`Location`; :class:`UnsupportedScheme` when no backend reads the URL."""
    url = str(url)
    backend(url)
    if scheme_of(url) in ("", "file"):
        from storage.local import path_of

        return path_of(url)
    return Location(url)
