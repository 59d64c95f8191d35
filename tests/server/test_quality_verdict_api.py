"""The run verdict: automatic from the run's checks, signed off by an operator; the quality API
by role (operator and expert read and sign, daq and pilot 403, anonymous 401)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from p3s.dqm.services import record_metrics
from p3s.quality.models import Check, RunSignoff
from p3s.quality.verdict import BadSignoff, run_quality, sign_off

from .quality_world import StaticReference, install, media, new_job, tpc_template  # noqa: F401

RUN = 4242


@pytest.fixture
def run_with_flags(db):
    tpc_template()
    Check.objects.create(
        name="rms", kind="range", metric="adc_rms_mean", warning_high=5.0, error_high=6.0
    )
    first = new_job(RUN, 0)
    record_metrics(
        first, [{"name": "adc_rms_mean", "value": 6.5, "labels": {"apa": "1", "plane": "x"}}]
    )
    later = new_job(RUN, 5)
    record_metrics(later, [
        {"name": "adc_rms_mean", "value": 4.0, "labels": {"apa": "1", "plane": "x"}},
        {"name": "adc_rms_mean", "value": 5.5, "labels": {"apa": "2", "plane": "u"}},
    ])  # fmt: skip
    return RUN


def test_the_automatic_verdict_is_the_worst_flag_over_the_run(run_with_flags):
    q = run_quality(RUN)
    assert q["automatic"] == "bad" and q["verdict"] == "bad" and q["signoff"] is None
    assert q["counts"] == {"good": 1, "warning": 1, "bad": 1, "undefined": 0}
    assert [(f["check"], f["element"]["apa"], f["flag"]) for f in q["flags"]] == [
        ("rms", "1", "bad"),
        ("rms", "2", "warning"),
    ]
    assert q["flags"][0]["value"] == 6.5 and q["flags"][0]["reference"] == 6.0


def test_a_run_without_results_is_undefined(db):
    assert run_quality(1)["automatic"] == "undefined"


def test_the_verdict_names_the_reference_and_notes_when_it_expired(run_with_flags, monkeypatch):
    install(monkeypatch, StaticReference(id=7, name="run 4000", run=4000, expired=True))
    q = run_quality(RUN)
    assert q["reference"] == {"id": 7, "name": "run 4000", "run": 4000, "expired": True}
    assert any("expired" in n for n in q["notes"])


def test_a_signoff_overrides_the_verdict_and_history_is_kept(run_with_flags):
    user = User.objects.create_user("olga")
    sign_off(RUN, user, "good", "noise on APA 1 understood: HV ramp")
    sign_off(RUN, user, "bad", "on second thought")
    q = run_quality(RUN)
    assert q["verdict"] == "bad" and q["automatic"] == "bad"
    assert q["signoff"]["by"] == "user:olga" and q["signoff"]["comment"] == "on second thought"
    assert [s["verdict"] for s in q["signoffs"]] == ["bad", "good"]
    assert RunSignoff.objects.filter(run=RUN, user=user).count() == 2
    with pytest.raises(BadSignoff):
        sign_off(RUN, user, "maybe", "")


def url(run, what):
    return f"/api/v1/runs/{run}/{what}/"


@pytest.mark.parametrize("role", ["operator", "expert"])
def test_operators_and_experts_read_the_quality_and_sign_off(run_with_flags, client_as, role):
    client = client_as(role)
    r = client.get(url(RUN, "quality"))
    assert r.status_code == 200 and r.json()["automatic"] == "bad"
    r = client.post(url(RUN, "signoff"), {"verdict": "good", "comment": "checked"}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["verdict"] == "good" and body["signoff"]["by"].startswith(f"{role}:")
    assert RunSignoff.objects.get().automatic == "bad"


@pytest.mark.parametrize("role,status", [("daq", 403), ("pilot", 403), (None, 401)])
def test_daq_pilots_and_anonymous_may_neither_read_nor_sign(
    run_with_flags, client_as, role, status
):
    client = client_as(role)
    assert client.get(url(RUN, "quality")).status_code == status
    r = client.post(url(RUN, "signoff"), {"verdict": "good"}, format="json")
    assert r.status_code == status and "detail" in r.json()
    assert not RunSignoff.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"verdict": "meh"}, {"verdict": ["good"]}, {"verdict": "good", "comment": "x" * 6000}],
)
def test_a_bad_signoff_body_is_a_400_and_changes_nothing(run_with_flags, operator, body):
    r = operator.post(url(RUN, "signoff"), body, format="json")
    assert (
        r.status_code == 400 and "verdict" in r.json()["detail"] or "comment" in r.json()["detail"]
    )
    assert not RunSignoff.objects.exists()


def test_an_unknown_run_is_a_404(run_with_flags, operator):
    assert operator.get(url(999, "quality")).status_code == 404
    assert operator.post(url(999, "signoff"), {"verdict": "good"}, format="json").status_code == 404
    assert operator.get(url(2**40, "quality")).status_code == 404


def test_a_person_in_the_operator_group_signs_as_themself(run_with_flags):
    user = User.objects.create_user("olga", password="pw")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    client = APIClient()
    client.force_authenticate(user)
    r = client.post(url(RUN, "signoff"), {"verdict": "bad", "comment": ""}, format="json")
    assert r.status_code == 201 and r.json()["signoff"]["by"] == "user:olga"
    assert RunSignoff.objects.get().user == user


def test_the_openapi_schema_describes_the_quality_endpoints(operator):
    r = operator.get("/api/schema/")
    assert (
        b"/api/v1/runs/{run}/quality/" in r.content and b"/api/v1/runs/{run}/signoff/" in r.content
    )
    assert b"RunQuality" in r.content and b"SignoffBody" in r.content
