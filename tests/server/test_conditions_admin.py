"""The expert admin: an edited condition is saved as a new version owned by the editor, with
the history on its page; bad data is refused with the reason; references are made from runs
or from selected DAG runs."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from p3s.conditions import references, services
from p3s.conditions.models import Condition, ReferenceSet
from p3s.quality.verdict import sign_off

from .conditions_world import World

pytestmark = pytest.mark.django_db

BAD = {"channels": [{"apa": 3, "channel": 1700, "status": "dead", "note": "FEMB 8 pin"}]}
U1 = {"apa": "1", "plane": "u"}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "products")


def login(username: str, staff: bool, group: str) -> Client:
    user = User.objects.create_user(username, password="pw-long-enough", is_staff=staff)
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def eddie(db):
    return login("eddie", True, "expert")


def form(condition: Condition, data: dict, **extra) -> dict:
    return {
        "data": json.dumps(data),
        "valid_from_run": "",
        "valid_to_run": "",
        "valid_from_0": "",
        "valid_from_1": "",
        "valid_to_0": "",
        "valid_to_1": "",
        "comment": "",
        **extra,
    }


def test_an_edit_in_the_admin_saves_a_new_version_owned_by_the_editor(eddie):
    v1 = services.current_condition("bad-channels")
    r = eddie.post(
        f"/admin/conditions/condition/{v1.pk}/change/",
        form(v1, BAD, comment="APA 3 channel 1700 dead since the power cut"),
        follow=True,
    )
    assert r.status_code == 200
    assert "Saved as version 2 of bad-channels; version 1 is unchanged" in r.content.decode()
    v2 = services.current_condition("bad-channels")
    assert v2.version == 2 and v2.owner == "eddie" and v2.data == BAD
    v1.refresh_from_db()
    assert v1.data["channels"] == [] and v1.owner.startswith("p3s")


def test_bad_data_in_the_admin_is_refused_with_the_reason_and_saves_nothing(eddie):
    v1 = services.current_condition("bands")
    bands = json.loads(json.dumps(v1.data))
    bands["planes"]["x"]["rms"]["warning"] = [7.0, 2.0]
    r = eddie.post(f"/admin/conditions/condition/{v1.pk}/change/", form(v1, bands))
    assert r.status_code == 200
    assert "planes.x.rms.warning: low 7.0 must be below high 2.0" in r.content.decode()
    assert Condition.objects.filter(name="bands").count() == 1


def test_a_new_condition_name_starts_at_version_1_owned_by_its_author(eddie):
    r = eddie.post(
        "/admin/conditions/condition/add/",
        {**form(None, {"kv": 180}), "name": "hv-map", "valid_from_run": "40"},
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    hv = Condition.objects.get(name="hv-map")
    assert hv.version == 1 and hv.owner == "eddie" and hv.valid_from_run == 40


def test_the_condition_page_shows_every_version_and_which_is_current(eddie):
    services.new_version("bad-channels", BAD, owner="fiona", comment="dead wire")
    v1 = Condition.objects.get(name="bad-channels", version=1)
    html = eddie.get(f"/admin/conditions/condition/{v1.pk}/change/").content.decode()
    assert ">v1</a>" in html and ">v2</a> (current)" in html and "fiona" in html


def test_conditions_and_references_are_never_deleted_in_the_admin(eddie):
    v1 = services.current_condition("bands")
    assert eddie.get(f"/admin/conditions/condition/{v1.pk}/delete/").status_code == 403


def test_operators_without_staff_rights_do_not_reach_the_conditions_admin(db):
    olga = login("olga", False, "operator")
    r = olga.get("/admin/conditions/condition/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]


def test_an_expert_makes_a_reference_from_runs_in_the_admin(eddie):
    world = World()
    world.run_file(100, hists=[("adc_rms", U1, [1, 2, 3, 4])])
    link = references.make_reference_url("tpc-dqm", "tpc", 100)
    assert link == "/admin/conditions/referenceset/add/?template=tpc-dqm&stream=tpc&runs=100"
    page = eddie.get(link).content.decode()
    assert "Make the reference" in page and 'value="100"' in page
    r = eddie.post(
        "/admin/conditions/referenceset/add/",
        {"template": "tpc-dqm", "stream": "tpc", "runs": "100", "dagruns": "", "name": ""},
        follow=True,
    )
    assert "made: 1 histograms, 0 metrics" in r.content.decode()
    ref = references.current_reference("tpc-dqm", "tpc")
    assert ref.owner == "eddie" and ref.source_runs == [100]


def test_making_a_reference_from_nothing_says_why_in_the_admin(eddie):
    World()
    r = eddie.post(
        "/admin/conditions/referenceset/add/",
        {"template": "tpc-dqm", "stream": "tpc", "runs": "5", "dagruns": ""},
    )
    assert "No reference made: no DAG run" in r.content.decode()
    r = eddie.post(
        "/admin/conditions/referenceset/add/",
        {"template": "tpc-dqm", "stream": "tpc", "runs": "x1", "dagruns": ""},
    )
    assert "whole numbers" in r.content.decode()
    assert ReferenceSet.objects.count() == 0


def test_selected_dag_runs_become_a_reference_through_the_dag_run_action(eddie):
    world = World()
    world.run_file(100, hists=[("adc_rms", U1, [1, 2, 3, 4])])
    world.run_file(101, hists=[("adc_rms", U1, [5, 5, 5, 5])])
    chosen = world.dagruns[1]
    action = {"action": "make_reference_from_dagruns", "_selected_action": [chosen.pk]}
    r = eddie.post("/admin/dags/dagrun/", action, follow=True)
    assert "not signed off good" in r.content.decode() and ReferenceSet.objects.count() == 0
    sign_off(101, None, "good", actor="test")
    r = eddie.post("/admin/dags/dagrun/", action, follow=True)
    assert "made: 1 histograms" in r.content.decode()
    ref = references.current_reference("tpc-dqm", "tpc")
    assert ref.source_dagruns == [chosen.pk] and ref.hist_for("adc_rms", U1)["counts"] == [5] * 4
    page = eddie.get(f"/admin/conditions/referenceset/{ref.pk}/change/").content.decode()
    assert "1 histograms" in page and "current" in page


def test_every_conditions_admin_page_opens_for_an_expert(eddie):
    world = World()
    world.run_file(
        100,
        hists=[("adc_rms", U1, [1, 2, 3, 4])],
        metrics=[{"name": "adc_rms_mean", "value": 4.0, "labels": U1}],
    )
    ref = references.make_reference("tpc-dqm", "tpc", runs=[100])
    for url in (
        "/admin/",
        "/admin/conditions/condition/",
        "/admin/conditions/condition/add/",
        "/admin/conditions/referenceset/",
        f"/admin/conditions/referenceset/{ref.pk}/change/",
        "/admin/conditions/referencehist/",
        f"/admin/conditions/referencehist/?reference__id__exact={ref.pk}",
        "/admin/conditions/referencemetric/",
    ):
        r = eddie.get(url)
        assert r.status_code == 200, url
    assert "adc_rms_mean" in eddie.get("/admin/conditions/referencemetric/").content.decode()
