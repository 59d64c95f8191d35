"""A private XRootD server for tests, benchmarks and the demo (not for production).

:class:`XrootdServer` starts Debian's ``xrootd`` (scripts/ensure-xrootd.sh installs it) on a
free private port over a data directory, as ``nobody`` when run as root (xrootd refuses to
run as the superuser), anonymous, read-write.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
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
                # not through symlinks: a stopped server leaves dangling ones in its admin dir
                os.chown(p, pw.pw_uid, pw.pw_gid, follow_symlinks=False)

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
        argv = [str(self.binary), "-c", str(cfg), "-l", str(self.top / "xrootd.log"), "-n", "p3s"]
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
