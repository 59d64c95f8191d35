"""The heartbeat's lane (p3s.api.beat_lane): a plain beat on PostgreSQL is answered before
the API's stack, in one prepared statement and without reading the token; the answer is
the view's, byte for byte; everything the lane does not take (a wrong key, a revoked or
non-pilot token, an odd body or header) gets the view's own answer, with nothing written."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from p3s.accounts import token_cache
from p3s.accounts.models import ApiToken
from p3s.pilots.models import Pilot
from tests.conftest import reads_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def lane(settings):
    def switch(on: bool) -> None:
        settings.P3S = {**settings.P3S, "BEAT_LANE": on}

    switch(True)
    return switch


def post(client, body, **headers):
    url = f"/api/v1/pilots/{client.pilot_id}/heartbeat/"
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    saved = client._credentials
    client.credentials(**{**saved, **headers})  # the client's credentials win over headers
    with CaptureQueriesContext(connection) as q:
        r = client.generic("POST", url, raw, content_type="application/json")
    client.credentials(**saved)
    return r, [x["sql"] for x in q.captured_queries]


def written(client) -> tuple:
    p = Pilot.objects.get(pk=client.pilot_id)
    return p.last_seen, p.resources


def test_a_plain_beat_is_one_statement_and_reads_no_token(lane, new_pilot):
    pilot = new_pilot()
    token_cache.forget()  # a cold cache: the API's authentication would read the token
    r, sql = post(pilot, {"job": None, "progress": {"elapsed": 1.5}})
    assert r.status_code == 200 and r.json() == {"command": "continue", "heartbeat_interval": 10.0}
    if connection.vendor != "postgresql":
        assert any(reads_token(s) for s in sql)  # SQLite: the view answered
        return
    r, sql = post(pilot, {"job": None, "progress": {"elapsed": 2.5}})
    assert [s.split()[0] for s in sql] == ["EXECUTE"], sql
    assert Pilot.objects.get(pk=pilot.pilot_id).resources["progress"] == {"elapsed": 2.5}
    lane(False)
    token_cache.forget()
    r2, sql2 = post(pilot, {"job": None, "progress": {"elapsed": 2.5}})
    assert any(reads_token(s) for s in sql2), sql2  # the view reads the token
    assert r2.content == r.content
    for header in ("Content-Type", "Vary", "Allow", "X-Frame-Options", "X-Content-Type-Options"):
        assert r2.get(header) == r.get(header), header


def test_the_lane_says_kill_job_and_exit_as_the_view_does(lane, new_pilot, make_dag, announce):
    pilot = new_pilot()
    make_dag()
    announce()
    job = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {"wait": 0}, format="json").json()
    assert post(pilot, {"job": job["id"]})[0].json()["command"] == "continue"
    from p3s.jobs.models import Job

    Job.objects.filter(pk=job["id"]).update(state="cancelled")
    assert post(pilot, {"job": job["id"]})[0].json()["command"] == "kill-job"
    Pilot.objects.filter(pk=pilot.pilot_id).update(state="lost")
    assert post(pilot, {"job": None})[0].json()["command"] == "exit"


@pytest.mark.parametrize(
    "case, status, says",
    [
        ("wrong key", 403, "X-P3S-Pilot-Key"),
        ("revoked token", 401, "revoked"),
        ("operator token", 403, "pilot"),
        ("unknown pilot", 403, "pilot"),
        ("bad job", 400, "job"),
        ("NaN", 400, "NaN"),
        ("deep", 400, "nests"),
        ("UTF-16", 400, "UTF-8"),
    ],
)
def test_what_the_lane_does_not_take_gets_the_views_answer_and_writes_nothing(
    lane, new_pilot, client_as, case, status, says
):
    pilot = new_pilot()
    post(pilot, {"job": None})
    before = written(pilot)
    body: object = {"job": None, "progress": {"x": 1}}
    headers: dict = {}
    if case == "wrong key":
        headers["HTTP_X_P3S_PILOT_KEY"] = "not-its-key"
    elif case == "revoked token":
        ApiToken.objects.filter(pilots__pk=pilot.pilot_id).update(revoked=True)
        token_cache.forget()
    elif case == "operator token":
        other = client_as("operator")
        headers["HTTP_AUTHORIZATION"] = other._credentials["HTTP_AUTHORIZATION"]
    elif case == "unknown pilot":
        pilot.pilot_id += 1000
    elif case == "bad job":
        body = {"job": "many"}
    elif case == "NaN":
        body = '{"job": null, "progress": {"x": NaN}}'
    elif case == "deep":
        body = '{"job": null, "progress": ' + "[" * 200 + "]" * 200 + "}"
    elif case == "UTF-16":
        body = json.dumps({"job": None}).encode("utf-16")
    r, sql = post(pilot, body, **headers)
    assert r.status_code == status and says in r.json()["detail"], r.content
    tries = [q for q in sql if q.startswith("EXECUTE p3s_beat")]
    assert len(tries) <= 1, sql  # the view does not run again what the lane ran and missed
    if case == "unknown pilot":
        pilot.pilot_id -= 1000
    assert written(pilot) == before


def test_a_client_asking_for_another_format_gets_the_view(lane, new_pilot):
    pilot = new_pilot()
    token_cache.forget()
    r, sql = post(pilot, {"job": None}, HTTP_ACCEPT="text/html")
    assert r.status_code == 200
    assert any(reads_token(s) for s in sql), sql


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_beat_leaves_the_commit_setting_as_it_found_it(lane, new_pilot):
    pilot = new_pilot()
    for _ in range(3):
        assert post(pilot, {"job": None, "progress": {"n": 1}})[0].status_code == 200
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SHOW synchronous_commit")
            assert cur.fetchone()[0] == "on"
    assert Pilot.objects.get(pk=pilot.pilot_id).resources["progress"] == {"n": 1}
