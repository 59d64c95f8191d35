"""The cost on the server of the pilots' hottest call, a finished report that claims the next
job (p3s.api.pilot_views), for a one-stage DAG as the dispatch bench runs it.

What is counted: the round trips to the database (savepoints and their releases aside: the
test runs inside a transaction, so each ``atomic`` block shows as a savepoint here and as a
BEGIN-less transaction in production). The pilot is found by a hand-written read that also
reads the token's revocation; only a repeated report (its first answer lost) looks for a job
already dispatched to the pilot; a fresh one goes straight to the claim."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from p3s.accounts.models import ApiToken
from p3s.jobs.models import Job

pytestmark = pytest.mark.django_db

ONE_STAGE = """
name: one
trigger: {stream: diag}
stages:
  only: {payload: diag, timeout: 60}
"""


def sql_of(q) -> list[str]:
    return [
        x["sql"] for x in q.captured_queries if x["sql"].split()[0] not in ("SAVEPOINT", "RELEASE")
    ]


def finish(pilot, job_id):
    body = {"state": "finished", "outputs": ["file:///o/a.h5"], "claim": {}}
    with CaptureQueriesContext(connection) as q:
        r = pilot.post(f"/api/v1/jobs/{job_id}/report/", body, format="json")
    assert r.status_code == 200, r.content
    return r.json(), sql_of(q)


@pytest.fixture
def running(daq, new_pilot, make_dag):
    """A pilot running the first of three one-stage runs: (client, job id)."""
    make_dag(ONE_STAGE)
    for i in range(3):
        f = {
            "url": f"file:///d/c{i}.h5",
            "stream": "diag",
            "run": 1,
            "timestamp": "2026-11-22T00:00:00Z",
        }
        assert daq.post("/api/v1/files/", f, format="json").status_code == 201
    pilot = new_pilot()
    job = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {}, format="json").json()
    start(pilot, job["id"])
    return pilot, job["id"]


def start(pilot, job_id):
    r = pilot.post(f"/api/v1/jobs/{job_id}/report/", {"state": "running"}, format="json")
    assert r.status_code == 200, r.content


def test_a_fresh_report_and_claim_makes_no_read_for_a_held_job(running):
    pilot, job_id = running
    answer, sql = finish(pilot, job_id)
    assert answer["state"] == "finished" and answer["next"]["id"] != job_id
    held = [s for s in sql if "'dispatched'" in s and s.lstrip().startswith("SELECT")]
    assert not held, held
    # the pilot read, the job's locked read, the pilot freed, the job finished with its event
    # (one statement), the run locked, its jobs read, the run settled; the claim; the
    # conditions of its run (from the process's copy outside a test's transaction)
    if connection.vendor == "postgresql":
        assert len(sql) == 9, "\n".join(sql)


@pytest.mark.django_db(transaction=True)
def test_outside_a_test_transaction_the_conditions_come_from_the_process_copy(running):
    """As in production (no transaction around the request): once the process holds its
    copy of the current conditions, a report-and-claim makes 8 statements in two transactions
    (the report's, the claim's: BEGIN and COMMIT each), none for the conditions."""
    from p3s.conditions.shipped import load_defaults

    load_defaults()  # (a transactional test before this one may have flushed them)
    pilot, job_id = running
    first, _ = finish(pilot, job_id)  # (loads the copy)
    nxt = first["next"]["id"]
    start(pilot, nxt)
    answer, sql = finish(pilot, nxt)
    assert answer["next"] is not None and answer["next"]["conditions"]
    assert not [s for s in sql if "conditions_condition" in s], sql
    if connection.vendor == "postgresql":
        assert len(sql) == 8 + 4, "\n".join(sql)


def test_the_repeat_of_a_lost_answer_reads_the_held_job_and_hands_it_back(running):
    pilot, job_id = running
    first, _ = finish(pilot, job_id)
    again, sql = finish(pilot, job_id)  # the first answer was lost
    assert again["next"]["id"] == first["next"]["id"]
    assert any("'dispatched'" in s and s.lstrip().startswith("SELECT") for s in sql), sql
    assert Job.objects.filter(pilot_id=pilot.pilot_id, state="dispatched").count() == 1


def test_a_revoked_token_s_report_is_refused_and_changes_nothing(running):
    pilot, job_id = running
    ApiToken.objects.filter(pilots__pk=pilot.pilot_id).update(revoked=True)
    r = pilot.post(f"/api/v1/jobs/{job_id}/report/", {"state": "finished"}, format="json")
    assert r.status_code in (401, 403) and "revoked" in r.json()["detail"]
    assert Job.objects.get(pk=job_id).state == "running"


def test_an_unknown_job_is_a_404_that_changes_nothing(running):
    pilot, job_id = running
    r = pilot.post("/api/v1/jobs/987654/report/", {"state": "finished"}, format="json")
    assert r.status_code == 404 and "987654" in r.json()["detail"]
    assert Job.objects.get(pk=job_id).state == "running"
