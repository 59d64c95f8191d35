"""The pilot's conditions cache: fetch each condition a job names, at most once per version.

A claimed job spec carries ``"conditions": {"<name>": "<URL>"}`` (the server pins each URL to
the version current for the job's run). Before the payload starts, :meth:`ConditionsCache.
localise` fetches every URL with ``If-None-Match`` from an on-disk cache under
``<workdir>/conditions-cache/`` (one ``<sha256 of URL>.json`` body and ``.meta.json`` with its
ETag per URL), copies the bodies into the job directory and rewrites the spec's
``conditions`` to ``{"<name>": "<local path>"}`` for the payload's ``job.json``.

- 304: the cached body is used (no download);
- server unreachable or refusing: the cached copy is used, with a warning in the log;
- nothing cached either: the name is left out and the job still runs (the payload falls back
  to its built-in defaults), with a warning.

The token is only ever sent to the configured server: a URL on another host is fetched at
the same path on the configured server instead. Pilots on one node share the cache folder;
every write is a rename, so a reader sees a whole old or a whole new file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from pilot import __version__
from pilot.errors import Unreachable

log = logging.getLogger(__name__)

CACHE_DIR = "conditions-cache"
JOB_SUBDIR = "conditions"


@dataclass
class Answer:
    """What a conditional GET came back with."""

    status: int
    etag: str = ""
    body: bytes = b""


# fetch(url, request_headers) -> Answer; raises Unreachable when there was no usable answer.
Fetch = Callable[[str, dict[str, str]], Answer]


class HttpFetch:
    """Conditional GETs with the pilot's token, on one ``requests.Session``."""

    def __init__(self, token: str, timeout: tuple[float, float] = (10.0, 30.0)) -> None:
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.session.headers["User-Agent"] = f"p3s-pilot/{__version__}"

    def __call__(self, url: str, headers: dict[str, str]) -> Answer:
        try:
            r = self.session.get(url, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise Unreachable(f"no answer from {url}: {exc}") from exc
        if r.status_code >= 500:
            raise Unreachable(f"{url}: HTTP {r.status_code}", r.status_code)
        return Answer(r.status_code, r.headers.get("ETag", ""), r.content)


@dataclass
class Counts:
    """How the conditions of this pilot's jobs were obtained (for tests, logs and metrics)."""

    downloaded: int = 0  # 200: a full body
    not_modified: int = 0  # 304: the cached body was current
    stale: int = 0  # no usable answer: the cached copy was used
    missing: int = 0  # no answer and nothing cached: left out, the payload uses defaults

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ConditionsCache:
    """On-disk cache of condition bodies keyed by URL, validated by ETag.

    Parameters
    ----------
    root : Path
        The cache folder (``<workdir>/conditions-cache``), made on first use.
    fetch : callable
        ``fetch(url, headers) -> Answer``; :class:`HttpFetch` in the pilot.
    server : str, optional
        Base URL of the configured server: URLs on another origin are moved onto it.
    """

    def __init__(self, root: Path, fetch: Fetch, server: str | None = None) -> None:
        self.root = Path(root)
        self.fetch = fetch
        self.server = server
        self.counts = Counts()
        self.unreachable = False

    def _on_server(self, url: str) -> str:
        if not self.server:
            return url
        want, got = urlsplit(self.server), urlsplit(url)
        if (got.scheme, got.netloc) == (want.scheme, want.netloc):
            return url
        moved = urlunsplit((want.scheme, want.netloc, got.path, got.query, ""))
        log.warning(
            "condition URL %s is not on the server %s: fetching %s", url, self.server, moved
        )
        return moved

    def _paths(self, url: str) -> tuple[Path, Path]:
        key = hashlib.sha256(url.encode()).hexdigest()[:32]
        return self.root / f"{key}.json", self.root / f"{key}.meta.json"

    def get(self, url: str, offline: bool = False) -> Path | None:
        """The local path of the body at ``url`` (fetched or from the cache), or None.

        ``offline``: the server was just found unreachable: do not ask it again.
        Raises nothing; :attr:`unreachable` tells whether the last call found no server.
        """
        url = self._on_server(url)
        body_path, meta_path = self._paths(url)
        self.unreachable = False
        if offline:
            self.unreachable = True
            return self._fallback(body_path, url, "the server did not answer")
        etag = ""
        if body_path.is_file():
            try:
                etag = json.loads(meta_path.read_text(encoding="utf-8")).get("etag", "")
            except (OSError, ValueError):
                etag = ""  # no usable metadata: ask for the whole body
        headers = {"If-None-Match": etag} if etag else {}
        try:
            answer = self.fetch(url, headers)
        except Unreachable as exc:
            self.unreachable = True
            return self._fallback(body_path, url, str(exc))
        if answer.status == 304 and etag:
            self.counts.not_modified += 1
            return body_path
        if answer.status != 200:
            return self._fallback(body_path, url, f"HTTP {answer.status}")
        try:
            json.loads(answer.body)
        except ValueError:
            return self._fallback(body_path, url, "the answer is not JSON")
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write(body_path, answer.body)
        meta = {"url": url, "etag": answer.etag}
        _atomic_write(meta_path, json.dumps(meta).encode())
        self.counts.downloaded += 1
        return body_path

    def _fallback(self, body_path: Path, url: str, why: str) -> Path | None:
        if body_path.is_file():
            self.counts.stale += 1
            log.warning("condition %s: %s; using the cached copy %s", url, why, body_path)
            return body_path
        self.counts.missing += 1
        log.warning("condition %s: %s and no cached copy: the payload uses its defaults", url, why)
        return None

    def localise(self, spec: dict[str, Any], jobdir: Path) -> dict[str, Any]:
        """The spec with ``conditions`` as local paths (copies in ``jobdir/conditions/``)."""
        urls = spec.get("conditions") or {}
        if not isinstance(urls, dict) or not urls:
            return {**spec, "conditions": {}}
        local: dict[str, str] = {}
        offline = False  # after one fetch found no server, the others use the cache at once
        for name, url in sorted(urls.items()):
            if not isinstance(url, str) or not url:
                log.warning("job %s: condition %r has no URL, leaving it out", spec.get("id"), name)
                continue
            target = jobdir / JOB_SUBDIR / f"{Path(str(name)).name}.json"
            try:
                cached = self.get(url, offline)
                offline = offline or self.unreachable
                if cached is None:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(cached, target)
            except OSError as exc:  # a full or read-only disk must not cost the job
                log.warning("job %s: condition %s not stored: %s", spec.get("id"), name, exc)
                continue
            local[str(name)] = str(target)
        c = self.counts
        log.info(
            "job %s: %d condition(s) ready (so far: %d downloaded, %d not modified, %d stale, "
            "%d missing)",
            spec.get("id"),
            len(local),
            c.downloaded,
            c.not_modified,
            c.stale,
            c.missing,
        )
        return {**spec, "conditions": local}
