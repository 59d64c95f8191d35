"""The heartbeat's cost on the server: on PostgreSQL every beat is one prepared statement (the beat,
written only when the pilot key, the token and its revocation check out, returning the
pilot's state and whether its job is still its own); on SQLite one read and one write. The
commands are unchanged: continue, kill-job for a job no longer the pilot's, exit for a
pilot declared lost. A beat that this path cannot take (a wrong key, a body to check) goes
the ordinary way and gets its usual answer, with nothing written."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from p3s.jobs.models import Job
from p3s.pilots.models import Pilot, PilotState

pytestmark = pytest.mark.django_db


def beat(client, job, progress=None):
    url = f"/api/v1/pilots/{client.pilot_id}/heartbeat/"
    body = {"job": job, "progress": progress or {"elapsed": 1.0}}
    with CaptureQueriesContext(connection) as q:
        r = client.post(url, body, format="json")
    assert r.status_code == 200, r.content
    return r.json()["command"], [x["sql"] for x in q.captured_queries]


@pytest.fixture
def busy(new_pilot, make_dag, announce):
    pilot = new_pilot()
    beat(pilot, None)  # the token is in the cache from here on
    make_dag()
    announce()
    r = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {"wait": 0}, format="json")
    assert r.status_code == 200, r.content
    pilot.job_id = r.json()["id"]
    return pilot


def test_an_idle_and_a_busy_beat_are_one_statement_each_on_postgres(busy, new_pilot):
    idle = new_pilot(host="wn02")
    beat(idle, None)
    command, sql = beat(idle, None)
    expected = ["EXECUTE"] if connection.vendor == "postgresql" else ["SELECT", "UPDATE"]
    assert command == "continue" and [q.split()[0] for q in sql] == expected, sql
    command, sql = beat(busy, busy.job_id, {"elapsed": 2.5})
    assert command == "continue" and [q.split()[0] for q in sql] == expected, sql
    assert Pilot.objects.get(pk=busy.pilot_id).resources["progress"] == {"elapsed": 2.5}


def test_a_beat_with_a_wrong_pilot_key_is_refused_and_writes_nothing(busy):
    before = Pilot.objects.get(pk=busy.pilot_id)
    url = f"/api/v1/pilots/{busy.pilot_id}/heartbeat/"
    busy.credentials(**{**busy._credentials, "HTTP_X_P3S_PILOT_KEY": "not-its-key"})
    r = busy.post(url, {"job": None, "progress": {"x": 1}}, format="json")
    assert r.status_code == 403 and "X-P3S-Pilot-Key" in r.json()["detail"]
    after = Pilot.objects.get(pk=busy.pilot_id)
    assert (after.last_seen, after.resources) == (before.last_seen, before.resources)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"job": "many"}, "job"),
        ({"job": True, "progress": None}, "job"),
        ({"progress": [1, 2]}, "progress"),
        ({"progress": {"log": "a\x00b"}}, "progress"),
        ({"progress": {"x": "y" * 9000}}, "progress"),
    ],
)
def test_a_beat_with_a_bad_body_gets_a_400_that_names_the_field(busy, body, field):
    before = Pilot.objects.get(pk=busy.pilot_id).last_seen
    r = busy.post(f"/api/v1/pilots/{busy.pilot_id}/heartbeat/", body, format="json")
    assert r.status_code == 400 and field in r.json()["detail"], r.content
    assert Pilot.objects.get(pk=busy.pilot_id).last_seen == before


def test_a_beat_about_a_job_that_is_no_longer_the_pilots_says_kill_job(busy, new_pilot):
    Job.objects.filter(pk=busy.job_id).update(state="cancelled")
    assert beat(busy, busy.job_id)[0] == "kill-job"
    other = new_pilot(host="wn03")
    beat(other, None)
    Job.objects.filter(pk=busy.job_id).update(state="running", pilot_id=other.pilot_id)
    assert beat(busy, busy.job_id)[0] == "kill-job"
    assert beat(other, busy.job_id)[0] == "continue"
    assert beat(busy, 2**63)[0] == "kill-job"  # beyond any id: refused, not a 500


def test_a_lost_pilot_is_told_to_exit_whatever_its_beat_says(busy):
    Pilot.objects.filter(pk=busy.pilot_id).update(state=PilotState.LOST)
    assert beat(busy, busy.job_id)[0] == "exit"
    assert beat(busy, None)[0] == "exit"
