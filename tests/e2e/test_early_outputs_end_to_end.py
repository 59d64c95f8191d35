"""End to end, early outputs: through real gunicorn and two real pilots, a parent that
releases its output and then works on (its "plots") has its child run, on the other pilot,
before it ends; the child reads the released output; the run ends once, when both have."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

pytestmark = [pytest.mark.e2e]

DAG = """
name: early
trigger: {stream: early}
stages:
  data: {payload: diag, args: {bytes: 2000, seconds: 4, release: true}, timeout: 60}
  next: {payload: diag, parents: [data], args: {seconds: 0.2}, timeout: 60}
"""


def test_a_child_runs_while_its_parent_still_makes_its_products(live_p3s):
    r = live_p3s.post(
        "/api/v1/dags/", role="expert", data=DAG, headers={"Content-Type": "application/yaml"}
    )
    assert r.status_code in (200, 201), r.text
    live_p3s.start_pilot("--idle-exit", "30", name="pilot-a")
    live_p3s.start_pilot("--idle-exit", "30", name="pilot-b")
    body = {
        "url": "file:///e2e/early-1.dat",
        "stream": "early",
        "run": 31,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    run_id = live_p3s.post("/api/v1/files/", role="daq", json=body).json()["dagruns"][0]["id"]

    def ended():
        run = live_p3s.get(f"/api/v1/dagruns/{run_id}/").json()
        return run if run["state"] not in ("running", "waiting") else None

    run = live_p3s.wait_for(ended, 90, "the early run to end")
    assert run["state"] == "succeeded", run
    jobs = {j["stage"]: live_p3s.get(f"/api/v1/jobs/{j['id']}/").json() for j in run["jobs"]}
    parent, child = jobs["data"], jobs["next"]
    assert parent["released_at"] is not None
    (output,) = parent["outputs"]
    assert child["parents"] == {"data": [output]}
    # The child started and ended while its parent was still running (it sleeps 4 s after
    # its release), on the other pilot.
    assert child["started_at"] < parent["ended_at"]
    assert child["ended_at"] < parent["ended_at"]
    assert child["pilot"] != parent["pilot"]
    assert parent["released_at"] < child["started_at"]
