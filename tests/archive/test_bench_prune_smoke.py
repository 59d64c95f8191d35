"""`make bench --only prune` cannot rot: its tiny form fills, measures, prunes with the real
command, vacuums and measures again. It checks that it runs and prunes, not how fast."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import using_postgres

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e]


@pytest.mark.skipif(not using_postgres(), reason="the bench part fills PostgreSQL")
def test_the_prune_bench_part_prunes_and_reports(monkeypatch):
    import os

    base = os.environ.get("P3S_TEST_DATABASE_URL") or "postgres://p3s:p3s@127.0.0.1:5432/p3s"
    sys.path.insert(0, str(ROOT / "scripts"))
    import bench
    import bench_prune

    monkeypatch.setattr(bench, "BASE_URL", base)
    data = bench_prune.run(rows=3000, waiting=200, claims=20, db="p3s_bench_prune_smoke")
    assert data["before"]["job_rows"] == 3000 + 200
    assert data["after"]["job_rows"] == 200  # the waiting jobs stay, every ended one is gone
    assert "pruned 3000 job(s)" in data["command"] and "3 DAG run(s)" in data["command"]
    assert data["control_before"]["job_rows"] == data["control_after"]["job_rows"] == 200
    assert data["before"]["claims"] == data["after"]["claims"] == 20
    assert data["ratio_to_control_p50_after"] > 0
    assert "job_claim_order" in data["after"]["explain"]
    md = "\n".join(bench_prune.markdown(data))
    assert "| after pruning | 200 |" in md and "3,000 ended job rows" in md
