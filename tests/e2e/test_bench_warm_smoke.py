"""The warm part of `make bench` cannot rot: its 6-APA split form runs a real file through six
real pilots with ADC+FFT, SIG, RECO and VIS split by APA, and reports it (how fast is the
bench's business, never a test's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, using_postgres

pytestmark = [pytest.mark.e2e]


@pytest.mark.skipif(not using_postgres(), reason="the bench runs on PostgreSQL")
def test_the_split_six_apa_bench_runs_every_part(tmp_path):
    env = {**os.environ, "P3S_BENCH_OUT": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    argv = [sys.executable, str(ROOT / "scripts/bench_warm.py"), "--modes", "split6"]
    r = subprocess.run(
        [*argv, "--files-6apa", "1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    split = json.loads((tmp_path / "warm.json").read_text())["split6"]
    assert split["files"] == 1 and split["latencies_s"][0] > 0
    assert {"adcfft", "sig", "reco", "vis"} <= set(split["stage_run_s"])
    assert split["critical_path"][-1] == "vis"
    assert "| split6 | 6 | 6 | apa:6 | 1 |" in r.stdout
