"""Fixtures of the factory tests: a fake summary server, token files, a fake pilot, and a real
HTCondor pool. Helpers are in factory_helpers.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from factory_helpers import CONDOR_SCRIPT, FAKE_PILOT, CondorPool, FakeServer, mounts_under


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "operator.token"
    path.write_text("operator-secret-123\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def fake_pilot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An executable fake pilot; each start leaves a JSON record in tmp_path/started/."""
    started = tmp_path / "started"
    started.mkdir()
    script = tmp_path / "fake-pilot"
    script.write_text(FAKE_PILOT.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("FAKE_PILOT_RECORD_DIR", str(started))
    yield script
    # Stop whatever the test left running (only processes this fixture's script started).
    for record in started.glob("pilot-*.json"):
        pid = json.loads(record.read_text())["pid"]
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@pytest.fixture(scope="session")
def condor_pool() -> Iterator[CondorPool]:
    """Start the HTCondor personal pool with scripts/condor-pool.sh; stop it afterwards."""
    if os.geteuid() != 0:
        pytest.skip("the HTCondor pool runs in a chroot: needs root (scripts/condor-pool.sh)")
    running = subprocess.run([str(CONDOR_SCRIPT), "status"], capture_output=True).returncode == 0
    if not running:
        out = subprocess.run(
            [str(CONDOR_SCRIPT), "start"], capture_output=True, text=True, timeout=600
        )
        if out.returncode != 0:
            pytest.skip(
                f"HTCondor pool could not be installed or started: {out.stderr.strip()[-400:]}"
            )
    out = subprocess.run([str(CONDOR_SCRIPT), "env"], capture_output=True, text=True, check=True)
    env = {}
    for line in out.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import htcondor2

    htcondor2.reload_config()
    try:
        yield CondorPool(env)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if os.environ.get("CONDOR_CONFIG"):
            htcondor2.reload_config()
        if not running:
            subprocess.run([str(CONDOR_SCRIPT), "stop"], capture_output=True, timeout=120)
            left = mounts_under(Path(env["P3S_CONDOR_ROOT"]) / "root")
            assert not left, f"condor-pool.sh stop left mounts behind: {left}"
