"""The DQM part of the machine API: alarms (list, acknowledge), products, metrics."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from p3s.accounts.models import ApiToken
from p3s.dqm.models import Alarm


@pytest.fixture
def api(db):
    def make(role: str) -> APIClient:
        _, key = ApiToken.issue(f"{role}-token", role)
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return c

    return make


def test_operators_list_and_acknowledge_alarms(dqm_world, api):
    dqm_world(files=2)
    ops = api("operator")
    data = ops.get("/api/v1/alarms/?state=open").json()
    assert data["count"] == 1
    alarm = data["results"][0]
    assert alarm["rule"] == "adc-rms-high" and alarm["labels"] == {"apa": "2", "plane": "x"}
    resp = ops.post(f"/api/v1/alarms/{alarm['id']}/ack/")
    assert resp.status_code == 200 and resp.json()["state"] == "acknowledged"
    assert resp.json()["acked_by"] == "operator:operator-token"
    assert ops.get("/api/v1/alarms/?state=active").json()["count"] == 1
    assert ops.get("/api/v1/alarms/?state=open").json()["count"] == 0
    Alarm.objects.update(state="cleared")
    resp = ops.post(f"/api/v1/alarms/{alarm['id']}/ack/")
    assert resp.status_code == 409 and "only open alarms" in resp.json()["detail"]
    assert ops.post("/api/v1/alarms/999999/ack/").status_code == 404


def test_pilots_and_anonymous_cannot_read_alarms(dqm_world, api, client):
    dqm_world(files=1)
    assert api("pilot").get("/api/v1/alarms/").status_code == 403
    assert api("daq").post("/api/v1/alarms/1/ack/").status_code == 403
    assert client.get("/api/v1/alarms/").status_code in (401, 403)


def test_products_and_metrics_lists_filter_by_labels(dqm_world, api):
    dqm_world(files=1)
    ops = api("operator")
    data = ops.get("/api/v1/products/?run=5001&kind=png&apa=2").json()
    assert data["count"] == 1 and data["results"][0]["url"].endswith("/file")
    assert ops.get("/api/v1/products/?label.plane=u").json()["count"] == 1
    data = ops.get("/api/v1/metrics/?name=adc_rms&label.apa=3&plane=x").json()
    assert data["count"] == 1 and data["results"][0]["value"] == pytest.approx(4.3)
    assert ops.get("/api/v1/metrics/?name=nothing").json()["count"] == 0
