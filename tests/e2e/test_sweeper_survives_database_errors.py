"""The real sweeper loop survives its database: connections cut under it (pg_terminate_backend
on this test's own database only; the PostgreSQL server is shared and stays up) are logged and
retried, and a pilot killed afterwards still has its job recovered."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime

import psycopg2
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

LONG_DAG = """
name: long
trigger: {stream: long}
stages:
  work: {payload: diag, args: {seconds: 60}, timeout: 300, max_attempts: 3}
"""


def terminate_backends(server) -> int:
    """Cut every connection to the live server's own database (not ours, not other DBs)."""
    conn = psycopg2.connect(server.env["P3S_DATABASE_URL"])
    conn.autocommit = True
    dbname = conn.get_dsn_parameters()["dbname"]
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [dbname],
        )
        (n,) = cur.fetchone()
    conn.close()
    return n


def deep_health(server) -> int:
    try:
        return server.get("/healthz?deep=1").status_code
    except Exception:
        return 0


def test_the_sweeper_loop_outlives_cut_connections_and_still_recovers_a_killed_pilots_job(
    live_p3s,
):
    # The cuts also cost the server's beacon some beats, and each gap gives pilots the outage
    # grace again (30 s by default, see p3s.jobs.sweep.find_lost_pilots): keep it short here.
    live_p3s.env["P3S_OUTAGE_GRACE"] = "2"
    sweeper = live_p3s.start_sweeper(interval=0.2)
    live_p3s.wait_for(lambda: deep_health(live_p3s) == 200, 30, "the sweeper's first pass")
    log = live_p3s.workdir / "sweeper.log"

    def cut_until_a_pass_fails():
        # An idle sweeper replaces a cut connection silently (health check); keep cutting
        # until one is cut in the middle of a pass.
        terminate_backends(live_p3s)
        time.sleep(0.05)
        return "sweep failed on a database error" in log.read_text(errors="replace")

    live_p3s.wait_for(cut_until_a_pass_fails, 60, "the sweeper to meet a database error")
    assert sweeper.poll() is None, log.read_text(errors="replace")
    live_p3s.wait_for(lambda: deep_health(live_p3s) == 200, 30, "the sweeper to sweep again")

    r = live_p3s.post(
        "/api/v1/dags/", role="expert", data=LONG_DAG, headers={"Content-Type": "text/yaml"}
    )
    assert r.status_code in (200, 201), r.text
    body = {
        "url": "file:///e2e/long-1.dat",
        "stream": "long",
        "run": 3,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    assert live_p3s.post("/api/v1/files/", role="daq", json=body).status_code == 201
    pilot = live_p3s.start_pilot("--idle-exit", "120", name="victim")

    def running_job():
        jobs = live_p3s.get("/api/v1/jobs/?stage=work&state=running").json()["results"]
        return jobs[0] if jobs else None

    job = live_p3s.wait_for(running_job, 60, "the job to run")
    os.killpg(pilot.pid, signal.SIGKILL)
    pilot.wait(10)

    def requeued():
        j = live_p3s.get(f"/api/v1/jobs/{job['id']}/").json()
        return j if j["attempt"] == 2 and j["state"] == "waiting" else None

    live_p3s.wait_for(requeued, 30, "the killed pilot's job to be re-queued")
    assert sweeper.poll() is None
    beat = live_p3s.manage(
        "shell", "-c", "from p3s.jobs.models import LoopBeat; print(LoopBeat.objects.get().errors)"
    )
    assert int(beat.stdout.strip().splitlines()[-1]) >= 1  # the lost passes are on record
