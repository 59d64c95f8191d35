"""`make replay` cannot rot: a tiny replay (real gunicorn, sweeper, one pilot, the real TPC
chain) runs and writes its table, JSON and plot. It checks that it runs, not how fast."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import using_postgres

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e]


def test_a_tiny_replay_runs_and_reports(tmp_path):
    out = tmp_path / "bench"
    argv = [sys.executable, str(ROOT / "scripts" / "replay.py"), "--out", str(out)]
    argv += ["--rates", "1", "--seconds", "6", "--pilots", "1", "--capacity", "0.2"]
    argv += ["--budget", "30"]  # bounded: jobs waiting over 18 s are dropped, the drain is 75 s
    argv += ["--db", "postgres" if using_postgres() else "sqlite"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output, _ = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        proc.terminate()  # SIGTERM: the replay stops its server, sweeper and pilots
        output, _ = proc.communicate(timeout=120)
        pytest.fail("the replay did not finish in 900 s:\n" + output.decode()[-3000:])
    assert proc.returncode == 0, output.decode()[-3000:]
    data = json.loads((out / "replay.json").read_text())
    (seg,) = data["segments"]
    assert seg["files"] >= 1 and seg["runs_by_state"]
    assert seg["latency_p50_s"] is not None and seg["latency_p50_s"] > 0, seg
    assert 0 <= seg["fully_processed"] <= 1 and seg["samples"]
    md = (out / "replay.md").read_text()
    assert "| 1x | 0.200 |" in md and "newest first" in md
    assert (out / "replay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sys.path.insert(0, str(ROOT / "scripts"))
    import bench_replay

    assert bench_replay.markdown(out)[0].startswith("## Replay")
