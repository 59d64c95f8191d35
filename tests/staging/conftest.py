"""Staging areas on real directories (a "down" local area is one whose path runs through a
plain file: nothing can be written there), and a silent TCP server for a hung XRootD."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest


class Area:
    """A local staging area that can be taken down and brought back."""

    def __init__(self, base: Path, name: str):
        self.base = base / name
        self.path = self.base / "staging"
        self.path.mkdir(parents=True)

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def down(self) -> None:
        for p in sorted(self.base.rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
        self.base.rmdir()
        self.base.write_text("not a directory: the area is gone\n")

    def up(self) -> None:
        self.base.unlink()
        self.path.mkdir(parents=True)


@pytest.fixture
def areas(settings, tmp_path):
    """(primary, fallback) local areas configured as the staging settings, probed every pass."""
    primary, fallback = Area(tmp_path, "primary"), Area(tmp_path, "fallback")
    settings.STAGING = {
        **settings.STAGING,
        "PRIMARY": primary.url,
        "FALLBACK": fallback.url,
        "PROBE_INTERVAL": 0.0,
        "DOWN_AFTER": 1,
        "UP_AFTER": 2,
    }
    return primary, fallback


class SilentServer:
    """Accepts TCP connections and never answers: a hung storage server."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.close()
