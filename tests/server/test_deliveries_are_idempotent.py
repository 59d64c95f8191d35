"""A pilot retries every delivery whose answer it did not get: a repeated finished report,
a repeated metrics POST and a repeated product upload (same key) store nothing twice."""

import io

import pytest

from p3s.dqm.models import Metric, MetricBatch, Product
from p3s.jobs.models import Job

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_a_finished_report_repeated_stores_its_metrics_once(running_job):
    pilot, job = running_job
    body = {
        "state": "finished",
        "attempt": 1,
        "metrics": [{"name": "rms", "value": 4.0, "labels": {"apa": "1"}}] * 3,
    }
    for _ in range(5):
        r = pilot.post(f"/api/v1/jobs/{job['id']}/report/", body, format="json")
        assert r.status_code == 200, r.content
    assert Metric.objects.filter(job_id=job["id"]).count() == 3
    assert MetricBatch.objects.get(job_id=job["id"]).key == "report-a1"
    assert Job.objects.filter(dagrun_id=job["dagrun"]).count() == 3  # a, b, c: once


def test_a_metrics_post_repeated_with_its_key_stores_once_and_says_so(running_job):
    pilot, job = running_job
    url = f"/api/v1/jobs/{job['id']}/metrics/"
    body = {"metrics": [{"name": "rms", "value": 1.0}, {"name": "ped", "value": 900}], "key": "k1"}
    first = pilot.post(url, body, format="json")
    again = pilot.post(url, body, format="json")
    header = pilot.post(url, {"metrics": body["metrics"]}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 201 and first.json() == {"count": 2}
    assert again.status_code == 200 and again.json() == {"count": 2, "replayed": True}
    assert header.status_code == 200
    assert Metric.objects.filter(job_id=job["id"]).count() == 2
    other = pilot.post(url, {**body, "key": "k2"}, format="json")
    assert other.status_code == 201
    assert Metric.objects.filter(job_id=job["id"]).count() == 4


def test_a_product_upload_repeated_with_its_key_makes_one_product_and_one_file(
    running_job, tmp_path
):
    pilot, job = running_job

    def upload():
        f = io.BytesIO(PNG)
        f.name = "plot.png"
        data = {"file": f, "kind": "png", "title": "ADC RMS", "key": "j-a1-p0", "attempt": 1}
        return pilot.post(f"/api/v1/jobs/{job['id']}/products/", data, format="multipart")

    answers = [upload() for _ in range(5)]
    assert [a.status_code for a in answers] == [201, 200, 200, 200, 200]
    assert len({a.json()["id"] for a in answers}) == 1
    product = Product.objects.get(job_id=job["id"])
    assert f"job{job['id']}/attempt1/" in product.file.name
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [tmp_path / product.file.name]


def test_a_malformed_key_is_a_400(running_job):
    pilot, job = running_job
    body = {"metrics": [{"name": "rms", "value": 1.0}], "key": "no spaces/allowed"}
    r = pilot.post(f"/api/v1/jobs/{job['id']}/metrics/", body, format="json")
    assert r.status_code == 400 and "key" in r.json()["detail"]
