"""DAQ announces files: one DAG run per matching template; the same URL again starts nothing;
bad input is a clear 400 and changes nothing."""

import pytest

from p3s.dags.models import DagRun, DataFile
from p3s.jobs.models import Job
from tests.conftest import FANOUT_JOIN

pytestmark = pytest.mark.django_db

FILE = {
    "url": "file:///d/run5/r5_1.h5",
    "stream": "diag",
    "run": 5,
    "subrun": 1,
    "timestamp": "2026-11-22T03:00:00Z",
    "events": 20,
    "size": 123,
    "checksum": "adler32:0badf00d",
}


def test_announcing_a_file_starts_its_dag_runs(daq, make_dag):
    make_dag(FANOUT_JOIN)
    r = daq.post("/api/v1/files/", FILE, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["name"] == "r5_1.h5" and body["run"] == 5
    assert [d["template"] for d in body["dagruns"]] == ["fanjoin"]
    assert Job.objects.filter(state="waiting").count() == 1


def test_the_same_url_again_returns_the_same_record_and_starts_nothing(daq, make_dag):
    make_dag(FANOUT_JOIN)
    first = daq.post("/api/v1/files/", FILE, format="json").json()
    again = daq.post("/api/v1/files/", {**FILE, "run": 6}, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["run"] == 5
    assert DagRun.objects.count() == 1 and Job.objects.count() == 1


@pytest.mark.parametrize(
    "change, field",
    [
        ({"url": "not a url"}, "url"),
        ({"url": "file:///"}, "url"),
        ({"run": -1}, "run"),
        ({"run": "five"}, "run"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"stream": "TPC!"}, "stream"),
        ({"events": 1.5}, "events"),
    ],
)
def test_bad_announcements_are_400_with_the_field_and_change_nothing(daq, make_dag, change, field):
    make_dag(FANOUT_JOIN)
    r = daq.post("/api/v1/files/", {**FILE, **change}, format="json")
    assert r.status_code == 400
    assert r.json()["detail"].startswith(field), r.json()
    assert DataFile.objects.count() == 0 and Job.objects.count() == 0


def test_malformed_json_is_a_400(daq):
    r = daq.post("/api/v1/files/", "{not json", content_type="application/json")
    assert r.status_code == 400 and "JSON" in r.json()["detail"]


def test_operators_list_files_with_filters(daq, operator, make_dag):
    make_dag(FANOUT_JOIN)
    daq.post("/api/v1/files/", FILE, format="json")
    daq.post(
        "/api/v1/files/",
        {**FILE, "url": "file:///d/x.h5", "run": 9, "stream": "crt"},
        format="json",
    )
    assert operator.get("/api/v1/files/?run=9").json()["count"] == 1
    assert operator.get("/api/v1/files/?stream=diag").json()["count"] == 1
    assert operator.get("/api/v1/files/?since=2030-01-01T00:00:00Z").json()["count"] == 0


def test_healthz_answers_when_the_database_does(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_metrics_are_in_prometheus_text_format(client, daq, make_dag):
    make_dag(FANOUT_JOIN)
    daq.post("/api/v1/files/", FILE, format="json")
    text = client.get("/metrics").content.decode()
    assert 'p3s_jobs{queue="default",stage="a",state="waiting"} 1.0' in text


def test_the_openapi_schema_is_served(operator):
    r = operator.get("/api/schema/")
    assert r.status_code == 200 and b"/api/v1/pilots/{id}/claim/" in r.content


@pytest.mark.parametrize(
    "since", ["0955-08-29T20:48:22+23:02", "2026-01-01T00:00:00-23:59", "2026-01-01T00:00:00+23:59"]
)
def test_times_with_any_offset_are_compared_in_utc(operator, since):
    r = operator.get("/api/v1/files/", {"since": since})
    assert r.status_code == 200, r.content


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+23:00", "9999-12-31T23:59:59-23:00"])
def test_a_time_with_no_utc_equivalent_is_a_400(operator, since):
    r = operator.get("/api/v1/files/", {"since": since})
    assert r.status_code == 400 and "out of range" in r.json()["detail"]


def test_an_announcement_with_a_far_offset_is_stored_in_utc(daq):
    r = daq.post(
        "/api/v1/files/", {**FILE, "timestamp": "2026-11-22T23:30:00+23:30"}, format="json"
    )
    assert r.status_code == 201, r.content
    assert r.json()["timestamp"] == "2026-11-22T00:00:00Z"


def test_a_run_number_too_large_for_the_database_is_a_400(daq):
    r = daq.post("/api/v1/files/", {**FILE, "run": 2**40}, format="json")
    assert r.status_code == 400 and r.json()["detail"].startswith("run")
