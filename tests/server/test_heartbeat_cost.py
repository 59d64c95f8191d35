"""The heartbeat's cost on the server: every beat is one read (the pilot, its token's
revocation, and, for a busy pilot, whether its job is still its own) and one write (the beat),
with the commands unchanged: continue, kill-job for a job no longer the pilot's, exit for a
pilot declared lost."""

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


def test_an_idle_and_a_busy_beat_are_one_read_and_one_write_each(busy, new_pilot):
    idle = new_pilot(host="wn02")
    beat(idle, None)
    command, sql = beat(idle, None)
    assert command == "continue" and len(sql) == 2, sql
    command, sql = beat(busy, busy.job_id, {"elapsed": 2.5})
    assert command == "continue" and len(sql) == 2, sql
    assert sql[0].startswith("SELECT") and sql[1].startswith("UPDATE")
    assert Pilot.objects.get(pk=busy.pilot_id).resources["progress"] == {"elapsed": 2.5}


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
