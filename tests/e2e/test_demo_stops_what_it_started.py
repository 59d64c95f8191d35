"""`make demo` stops everything it started on SIGTERM and on SIGINT (pilots first, so they
say goodbye), and refuses to start when its port is taken."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, free_port

pytestmark = [pytest.mark.e2e]


def demo(tmp_path, port: int, *extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "P3S_VAR_DIR": str(tmp_path / "var"),
        "P3S_DATA_ROOT": str(tmp_path / "data"),
        "P3S_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "P3S_SECRET_KEY": "demo-test-secret",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("P3S_TEST_DATABASE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    argv = [sys.executable, str(ROOT / "scripts/demo.py"), "--port", str(port), *extra]
    return subprocess.Popen(
        argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_pilots_then_the_sweeper_then_the_server(tmp_path, sig):
    port = free_port()
    proc = demo(tmp_path, port, "--pilots", "1", "--files", "1", "--apas", "1", "--events", "1")
    lines = []
    deadline = time.monotonic() + 240
    for line in proc.stdout:
        lines.append(line)
        if "pilots started" in line or time.monotonic() > deadline:
            break
    assert listening(port), "".join(lines)
    time.sleep(2)  # let the pilot register
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, "".join(lines) + out
    assert "stopping pilots, then the sweeper, then the server" in out
    assert not listening(port)
    pilot_log = (tmp_path / "var" / "demo" / "logs" / "pilot1.log").read_text()
    assert "said goodbye to the server" in pilot_log, pilot_log[-3000:]


def test_the_demo_refuses_to_start_when_its_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = demo(tmp_path, port)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert f"port {port} is already in use" in out
