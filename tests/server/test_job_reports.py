"""The state machine in one place: illegal moves refused, repeats harmless, events recorded."""

import pytest

from p3s.exceptions import Conflict, IllegalTransition, NotYours
from p3s.jobs import actions
from p3s.jobs.actions import Report
from p3s.jobs.claim import claim_next
from p3s.jobs.models import Job
from p3s.jobs.states import ALLOWED, JobState
from p3s.jobs.transitions import move
from tests.conftest import FANOUT_JOIN

pytestmark = pytest.mark.django_db


def test_every_state_has_its_allowed_moves_written_down():
    assert set(ALLOWED) == set(JobState.values)
    assert ALLOWED[JobState.FINISHED] == frozenset()


def test_an_illegal_transition_is_refused_and_changes_nothing(make_dag, announce):
    make_dag(FANOUT_JOIN)
    job = announce().dagruns[0].jobs.get()
    with pytest.raises(IllegalTransition):
        move(job, JobState.FINISHED, actor="test")
    job.refresh_from_db()
    assert job.state == "waiting" and job.events.count() == 1


def test_a_repeated_report_is_harmless(make_dag, announce, pilot_record):
    make_dag(FANOUT_JOIN)
    run = announce().dagruns[0]
    pilot = pilot_record()
    job = claim_next(pilot.pk, ["default"])
    actor = f"pilot:{pilot.pk}"
    for _ in range(2):
        actions.report(job.pk, pilot.pk, Report("running"), actor)
    for _ in range(3):
        actions.report(job.pk, pilot.pk, Report("finished", outputs=["file:///o"]), actor)
    assert run.jobs.count() == 3  # a, b, c: children created once
    assert Job.objects.get(pk=job.pk).events.filter(to_state="finished").count() == 1


def test_a_report_after_the_job_was_requeued_is_a_conflict(make_dag, announce, pilot_record):
    make_dag(FANOUT_JOIN)
    announce()
    first, second = pilot_record(host="a"), pilot_record(host="b")
    job = claim_next(first.pk, ["default"])
    actions.requeue_lost(Job.objects.select_related("settings").get(pk=job.pk), "sweeper", "lost")
    assert claim_next(second.pk, ["default"]).pk == job.pk
    with pytest.raises(Conflict):
        actions.report(job.pk, first.pk, Report("finished"), f"pilot:{first.pk}")


def test_a_pilot_cannot_report_on_a_job_it_was_never_given(make_dag, announce, pilot_record):
    make_dag(FANOUT_JOIN)
    announce()
    owner, stranger = pilot_record(host="a"), pilot_record(host="b")
    job = claim_next(owner.pk, ["default"])
    with pytest.raises(NotYours):
        actions.report(job.pk, stranger.pk, Report("failed", exit_code=1), f"pilot:{stranger.pk}")
    job.refresh_from_db()
    assert job.state == "dispatched"


def test_released_jobs_go_back_to_waiting_without_using_an_attempt(
    make_dag, announce, pilot_record
):
    make_dag(FANOUT_JOIN)
    announce()
    pilot = pilot_record()
    job = claim_next(pilot.pk, ["default"])
    actions.report(job.pk, pilot.pk, Report("running"), f"pilot:{pilot.pk}")
    actions.report(job.pk, pilot.pk, Report("released", message="SIGTERM"), f"pilot:{pilot.pk}")
    job.refresh_from_db()
    pilot.refresh_from_db()
    assert (job.state, job.attempt, job.pilot_id) == ("waiting", 1, None)
    assert pilot.state == "idle" and pilot.job_id is None


def test_operators_cancel_and_retry_only_from_sensible_states(make_dag, announce):
    make_dag(FANOUT_JOIN)
    job = announce().dagruns[0].jobs.get()
    with pytest.raises(IllegalTransition):
        actions.retry(job.pk, "user:op")
    actions.cancel(job.pk, "user:op")
    job.refresh_from_db()
    assert job.state == "cancelled"
    assert job.dagrun.state == "cancelled"
    actions.retry(job.pk, "user:op")
    job.refresh_from_db()
    assert (job.state, job.attempt) == ("waiting", 2)
    ev = job.events.last()
    assert (ev.from_state, ev.to_state, ev.actor, ev.reason) == (
        "cancelled",
        "waiting",
        "user:op",
        "retried by an operator",
    )
