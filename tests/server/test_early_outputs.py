"""Early outputs: a running job hands its data outputs to its children before it finishes.

``POST jobs/{id}/outputs/`` (p3s.jobs.actions.release_outputs): the children whose parents
are all ready (finished, or running with their outputs released) are made at once, and
made once; released outputs are final; a new attempt releases its own.
"""

import pytest

from p3s.jobs import actions
from p3s.jobs.actions import Report
from p3s.jobs.claim import claim_next
from p3s.jobs.models import Job
from tests.conftest import FANOUT_JOIN

pytestmark = pytest.mark.django_db


def start(pilot):
    job = claim_next(pilot.pk, pilot.queues)
    assert job is not None, "nothing claimable"
    actions.report(job.pk, pilot.pk, Report("running"), f"pilot:{pilot.pk}")
    return job


def release(pilot, job, outputs, attempt=None):
    return actions.release_outputs(job.pk, pilot.pk, outputs, attempt, f"pilot:{pilot.pk}")


def finish(pilot, job, outputs=()):
    actions.report(job.pk, pilot.pk, Report("finished", list(outputs)), f"pilot:{pilot.pk}")


def states(run):
    return dict(run.jobs.values_list("stage", "state"))


def test_released_outputs_make_the_children_claimable_while_the_parent_runs(
    make_dag, announce, pilot_record
):
    make_dag(FANOUT_JOIN)
    run = announce().dagruns[0]
    p1, p2 = pilot_record(), pilot_record()
    a = start(p1)
    job, made = release(p1, a, ["file:///out/a.h5"])
    assert job.state == "running" and job.released_at is not None
    assert sorted(j.stage for j in made) == ["b", "c"]
    assert states(run) == {"a": "running", "b": "waiting", "c": "waiting"}
    b = run.jobs.get(stage="b")
    assert b.parents == {"a": ["file:///out/a.h5"]}
    assert b.inputs == [run.file.url, "file:///out/a.h5"]
    run.refresh_from_db()
    assert run.state == "running"
    assert start(p2).stage in ("b", "c"), "a child runs on another pilot while a still runs"
    # The parent's end makes nothing twice, and its released outputs stay.
    finish(p1, a, ["file:///out/a.h5"])
    assert Job.objects.filter(dagrun=run).count() == 3
    a.refresh_from_db()
    assert (a.state, a.outputs) == ("finished", ["file:///out/a.h5"])


def test_a_join_counts_a_released_parent_as_ready(make_dag, announce, pilot_record):
    make_dag(FANOUT_JOIN)
    run = announce().dagruns[0]
    pilot = pilot_record()
    a = start(pilot)
    finish(pilot, a, ["file:///out/a.h5"])
    first = start(pilot)
    _, made = release(pilot, first, [f"file:///out/{first.stage}.h5"])
    assert made == [], "the join waits for its other parent"
    second = start(pilot)
    finish(pilot, second, [f"file:///out/{second.stage}.h5"])
    d = run.jobs.get(stage="d")
    assert d.state == "waiting"
    assert d.parents == {"b": ["file:///out/b.h5"], "c": ["file:///out/c.h5"]}
    finish(pilot, first, [f"file:///out/{first.stage}.h5"])
    assert run.jobs.filter(stage="d").count() == 1


def test_a_repeat_is_harmless_and_other_outputs_are_refused(make_dag, announce, pilot_record):
    from p3s.exceptions import Conflict

    make_dag(FANOUT_JOIN)
    run = announce().dagruns[0]
    pilot = pilot_record()
    a = start(pilot)
    release(pilot, a, ["file:///out/a.h5"])
    job, made = release(pilot, a, ["file:///out/a.h5"])
    assert made == [] and run.jobs.count() == 3
    with pytest.raises(Conflict, match="final"):
        release(pilot, a, ["file:///out/other.h5"])
    a.refresh_from_db()
    assert a.outputs == ["file:///out/a.h5"]


def test_more_outputs_at_the_end_follow_the_released_ones(make_dag, announce, pilot_record):
    make_dag(FANOUT_JOIN)
    announce()
    pilot = pilot_record()
    a = start(pilot)
    release(pilot, a, ["file:///out/a.h5"])
    finish(pilot, a, ["file:///out/extra.h5", "file:///out/a.h5"])
    a.refresh_from_db()
    assert a.outputs == ["file:///out/a.h5", "file:///out/extra.h5"]


def test_a_parent_failing_after_its_release_keeps_its_children_and_retries_alone(
    make_dag, announce, pilot_record
):
    make_dag(
        FANOUT_JOIN.replace(
            "a: {payload: diag, timeout: 60}", "a: {payload: diag, timeout: 60, max_attempts: 2}"
        )
    )
    run = announce().dagruns[0]
    p1, p2 = pilot_record(), pilot_record()
    a = start(p1)
    release(p1, a, ["file:///out/a-1.h5"])
    actions.report(
        a.pk, p1.pk, Report("failed", exit_code=1, message="plot crashed"), f"pilot:{p1.pk}"
    )
    a.refresh_from_db()
    assert (a.state, a.attempt, a.released_at) == ("waiting", 2, None)
    assert states(run) == {"a": "waiting", "b": "waiting", "c": "waiting"}
    run.refresh_from_db()
    assert run.state == "running"
    again = start(p2)
    assert again.pk == a.pk or again.stage in ("b", "c")
    # Attempt 1's pilot cannot release for attempt 2.
    from p3s.exceptions import Conflict

    with pytest.raises(Conflict):
        release(p1, a, ["file:///out/a-1.h5"], attempt=1)
    assert run.jobs.count() == 3


def test_a_split_stage_is_ready_only_when_every_part_is(make_dag, announce, pilot_record):
    make_dag(
        """
name: splitrel
trigger: {stream: diag}
stages:
  a: {payload: diag, timeout: 60, split: "apa:2"}
  b: {payload: diag, parents: [a], timeout: 60}
"""
    )
    run = announce().dagruns[0]
    pilot = pilot_record()
    first, second = start(pilot), start(pilot)
    _, made = release(pilot, first, ["file:///out/a0.h5"])
    assert made == [] and "b" not in states(run)
    _, made = release(pilot, second, ["file:///out/a1.h5"])
    assert [j.stage for j in made] == ["b"]
    b = run.jobs.get(stage="b")
    assert sorted(b.parents["a"]) == ["file:///out/a0.h5", "file:///out/a1.h5"]


def test_a_release_after_the_end_changes_nothing(make_dag, announce, pilot_record):
    make_dag(FANOUT_JOIN)
    run = announce().dagruns[0]
    pilot = pilot_record()
    a = start(pilot)
    finish(pilot, a, ["file:///out/a.h5"])
    job, made = release(pilot, a, ["file:///out/a.h5"])
    assert (job.state, made, job.released_at) == ("finished", [], None)
    assert run.jobs.count() == 3


# -- through the API --------------------------------------------------------------------


@pytest.fixture
def two_pilots_job(running_job, new_pilot):
    pilot, job = running_job
    return pilot, job, new_pilot(host="wn02")


def test_the_endpoint_answers_the_children_it_made(two_pilots_job):
    pilot, job, _ = two_pilots_job
    r = pilot.post(
        f"/api/v1/jobs/{job['id']}/outputs/",
        {"outputs": ["file:///out/a.h5"], "attempt": job["attempt"]},
        format="json",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["state"] == "running" and body["released_at"]
    made = Job.objects.filter(pk__in=body["children"])
    assert sorted(made.values_list("stage", flat=True)) == ["b", "c"]
    detail = pilot.get(f"/api/v1/jobs/{job['id']}/")
    assert detail.status_code == 403  # the job page is the operators'


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"outputs": []},
        {"outputs": "file:///out/a.h5"},
        {"outputs": [7]},
        {"outputs": ["x" * 1001]},
        {"outputs": ["file:///out/a.h5"], "attempt": 0},
    ],
    ids=["missing", "empty", "not-a-list", "not-strings", "too-long", "bad-attempt"],
)
def test_bad_bodies_are_a_400_and_change_nothing(two_pilots_job, body):
    pilot, job, _ = two_pilots_job
    r = pilot.post(f"/api/v1/jobs/{job['id']}/outputs/", body, format="json")
    assert r.status_code == 400, r.content
    assert r.json()
    row = Job.objects.get(pk=job["id"])
    assert (row.released_at, row.outputs) == (None, [])
    assert Job.objects.filter(dagrun_id=row.dagrun_id).count() == 1


def test_only_the_pilot_holding_the_job_may_release(two_pilots_job, operator, anonymous):
    pilot, job, other = two_pilots_job
    url = f"/api/v1/jobs/{job['id']}/outputs/"
    body = {"outputs": ["file:///out/a.h5"]}
    assert other.post(url, body, format="json").status_code == 403
    assert operator.post(url, body, format="json").status_code == 403
    assert anonymous.post(url, body, format="json").status_code == 401
    assert pilot.post("/api/v1/jobs/999999/outputs/", body, format="json").status_code == 404
    stale = pilot.post(url, {**body, "attempt": job["attempt"] + 1}, format="json")
    assert stale.status_code == 409
    row = Job.objects.get(pk=job["id"])
    assert row.released_at is None
    assert Job.objects.filter(dagrun_id=row.dagrun_id).count() == 1
