"""Warm payloads (pilot.warm): forked from a pre-imported worker with today's isolation.

A real worker process forks real payloads (a throw-away distribution registers them);
nothing is mocked. The stack the worker preloads is kept empty here except where a test
says otherwise, so the tests stay quick; the forking is the same.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from pilot_helpers import process_gone, read_pid, wait_for
from pilot_httpfake import HttpFake
from test_pilot_process import start_pilot

from pilot.fake import FakeServer
from pilot.runner import log_tail, read_result, run_payload
from pilot.warm import WarmWorker

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork + prctl")

WARM_PAYLOADS = '''
import os, signal, subprocess, sys, time
from pathlib import Path
from payloads.jobio import Result, write_result

COUNTER = 0
LEAKED = []
SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]

def talk(argv):
    """Print to both streams, write who it is and what it sees, exit with argv[0]."""
    print("hello on stdout")
    print("trouble on stderr", file=sys.stderr)
    seen = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "pgid": os.getpgrp(),
        "cwd": os.getcwd(),
        "job": os.environ.get("P3S_JOB"),
        "token": "P3S_TOKEN" in os.environ,
        "argv": sys.argv,
        "warm_marker": "p3s_warm_marker" in sys.modules,
    }
    Path("seen.json").write_text(__import__("json").dumps(seen))
    write_result(Result())
    return int(argv[0])

def mutate(argv):
    """Change a module global, leak file descriptors, report what it found first."""
    global COUNTER
    COUNTER += 1
    fds = len(os.listdir("/proc/self/fd"))
    LEAKED.extend(open(os.devnull) for _ in range(50))
    result = Result()
    result.add_metric("counter", COUNTER)
    result.add_metric("fds", fds)
    write_result(result)
    sys.modules["json"].dumps = None  # poison a shared module for whoever runs next
    return 0

def crash(argv):
    os.abort()

def wforker(argv):
    """Spawn a grandchild that writes its pid to argv[0], then sleep long."""
    child = subprocess.Popen(SLEEPER)
    Path(argv[0]).write_text(str(child.pid))
    time.sleep(120)
    return 0
'''

ENTRY_POINTS = """
[p3s.payloads]
talk = p3s_warmtest:talk
mutate = p3s_warmtest:mutate
crash = p3s_warmtest:crash
wforker = p3s_warmtest:wforker
"""


@pytest.fixture(scope="module")
def warm_payload_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("warmpayloads")
    (site / "p3s_warmtest.py").write_text(textwrap.dedent(WARM_PAYLOADS))
    (site / "p3s_warm_marker.py").write_text("LOADED = True\n")
    info = site / "p3s_warmtest-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: p3s-warmtest\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return site


@pytest.fixture
def warm_payloads(warm_payload_dir, test_payloads, monkeypatch):
    monkeypatch.syspath_prepend(str(warm_payload_dir))
    path = os.pathsep.join([str(warm_payload_dir), os.environ["PYTHONPATH"]])
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("P3S_TOKEN", "secret-of-the-pilot")
    return warm_payload_dir


@pytest.fixture
def worker(warm_payloads):
    warm = WarmWorker(["p3s_warmtest"], stack=["p3s_warm_marker"], ready_timeout=60)
    warm.start()
    yield warm
    warm.close()


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def run(worker, tmp_path, name, args=(), timeout=30.0, job_id=1):
    jobdir = tmp_path / f"job-{job_id}"
    spec = {"id": job_id, "payload": name, "args": list(args)}
    outcome = run_payload(spec, jobdir, timeout, 1.0, lambda: None, warm=worker)
    return outcome, jobdir


def test_a_warm_payload_gets_its_own_group_dir_env_log_and_exit_code(worker, tmp_path):
    outcome, jobdir = run(worker, tmp_path, "talk", ["3"])
    assert worker.names == {"talk", "mutate", "crash", "wforker"}
    assert outcome.ended == "exited" and outcome.exit_code == 3
    assert outcome.stderr_tail == ["trouble on stderr"]
    assert "hello on stdout" in log_tail(jobdir) and "trouble on stderr" in log_tail(jobdir)
    seen = json.loads((jobdir / "seen.json").read_text())
    assert seen["cwd"] == str(jobdir)
    assert seen["job"] == str(jobdir / "job.json")
    assert seen["token"] is False
    assert seen["argv"] == ["talk", "3"]
    assert seen["warm_marker"] is True  # forked from the worker, which preloaded it
    guard = seen["ppid"]
    assert seen["pgid"] == guard != worker.pid  # the guard leads the job's own group
    assert read_result(jobdir)["outputs"] == []


def test_the_time_limit_kills_the_whole_group_of_a_warm_payload(worker, tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    outcome, _ = run(worker, tmp_path, "wforker", [str(pidfile)], timeout=1.5)
    assert outcome.ended == "timeout" and outcome.exit_code is None
    grandchild = read_pid(pidfile)
    wait_for(lambda: process_gone(grandchild), timeout=3)
    assert worker.alive()


def test_one_job_cannot_poison_the_next(worker, tmp_path):
    first, dir1 = run(worker, tmp_path, "mutate", job_id=1)
    crashed, _ = run(worker, tmp_path, "crash", job_id=2)
    second, dir2 = run(worker, tmp_path, "mutate", job_id=3)
    assert first.succeeded and second.succeeded
    assert crashed.exit_code == -signal.SIGABRT
    one = {m["name"]: m["value"] for m in read_result(dir1)["metrics"]}
    two = {m["name"]: m["value"] for m in read_result(dir2)["metrics"]}
    assert one == two == {"counter": 1, "fds": one["fds"]}  # same globals, same fds
    assert worker.alive()


def test_a_payload_outside_the_warm_set_starts_cold(worker, tmp_path, caplog):
    outcome, jobdir = run(worker, tmp_path, "envdump")  # p3s_testpayloads: not warm
    assert outcome.succeeded
    assert "started payload envdump cold" in caplog.text
    caplog.clear()
    run(worker, tmp_path, "talk", ["0"], job_id=2)
    assert "started payload talk warm" in caplog.text


def test_a_dead_worker_ends_its_job_and_the_next_job_gets_a_new_one(worker, tmp_path):
    import threading

    pidfile = tmp_path / "grandchild.pid"
    old = None

    def kill_worker():
        nonlocal old
        read_pid(pidfile)
        old = worker.pid
        os.kill(worker.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_worker)
    killer.start()
    outcome, _ = run(worker, tmp_path, "wforker", [str(pidfile)], timeout=60)
    killer.join()
    assert outcome.exit_code == -signal.SIGKILL
    wait_for(lambda: process_gone(read_pid(pidfile)), timeout=3)
    again, _ = run(worker, tmp_path, "talk", ["0"], job_id=2)
    assert again.succeeded and worker.pid != old


@pytest.fixture
def http():
    with HttpFake(FakeServer(heartbeat_interval=0.2)) as server:
        yield server


def test_sigkill_of_the_pilot_takes_the_warm_worker_and_its_payloads_with_it(
    http, tmp_path, warm_payloads
):
    pidfile = tmp_path / "grandchild.pid"
    job = http.fake.add_job("wforker", [str(pidfile)], timeout=600.0)
    pilot = start_pilot(http, tmp_path, "--idle-exit", "60", "--warm", "p3s_warmtest")
    wait_for(lambda: http.fake.states()[job] == "running", timeout=60)
    # The worker imports the whole payload stack first (seconds on a loaded machine).
    grandchild = int(wait_for(lambda: pidfile.exists() and pidfile.read_text(), timeout=90))
    payload = parent_of(grandchild)
    guard = parent_of(payload)
    worker = parent_of(guard)
    assert parent_of(worker) == pilot.pid
    cmdline = Path(f"/proc/{worker}/cmdline").read_bytes()
    assert b"pilot.warm" in cmdline

    pilot.send_signal(signal.SIGKILL)
    pilot.wait(5)
    procs = (grandchild, payload, guard, worker)
    wait_for(lambda: all(process_gone(p) for p in procs), timeout=3.0)


def test_no_warm_starts_every_payload_cold(http, tmp_path, warm_payloads):
    job = http.fake.add_job("talk", ["0"], timeout=60.0)
    pilot = start_pilot(http, tmp_path, "--once", "--no-warm", "-v")
    _, err = pilot.communicate(timeout=60)
    assert http.fake.states()[job] == "finished"
    assert "started payload talk cold" in err
