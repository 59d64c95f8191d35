"""Real servers for the storage tests: an XRootD server (:mod:`storage.xrdserver`) and an
HTTP server with byte ranges. :class:`RangeServer`
is a small threaded HTTP server that answers ``HEAD``, ``GET`` with one ``Range`` (206),
``PUT`` and ``DELETE`` over a directory, and counts the body bytes it sends.
"""

from __future__ import annotations

import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from storage.xrdserver import XrootdServer, free_port

__all__ = ["RangeServer", "XrootdServer", "free_port"]


_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _path(self) -> Path | None:
        rel = self.path.split("?", 1)[0].lstrip("/")
        target = (self.server.root / rel).resolve()
        if self.server.root not in target.parents and target != self.server.root:
            return None
        return target

    def _head(self, get: bool) -> None:
        target = self._path()
        if target is None or not target.is_file():
            self.send_error(404)
            return
        size = target.stat().st_size
        if not os.access(target, os.R_OK) or target.name.startswith("forbidden"):
            self.send_error(403)
            return
        rng = self.headers.get("Range")
        start, end, code = 0, size - 1, 200
        if rng and not self.server.ignore_ranges:
            m = _RANGE.match(rng.strip())
            if not m:
                self.send_error(416)
                return
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return
            code = 206
        self.send_response(code)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if code == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if get:
            with open(target, "rb") as fh:
                fh.seek(start)
                body = fh.read(end - start + 1)
            self.wfile.write(body)
            with self.server.lock:
                self.server.bytes_sent += len(body)
                self.server.requests += 1

    def do_HEAD(self) -> None:  # noqa: N802
        self._head(get=False)

    def do_GET(self) -> None:  # noqa: N802
        self._head(get=True)

    def do_PUT(self) -> None:  # noqa: N802
        target = self._path()
        if target is None:
            self.send_error(403)
            return
        n = int(self.headers.get("Content-Length") or 0)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.rfile.read(n))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_DELETE(self) -> None:  # noqa: N802
        target = self._path()
        if target is None or not target.is_file():
            self.send_error(404)
            return
        target.unlink()
        self.send_response(204)
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    ignore_ranges = False
    bytes_sent = 0
    requests = 0
    lock: threading.Lock


class RangeServer:
    """An HTTP server over ``root`` on a free port, in a thread."""

    def __init__(self, root: Path):
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.root = root.resolve()
        self.httpd.lock = threading.Lock()
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def bytes_sent(self) -> int:
        return self.httpd.bytes_sent

    def url(self, rel: str) -> str:
        return f"http://127.0.0.1:{self.port}/{rel.lstrip('/')}"

    def start(self) -> RangeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
