"""End to end: a real pilot against real gunicorn fetches the conditions its jobs name once,
then only revalidates them (304) until an expert makes a new version."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

import pytest

from tests.pilot.conditions_payload import write_payload_dist

pytestmark = [pytest.mark.e2e]

DAG = """
name: condcheck
trigger: {stream: cond}
stages:
  read: {payload: condread, timeout: 60}
"""
REQUEST = re.compile(r'"GET (/api/v1/conditions/[^ ]+) HTTP/1\.[01]" (\d{3})')


def announce(server, name: str, run: int) -> int:
    body = {
        "url": f"file:///e2e/{name}",
        "stream": "cond",
        "run": run,
        "subrun": 1,
        "timestamp": datetime.now(UTC).isoformat(),
        "events": 1,
    }
    r = server.post("/api/v1/files/", role="daq", json=body)
    assert r.status_code == 201, r.text
    return r.json()["dagruns"][0]["id"]


def finished(server, run_id: int) -> dict:
    run = server.wait_for(
        lambda: (d := server.get(f"/api/v1/dagruns/{run_id}/").json())["state"] != "running" and d,
        90,
        f"DAG run {run_id} to end",
    )
    assert run["state"] == "succeeded", run
    return run


def versions_seen(server, run: dict) -> dict[str, float]:
    job = run["jobs"][0]["id"]
    rows = server.get(f"/api/v1/metrics/?job={job}&name=condition_version").json()["results"]
    return {m["labels"]["condition"]: m["value"] for m in rows}


def answers(log) -> list[tuple[str, str]]:
    return REQUEST.findall(log.read_text()) if log.exists() else []


def test_a_pilots_second_job_makes_no_full_download_of_its_conditions(live_p3s):
    site = write_payload_dist(live_p3s.workdir / "condsite")
    access = live_p3s.workdir / "access.log"
    live_p3s.env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(site), os.environ.get("PYTHONPATH")])
    )
    live_p3s.env["P3S_ACCESS_LOG"] = str(access)
    live_p3s.kill_server()  # again with the access log and the test payload registered
    live_p3s.start_server()
    r = live_p3s.post(
        "/api/v1/dags/", role="expert", data=DAG, headers={"Content-Type": "application/yaml"}
    )
    assert r.status_code in (200, 201), r.text
    live_p3s.start_pilot("--max-jobs", "3", "--idle-exit", "60", "--wait", "5")

    first = finished(live_p3s, announce(live_p3s, "c1.dat", 7))
    second = finished(live_p3s, announce(live_p3s, "c2.dat", 8))
    expected = {"bad-channels": 1.0, "bands": 1.0, "channel-map": 1.0}
    assert versions_seen(live_p3s, first) == expected
    assert versions_seen(live_p3s, second) == expected
    seen = answers(access)
    assert sorted(status for _, status in seen) == ["200"] * 3 + ["304"] * 3, seen
    assert [status for _, status in seen[3:]] == ["304"] * 3  # the second job's: no body

    # An expert's new version: the next job downloads that one and revalidates the rest.
    bad = live_p3s.workdir / "bad.json"
    bad.write_text('{"channels": [{"apa": 0, "channel": 12, "status": "dead", "note": "e2e"}]}')
    live_p3s.manage("p3s_conditions", "--import", "bad-channels", str(bad), "--owner", "eddie")
    third = finished(live_p3s, announce(live_p3s, "c3.dat", 9))
    assert versions_seen(live_p3s, third) == {**expected, "bad-channels": 2.0}
    last = dict(answers(access)[6:])
    assert last == {
        "/api/v1/conditions/bad-channels/?version=2": "200",
        "/api/v1/conditions/bands/?version=1": "304",
        "/api/v1/conditions/channel-map/?version=1": "304",
    }
    log = live_p3s.wait_for(
        lambda: (
            "so far: 4 downloaded, 5 not modified"
            in (t := (live_p3s.workdir / "pilot.log").read_text(errors="replace"))
            and t
        ),
        30,
        "the pilot to log its condition counts",
    )
    assert "missing" in log
