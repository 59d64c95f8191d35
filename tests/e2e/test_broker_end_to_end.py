"""End to end: real gunicorn, real pilot processes, real sweeper, diag payloads."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SLOW_DAG = """
name: slow
trigger: {stream: slow}
stages:
  long: {payload: diag, args: {seconds: 8}, timeout: 120, max_attempts: 3}
"""

TIMEOUT_DAG = """
name: stuck
trigger: {stream: stuck}
stages:
  hang: {payload: diag, args: {seconds: 60}, timeout: 2, max_attempts: 3}
  after: {payload: diag, parents: [hang]}
"""


def announce(server, stream: str, name: str):
    body = {
        "url": f"file:///e2e/{name}",
        "stream": stream,
        "run": 7,
        "subrun": 1,
        "timestamp": datetime.now(UTC).isoformat(),
        "events": 3,
    }
    return server.post("/api/v1/files/", role="daq", json=body)


def put_dag(server, text: str, name: str):
    r = server.post(
        "/api/v1/dags/", role="expert", data=text, headers={"Content-Type": "application/yaml"}
    )
    assert r.status_code in (200, 201), r.text


def dagrun(server, run_id: int) -> dict:
    return server.get(f"/api/v1/dagruns/{run_id}/").json()


def test_a_fan_out_and_join_dag_runs_to_succeeded_from_one_announcement(live_p3s):
    for i in (1, 2):
        live_p3s.start_pilot("--idle-exit", "60", name=f"pilot{i}")
    r = announce(live_p3s, "diag", "fanjoin-1.dat")
    assert r.status_code == 201, r.text
    run_id = r.json()["dagruns"][0]["id"]
    run = live_p3s.wait_for(
        lambda: (d := dagrun(live_p3s, run_id))["state"] != "running" and d,
        90,
        "the DAG run to end",
    )
    assert run["state"] == "succeeded", run
    jobs = {j["stage"]: j for j in run["jobs"]}
    assert sorted(jobs) == ["a", "b", "c", "d"]
    assert all(j["state"] == "finished" for j in jobs.values())
    # The join ran after both parents, with their outputs as inputs.
    d = live_p3s.get(f"/api/v1/jobs/{jobs['d']['id']}/").json()
    assert set(d["parents"]) == {"b", "c"}
    # The join was created once both parents had finished (same host, same clock).
    finished = [
        next(
            e["at"]
            for e in live_p3s.get(f"/api/v1/jobs/{jobs[s]['id']}/").json()["events"]
            if e["to_state"] == "finished"
        )
        for s in ("b", "c")
    ]
    created = next(e["at"] for e in d["events"] if e["from_state"] == "")
    assert created >= max(finished)
    assert any(u.endswith(".bin") for u in jobs["c"]["outputs"])
    # Metrics from the payload arrived.
    assert "diag" in live_p3s.get(f"/api/v1/jobs/{jobs['a']['id']}/").json()["log_tail"]

    again = announce(live_p3s, "diag", "fanjoin-1.dat")
    assert again.status_code == 200
    assert [d["id"] for d in again.json()["dagruns"]] == [run_id]
    assert live_p3s.get("/api/v1/dagruns/").json()["count"] == 1


def test_a_pilot_killed_mid_job_has_its_job_rerun_by_another_pilot(live_p3s):
    put_dag(live_p3s, SLOW_DAG, "slow")
    live_p3s.start_sweeper()
    first = live_p3s.start_pilot("--idle-exit", "60", name="victim")
    run_id = announce(live_p3s, "slow", "slow-1.dat").json()["dagruns"][0]["id"]
    job = live_p3s.wait_for(
        lambda: (j := dagrun(live_p3s, run_id)["jobs"][0])["state"] == "running" and j,
        60,
        "the job to run on the first pilot",
    )
    victim_pilot = job["pilot"]
    os.kill(first.pid, signal.SIGKILL)
    live_p3s.start_pilot("--idle-exit", "60", name="rescuer")
    run = live_p3s.wait_for(
        lambda: (d := dagrun(live_p3s, run_id))["state"] != "running" and d,
        120,
        "the job to be re-run elsewhere",
    )
    assert run["state"] == "succeeded", run
    job = live_p3s.get(f"/api/v1/jobs/{job['id']}/").json()
    assert job["attempt"] == 2 and job["pilot"] != victim_pilot
    reasons = [e["reason"] for e in job["events"] if e["actor"] == "sweeper"]
    assert any(f"pilot {victim_pilot} lost" in r for r in reasons), job["events"]
    pilots = {p["id"]: p["state"] for p in live_p3s.get("/api/v1/pilots/").json()["results"]}
    assert pilots[victim_pilot] == "lost"


def test_a_job_exceeding_its_timeout_ends_as_timeout(live_p3s):
    put_dag(live_p3s, TIMEOUT_DAG, "stuck")
    live_p3s.start_sweeper()
    live_p3s.start_pilot("--idle-exit", "60", name="pilot")
    run_id = announce(live_p3s, "stuck", "stuck-1.dat").json()["dagruns"][0]["id"]
    run = live_p3s.wait_for(
        lambda: (d := dagrun(live_p3s, run_id))["state"] != "running" and d, 60, "the run to end"
    )
    assert run["state"] == "partial"
    [job] = run["jobs"]
    assert job["state"] == "timeout" and job["attempt"] == 1  # set aside, not retried


def test_a_server_crash_mid_job_loses_nothing(live_p3s):
    put_dag(live_p3s, SLOW_DAG.replace("seconds: 8", "seconds: 4"), "slow")
    live_p3s.start_sweeper()  # it keeps sweeping through the outage (longer than 3 heartbeats)
    live_p3s.start_pilot("--idle-exit", "60", name="pilot")
    run_id = announce(live_p3s, "slow", "crash-1.dat").json()["dagruns"][0]["id"]
    live_p3s.wait_for(
        lambda: dagrun(live_p3s, run_id)["jobs"][0]["state"] == "running", 60, "the job to run"
    )
    live_p3s.kill_server()
    # The payload ends while the server is down; the pilot keeps its report and retries.
    import time

    time.sleep(6)
    live_p3s.start_server()
    run = live_p3s.wait_for(
        lambda: (d := dagrun(live_p3s, run_id))["state"] != "running" and d,
        90,
        "the spooled report to arrive",
    )
    assert run["state"] == "succeeded"
    job = live_p3s.get(f"/api/v1/jobs/{run['jobs'][0]['id']}/").json()
    assert job["attempt"] == 1, "the job was re-run instead of its report being delivered"


def test_a_long_poll_in_one_server_process_is_woken_by_an_announcement_in_another(live_p3s):
    """Four gunicorn workers: the waiting claim and the announcement usually land in different
    processes. The safety re-check is 60 s, so only a wake-up signal (NOTIFY on PostgreSQL,
    a datagram to each process's socket on SQLite) can end the 30 s wait with a job."""
    import threading

    import requests

    pilot = live_p3s.post("/api/v1/pilots/", role="pilot", json={"host": "poller"}).json()
    headers = {**live_p3s.headers("pilot"), "X-P3S-Pilot-Key": pilot["key"]}
    answers = []

    def poll():
        r = requests.post(
            f"{live_p3s.url}/api/v1/pilots/{pilot['id']}/claim/",
            json={"wait": 30},
            headers=headers,
            timeout=60,
        )
        answers.append(r.status_code)

    for i in range(4):
        t = threading.Thread(target=poll)
        t.start()
        import time

        time.sleep(0.5)  # the claim is waiting
        assert announce(live_p3s, "diag", f"wake-{i}.dat").status_code == 201
        t.join(29)
        assert not t.is_alive(), "the waiting claim was not woken by the announcement"
        assert answers[-1] == 200
        job = live_p3s.get("/api/v1/jobs/?state=dispatched").json()["results"][0]
        requests.post(
            f"{live_p3s.url}/api/v1/jobs/{job['id']}/report/",
            json={"state": "finished"},
            headers=headers,
            timeout=10,
        ).raise_for_status()
