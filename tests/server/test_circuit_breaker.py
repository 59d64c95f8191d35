"""The circuit breaker: a stage whose jobs keep failing is paused with its reason and its
waiting jobs are no longer claimed, until an operator resumes it; deterministic failures
(the payload refused its input) are not retried."""

import pytest

from p3s.dags.models import StageSettings, TemplateEvent
from p3s.jobs import actions
from p3s.jobs.actions import Report
from p3s.jobs.claim import claim_next
from p3s.jobs.models import Job

pytestmark = pytest.mark.django_db

ONE = """
name: brittle
trigger: {stream: brittle}
stages:
  only: {payload: diag, timeout: 60, max_attempts: 1}
"""
RETRIED = ONE.replace("max_attempts: 1", "max_attempts: 3")


def run_one(pilot, state: str, exit_code: int = 1) -> Job:
    job = claim_next(pilot.pk, ["default"])
    assert job is not None, "nothing to claim"
    actor = f"pilot:{pilot.pk}"
    actions.report(job.pk, pilot.pk, Report("running"), actor)
    rep = Report(state, exit_code=exit_code if state == "failed" else None, message="bad file")
    return actions.report(job.pk, pilot.pk, rep, actor)


def stage() -> StageSettings:
    return StageSettings.objects.get(template__name="brittle", stage="only")


def judged_stage(make_dag, announce, pilot_record, finished: int, failed: int, extra: int = 0):
    """A brittle stage after ``finished`` successes then ``failed`` failures (``extra`` jobs
    left waiting); returns its settings and the pilot."""
    make_dag(ONE)
    for _ in range(finished + failed + extra):
        announce(stream="brittle")
    pilot = pilot_record()
    for state, n in (("finished", finished), ("failed", failed)):
        for _ in range(n):
            run_one(pilot, state)
    return stage(), pilot


@pytest.mark.parametrize(
    "finished,failed,breaker,paused",
    [
        (0, 10, None, False),  # 10 is not more than 10
        (0, 11, None, True),
        (12, 11, None, False),  # failures that do not outnumber successes
        (0, 12, 0, False),  # the breaker switched off
    ],
)
def test_the_breaker_pauses_a_stage_only_when_more_than_ten_failures_outnumber_successes(
    make_dag, announce, pilot_record, settings, finished, failed, breaker, paused
):
    if breaker is not None:
        settings.P3S = {**settings.P3S, "BREAKER_FAILURES": breaker}
    st, _ = judged_stage(make_dag, announce, pilot_record, finished, failed)
    assert st.paused is paused


def test_a_paused_stage_says_why_and_hands_out_none_of_its_waiting_jobs(
    make_dag, announce, pilot_record
):
    st, pilot = judged_stage(make_dag, announce, pilot_record, 0, 11, extra=2)
    assert st.paused and "11 failures against 0 successes" in st.paused_reason
    assert "bad file" in st.paused_reason
    event = TemplateEvent.objects.get(action="stage-paused")
    assert "stage only" in event.detail
    assert claim_next(pilot.pk, ["default"]) is None  # two jobs wait, none is handed out
    assert Job.objects.filter(state="waiting").count() == 2


def test_an_operator_resumes_a_paused_stage_and_its_jobs_flow_again(
    make_dag, announce, pilot_record, operator, expert
):
    _, pilot = judged_stage(make_dag, announce, pilot_record, 0, 11, extra=1)
    shown = operator.get("/api/v1/dags/brittle/").json()
    assert "11 failures" in shown["paused"]["only"]
    r = operator.post("/api/v1/dags/brittle/resume/", {"stages": ["only"]}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["resumed"] == ["only"]
    assert not stage().paused
    assert TemplateEvent.objects.filter(action="stage-resumed").count() == 1
    assert claim_next(pilot.pk, ["default"]) is not None
    assert operator.get("/api/v1/dags/brittle/").json()["paused"] == {}


def test_a_payload_that_refused_its_input_is_not_retried_but_a_crash_is(
    make_dag, announce, pilot_record
):
    make_dag(RETRIED)
    announce(stream="brittle")
    announce(stream="brittle")
    pilot = pilot_record()
    refused = run_one(pilot, "failed", exit_code=2)  # payloads: PayloadError -> exit 2
    assert (refused.state, refused.attempt) == ("failed", 1)
    crashed = run_one(pilot, "failed", exit_code=1)
    assert (crashed.state, crashed.attempt) == ("waiting", 2)


def test_resuming_needs_an_operator(make_dag, anonymous, client_as):
    make_dag(ONE)
    assert anonymous.post("/api/v1/dags/brittle/resume/", {}, format="json").status_code in (
        401,
        403,
    )
    daq = client_as("daq")
    assert daq.post("/api/v1/dags/brittle/resume/", {}, format="json").status_code == 403
