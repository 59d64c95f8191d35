"""The chaos run (scripts/chaos.py) as a test: every fault at once on a real p3s (private
PostgreSQL cluster restarted, gunicorn restarted twice, pilots SIGKILLed mid-job, the tmpfs
staging disk filled), then its accounting must be all zeros: no DAG run lost or failed, no job
run twice at once, no child created twice, no metric or product lost or duplicated, no pilot
gone by itself. The short form runs in `make test` (bounded: a few minutes on a quiet 2-core
machine); the full one (300 DAG runs, marker ``full``) in `make chaos`. Skipped with the
reason where it cannot run (needs root for su and mount). The run makes its own PostgreSQL
cluster, so it runs once per `make test`: not again in the SQLite pass."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e]

# Files arrive over 90 s (longer still while the server is down: the DAQ client waits), so
# work is live at every kill: at 20 s, a loaded machine (load ~11, the 3rd run here) had
# finished it all during the first outage and the second kill found nothing to kill.
SHORT = ["--runs", "12", "--real", "1", "--pilots", "4", "--kills", "2", "--spread", "90"]
SHORT += ["--gap", "5", "--settle", "600", "--settle-floor", "60"]
FULL = ["--runs", "300", "--real", "4", "--pilots", "8", "--kills", "12", "--spread", "300"]


def second_pass_of_make_test() -> bool:
    """scripts/test.sh runs the e2e tests again on SQLite when PostgreSQL answers."""
    if not os.environ.get("P3S_DATABASE_URL", "").startswith("sqlite"):
        return False
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


def chaos(tmp_path, args: list[str], timeout: float) -> dict:
    if second_pass_of_make_test():
        pytest.skip("the chaos run brings its own PostgreSQL: it ran in the PostgreSQL pass")
    out = tmp_path / "chaos.json"
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts/chaos.py"), *args, "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if r.returncode == 77:
        pytest.skip(r.stderr.strip())
    print(r.stdout[-6000:])
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    result = json.loads(out.read_text())
    fails = [ln for ln in result["lines"] if ln["ok"] is False]
    assert not fails, fails
    kinds = {f["fault"] for f in result["faults"] if "skipped" not in f["note"]}
    assert {"kill", "server-kill", "server-term", "postgres"} <= kinds, result["faults"]
    assert len(result["kills"]) == sum(f["fault"] == "kill" for f in result["faults"])
    assert result["settle"]["why"] == "quiet", result["settle"]
    return result


def test_a_short_chaos_run_loses_nothing_and_runs_nothing_twice(tmp_path):
    """Every kill finds a pilot running a job (it waits for one), settling ends when the
    system is quiet (every DAG run of every template its files trigger ended, no job live)."""
    result = chaos(tmp_path, SHORT, timeout=1500)
    assert len(result["kills"]) == 2, result["faults"]


@pytest.mark.slow
@pytest.mark.full
def test_the_full_chaos_run_loses_nothing_and_runs_nothing_twice(tmp_path):
    chaos(tmp_path, FULL, timeout=3600)
