"""Split stages (p3s.dags.split): a stage as N parallel parts, its children joining on all."""

import threading

import pytest
from django.db import connection

from p3s.dags import flow, spec, split
from p3s.dags.models import StageSettings
from p3s.exceptions import InvalidDag
from p3s.jobs import actions
from p3s.jobs.actions import Report
from p3s.jobs.claim import claim_next
from p3s.jobs.models import Job, JobEvent
from p3s.jobs.sweep import drop_stale, expire_timeouts

CHAIN = """
name: splitchain
trigger: {stream: diag}
stages:
  a: {payload: diag, timeout: 60}
  b: {payload: diag, parents: [a], timeout: 60, max_attempts: 2, split: "apa:3"}
  c: {payload: diag, parents: [b], timeout: 60}
"""


def run_next(pilot, state="finished", **kw):
    job = claim_next(pilot.pk, pilot.queues)
    assert job is not None, "nothing claimable"
    actions.report(job.pk, pilot.pk, Report("running"), f"pilot:{pilot.pk}")
    actions.report(job.pk, pilot.pk, Report(state, **kw), f"pilot:{pilot.pk}")
    return job


def jobs_of(run, stage):
    return list(run.jobs.filter(stage=stage).order_by("part"))


@pytest.mark.django_db
def test_split_stage_makes_parts_with_their_share_and_the_child_joins_on_all(
    make_dag, announce, pilot_record
):
    make_dag(CHAIN)
    run = announce().dagruns[0]
    pilot = pilot_record()
    run_next(pilot, outputs=["file:///out/a.h5"])
    parts = jobs_of(run, "b")
    assert [j.part for j in parts] == ["apa:0/3", "apa:1/3", "apa:2/3"]
    assert [j.args[-2:] for j in parts] == [["--split", j.part] for j in parts]
    assert all(
        j.state == "waiting" and j.inputs == [run.file.url, "file:///out/a.h5"] for j in parts
    )
    done = []
    for k in range(3):
        job = run_next(pilot, outputs=[f"file:///out/b{k}.h5"])
        done.append(job.part)
        if k < 2:
            assert not jobs_of(run, "c"), f"c must wait for all parts ({done} done)"
    (c,) = jobs_of(run, "c")
    assert c.part == "" and c.state == "waiting"
    by_part = {j.part: j.outputs for j in jobs_of(run, "b")}
    assert c.parents == {"b": [u for p in sorted(by_part) for u in by_part[p]]}
    run_next(pilot)
    run.refresh_from_db()
    assert run.state == "succeeded"
    assert Job.objects.filter(dagrun=run).count() == 5


@pytest.mark.django_db
def test_a_failed_part_is_retried_alone_and_the_join_waits_for_it(make_dag, announce, pilot_record):
    make_dag(CHAIN)
    run = announce().dagruns[0]
    pilot = pilot_record()
    run_next(pilot)
    failed = run_next(pilot, "failed", exit_code=3, message="boom")
    failed.refresh_from_db()
    assert (failed.state, failed.attempt) == ("waiting", 2)
    # the other two parts finish first (the retried one comes back into the queue)
    seen = set()
    while len(seen) < 3:
        job = run_next(pilot, outputs=[f"file:///out/{job_id_tag()}.h5"])
        seen.add(job.part)
        c = jobs_of(run, "c")
        finished = run.jobs.filter(stage="b", state="finished").count()
        assert bool(c) == (finished == 3)
    assert len(jobs_of(run, "c")) == 1
    assert JobEvent.objects.filter(job__dagrun=run, job__stage="c", from_state="").count() == 1


_tags = iter(range(10**6))


def job_id_tag() -> str:
    return f"t{next(_tags)}"


@pytest.mark.django_db
def test_a_part_that_fails_for_good_fails_the_run_and_no_child_starts(
    make_dag, announce, pilot_record
):
    make_dag(CHAIN.replace("max_attempts: 2", "max_attempts: 1"))
    run = announce().dagruns[0]
    pilot = pilot_record()
    run_next(pilot)
    run_next(pilot, "failed", exit_code=1)
    run_next(pilot)
    run_next(pilot)
    run.refresh_from_db()
    assert run.state == "failed" and not jobs_of(run, "c")


@pytest.mark.django_db
def test_a_timed_out_part_makes_the_run_partial(make_dag, announce, pilot_record):
    from datetime import timedelta

    from django.utils import timezone

    make_dag(CHAIN)
    run = announce().dagruns[0]
    pilot = pilot_record()
    run_next(pilot)
    stuck = claim_next(pilot.pk, pilot.queues)
    actions.report(stuck.pk, pilot.pk, Report("running"), "pilot")
    run_next(pilot)
    run_next(pilot)
    assert expire_timeouts(timezone.now() + timedelta(seconds=3600)) == 1
    run.refresh_from_db()
    assert run.state == "partial" and not jobs_of(run, "c")


@pytest.mark.django_db
def test_a_prescaled_out_split_stage_is_one_dropped_job(make_dag, announce, pilot_record):
    make_dag(CHAIN.replace('split: "apa:3"', 'split: "apa:3", prescale: 0'))
    run = announce().dagruns[0]
    run_next(pilot_record())
    (b,) = jobs_of(run, "b")
    assert (b.state, b.drop_reason, b.part) == ("dropped", "prescaled", "")
    run.refresh_from_db()
    assert run.state == "succeeded"


@pytest.mark.django_db
def test_the_prompt_policy_drops_old_parts(make_dag, announce, pilot_record):
    make_dag(
        CHAIN.replace("trigger: {stream: diag}", "trigger: {stream: diag}\npolicy: {max_age: 60}")
    )
    run = announce().dagruns[0]  # data of 2026-11-22: far older than a minute
    run_next(pilot_record())
    assert drop_stale() == 3
    assert {(j.state, j.drop_reason) for j in jobs_of(run, "b")} == {("dropped", "too-old")}
    run.refresh_from_db()
    assert run.state == "partial"


@pytest.mark.django_db
def test_split_is_a_live_tunable_and_bad_values_are_refused(make_dag, announce, pilot_record):
    template = make_dag(CHAIN)
    version = template.current_version_id
    new = flow.apply_spec(spec.load(CHAIN.replace('"apa:3"', '"events:2"')), actor="test")
    assert not new.new_version and new.template.current_version_id == version
    assert StageSettings.objects.get(template=template, stage="b").split == "events:2"
    assert flow.spec_of(new.template).tunables["b"]["split"] == "events:2"
    run = announce().dagruns[0]
    run_next(pilot_record())
    assert [j.part for j in jobs_of(run, "b")] == ["events:0/2", "events:1/2"]
    for bad in ('"apa"', '"apa:0"', '"rows:3"', "3", '"apa:100"'):
        with pytest.raises(InvalidDag, match="split"):
            spec.load(CHAIN.replace('"apa:3"', bad))
    assert split.check("s", "apa:1") == ""  # one part is no split


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_parts_finishing_at_the_same_instant_start_the_child_exactly_once(
    make_dag, announce, pilot_record
):
    """Real concurrency on PostgreSQL: two threads report the two parts finished together."""
    make_dag(CHAIN.replace('"apa:3"', '"apa:2"'))
    pilots = [pilot_record(host=f"wn{i}") for i in range(2)]
    for _ in range(8):
        run = announce().dagruns[0]
        run_next(pilots[0])
        parts = [claim_next(p.pk, p.queues) for p in pilots]
        assert sorted(j.part for j in parts) == ["apa:0/2", "apa:1/2"]
        for p, j in zip(pilots, parts, strict=True):
            actions.report(j.pk, p.pk, Report("running"), "pilot")
        barrier = threading.Barrier(2)
        errors = []

        def finish(p, j, barrier=barrier, errors=errors):
            try:
                barrier.wait()
                actions.report(j.pk, p.pk, Report("finished", outputs=[f"file:///{j.part}"]), "p")
            except BaseException as exc:  # noqa: BLE001 - surfaced below
                errors.append(exc)
            finally:
                connection.close()

        threads = [
            threading.Thread(target=finish, args=pj) for pj in zip(pilots, parts, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        cs = jobs_of(run, "c")
        assert len(cs) == 1, "the join must start exactly once"
        assert sorted(cs[0].parents["b"]) == ["file:///apa:0/2", "file:///apa:1/2"]
        run_next(pilots[0])
        run.refresh_from_db()
        assert run.state == "succeeded"
