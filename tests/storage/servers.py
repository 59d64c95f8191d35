"""Real servers for the storage tests: an XRootD server and an HTTP server with byte ranges.

:class:`XrootdServer` starts Debian's ``xrootd`` on a free private port over a data directory
(as ``nobody`` when run as root: xrootd refuses to run as the superuser). :class:`RangeServer`
is a small threaded HTTP server that answers ``HEAD``, ``GET`` with one ``Range`` (206),
``PUT`` and ``DELETE`` over a directory, and counts the body bytes it sends.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class XrootdServer:
    """``xrootd`` over ``self.data`` on ``self.port``; ``url(rel)`` names a file in it."""

    def __init__(self, data: Path | None = None, port: int | None = None):
        self.binary = shutil.which("xrootd")
        if self.binary is None:
            raise RuntimeError("xrootd is not installed (scripts/ensure-xrootd.sh installs it)")
        # Under /tmp with open modes: the server runs as nobody and must reach the tree.
        self.top = Path(tempfile.mkdtemp(prefix="p3s-xrd-"))
        self.top.chmod(0o755)
        self.data = data or self.top / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.user = "nobody" if os.geteuid() == 0 else None

    def own(self, path: Path) -> None:
        """Give ``path`` (under the data tree) to the server's user."""
        if self.user:
            pw = pwd.getpwnam(self.user)
            for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
                os.chown(p, pw.pw_uid, pw.pw_gid)

    def start(self, timeout: float = 10.0) -> XrootdServer:
        admin = self.top / "admin"
        admin.mkdir(exist_ok=True)
        cfg = self.top / "xrootd.cfg"
        cfg.write_text(
            "all.export /\n"
            f"oss.localroot {self.data}\n"
            f"all.adminpath {admin}\n"
            f"all.pidpath {admin}\n"
            f"xrd.port {self.port}\n",
            encoding="utf-8",
        )
        self.own(self.top)
        argv = [self.binary, "-c", str(cfg), "-l", str(self.top / "xrootd.log"), "-n", "p3s"]
        if self.user:
            argv[1:1] = ["-R", self.user]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=self.top
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"xrootd exited with {self.proc.returncode}: {self.log()}")
            if _answers(self.port):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"xrootd did not answer on port {self.port}: {self.log()}")

    def log(self) -> str:
        logs = sorted(self.top.rglob("xrootd.log*"))
        return logs[-1].read_text(errors="replace")[-2000:] if logs else ""

    def url(self, rel: str = "") -> str:
        return f"root://127.0.0.1:{self.port}//{rel.lstrip('/')}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.top, ignore_errors=True)


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
