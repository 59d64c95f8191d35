"""Finishing jobs makes the next stages claimable: fan-out, joins, prescale, run states."""

import pytest

from p3s.dags.flow import prescale_selects
from p3s.jobs import actions
from p3s.jobs.actions import Report
from p3s.jobs.claim import claim_next
from p3s.jobs.models import Job
from tests.conftest import FANOUT_JOIN

pytestmark = pytest.mark.django_db


def run_next(pilot, state="finished", **kw):
    job = claim_next(pilot.pk, pilot.queues)
    assert job is not None, "nothing claimable"
    actor = f"pilot:{pilot.pk}"
    actions.report(job.pk, pilot.pk, Report("running"), actor)
    actions.report(job.pk, pilot.pk, Report(state, **kw), actor)
    return job


def states(dagrun):
    return dict(dagrun.jobs.values_list("stage", "state"))


def test_fan_out_then_join_runs_the_join_once_after_both_parents(make_dag, announce, pilot_record):
    make_dag(FANOUT_JOIN)
    run = announce().dagruns[0]
    pilot = pilot_record()
    assert states(run) == {"a": "waiting"}
    run_next(pilot, outputs=["file:///out/a.bin"])
    assert states(run) == {"a": "finished", "b": "waiting", "c": "waiting"}
    assert run.jobs.get(stage="b").inputs == [run.file.url, "file:///out/a.bin"]
    run_next(pilot, outputs=["file:///out/b.bin"])
    assert "d" not in states(run), "the join must wait for both parents"
    run_next(pilot, outputs=["file:///out/c.bin"])
    d = run.jobs.get(stage="d")
    assert d.state == "waiting"
    assert d.parents == {"b": ["file:///out/b.bin"], "c": ["file:///out/c.bin"]}
    run_next(pilot)
    run.refresh_from_db()
    assert run.state == "succeeded" and run.ended is not None
    assert Job.objects.filter(dagrun=run).count() == 4


def test_a_failed_job_with_attempts_left_goes_back_to_waiting_then_fails_the_run(
    make_dag, announce, pilot_record
):
    make_dag(
        FANOUT_JOIN.replace(
            "a: {payload: diag, timeout: 60}", "a: {payload: diag, timeout: 60, max_attempts: 2}"
        )
    )
    run = announce().dagruns[0]
    pilot = pilot_record()
    run_next(pilot, "failed", exit_code=3, message="boom")
    job = run.jobs.get(stage="a")
    assert (job.state, job.attempt) == ("waiting", 2)
    assert list(job.events.values_list("from_state", "to_state")) == [
        ("", "waiting"),
        ("waiting", "dispatched"),
        ("dispatched", "running"),
        ("running", "failed"),
        ("failed", "waiting"),
    ]
    run_next(pilot, "failed", exit_code=3, message="boom again")
    job.refresh_from_db()
    run.refresh_from_db()
    assert (job.state, job.exit_code, job.message) == ("failed", 3, "boom again")
    assert run.state == "failed"


def test_a_timed_out_branch_makes_the_run_partial(make_dag, announce, pilot_record):
    make_dag(FANOUT_JOIN)
    run = announce().dagruns[0]
    pilot = pilot_record()
    run_next(pilot)
    run_next(pilot, "timeout", message="killed at 60 s")
    run_next(pilot)
    run.refresh_from_db()
    assert states(run) == {"a": "finished", "b": "timeout", "c": "finished"}
    assert run.state == "partial"


def test_operator_retry_reopens_a_finished_run(make_dag, announce, pilot_record):
    make_dag(FANOUT_JOIN)
    run = announce().dagruns[0]
    pilot = pilot_record()
    run_next(pilot)
    run_next(pilot, "timeout")
    run_next(pilot)
    b = run.jobs.get(stage="b")
    actions.retry(b.pk, "user:op")
    run.refresh_from_db()
    assert run.state == "running"
    run_next(pilot)
    run_next(pilot)
    run.refresh_from_db()
    assert run.state == "succeeded"


def test_prescale_picks_a_stable_fraction_of_files():
    picks = [prescale_selects("tpc", "sig", f"file:///f{i}", 0.25) for i in range(4000)]
    assert 0.22 < sum(picks) / len(picks) < 0.28
    assert picks == [prescale_selects("tpc", "sig", f"file:///f{i}", 0.25) for i in range(4000)]
    assert all(prescale_selects("tpc", "sig", f"file:///f{i}", 1.0) for i in range(100))
    assert not any(prescale_selects("tpc", "sig", f"file:///f{i}", 0.0) for i in range(100))


def test_prescaled_out_stages_are_dropped_and_the_run_still_succeeds(
    make_dag, announce, pilot_record
):
    make_dag(
        FANOUT_JOIN.replace(
            "c: {payload: diag, parents: [a], timeout: 60}",
            "c: {payload: diag, parents: [a], timeout: 60, prescale: 0}",
        )
    )
    run = announce().dagruns[0]
    pilot = pilot_record()
    run_next(pilot)
    assert run.jobs.get(stage="c").state == "dropped"
    assert run.jobs.get(stage="c").drop_reason == "prescaled"
    run_next(pilot)
    run.refresh_from_db()
    assert states(run) == {"a": "finished", "b": "finished", "c": "dropped"}
    assert run.state == "succeeded"


def test_a_file_starts_one_run_per_matching_enabled_template(make_dag, announce):
    make_dag(FANOUT_JOIN)
    make_dag(
        FANOUT_JOIN.replace("name: fanjoin", "name: other").replace(
            "trigger: {stream: diag}", "trigger: {stream: diag, pattern: 'x*.h5'}"
        )
    )
    make_dag(FANOUT_JOIN.replace("name: fanjoin", "name: disabled-one\nenabled: false"))
    ann = announce()
    assert [r.template.name for r in ann.dagruns] == ["fanjoin"]
    ann = announce(url="file:///data/x1.h5")
    assert sorted(r.template.name for r in ann.dagruns) == ["fanjoin", "other"]
    assert announce(stream="crt").dagruns == []
