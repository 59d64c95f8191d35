"""The claim order is exactly: priority desc, then newest data, then oldest job."""

from datetime import UTC, datetime, timedelta

import pytest

from p3s.jobs.claim import claim_next
from p3s.jobs.models import Job, JobEvent

SINGLE = """
name: single
trigger: {stream: diag}
stages:
  only: {payload: diag, priority: 5}
"""

pytestmark = pytest.mark.django_db


@pytest.fixture
def pilot(pilot_record):
    return pilot_record()


def test_claim_order_is_priority_then_newest_data_then_oldest_job(make_dag, announce, pilot):
    make_dag(SINGLE)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    made = []
    # Two jobs per (priority, data time) so the id tie-break is exercised too.
    for prio in (1, 7, 3):
        for minutes in (0, 30, 10):
            for _ in range(2):
                job = announce(ts=t0 + timedelta(minutes=minutes)).dagruns[0].jobs.get()
                Job.objects.filter(pk=job.pk).update(priority=prio)
                made.append((prio, minutes, job.pk))
    expected = [pk for _, _, pk in sorted(made, key=lambda m: (-m[0], -m[1], m[2]))]
    got = []
    while (job := claim_next(pilot.pk, ["default"])) is not None:
        got.append(job.pk)
    assert got == expected


def test_claim_marks_dispatched_records_event_and_busies_the_pilot(make_dag, announce, pilot):
    make_dag(SINGLE)
    job = announce().dagruns[0].jobs.get()
    claimed = claim_next(pilot.pk, ["default"])
    assert claimed.pk == job.pk
    job.refresh_from_db()
    pilot.refresh_from_db()
    assert job.state == "dispatched" and job.pilot_id == pilot.pk and job.timeout == 600.0
    assert job.deadline is not None and job.dispatched_at is not None
    assert (
        JobEvent.objects.filter(job=job, from_state="waiting", to_state="dispatched").count() == 1
    )
    assert pilot.state == "busy" and pilot.job_id == job.pk
    assert claim_next(pilot.pk, ["default"]) is None


def test_claim_serves_only_the_pilots_queues(make_dag, announce, pilot):
    make_dag(SINGLE.replace("priority: 5", "priority: 5, queue: gpu"))
    announce()
    assert claim_next(pilot.pk, ["default"]) is None
    assert claim_next(pilot.pk, ["other", "gpu"]) is not None


def test_claim_skips_jobs_that_cannot_finish_in_the_pilots_time_left(make_dag, announce, pilot):
    make_dag(SINGLE.replace("priority: 5", "priority: 5, timeout: 300"))
    announce()
    assert claim_next(pilot.pk, ["default"], time_left=100) is None
    assert claim_next(pilot.pk, ["default"], time_left=400) is not None


def test_timeout_and_event_fraction_are_read_at_claim_time(make_dag, announce, pilot):
    from p3s.dags.models import StageSettings

    make_dag(SINGLE)
    announce()
    StageSettings.objects.filter(stage="only").update(timeout=42, event_fraction=0.25)
    job = claim_next(pilot.pk, ["default"])
    assert (job.timeout, job.event_fraction) == (42, 0.25)


def test_a_pilot_that_has_left_gets_no_job(make_dag, announce, pilot):
    from p3s.pilots import services

    make_dag(SINGLE)
    announce()
    services.say_goodbye(pilot, "SIGTERM", ok=True)
    assert claim_next(pilot.pk, ["default"]) is None
    assert Job.objects.get().state == "waiting"
