"""Every write endpoint refuses anonymous requests (401) and wrong roles (403)."""

import pytest

from tests.conftest import FANOUT_JOIN

pytestmark = pytest.mark.django_db

FILE = {"url": "file:///d/r1.h5", "stream": "diag", "run": 1, "timestamp": "2026-11-22T00:00:00Z"}

# (method, path, body, the role that may)
WRITES = [
    ("post", "/api/v1/files/", FILE, "daq"),
    ("post", "/api/v1/pilots/", {"host": "h"}, "pilot"),
    ("post", "/api/v1/pilots/1/heartbeat/", {}, "pilot"),
    ("post", "/api/v1/pilots/1/claim/", {}, "pilot"),
    ("post", "/api/v1/pilots/1/exit/", {}, "pilot"),
    ("post", "/api/v1/jobs/1/report/", {"state": "running"}, "pilot"),
    ("post", "/api/v1/jobs/1/metrics/", {"metrics": [{"name": "x", "value": 1}]}, "pilot"),
    ("post", "/api/v1/jobs/1/products/", {}, "pilot"),
    ("post", "/api/v1/jobs/1/retry/", {}, "operator"),
    ("post", "/api/v1/jobs/1/cancel/", {}, "operator"),
    ("patch", "/api/v1/jobs/1/", {"priority": 5}, "operator"),
    ("post", "/api/v1/dags/", {"name": "x"}, "expert"),
    ("put", "/api/v1/dags/x/", {"name": "x"}, "expert"),
]
ROLES = ["daq", "pilot", "operator", "expert"]


@pytest.mark.parametrize("method, path, body, allowed", WRITES)
def test_anonymous_writes_are_refused_with_401(anonymous, method, path, body, allowed):
    r = getattr(anonymous, method)(path, body, format="json")
    assert r.status_code == 401, (path, r.content)
    assert "detail" in r.json()


@pytest.mark.parametrize("method, path, body, allowed", WRITES)
def test_wrong_roles_are_refused_with_403(client_as, method, path, body, allowed):
    for role in ROLES:
        if role == allowed or (allowed == "operator" and role == "expert"):
            continue
        r = getattr(client_as(role), method)(path, body, format="json")
        assert r.status_code == 403, (role, path, r.content)
        assert "role" in r.json()["detail"]


def test_bad_tokens_are_refused_with_a_message(client):
    r = client.get("/api/v1/jobs/", HTTP_AUTHORIZATION="Token nope")
    assert r.status_code == 401 and "unknown token" in r.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/jobs/",
        "/api/v1/files/",
        "/api/v1/dagruns/",
        "/api/v1/dags/",
        "/api/v1/summary/",
        "/api/v1/pilots/",
    ],
)
def test_reads_need_an_operator(client_as, anonymous, path):
    assert anonymous.get(path).status_code == 401
    assert client_as("daq").get(path).status_code == 403
    assert client_as("operator").get(path).status_code == 200


def test_a_pilot_can_only_report_on_its_own_jobs(daq, new_pilot, make_dag):
    make_dag(FANOUT_JOIN)
    daq.post("/api/v1/files/", FILE, format="json")
    owner, stranger = new_pilot(host="a"), new_pilot(host="b")
    job = owner.post(f"/api/v1/pilots/{owner.pilot_id}/claim/", {}, format="json").json()
    for body in ({"state": "running"}, {"state": "finished"}, {"state": "failed", "exit_code": 1}):
        r = stranger.post(f"/api/v1/jobs/{job['id']}/report/", body, format="json")
        assert r.status_code == 403, r.content
    r = stranger.post(
        f"/api/v1/jobs/{job['id']}/metrics/",
        {"metrics": [{"name": "x", "value": 1}]},
        format="json",
    )
    assert r.status_code == 403
    assert (
        owner.post(
            f"/api/v1/jobs/{job['id']}/report/", {"state": "running"}, format="json"
        ).status_code
        == 200
    )


def test_a_pilot_cannot_act_as_another_pilot(new_pilot):
    mine, other = new_pilot(), new_pilot()
    for action in ("heartbeat", "claim", "exit"):
        r = mine.post(f"/api/v1/pilots/{other.pilot_id}/{action}/", {}, format="json")
        assert r.status_code == 403, (action, r.content)


def test_operators_cannot_edit_dags_but_experts_can(operator, expert):
    assert (
        operator.post("/api/v1/dags/", FANOUT_JOIN, content_type="application/yaml").status_code
        == 403
    )
    r = expert.post("/api/v1/dags/", FANOUT_JOIN, content_type="application/yaml")
    assert r.status_code == 201, r.content
    assert operator.get("/api/v1/dags/fanjoin/").json()["version"] == 1
