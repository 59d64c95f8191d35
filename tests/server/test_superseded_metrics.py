"""A pilot that delivered its job's metrics and was then declared lost (before its report
reached the server: a server restart) leaves those metrics behind; the re-run attempt
delivers its own. When that attempt finishes, the job shows its metrics once, as it does its
products (found by scripts/chaos.py: one metric counted twice after a SIGTERM restart)."""

from __future__ import annotations

import pytest
from django.db import transaction

from p3s.dqm.models import Metric
from p3s.jobs import actions
from p3s.jobs.models import Job

pytestmark = pytest.mark.django_db


def claim(pilot) -> dict:
    r = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {"wait": 0}, format="json")
    assert r.status_code == 200, r.content
    return r.json()


def deliver(pilot, job: dict, value: float) -> int:
    body = {"metrics": [{"name": "diag.value", "value": value}], "attempt": job["attempt"]}
    return pilot.post(f"/api/v1/jobs/{job['id']}/metrics/", body, format="json").status_code


def report(pilot, job: dict, state: str) -> int:
    body = {"state": state, "attempt": job["attempt"]}
    return pilot.post(f"/api/v1/jobs/{job['id']}/report/", body, format="json").status_code


def lose(job_id: int) -> None:
    with transaction.atomic():
        job = Job.objects.select_for_update().select_related("settings").get(pk=job_id)
        actions.requeue_lost(job, "sweeper", "pilot lost (test)")


def test_a_rerun_job_keeps_only_the_metrics_of_the_attempt_that_finished(
    new_pilot, make_dag, announce
):
    make_dag()
    announce()
    a, b = new_pilot(host="wn-a"), new_pilot(host="wn-b")
    first = claim(a)
    assert report(a, first, "running") == 200
    assert deliver(a, first, 1.0) == 201
    lose(first["id"])  # A is declared lost before its report arrives
    assert deliver(a, first, 1.0) == 409  # fenced from now on
    second = claim(b)
    assert (second["id"], second["attempt"]) == (first["id"], 2)
    assert report(b, second, "running") == 200
    assert deliver(b, second, 2.0) == 201
    assert Metric.objects.filter(job_id=first["id"]).count() == 2  # both until it finishes
    assert report(b, second, "finished") == 200
    values = list(Metric.objects.filter(job_id=first["id"]).values_list("value", flat=True))
    assert values == [2.0]


def test_a_first_attempt_keeps_its_metrics(new_pilot, make_dag, announce):
    make_dag()
    announce()
    a = new_pilot()
    job = claim(a)
    assert report(a, job, "running") == 200
    assert deliver(a, job, 1.0) == 201 and deliver(a, job, 3.0) == 201
    assert report(a, job, "finished") == 200
    assert sorted(Metric.objects.filter(job_id=job["id"]).values_list("value", flat=True)) == [
        1.0,
        3.0,
    ]
