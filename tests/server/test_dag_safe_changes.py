"""Safe workflow changes (issue 14): dry run creates nothing and lists the jobs; diff of any
two versions; history with old and new values; rollback restores graph and tunables; YAML
comments kept; reprocessing makes a new DAG run with the current version, recorded."""

from pathlib import Path

import pytest

from p3s.dags import flow, spec
from p3s.dags.models import DagRun, DagTemplate, DagVersion, DataFile, TemplateChange, TemplateEvent
from p3s.jobs.models import Job, JobEvent

pytestmark = pytest.mark.django_db

V1 = """\
# the fan-out/join used by the tests; this comment must survive a save
name: safe
trigger: {stream: diag}
stages:
  a: {payload: diag, timeout: 60}
  b: {payload: diag, parents: [a], prescale: 0.5}   # half of the files
  c: {payload: diag, parents: [a]}
  d: {payload: diag, parents: [b, c]}
"""
V2 = (
    V1.replace("prescale: 0.5", "prescale: 0.2").replace(
        "a: {payload: diag, timeout: 60}", "a: {payload: diag, timeout: 90}"
    )
    + "  e: {payload: diag, parents: [d], args: {seconds: 1}}\n"
)


def post_yaml(client, text, name=None):
    url = f"/api/v1/dags/{name}/" if name else "/api/v1/dags/"
    send = client.put if name else client.post
    return send(url, text, content_type="application/yaml")


def counts():
    return {
        m.__name__: m.objects.count()
        for m in (Job, JobEvent, DagRun, DataFile, DagVersion, TemplateChange, TemplateEvent)
    }


@pytest.fixture
def two_versions(expert):
    assert post_yaml(expert, V1).status_code == 201
    r = post_yaml(expert, V2, "safe")
    assert r.status_code == 200 and r.json()["version"] == 2, r.content
    return DagTemplate.objects.get(name="safe")


def test_a_dry_run_lists_the_jobs_with_prescale_decisions_and_creates_nothing(
    expert, two_versions, announce
):
    f = announce().file
    before = counts()
    r = expert.post("/api/v1/dags/safe/dryrun/", {"file": f.pk, "version": 1}, format="json")
    assert r.status_code == 200, r.content
    assert counts() == before
    out = r.json()
    assert out["trigger_matches"] is True
    jobs = {j["stage"]: j for j in out["jobs"]}
    assert list(jobs) == ["a", "b", "c", "d"]  # version 1: no stage e
    b_selected = flow.prescale_selects("safe", "b", f.url, 0.5)
    assert jobs["b"]["prescale"] == 0.5
    assert jobs["b"]["state"] == ("waiting" if b_selected else "dropped")
    assert jobs["a"]["inputs"] == [f.url] and jobs["a"]["timeout"] == 60
    assert jobs["d"]["created"] is b_selected
    if not b_selected:
        assert "b (prescaled out)" in jobs["d"]["why"]


def test_a_dry_run_agrees_with_what_the_flow_then_does(expert, make_dag, announce):
    make_dag(V1)
    f = announce().file  # the real DAG run: a only, the rest once parents finish
    r = expert.post("/api/v1/dags/safe/dryrun/", {"file": f.pk}, format="json")
    made = Job.objects.get(dagrun__file=f, stage="a")
    a = r.json()["jobs"][0]
    assert (a["payload"], a["args"], a["priority"], a["queue"]) == (
        made.payload,
        made.args,
        made.priority,
        made.queue,
    )


def test_a_dry_run_of_an_unsaved_edit_and_its_bad_input(expert, two_versions, announce):
    f = announce().file
    r = expert.post("/api/v1/dags/safe/dryrun/", {"file": f.pk, "yaml": V2}, format="json")
    assert [j["stage"] for j in r.json()["jobs"]] == ["a", "b", "c", "d", "e"]
    before = counts()
    bad = expert.post(
        "/api/v1/dags/safe/dryrun/",
        {"file": f.pk, "yaml": V2 + "  x: {payload: nope}\n"},
        format="json",
    )
    assert bad.status_code == 400 and "unknown payload 'nope'" in bad.content.decode()
    assert (
        expert.post("/api/v1/dags/safe/dryrun/", {"file": 10**9}, format="json").status_code == 400
    )
    assert counts() == before


def test_the_diff_of_two_versions_shows_graph_and_tunables(expert, two_versions):
    r = expert.get("/api/v1/dags/safe/diff/?a=1&b=2")
    assert r.status_code == 200, r.content
    d = r.json()
    assert d["stages_added"] == ["e"] and d["edges_added"] == ["d->e"]
    assert d["graph_changed"] is True
    got = {c["what"]: (c["old"], c["new"]) for c in d["changes"]}
    assert got["stage b prescale"] == (0.5, 0.2)
    assert got["stage a timeout"] == (60.0, 90.0)
    assert expert.get("/api/v1/dags/safe/diff/?a=7").status_code == 400


def test_the_history_says_who_changed_what_with_old_and_new_values(expert, two_versions):
    r = expert.get("/api/v1/dags/safe/history/")
    edit, create = r.json()
    assert create["action"] == "create" and create["version"] == 1
    assert edit["action"] == "edit" and edit["version"] == 2 and edit["actor"]
    assert {"what": "stage b prescale", "old": 0.5, "new": 0.2, "kind": "tunable"} in edit[
        "changes"
    ]


def test_rollback_restores_graph_and_tunables_in_one_action(client_as, expert, two_versions):
    before = counts()
    assert (
        client_as("operator")
        .post("/api/v1/dags/safe/rollback/", {"version": 1}, format="json")
        .status_code
        == 403
    )
    assert (
        expert.post("/api/v1/dags/safe/rollback/", {"version": 9}, format="json").status_code == 400
    )
    assert counts() == before
    r = expert.post("/api/v1/dags/safe/rollback/", {"version": 1}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["action"] == "rollback"
    t = DagTemplate.objects.get(name="safe")
    assert t.current_version.number == 1 and t.versions.count() == 2  # no new version
    now = flow.spec_of(t)
    assert now.order == ["a", "b", "c", "d"]
    assert now.tunables["b"]["prescale"] == 0.5 and now.tunables["a"]["timeout"] == 60
    assert now.to_dict() == spec.load(V1).to_dict()
    assert t.events.filter(action="rollback").exists()
    # and forward again
    expert.post("/api/v1/dags/safe/rollback/", {"version": 2}, format="json")
    assert flow.spec_of(DagTemplate.objects.get(name="safe")).to_dict() == spec.load(V2).to_dict()


def test_yaml_comments_are_kept(expert, two_versions):
    r = expert.get("/api/v1/dags/safe/")
    assert "# half of the files" in r.json()["yaml"]
    assert "this comment must survive a save" in r.json()["yaml"]
    # a live change made elsewhere (enable/disable) is not hidden by a stale text
    t = DagTemplate.objects.get(name="safe")
    dag = flow.spec_of(t)
    dag.tunables["c"]["priority"] = 77
    flow.apply_spec(dag, actor="x", source="")
    assert "priority: 77" in expert.get("/api/v1/dags/safe/").json()["yaml"]


def test_reprocessing_a_file_makes_a_new_dag_run_with_the_current_version(
    client_as, expert, announce
):
    post_yaml(expert, V1)
    f = announce().file
    first = DagRun.objects.get(file=f)
    assert first.version.number == 1
    post_yaml(expert, V2, "safe")
    operator = client_as("operator")
    r = operator.post("/api/v1/dags/safe/reprocess/", {"file": f.pk, "why": "new v"}, format="json")
    assert r.status_code == 201, r.content
    (run_id,) = r.json()["dagruns"]
    run = DagRun.objects.get(pk=run_id)
    assert run.pk != first.pk and run.file == f and run.version.number == 2
    assert run.generation == 1
    assert run.jobs.get(stage="a").state == "waiting"
    ev = TemplateEvent.objects.get(template__name="safe", action="reprocess")
    assert f.name in ev.detail and "new v" in ev.detail and ev.actor
    # again: the next generation
    r = operator.post("/api/v1/dags/safe/reprocess/", {"file": f.pk}, format="json")
    assert DagRun.objects.get(pk=r.json()["dagruns"][0]).generation == 2


def test_reprocessing_a_run_and_refusals(client_as, expert, announce):
    post_yaml(expert, V1)
    files = [announce(run=4242).file for _ in range(3)]
    announce(run=4243)
    operator = client_as("operator")
    r = operator.post("/api/v1/dags/safe/reprocess/", {"run": 4242}, format="json")
    assert r.status_code == 201 and len(r.json()["dagruns"]) == 3
    assert {DagRun.objects.get(pk=i).file_id for i in r.json()["dagruns"]} == {f.pk for f in files}
    before = counts()
    for body in ({"run": 999999}, {}, {"file": files[0].pk, "run": 4242}, {"file": "x"}):
        assert operator.post("/api/v1/dags/safe/reprocess/", body, format="json").status_code == 400
    assert (
        client_as("daq")
        .post("/api/v1/dags/safe/reprocess/", {"run": 4242}, format="json")
        .status_code
        == 403
    )
    assert counts() == before


def test_reprocessed_jobs_are_not_dropped_as_too_old(expert, client_as, announce):
    from datetime import UTC, datetime

    from p3s.jobs import sweep

    post_yaml(expert, V1.replace("trigger:", "policy: {max_age: 60}\ntrigger:"))
    f = announce(ts=datetime(2020, 1, 1, tzinfo=UTC)).file
    r = client_as("operator").post("/api/v1/dags/safe/reprocess/", {"file": f.pk}, format="json")
    sweep.drop_stale()
    assert Job.objects.get(dagrun__file=f, dagrun__generation=0, stage="a").state == "dropped"
    assert DagRun.objects.get(pk=r.json()["dagruns"][0]).jobs.get(stage="a").state == "waiting"


def test_the_shipped_defaults_still_load(expert):
    for path in sorted((Path(spec.__file__).parent / "defaults").glob("*.yaml")):
        assert post_yaml(expert, path.read_text()).status_code == 201
