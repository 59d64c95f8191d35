"""``http://`` and ``https://`` URLs: reads by ``Range`` requests, writes by ``PUT``.

A server that answers a range request with the whole body (200 instead of 206) is refused
with a clear error rather than silently downloading the whole file for every read.
"""

from __future__ import annotations

from pathlib import Path

import requests

from storage.errors import NotFound, PermissionRefused, StorageError, Transient

SCHEMES = ("http", "https")
TIMEOUT = (5, 60)  # connect, read
_session = requests.Session()


def mapped(url: str, status: int, what: str) -> StorageError:
    message = f"{what}: HTTP {status}"
    if status in (404, 410):
        return NotFound(url, message)
    if status in (401, 403):
        return PermissionRefused(url, message)
    if status in (408, 425, 429) or status >= 500:
        return Transient(url, message)
    return StorageError(url, message)


def _request(method: str, url: str, what: str, **kw) -> requests.Response:
    try:
        return _session.request(method, url, timeout=TIMEOUT, **kw)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise Transient(url, f"{what}: {type(exc).__name__}: {exc}") from exc
    except requests.RequestException as exc:
        raise StorageError(url, f"{what}: {exc}") from exc


class HttpHandle:
    def __init__(self, url: str):
        self.url = url
        r = _request("HEAD", url, "head", allow_redirects=True)
        if r.status_code != 200:
            raise mapped(url, r.status_code, "head")
        length = r.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise StorageError(url, "the server gives no Content-Length: cannot read by ranges")
        if r.headers.get("Accept-Ranges", "").lower() == "none":
            raise StorageError(url, "the server says it does not serve byte ranges")
        self.size = int(length)

    def read_at(self, offset: int, n: int) -> bytes:
        end = offset + n - 1
        r = _request("GET", self.url, "range read", headers={"Range": f"bytes={offset}-{end}"})
        if r.status_code == 206:
            return r.content
        if r.status_code == 200:
            raise StorageError(
                self.url, "the server ignored the Range header (200, whole body): refused"
            )
        if r.status_code == 416:
            return b""
        raise mapped(self.url, r.status_code, f"range read {offset}-{end}")

    def close(self) -> None:
        pass


class Http:
    name = "http"

    def open(self, url: str) -> HttpHandle:
        return HttpHandle(url)

    def size(self, url: str) -> int:
        return HttpHandle(url).size

    def exists(self, url: str) -> bool:
        try:
            HttpHandle(url)
        except NotFound:
            return False
        return True

    def put(self, src: str | Path, url: str) -> int:
        size = Path(src).stat().st_size
        with open(src, "rb") as fh:
            r = _request("PUT", url, "put", data=fh)
        if r.status_code not in (200, 201, 204):
            raise mapped(url, r.status_code, "put")
        return size

    def get(self, url: str, dest: str | Path) -> int:
        try:
            with _session.get(url, timeout=TIMEOUT, stream=True) as r:
                if r.status_code != 200:
                    raise mapped(url, r.status_code, "get")
                total = 0
                with open(dest, "wb") as out:
                    for chunk in r.iter_content(1 << 20):
                        out.write(chunk)
                        total += len(chunk)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Transient(url, f"get: {exc}") from exc
        return total

    def remove(self, url: str) -> None:
        r = _request("DELETE", url, "delete")
        if r.status_code not in (200, 202, 204, 404):
            raise mapped(url, r.status_code, "delete")

    def usage(self, url: str) -> tuple[int, int]:
        raise StorageError(url, "HTTP gives no disk usage")

    def probe(self, url: str) -> None:
        r = _request("HEAD", url, "probe")
        if r.status_code >= 400 and r.status_code != 405:
            raise mapped(url, r.status_code, "probe")
