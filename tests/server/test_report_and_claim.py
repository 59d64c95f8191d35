"""Report-and-claim (p3s.api.pilot_views) and the pilot token cache that revocation beats."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from p3s.accounts import token_cache
from p3s.accounts.models import ApiToken
from p3s.jobs.models import Job
from tests.conftest import FANOUT_JOIN, reads_token

pytestmark = pytest.mark.django_db

FILE = {"url": "file:///d/rc.h5", "stream": "diag", "run": 1, "timestamp": "2026-11-22T00:00:00Z"}


@pytest.fixture(autouse=True)
def _fresh_cache():
    token_cache.forget()
    yield
    token_cache.forget()


@pytest.fixture
def running(daq, new_pilot, make_dag):
    """A pilot running stage a of a fan-out DAG: (client, job id)."""
    make_dag(FANOUT_JOIN)
    assert daq.post("/api/v1/files/", FILE, format="json").status_code == 201
    pilot = new_pilot()
    job = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {}, format="json").json()
    r = pilot.post(f"/api/v1/jobs/{job['id']}/report/", {"state": "running"}, format="json")
    assert r.status_code == 200, r.content
    return pilot, job["id"]


def finish(pilot, job_id, **claim):
    body = {"state": "finished", "outputs": ["file:///o/a.h5"], "claim": claim}
    return pilot.post(f"/api/v1/jobs/{job_id}/report/", body, format="json")


def dispatched_to(pilot) -> list[int]:
    rows = Job.objects.filter(pilot_id=pilot.pilot_id, state="dispatched")
    return sorted(rows.values_list("pk", flat=True))


def test_a_finished_report_can_carry_the_claim_of_the_next_job(running):
    pilot, job_id = running
    r = finish(pilot, job_id)
    assert r.status_code == 200, r.content
    answer = r.json()
    assert answer["id"] == job_id and answer["state"] == "finished"
    nxt = answer["next"]
    assert nxt["stage"] in ("b", "c") and "file:///o/a.h5" in nxt["inputs"]
    assert dispatched_to(pilot) == [nxt["id"]]


def test_a_repeated_report_and_claim_hands_back_the_same_job(running):
    pilot, job_id = running
    first = finish(pilot, job_id).json()["next"]
    again = finish(pilot, job_id).json()  # the answer to the first was lost
    assert again["state"] == "finished" and again["next"]["id"] == first["id"]
    assert dispatched_to(pilot) == [first["id"]]  # nothing stranded, nothing claimed twice


ONE_STAGE = """
name: single
trigger: {stream: solo}
stages:
  only: {payload: diag, timeout: 60}
"""


def test_nothing_waiting_means_next_is_null(daq, new_pilot, make_dag):
    make_dag(ONE_STAGE)
    daq.post("/api/v1/files/", {**FILE, "stream": "solo"}, format="json")
    pilot = new_pilot()
    job = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {}, format="json").json()
    r = finish(pilot, job["id"], time_left=100.0)
    assert r.status_code == 200 and r.json()["next"] is None
    assert Job.objects.get(pk=job["id"]).state == "finished"


def test_time_left_shorter_than_every_stage_claims_nothing(running):
    pilot, job_id = running
    assert finish(pilot, job_id, time_left=5.0).json()["next"] is None  # stages need 60 s


@pytest.mark.parametrize(
    "body",
    [
        {"state": "failed", "exit_code": 1, "claim": {}},
        {"state": "finished", "claim": {"time_left": -1}},
        {"state": "finished", "claim": "soon"},
    ],
)
def test_a_bad_claim_is_a_400_that_changes_nothing(running, body):
    pilot, job_id = running
    r = pilot.post(f"/api/v1/jobs/{job_id}/report/", body, format="json")
    assert r.status_code == 400, r.content
    assert "claim" in r.json()["errors"]
    assert Job.objects.get(pk=job_id).state == "running"
    assert dispatched_to(pilot) == []


def test_the_token_cache_spares_the_token_query_on_the_hot_path(running):
    pilot, _ = running  # a claim goes through the API's authentication (a beat need not)
    url = f"/api/v1/pilots/{pilot.pilot_id}/claim/"
    assert pilot.post(url, {"wait": 0}, format="json").status_code in (200, 204)
    with CaptureQueriesContext(connection) as queries:
        assert pilot.post(url, {"wait": 0}, format="json").status_code in (200, 204)
    assert not [q for q in queries.captured_queries if reads_token(q["sql"])]


def test_revocation_beats_the_token_cache(running):
    pilot, job_id = running
    hb = f"/api/v1/pilots/{pilot.pilot_id}/heartbeat/"
    assert pilot.post(hb, {}, format="json").status_code == 200  # the token is cached now
    ApiToken.objects.filter(role="pilot").update(revoked=True)  # as the admin action does
    assert pilot.post(hb, {}, format="json").status_code == 401
    claim = f"/api/v1/pilots/{pilot.pilot_id}/claim/"
    assert pilot.post(claim, {}, format="json").status_code == 401
    r = finish(pilot, job_id)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert Job.objects.get(pk=job_id).state == "running"
    assert pilot.get("/api/v1/summary/").status_code == 401  # views without the cache, too


def test_the_cache_can_be_turned_off(running, settings):
    settings.P3S = {**settings.P3S, "TOKEN_CACHE_SECONDS": 0.0}
    pilot, _ = running
    url = f"/api/v1/pilots/{pilot.pilot_id}/claim/"
    pilot.post(url, {"wait": 0}, format="json")
    with CaptureQueriesContext(connection) as queries:
        assert pilot.post(url, {"wait": 0}, format="json").status_code in (200, 204)
    assert [q for q in queries.captured_queries if reads_token(q["sql"])]
