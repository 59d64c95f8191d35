"""The real ``p3s-pilot`` process against the fake server over HTTP: signals and exit codes."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pilot_helpers import process_gone, read_pid, wait_for
from pilot_httpfake import HttpFake

from pilot.fake import FakeServer
from pilot.loop import EXIT_CONFIG, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE


@pytest.fixture
def http():
    with HttpFake(FakeServer(heartbeat_interval=0.2)) as server:
        yield server


def start_pilot(http, tmp_path, *extra, token="pilot-token", command=None):
    argv = [
        *(command or [sys.executable, "-m", "pilot.main"]),
        "--server",
        http.url,
        "--token",
        token,
        "--workdir",
        str(tmp_path / "work"),
        "--min-disk-mb",
        "0",
        "--kill-grace",
        "2",
        *extra,
    ]
    return subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=60.0):
    # A bound for a hung pilot, not a speed goal: a loaded node starts Python slowly.
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"pilot did not exit in {timeout} s; stderr:\n{err}") from None
    return proc.returncode, err


def test_sigterm_mid_job_kills_the_payload_releases_the_job_and_exits_zero(
    http, tmp_path, test_payloads
):
    pidfile = tmp_path / "grandchild.pid"
    job = http.fake.add_job("forker", [str(pidfile)], timeout=600.0)
    proc = start_pilot(http, tmp_path, "--idle-exit", "60")
    wait_for(lambda: http.fake.states()[job] == "running", timeout=20)
    grandchild = read_pid(pidfile)

    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    code, err = finish(proc)

    assert code == EXIT_OK, err
    assert time.monotonic() - sent < 8
    assert process_gone(grandchild)
    assert [body["state"] for body in http.fake.reports_for(job)] == ["running", "released"]
    assert "SIGTERM" in http.fake.reports_for(job)[-1]["message"]
    assert http.fake.states()[job] == "waiting"  # handed back for another pilot
    (goodbye,) = http.fake.calls.exits
    assert goodbye["ok"] is True and "SIGTERM" in goodbye["reason"]


def test_sigterm_during_the_long_poll_exits_at_once(http, tmp_path):
    proc = start_pilot(http, tmp_path, "--wait", "30", "--idle-exit", "60")
    wait_for(lambda: http.fake.calls.claims, timeout=20)
    time.sleep(0.3)

    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    code, err = finish(proc)

    assert code == EXIT_OK, err
    assert time.monotonic() - sent < 8
    assert len(http.fake.calls.exits) == 1
    assert "received SIGTERM" in err


def test_console_script_runs_jobs_over_http_and_exits_zero_after_max_jobs(http, tmp_path):
    script = shutil.which("p3s-pilot", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the p3s-pilot console script is not installed next to this Python")
    first = http.fake.add_job("diag", ["--metric", "1"])
    second = http.fake.add_job("diag", ["--exit-code", "2"])
    proc = start_pilot(http, tmp_path, "--max-jobs", "2", command=[script])

    code, err = finish(proc, timeout=30)

    assert code == EXIT_OK, err
    assert http.fake.states() == {first: "finished", second: "failed"}
    assert http.fake.calls.registrations[0]["batch_system"] == "local"
    assert http.fake.calls.registrations[0]["batch_id"] == str(proc.pid)


def test_a_token_the_server_refuses_ends_the_pilot_with_a_clear_error(http, tmp_path):
    code, err = finish(start_pilot(http, tmp_path, token="stolen"))

    assert code == EXIT_REFUSED
    assert "refused this pilot" in err
    assert http.fake.calls.claims == []


def test_a_missing_token_is_a_configuration_error(http, tmp_path, monkeypatch):
    monkeypatch.delenv("P3S_TOKEN", raising=False)
    monkeypatch.delenv("P3S_TOKEN_FILE", raising=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pilot.main", "--server", http.url],
        stderr=subprocess.PIPE,
        text=True,
    )

    code, err = finish(proc)

    assert code == EXIT_CONFIG
    assert "no API token" in err


def test_sigterm_while_the_server_is_down_still_exits_promptly_leaving_the_spool(http, tmp_path):
    job = http.fake.add_job("diag", ["--seconds", "60"])
    proc = start_pilot(http, tmp_path, "--idle-exit", "60", "--give-up", "300")
    wait_for(lambda: http.fake.states()[job] == "running", timeout=20)
    http.fake.go_down(3600)

    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    code, err = finish(proc)

    assert code == EXIT_UNREACHABLE, err
    assert time.monotonic() - sent < 8
    (entry,) = (tmp_path / "work").glob("p3s-pilot-*/spool/job-*.json")
    assert '"released"' in entry.read_text()
