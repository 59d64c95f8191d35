"""Shared by the log tests: a job running on a pilot, and its log upload."""

from __future__ import annotations

import gzip
import io

import pytest

from tests.conftest import FANOUT_JOIN
from tests.server.test_attempt_fencing import claim_and_run

__all__ = ["claim_and_run"]

FILE = {"url": "file:///d/f.h5", "stream": "diag", "run": 5, "timestamp": "2026-11-22T10:00:00Z"}
LOG = "".join(f"line {i:05d} of the payload\n" for i in range(3000)) + "ERROR: ADC 7 saturated\n"


def upload(pilot, job_id, attempt=1, key="k-1", content=None, cut=0):
    f = io.BytesIO(gzip.compress(LOG.encode()) if content is None else content)
    f.name = "payload.log.gz"
    data = {"file": f, "cut": cut, "key": key}
    if attempt is not None:
        data["attempt"] = attempt
    return pilot.post(f"/api/v1/jobs/{job_id}/log/", data, format="multipart")


def files(root):
    return sorted(p for p in (root / "logs").rglob("*") if p.is_file())


@pytest.fixture
def running(daq, new_pilot, make_dag, settings, tmp_path):
    """(pilot client, job id): a diag job running on a pilot; logs go under ``tmp_path``."""
    settings.DATA_ROOT = tmp_path
    make_dag(FANOUT_JOIN)
    daq.post("/api/v1/files/", FILE, format="json")
    pilot = new_pilot()
    return pilot, claim_and_run(pilot)["id"]
