"""The chaos run (scripts/chaos.py) as a test: every fault at once on a real p3s (private
PostgreSQL cluster restarted, gunicorn restarted twice, pilots SIGKILLed mid-job, the tmpfs
staging disk filled), then its accounting must be all zeros: no DAG run lost or failed, no job
run twice at once, no child created twice, no metric or product lost or duplicated, no pilot
gone by itself. Both forms run in `make chaos` (marker ``full``): the short one is not yet in
`make test` (see its docstring); the full one (300 DAG runs) is slow. Skipped with the reason
where it cannot run (needs root for su and mount)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e]

SHORT = ["--runs", "12", "--real", "1", "--pilots", "4", "--kills", "2", "--spread", "20"]
SHORT += ["--gap", "5", "--settle", "300"]
FULL = ["--runs", "300", "--real", "4", "--pilots", "8", "--kills", "12", "--spread", "300"]


def chaos(tmp_path, args: list[str], timeout: float) -> dict:
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
    assert len(result["kills"]) >= 1
    return result


@pytest.mark.full  # not yet in make test: see below
def test_a_short_chaos_run_loses_nothing_and_runs_nothing_twice(tmp_path):
    """On the merged main under a saturated machine (load ~30) this short form ended with 4 of
    13 DAG runs not ended within its settle time and 1 product lost, and its pilot kills did not
    happen: it runs in `make chaos` until it is shown to hold (issue 10, open)."""
    chaos(tmp_path, SHORT, timeout=1500)


@pytest.mark.slow
@pytest.mark.full
def test_the_full_chaos_run_loses_nothing_and_runs_nothing_twice(tmp_path):
    chaos(tmp_path, FULL, timeout=3600)
