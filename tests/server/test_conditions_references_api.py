"""GET /api/v1/references/{template}/: the current reference with its hists and metrics,
readable by pilots and operators, cacheable like the conditions."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from p3s.conditions import references
from p3s.conditions.models import ReferenceSet

from .conditions_world import World

pytestmark = pytest.mark.django_db

U1 = {"apa": "1", "plane": "u"}
URL = "/api/v1/references/tpc-dqm/?stream=tpc"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "products")


@pytest.fixture
def ref(db):
    world = World()
    world.run_file(
        100,
        hists=[("adc_rms", U1, [1, 2, 3, 4])],
        metrics=[{"name": "adc_rms_mean", "value": 4.1, "labels": {**U1, "run": "100"}}],
    )
    world.run_file(101, hists=[("adc_rms", U1, [9, 9, 9, 9])])
    return references.make_reference("tpc-dqm", "tpc", runs=[100], owner="eddie")


def test_anonymous_readers_get_401_and_daq_gets_403(ref, anonymous, daq):
    assert anonymous.get(URL).status_code == 401
    assert daq.get(URL).status_code == 403


@pytest.mark.parametrize("role", ["pilot", "operator", "expert"])
def test_the_reference_answers_with_its_hists_and_metrics(ref, client_as, role):
    r = client_as(role).get(URL)
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == ref.pk and body["run"] == 100 and body["expired"] is False
    assert body["template"] == "tpc-dqm" and body["stream"] == "tpc" and body["owner"] == "eddie"
    [hist] = body["hists"]
    assert hist["name"] == "adc_rms" and hist["labels"] == U1
    assert hist["body"]["counts"] == [1, 2, 3, 4]
    [metric] = body["metrics"]
    assert metric["mean"] == pytest.approx(4.1) and metric["n"] == 1
    assert r["Cache-Control"] == "max-age=60, must-revalidate" and r["ETag"].startswith('"ref-')


def test_a_conditional_request_gets_304_until_a_newer_reference_is_made(ref, operator):
    first = operator.get(URL)
    again = operator.get(URL, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""
    assert operator.get(URL, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    newer = references.make_reference("tpc-dqm", "tpc", runs=[101])
    r = operator.get(URL, HTTP_IF_NONE_MATCH=first["ETag"])
    assert r.status_code == 200 and r.json()["id"] == newer.pk


def test_an_expired_reference_is_served_marked_expired_with_a_new_etag(ref, operator):
    first = operator.get(URL)
    ReferenceSet.objects.filter(pk=ref.pk).update(created=timezone.now() - timedelta(days=40))
    r = operator.get(URL, HTTP_IF_NONE_MATCH=first["ETag"])
    assert r.status_code == 200 and r.json()["expired"] is True
    assert "older than 30 days" in r.json()["expired_reason"]


def test_a_copy_fetched_before_the_reference_expired_is_not_modified_since(ref, operator):
    soon = references.make_reference(
        "tpc-dqm", "tpc", runs=[100], valid_until=timezone.now() + timedelta(seconds=1.5)
    )
    first = operator.get(URL)
    assert first.json()["id"] == soon.pk and first.json()["expired"] is False
    time.sleep(max(0.0, (soon.valid_until - timezone.now()).total_seconds()) + 1.0)
    r = operator.get(URL, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert r.status_code == 200 and r.json()["expired"] is True


def test_a_template_without_a_reference_is_a_json_404(ref, operator):
    r = operator.get("/api/v1/references/other/")
    assert r.status_code == 404 and "no active reference" in r.json()["detail"]
    r = operator.get("/api/v1/references/tpc-dqm/?stream=bi")
    assert r.status_code == 404 and "stream 'bi'" in r.json()["detail"]
    assert operator.get("/api/v1/references/tpc-dqm/?run=x").status_code == 400


def test_a_run_outside_the_references_runs_finds_none(ref, operator):
    ReferenceSet.objects.filter(pk=ref.pk).update(valid_from_run=100, valid_to_run=150)
    assert operator.get("/api/v1/references/tpc-dqm/?run=120").status_code == 200
    assert operator.get("/api/v1/references/tpc-dqm/?run=151").status_code == 404


def test_the_answer_takes_the_same_queries_however_many_hists_it_holds(
    ref, operator, django_assert_max_num_queries
):
    operator.get(URL)  # the token's first use of the minute writes its last_used
    with django_assert_max_num_queries(8) as few:
        operator.get(URL)
    world = World()
    labels = [{"apa": str(a), "plane": p} for a in range(6) for p in "uvx"]
    world.run_file(300, hists=[("adc_rms", lab, [1, 1, 1, 1]) for lab in labels])
    references.make_reference("tpc-dqm", "tpc", runs=[300])
    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        body = operator.get(URL).json()
    assert len(body["hists"]) == 18 and len(many.captured_queries) == len(few.captured_queries)


def test_a_304_does_not_read_the_references_hists(ref, operator, django_assert_num_queries):
    etag = operator.get(URL)["ETag"]
    with django_assert_num_queries(2) as queries:  # the token, the current reference
        assert operator.get(URL, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert not any("referencehist" in q["sql"] for q in queries.captured_queries)
