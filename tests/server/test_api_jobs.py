"""The pilot's calls over HTTP: claim, long poll, report, metrics, products; operator actions."""

import io
import threading
import time

import pytest
from django.db import connection

from p3s.dqm.models import Metric, Product
from tests.conftest import FANOUT_JOIN

FILE = {"url": "file:///d/r1.h5", "stream": "diag", "run": 1, "timestamp": "2026-11-22T00:00:00Z"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.mark.django_db
def test_claim_returns_the_job_spec_or_204(daq, new_pilot, make_dag, settings, tmp_path):
    settings.DATA_ROOT = tmp_path
    make_dag(FANOUT_JOIN)
    pilot = new_pilot()
    assert (
        pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {}, format="json").status_code == 204
    )
    daq.post("/api/v1/files/", FILE, format="json")
    job = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {"wait": 1}, format="json").json()
    assert set(job) >= {
        "id",
        "stage",
        "payload",
        "args",
        "file",
        "inputs",
        "parents",
        "output_dir",
        "event_fraction",
        "timeout",
        "attempt",
        "dagrun",
    }
    assert job["stage"] == "a" and job["inputs"] == [FILE["url"]] and job["timeout"] == 60
    assert job["output_dir"].startswith(str(tmp_path))


@pytest.mark.django_db(transaction=True)
def test_a_long_poll_returns_as_soon_as_a_job_becomes_claimable(daq, new_pilot, make_dag, settings):
    # With the safety re-check longer than the wait, only a wake-up signal can end it early.
    settings.P3S = {**settings.P3S, "WAKEUP_RECHECK": 60.0}
    make_dag(FANOUT_JOIN)
    pilot = new_pilot()
    answer = {}

    def poll():
        t0 = time.monotonic()
        r = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {"wait": 20}, format="json")
        answer["status"], answer["waited"] = r.status_code, time.monotonic() - t0
        connection.close()

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)
    daq.post("/api/v1/files/", FILE, format="json")
    t.join(25)
    assert answer["status"] == 200
    assert answer["waited"] < 20, "the claim waited for its whole long poll instead of waking up"


@pytest.mark.django_db
def test_a_finished_report_stores_metrics_and_makes_children_claimable(
    daq, new_pilot, operator, make_dag
):
    make_dag(FANOUT_JOIN)
    daq.post("/api/v1/files/", FILE, format="json")
    pilot = new_pilot()
    job = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {}, format="json").json()
    url = f"/api/v1/jobs/{job['id']}/report/"
    assert pilot.post(url, {"state": "running"}, format="json").status_code == 200
    r = pilot.post(
        url,
        {
            "state": "finished",
            "outputs": ["file:///o/a"],
            "log_tail": "done\n",
            "metrics": [{"name": "rms", "value": 4.2, "labels": {"apa": "1"}}],
        },
        format="json",
    )
    assert r.status_code == 200 and r.json()["state"] == "finished"
    assert Metric.objects.get().labels == {"apa": "1"}
    jobs = operator.get(f"/api/v1/jobs/?dagrun={job['dagrun']}&state=waiting").json()
    assert sorted(j["stage"] for j in jobs["results"]) == ["b", "c"]
    detail = operator.get(f"/api/v1/jobs/{job['id']}/").json()
    assert detail["log_tail"] == "done\n"
    assert [e["to_state"] for e in detail["events"]] == [
        "waiting",
        "dispatched",
        "running",
        "finished",
    ]


@pytest.mark.django_db
def test_bad_reports_are_400_and_change_nothing(daq, new_pilot, make_dag):
    make_dag(FANOUT_JOIN)
    daq.post("/api/v1/files/", FILE, format="json")
    pilot = new_pilot()
    job = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {}, format="json").json()
    url = f"/api/v1/jobs/{job['id']}/report/"
    for body in (
        {"state": "exploded"},
        {"state": "failed"},
        {"state": "finished", "outputs": "x"},
        {"state": "finished", "metrics": [{"name": "x", "value": "NaN"}]},
    ):
        r = pilot.post(url, body, format="json")
        assert r.status_code == 400, (body, r.content)
    assert (
        pilot.post(f"/api/v1/jobs/{job['id']}/report/", {"state": "running"}, format="json").json()[
            "state"
        ]
        == "running"
    )
    assert (
        pilot.post("/api/v1/jobs/999999/report/", {"state": "running"}, format="json").status_code
        == 404
    )


@pytest.mark.django_db
def test_products_are_checked_and_stored_under_a_server_made_name(
    daq, new_pilot, make_dag, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    make_dag(FANOUT_JOIN)
    daq.post("/api/v1/files/", FILE, format="json")
    pilot = new_pilot()
    job = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {}, format="json").json()
    url = f"/api/v1/jobs/{job['id']}/products/"

    def upload(data, kind="png", title="../../etc/passwd", name="x.png"):
        f = io.BytesIO(data)
        f.name = name
        return pilot.post(
            url,
            {"file": f, "kind": kind, "title": title, "labels": '{"apa": "2"}'},
            format="multipart",
        )

    assert upload(b"not a png").status_code == 400
    assert upload(b"{}", kind="bokeh").status_code == 400
    assert upload(PNG, kind="exe").status_code == 400
    r = upload(PNG, name="../../../evil.png")
    assert r.status_code == 201, r.content
    product = Product.objects.get()
    assert product.labels == {"apa": "2"}
    stored = (tmp_path / product.file.name).resolve()
    assert stored.is_relative_to(tmp_path) and stored.read_bytes() == PNG
    assert ".." not in product.file.name


@pytest.mark.django_db
def test_operators_retry_cancel_and_reprioritise(daq, new_pilot, operator, make_dag):
    make_dag(FANOUT_JOIN)
    daq.post("/api/v1/files/", FILE, format="json")
    job = operator.get("/api/v1/jobs/").json()["results"][0]
    assert (
        operator.patch(f"/api/v1/jobs/{job['id']}/", {"priority": 99}, format="json").json()[
            "priority"
        ]
        == 99
    )
    assert (
        operator.patch(
            f"/api/v1/jobs/{job['id']}/", {"priority": "high"}, format="json"
        ).status_code
        == 400
    )
    assert operator.post(f"/api/v1/jobs/{job['id']}/retry/").status_code == 409
    assert operator.post(f"/api/v1/jobs/{job['id']}/cancel/").json()["state"] == "cancelled"
    assert operator.post(f"/api/v1/jobs/{job['id']}/retry/").json()["state"] == "waiting"


@pytest.mark.django_db
def test_heartbeat_answers_kill_job_for_a_cancelled_job(daq, new_pilot, operator, make_dag):
    make_dag(FANOUT_JOIN)
    daq.post("/api/v1/files/", FILE, format="json")
    pilot = new_pilot()
    job = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {}, format="json").json()
    hb = f"/api/v1/pilots/{pilot.pilot_id}/heartbeat/"
    assert (
        pilot.post(hb, {"job": job["id"], "progress": {"elapsed": 1}}, format="json").json()[
            "command"
        ]
        == "continue"
    )
    operator.post(f"/api/v1/jobs/{job['id']}/cancel/")
    assert pilot.post(hb, {"job": job["id"]}, format="json").json()["command"] == "kill-job"


@pytest.mark.django_db
def test_summary_counts_claimable_jobs_and_pilots_per_queue(daq, new_pilot, operator, make_dag):
    make_dag(FANOUT_JOIN)
    daq.post("/api/v1/files/", FILE, format="json")
    new_pilot()
    s = operator.get("/api/v1/summary/").json()
    assert s["claimable"] == {"default": 1}
    assert s["top_priority"] == {"default": 10}
    assert s["pilots"]["by_queue"] == {"default": {"idle": 1}}
    assert s["jobs"]["by_stage"]["a"]["waiting"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/jobs/null,null/",
        "/api/v1/jobs/false/cancel/",
        "/api/v1/jobs/x/retry/",
        "/api/v1/files/abc/",
        "/api/v1/dagruns/1.5/",
    ],
)
def test_non_numeric_ids_are_404_not_500(operator, path):
    assert operator.post(path).status_code == 404
    assert operator.get(path).status_code == 404
    assert operator.patch(path, {"priority": 1}, format="json").status_code == 404
