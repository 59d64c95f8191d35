"""Announcing a file with replicas (``urls``), and URL schemes no storage backend reads."""

import pytest

from p3s.dags.models import DataFile
from p3s.jobs.models import Job
from tests.conftest import FANOUT_JOIN
from tests.server.test_api_files import FILE

pytestmark = pytest.mark.django_db


def test_replicas_are_kept_and_the_first_url_is_the_identity(daq, make_dag):
    make_dag(FANOUT_JOIN)
    body = {k: v for k, v in FILE.items() if k != "url"}
    urls = ["root://buffer.example//raw/r5_1.h5", "https://eos.example/raw/r5_1.h5"]
    r = daq.post("/api/v1/files/", {**body, "urls": urls}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["url"] == urls[0] and r.json()["replicas"] == urls[1:]
    again = daq.post("/api/v1/files/", {**body, "url": urls[0]}, format="json")
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    assert DataFile.objects.get().replicas == urls[1:]


def test_a_single_url_announcement_is_unchanged(daq, make_dag):
    make_dag(FANOUT_JOIN)
    r = daq.post("/api/v1/files/", FILE, format="json")
    assert r.status_code == 201 and r.json()["replicas"] == []


@pytest.mark.parametrize(
    "change, says",
    [
        ({"url": "gsiftp://se.example/raw/r5_1.h5"}, "no storage backend for scheme 'gsiftp'"),
        ({"url": "s3://bucket/r5_1.h5"}, "no storage backend for scheme 's3'"),
        ({"urls": ["file:///d/a.h5", "davs://x/a.h5"]}, "urls[1]: no storage backend"),
        ({"urls": ["file:///d/a.h5", "file:///d/a.h5"]}, "appears twice"),
        ({"url": "file:///d/a.h5", "urls": ["file:///d/b.h5"]}, "urls[0] must be url"),
        ({"url": None}, "url"),
    ],
)
def test_unsupported_schemes_and_bad_replica_lists_are_400(daq, make_dag, change, says):
    make_dag(FANOUT_JOIN)
    body = {**FILE, **change}
    if body.get("url") is None:
        body.pop("url")
    r = daq.post("/api/v1/files/", body, format="json")
    assert r.status_code == 400, r.content
    assert says in r.json()["detail"], r.json()
    assert DataFile.objects.count() == 0 and Job.objects.count() == 0
