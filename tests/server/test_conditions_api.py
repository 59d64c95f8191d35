"""GET /api/v1/conditions/ and /conditions/{name}/: who may read, what the answer carries,
and conditional requests answered with 304 and no body."""

from __future__ import annotations

import pytest
from django.utils.http import http_date

from p3s.conditions import services

pytestmark = pytest.mark.django_db

BAD = {"channels": [{"apa": 2, "channel": 900, "status": "noisy", "note": "hot"}]}
PATHS = ["/api/v1/conditions/", "/api/v1/conditions/bands/"]


@pytest.mark.parametrize("path", PATHS)
def test_anonymous_readers_get_401_and_daq_gets_403(anonymous, daq, path):
    r = anonymous.get(path)
    assert r.status_code == 401 and "detail" in r.json()
    r = daq.get(path)
    assert r.status_code == 403 and "role" in r.json()["detail"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("role", ["pilot", "operator", "expert"])
def test_pilots_operators_and_experts_read_conditions(client_as, role, path):
    assert client_as(role).get(path).status_code == 200


def test_a_condition_answer_has_the_interface_fields_and_cache_headers(operator):
    r = operator.get("/api/v1/conditions/channel-map/")
    body = r.json()
    assert set(body) >= {
        "name",
        "version",
        "valid_from_run",
        "valid_to_run",
        "valid_from",
        "valid_to",
        "owner",
        "updated",
        "data",
    }
    assert body["name"] == "channel-map" and body["version"] == 1
    assert len(body["data"]["femb"]) == 2560
    assert r["ETag"].startswith('"channel-map-v1-')
    assert r["Cache-Control"] == "max-age=60, must-revalidate"
    assert "Last-Modified" in r
    assert {"Authorization", "Cookie"} <= {v.strip() for v in r["Vary"].split(",")}


def test_if_none_match_with_the_current_etag_gets_304_with_no_body(pilot_client):
    r = pilot_client.get("/api/v1/conditions/bands/")
    again = pilot_client.get("/api/v1/conditions/bands/", HTTP_IF_NONE_MATCH=r["ETag"])
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == r["ETag"] and again["Cache-Control"] == r["Cache-Control"]


def test_a_new_version_changes_the_etag_so_the_old_one_gets_the_new_body(pilot_client):
    old = pilot_client.get("/api/v1/conditions/bad-channels/")
    services.new_version("bad-channels", BAD, owner="eddie")
    r = pilot_client.get("/api/v1/conditions/bad-channels/", HTTP_IF_NONE_MATCH=old["ETag"])
    assert r.status_code == 200 and r.json()["version"] == 2
    assert r.json()["data"] == BAD and r["ETag"] != old["ETag"]


def test_if_modified_since_gets_304_until_a_version_is_newer(operator):
    r = operator.get("/api/v1/conditions/bad-channels/")
    since = r["Last-Modified"]
    assert (
        operator.get("/api/v1/conditions/bad-channels/", HTTP_IF_MODIFIED_SINCE=since).status_code
        == 304
    )
    new = services.new_version("bad-channels", BAD)
    later = http_date(new.updated.timestamp() - 3600)
    assert (
        operator.get("/api/v1/conditions/bad-channels/", HTTP_IF_MODIFIED_SINCE=later).status_code
        == 200
    )


def test_a_version_is_chosen_by_run_or_asked_for_exactly(operator):
    services.new_version("bad-channels", BAD, valid_from_run=300)
    assert operator.get("/api/v1/conditions/bad-channels/?run=299").json()["version"] == 1
    assert operator.get("/api/v1/conditions/bad-channels/?run=300").json()["version"] == 2
    assert operator.get("/api/v1/conditions/bad-channels/?version=1").json()["data"] == {
        "channels": [],
        "source": "shipped empty: no channel is known bad until an expert lists it",
    }


@pytest.mark.parametrize(
    "path, status, words",
    [
        ("/api/v1/conditions/no-such/", 404, "there is no condition 'no-such'"),
        ("/api/v1/conditions/bands/?version=9", 404, "no version 9"),
        ("/api/v1/conditions/bands/?version=0", 400, "version"),
        ("/api/v1/conditions/bands/?run=abc", 400, "whole number"),
        ("/api/v1/conditions/?run=-1", 400, "run"),
    ],
)
def test_unknown_names_and_bad_parameters_are_json_errors(operator, path, status, words):
    r = operator.get(path)
    assert r.status_code == status
    assert words in r.json()["detail"]


def test_a_name_valid_for_other_runs_only_says_so(operator):
    services.new_version("hv-map", {"kv": 180}, valid_from_run=10)
    r = operator.get("/api/v1/conditions/hv-map/?run=3")
    assert (
        r.status_code == 404
        and "no version of condition 'hv-map' is valid for run 3" in (r.json()["detail"])
    )


def test_the_list_names_each_condition_with_its_current_version_and_url(operator):
    services.new_version("bad-channels", BAD, valid_from_run=300)
    items = {i["name"]: i for i in operator.get("/api/v1/conditions/?run=10").json()}
    assert sorted(items) == ["bad-channels", "bands", "channel-map"]
    assert items["bad-channels"]["version"] == 1 and items["bad-channels"]["versions"] == 2
    assert items["bands"]["url"] == "http://testserver/api/v1/conditions/bands/?version=1"
    r = operator.get("/api/v1/conditions/?run=10")
    assert (
        operator.get("/api/v1/conditions/?run=10", HTTP_IF_NONE_MATCH=r["ETag"]).status_code == 304
    )


def test_the_schema_documents_the_answers_and_their_cache_headers(operator):
    schema = operator.get("/api/schema/?format=json").json()
    detail = schema["paths"]["/api/v1/conditions/{name}/"]["get"]
    assert "304" in detail["responses"] and "404" in detail["responses"]
    assert "ETag" in detail["responses"]["200"]["headers"]
    props = schema["components"]["schemas"]["Condition"]["properties"]
    assert {"name", "version", "data", "valid_from_run"} <= set(props)
    assert "/api/v1/references/{template}/" in schema["paths"]


def test_a_head_request_gets_the_headers_and_304_like_a_get(client_as):
    pilot = client_as("pilot")
    r = pilot.head("/api/v1/conditions/bands/")
    assert r.status_code == 200 and r.content == b"" and r["ETag"]
    assert pilot.head("/api/v1/conditions/bands/", HTTP_IF_NONE_MATCH=r["ETag"]).status_code == 304


@pytest.fixture
def pilot_client(client_as):
    return client_as("pilot")
