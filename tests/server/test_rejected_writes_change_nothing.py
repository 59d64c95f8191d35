"""Validation and writes in one transaction: a refused report finishes nothing and creates
no child; a refused product leaves no file behind."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DataError

from p3s.dqm import services as dqm
from p3s.dqm.models import Metric, Product
from p3s.jobs import actions
from p3s.jobs.models import Job

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x02" * 16


def assert_unchanged(job):
    row = Job.objects.get(pk=job["id"])
    assert row.state == "running"
    assert Job.objects.filter(dagrun_id=job["dagrun"]).count() == 1  # no children
    assert not Metric.objects.exists()


def test_a_finished_report_with_a_nul_in_a_label_key_is_400_and_changes_nothing(running_job):
    pilot, job = running_job
    body = {
        "state": "finished",
        "metrics": [{"name": "rms", "value": 1.0, "labels": {"ap\u0000a": "1"}}],
    }
    r = pilot.post(f"/api/v1/jobs/{job['id']}/report/", body, format="json")
    assert r.status_code == 400, r.content
    assert "ap?a" in r.json()["detail"]  # named, with the NUL made printable
    assert_unchanged(job)


@pytest.mark.postgres
def test_metrics_the_database_refuses_roll_the_report_back(running_job):
    """Past the serializer (called as the view does): PostgreSQL refuses a NUL in JSONB."""
    _, job = running_job
    pilot_id = Job.objects.get(pk=job["id"]).pilot_id
    rep = actions.Report("finished", attempt=1)
    bad = [{"name": "rms", "value": 1.0, "labels": {"ap\u0000a": "1"}}]
    with pytest.raises(DataError):
        dqm.apply_report(job["id"], pilot_id, rep, bad, f"pilot:{pilot_id}")
    assert_unchanged(job)


def test_a_product_refused_for_its_labels_is_400_and_leaves_no_file(running_job, tmp_path):
    pilot, job = running_job
    f = io.BytesIO(PNG)
    f.name = "p.png"
    data = {"file": f, "kind": "png", "title": "t", "labels": '{"apa": "1\\u0000"}'}
    r = pilot.post(f"/api/v1/jobs/{job['id']}/products/", data, format="multipart")
    assert r.status_code == 400, r.content
    assert not Product.objects.exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


@pytest.mark.postgres
def test_a_product_row_the_database_refuses_takes_its_file_with_it(running_job, tmp_path):
    _, job = running_job
    row = Job.objects.select_related("dagrun__file").get(pk=job["id"])
    upload = SimpleUploadedFile("p.png", PNG)
    with pytest.raises(DataError):
        dqm.store_product(row, upload, "png", "t", {"apa": "1\u0000"})
    assert not Product.objects.exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
