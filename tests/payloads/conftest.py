"""Shared fixtures: small synthetic data with known truth (one APA, few events)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from payloads.daqsim import writer
from payloads.daqsim.tpc import SimConfig

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def raw_file(tmp_path_factory) -> writer.FileInfo:
    """A raw TPC file: one APA, one event, with lines on the APA."""
    out = tmp_path_factory.mktemp("raw")
    return writer.write_tpc_file(
        out,
        seed=11,
        run=7,
        subrun=1,
        n_events=1,
        apas=[0],
        start=START,
        cfg=SimConfig(line_apas=(0,)),
    )


@pytest.fixture(scope="session")
def bi_file(tmp_path_factory) -> writer.FileInfo:
    return writer.write_bi_file(
        tmp_path_factory.mktemp("bi"), seed=3, run=7, subrun=1, n_events=100, start=START
    )


@pytest.fixture(scope="session")
def crt_file(tmp_path_factory) -> writer.FileInfo:
    return writer.write_crt_file(
        tmp_path_factory.mktemp("crt"), seed=3, run=7, subrun=1, n_events=60, start=START
    )


@pytest.fixture
def run_job(tmp_path, monkeypatch):
    """Run a stage's ``main`` through the jobio contract; returns (exit code, result dict)."""

    def run(
        main, *, inputs, parents=None, args=None, fraction=1.0, stream="tpc", stage="s", job_id=1
    ):
        spec = {
            "id": job_id,
            "stage": stage,
            "payload": stage,
            "args": args or [],
            "file": {
                "url": inputs[0],
                "stream": stream,
                "run": 7,
                "subrun": 1,
                "timestamp": START.isoformat(),
                "events": 1,
            },
            "inputs": list(inputs) + [u for us in (parents or {}).values() for u in us],
            "parents": parents or {},
            "output_dir": str(tmp_path / "out"),
            "event_fraction": fraction,
            "timeout": 600,
            "attempt": 1,
        }
        job = tmp_path / f"job-{job_id}.json"
        res = tmp_path / f"result-{job_id}.json"
        job.write_text(json.dumps(spec))
        monkeypatch.setenv("P3S_JOB", str(job))
        monkeypatch.setenv("P3S_RESULT", str(res))
        monkeypatch.chdir(tmp_path)
        code = main(list(args or []))
        return code, (json.loads(res.read_text()) if res.exists() else None)

    return run
