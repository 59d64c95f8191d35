"""A payload never outlives its pilot (Linux): SIGKILL the pilot mid-job and the payload and
the grandchild it spawned are gone within moments, so a re-queued job never runs twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from pilot_helpers import process_gone, read_pid, wait_for
from pilot_httpfake import HttpFake
from test_pilot_process import start_pilot

from pilot.fake import FakeServer

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux")


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


@pytest.fixture
def http():
    with HttpFake(FakeServer(heartbeat_interval=0.2)) as server:
        yield server


def test_sigkill_of_the_pilot_takes_the_payload_and_its_grandchild_with_it(
    http, tmp_path, test_payloads
):
    pidfile = tmp_path / "grandchild.pid"
    job = http.fake.add_job("forker", [str(pidfile)], timeout=600.0)
    pilot = start_pilot(http, tmp_path, "--idle-exit", "60")
    wait_for(lambda: http.fake.states()[job] == "running", timeout=20)
    grandchild = read_pid(pidfile)
    payload = parent_of(grandchild)
    guard = parent_of(payload)
    assert parent_of(guard) == pilot.pid

    pilot.send_signal(signal.SIGKILL)
    pilot.wait(5)
    wait_for(lambda: all(process_gone(p) for p in (grandchild, payload, guard)), timeout=2.0)


def test_a_payload_whose_pilot_is_already_gone_does_not_start(tmp_path, test_payloads):
    marker = tmp_path / "ran"
    env = {**os.environ, "P3S_PILOT_PID": "1"}  # our parent is not pid 1: the pilot "died"
    code = "import sys; from pilot.launch import main; sys.exit(main())"
    proc = subprocess.run(
        [sys.executable, "-c", code, "forker", str(marker)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "the pilot is gone" in proc.stderr
    time.sleep(0.2)
    assert not marker.exists()


def test_the_payload_exit_code_and_signal_pass_through_the_guard(tmp_path, test_payloads):
    env = {**os.environ, "P3S_PILOT_PID": str(os.getpid())}
    code = "import sys; from pilot.launch import main; sys.exit(main())"
    ok = subprocess.run(
        [sys.executable, "-c", code, "diag", "--exit-code", "3"], env=env, cwd=tmp_path, timeout=60
    )
    assert ok.returncode == 3
    pidfile = tmp_path / "stubborn.pid"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "stubborn", str(pidfile)], env=env, start_new_session=True
    )
    read_pid(pidfile)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL
