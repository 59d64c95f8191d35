"""Operator actions on the pages go through the domain functions and say what happened."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from p3s.dqm.models import Alarm
from p3s.jobs.models import Job, JobEvent


@pytest.fixture
def setup(dqm_world, operator, client_of):
    world = dqm_world(files=1, fail_last=True)
    return world, client_of(operator("olga"))


def texts(resp):
    return [str(m) for m in get_messages(resp.wsgi_request)]


def test_retry_a_failed_job_from_its_page(setup):
    world, c = setup
    failed = Job.objects.get(state="failed")
    attempt = failed.attempt
    resp = c.post(f"/jobs/{failed.pk}/retry/")
    assert resp.status_code == 302 and resp["Location"] == f"/jobs/{failed.pk}/"
    failed.refresh_from_db()
    assert failed.state == "waiting" and failed.attempt == attempt + 1
    assert JobEvent.objects.filter(job=failed).last().actor == "user:olga"


def test_a_refused_action_says_why(setup):
    world, c = setup
    finished = Job.objects.filter(state="finished").first()
    resp = c.post(f"/jobs/{finished.pk}/retry/", follow=True)
    assert any("only failed, timeout, dropped or cancelled" in t for t in texts(resp))
    assert c.post("/jobs/999999/retry/").status_code == 404


def test_cancel_and_reprioritise_and_come_back_to_the_list(setup):
    world, c = setup
    failed = Job.objects.get(state="failed")
    c.post(f"/jobs/{failed.pk}/retry/")
    resp = c.post(
        f"/jobs/{failed.pk}/priority/", {"priority": "250", "next": "/jobs/?state=waiting"}
    )
    assert resp["Location"] == "/jobs/?state=waiting"
    assert Job.objects.get(pk=failed.pk).priority == 250
    c.post(f"/jobs/{failed.pk}/cancel/")
    assert Job.objects.get(pk=failed.pk).state == "cancelled"
    resp = c.post(f"/jobs/{failed.pk}/priority/", {"priority": "lots"}, follow=True)
    assert any("whole number" in t for t in texts(resp))
    resp = c.post(f"/jobs/{failed.pk}/retry/", {"next": "https://evil.example/"})
    assert resp["Location"] == f"/jobs/{failed.pk}/"  # never redirect off-site


def test_acknowledge_an_alarm(setup):
    world, c = setup
    alarm = Alarm.objects.get()
    resp = c.post(f"/alarms/{alarm.pk}/ack/", follow=True)
    alarm.refresh_from_db()
    assert alarm.state == "acknowledged" and alarm.acked_by == "user:olga"
    assert any("acknowledged" in t for t in texts(resp))
    html = c.get("/alarms/?state=acknowledged").content.decode()
    assert "by user:olga" in html
    resp = c.post(f"/alarms/{alarm.pk}/ack/", follow=True)  # twice is harmless
    assert resp.status_code == 200
    assert c.post("/alarms/999999/ack/").status_code == 404


def test_bulk_actions_on_the_ticked_jobs(setup):
    world, c = setup
    failed = Job.objects.get(state="failed")
    finished = list(Job.objects.filter(state="finished").values_list("pk", flat=True)[:2])
    resp = c.post(
        "/jobs/bulk/",
        {"do": "retry", "job": [failed.pk, *finished], "next": "/jobs/?state=failed"},
        follow=True,
    )
    msgs = texts(resp)
    assert "1 job sent back to waiting" in msgs
    assert sum("only failed, timeout, dropped or cancelled" in t for t in msgs) == 2
    assert resp.redirect_chain[-1][0] == "/jobs/?state=failed"
    c.post("/jobs/bulk/", {"do": "priority", "priority": "42", "job": [failed.pk]})
    assert Job.objects.get(pk=failed.pk).priority == 42
    c.post("/jobs/bulk/", {"do": "cancel", "job": [failed.pk]})
    assert Job.objects.get(pk=failed.pk).state == "cancelled"
    assert any(
        "tick some jobs" in t for t in texts(c.post("/jobs/bulk/", {"do": "retry"}, follow=True))
    )
    assert any(
        "unknown action" in t
        for t in texts(c.post("/jobs/bulk/", {"do": "x", "job": [1]}, follow=True))
    )
