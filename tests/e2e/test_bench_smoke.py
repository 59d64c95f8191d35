"""`make bench` cannot rot: its quick form of the claim, HTTP and payload parts runs and
writes both reports (how fast is the bench's business, never a test's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, using_postgres

pytestmark = [pytest.mark.e2e]


@pytest.mark.skipif(not using_postgres(), reason="the bench measures the claim on PostgreSQL")
def test_the_quick_bench_runs_and_writes_its_reports(tmp_path):
    env = {**os.environ, "P3S_BENCH_OUT": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    parts = ["--only", "claim", "--only", "http", "--only", "payloads"]
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts/bench.py"), "--quick", *parts],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = (tmp_path / "report.md").read_text()
    for heading in ("The claim on PostgreSQL", "Through real gunicorn", "Payloads"):
        assert heading in report, report[:2000]
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["http"]["jobs_per_s"] > 0 and data["http"]["errors"] == 0
    assert data["payloads"]["sig_seconds_per_apa_event"] > 0
    assert set(data["part_seconds"]) == {"claim", "http", "payloads"}, data["part_seconds"]
    assert data["bench_seconds"] >= sum(data["part_seconds"].values()) - 1
    assert "The bench took" in report
