"""Fencing: once a job is re-queued, its old attempt's pilot may add nothing (409); the new
attempt's results go to their own place and are never overwritten."""

import io

import pytest

from p3s.dqm.models import Metric, Product
from p3s.jobs import actions
from p3s.jobs.models import Job
from tests.conftest import FANOUT_JOIN

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 16
FILE = {"url": "file:///d/f.h5", "stream": "diag", "run": 5, "timestamp": "2026-11-22T10:00:00Z"}


def claim_and_run(pilot):
    job = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {}, format="json").json()
    body = {"state": "running", "attempt": job["attempt"]}
    assert pilot.post(f"/api/v1/jobs/{job['id']}/report/", body, format="json").status_code == 200
    return job


def upload(pilot, job_id, attempt, title="ADC RMS"):
    f = io.BytesIO(PNG)
    f.name = "p.png"
    data = {"file": f, "kind": "png", "title": title}
    if attempt is not None:
        data["attempt"] = attempt
    return pilot.post(f"/api/v1/jobs/{job_id}/products/", data, format="multipart")


@pytest.fixture
def requeued(daq, new_pilot, make_dag, settings, tmp_path):
    """Pilot A ran attempt 1, was declared lost; pilot B now runs attempt 2."""
    settings.MEDIA_ROOT = tmp_path
    make_dag(FANOUT_JOIN)
    daq.post("/api/v1/files/", FILE, format="json")
    old, new = new_pilot(host="a"), new_pilot(host="b")
    job = claim_and_run(old)
    actions.requeue_lost(Job.objects.select_related("settings").get(pk=job["id"]), "test", "lost")
    again = claim_and_run(new)
    assert (again["id"], again["attempt"]) == (job["id"], 2)
    return old, new, job["id"]


@pytest.mark.parametrize("attempt", [1, None])
def test_a_late_upload_of_an_old_attempt_is_refused_409_and_leaves_no_file(
    requeued, attempt, tmp_path
):
    old, _, job_id = requeued
    r = upload(old, job_id, attempt)
    assert r.status_code == 409, r.content
    assert "attempt" in r.json()["detail"]
    assert not Product.objects.exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_late_metrics_and_a_late_report_of_an_old_attempt_are_refused_409(requeued):
    old, _, job_id = requeued
    metrics = {"metrics": [{"name": "rms", "value": 1.0}], "attempt": 1}
    assert old.post(f"/api/v1/jobs/{job_id}/metrics/", metrics, format="json").status_code == 409
    report = {"state": "finished", "attempt": 1, "metrics": metrics["metrics"]}
    assert old.post(f"/api/v1/jobs/{job_id}/report/", report, format="json").status_code == 409
    job = Job.objects.get(pk=job_id)
    assert (job.state, job.attempt) == ("running", 2)
    assert not Metric.objects.exists()


def test_the_new_attempts_products_go_to_its_own_directory(requeued):
    _, new, job_id = requeued
    r = upload(new, job_id, 2)
    assert r.status_code == 201, r.content
    assert f"job{job_id}/attempt2/" in Product.objects.get().file.name


def test_a_repeated_failed_report_after_the_automatic_retry_is_harmless(daq, new_pilot, make_dag):
    make_dag(FANOUT_JOIN)
    daq.post("/api/v1/files/", FILE, format="json")
    pilot = new_pilot()
    job = claim_and_run(pilot)
    body = {"state": "failed", "exit_code": 3, "attempt": 1, "message": "bad"}
    for _ in range(3):
        r = pilot.post(f"/api/v1/jobs/{job['id']}/report/", body, format="json")
        assert r.status_code == 200, r.content
    job = Job.objects.get(pk=job["id"])
    assert (job.state, job.attempt) == ("waiting", 2)
    assert job.events.filter(to_state="failed").count() == 1


def test_products_an_old_attempt_uploaded_before_it_was_requeued_go_when_the_new_one_finishes(
    daq, new_pilot, make_dag, settings, tmp_path
):
    """Found by scripts/chaos.py: a pilot lost in the middle of its uploads left its products
    beside the next attempt's, so the re-run job showed them twice."""
    from django.test import TestCase

    settings.MEDIA_ROOT = tmp_path
    make_dag(FANOUT_JOIN)
    daq.post("/api/v1/files/", FILE, format="json")
    old, new = new_pilot(host="a"), new_pilot(host="b")
    job = claim_and_run(old)
    assert upload(old, job["id"], 1).status_code == 201  # uploaded before it was lost
    actions.requeue_lost(Job.objects.select_related("settings").get(pk=job["id"]), "test", "lost")
    claim_and_run(new)
    assert upload(new, job["id"], 2).status_code == 201
    assert Product.objects.filter(job_id=job["id"]).count() == 2  # until attempt 2 finishes
    with TestCase.captureOnCommitCallbacks(execute=True):
        r = new.post(
            f"/api/v1/jobs/{job['id']}/report/",
            {"state": "finished", "attempt": 2},
            format="json",
        )
    assert r.status_code == 200, r.content
    [product] = Product.objects.filter(job_id=job["id"])
    assert product.attempt == 2
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [tmp_path / product.file.name]
