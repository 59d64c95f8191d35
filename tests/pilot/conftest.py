"""Fixtures for the pilot tests: a fake server, pilots wired to it, test-only payloads.

Nothing here needs Django or a real server. Run with ``pytest tests/pilot -p no:django``.
"""

from __future__ import annotations

import logging
import os
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pilot.config import Config
from pilot.fake import FakeServer
from pilot.loop import Pilot
from pilot.transport import Retrying

# Payloads that exist only for these tests, registered in the p3s.payloads group by a
# throw-away distribution put on sys.path (and PYTHONPATH, for the payload processes).
TEST_PAYLOADS = '''
import os, signal, subprocess, sys, time
from pathlib import Path
from payloads.jobio import Result, load_job, write_result

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]

def forker(argv):
    """Spawn a grandchild that writes its pid to argv[0], then sleep long."""
    child = subprocess.Popen(SLEEPER)
    Path(argv[0]).write_text(str(child.pid))
    time.sleep(120)
    return 0

def stubborn(argv):
    """Ignore SIGTERM, write own pid to argv[0], sleep long."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    Path(argv[0]).write_text(str(os.getpid()))
    time.sleep(120)
    return 0

def leaver(argv):
    """Start a grandchild (pid to argv[0]) and exit 0 at once, leaving it behind."""
    child = subprocess.Popen(SLEEPER)
    Path(argv[0]).write_text(str(child.pid))
    write_result(Result())
    return 0

def noresult(argv):
    print("noresult: exiting 0 without a result")
    return 0

def badresult(argv):
    Path(os.environ["P3S_RESULT"]).write_text("{not json")
    return 0

def envdump(argv):
    """Write the environment variables it sees and the job it read as its result."""
    job = load_job()
    result = Result()
    result.add_metric("job_id_seen", job.id)
    result.add_metric("token_visible", 1.0 if "P3S_TOKEN" in os.environ else 0.0)
    Path("env.txt").write_text(os.environ.get("P3S_JOB", "") + "\\n" + os.getcwd())
    result.add_output(Path("env.txt").resolve())
    write_result(result)
    return 0

def product(argv):
    """Write a png and a json product and one metric."""
    Path("plot.png").write_bytes(b"\\x89PNG\\r\\n\\x1a\\nfake")
    Path("summary.json").write_text('{"rms": 1.5}')
    result = Result()
    result.add_product("plot.png", "png", "ADC RMS", apa="1")
    result.add_product(Path("summary.json").resolve(), "json", "Summary")
    result.add_metric("rms", 1.5, apa="1")
    write_result(result)
    return 0
'''

ENTRY_POINTS = """
[p3s.payloads]
forker = p3s_testpayloads:forker
stubborn = p3s_testpayloads:stubborn
leaver = p3s_testpayloads:leaver
noresult = p3s_testpayloads:noresult
badresult = p3s_testpayloads:badresult
envdump = p3s_testpayloads:envdump
product = p3s_testpayloads:product
"""


@pytest.fixture(autouse=True)
def _pilot_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)


@pytest.fixture(scope="session")
def test_payload_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("testpayloads")
    (site / "p3s_testpayloads.py").write_text(textwrap.dedent(TEST_PAYLOADS))
    info = site / "p3s_testpayloads-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: p3s-testpayloads\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return site


@pytest.fixture
def test_payloads(test_payload_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Register the test-only payloads for this test (in-process and in payload processes)."""
    monkeypatch.syspath_prepend(str(test_payload_dir))
    path = os.pathsep.join(filter(None, [str(test_payload_dir), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    return test_payload_dir


@pytest.fixture
def fake() -> FakeServer:
    return FakeServer(heartbeat_interval=0.1)


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    """A config fit for quick tests; keyword arguments override any field."""

    def make(**overrides: Any) -> Config:
        settings: dict[str, Any] = {
            "server": "http://fake.invalid",
            "token": "pilot-token",
            "workdir": tmp_path / "work",
            "wait": 0.5,
            "validate": False,
            "kill_grace": 1.0,
            "give_up": 5.0,
            "min_disk_mb": 0.0,
            "lifetime_reserve": 0.0,
            "idle_exit": 5.0,
        }
        settings.update(overrides)
        return Config(**settings)

    return make


@pytest.fixture
def make_pilot(
    make_config: Callable[..., Config],
) -> Iterator[Callable[..., Pilot]]:
    """Pilots on a fake server, with fast retries; their heartbeats stop at teardown."""
    made: list[Pilot] = []

    def make(server: FakeServer, **overrides: Any) -> Pilot:
        config = make_config(**overrides)
        stopping = threading.Event()
        transport = Retrying(
            server, give_up=config.give_up, backoff_base=0.02, backoff_cap=0.2, cancel=stopping
        )
        pilot = Pilot(config, transport, stopping=stopping)
        made.append(pilot)
        return pilot

    yield make
    for pilot in made:
        if pilot.heartbeat is not None:
            pilot.heartbeat.stop()
