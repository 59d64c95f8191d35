"""Overload control (p3s.dags.overload): the adaptive prescale moves both ways and says why;
"dropped because behind" is counted apart from "prescaled"; newest data are processed first."""

from datetime import timedelta

import pytest
from django.utils import timezone

from p3s.dags import overload, spec
from p3s.dags.models import DagRun, DataFile, StageSettings, TemplateEvent
from p3s.exceptions import InvalidDag
from p3s.jobs import actions
from p3s.jobs.actions import Report
from p3s.jobs.claim import claim_next
from p3s.jobs.models import Job
from p3s.jobs.sweep import drop_stale, sweep_once

pytestmark = pytest.mark.django_db

ADAPTIVE = """
name: adapt
trigger: {stream: diag}
policy:
  max_waiting: 5
  adaptive_prescale: {budget: 60, stages: [b], floor: 0.1, interval: 0}
stages:
  a: {payload: diag, timeout: 60}
  b: {payload: diag, parents: [a], timeout: 60, prescale: 0.8}
"""


def factor(template, stage="b"):
    return StageSettings.objects.get(template=template, stage=stage).adaptive_factor


def age_files(template, seconds):
    """Pretend the template's files arrived ``seconds`` ago."""
    DataFile.objects.filter(dagruns__template=template).update(
        created=timezone.now() - timedelta(seconds=seconds)
    )


def test_latency_near_the_budget_lowers_the_factor_and_headroom_raises_it(make_dag, announce):
    template = make_dag(ADAPTIVE)
    for _ in range(5):
        announce()
    age_files(template, 55)  # running for 55 s: above 80 % of 60 s
    assert overload.adapt_prescale() == 1
    assert factor(template) == 0.5
    ev = TemplateEvent.objects.filter(template=template, action="adaptive-prescale").first()
    assert ev.actor == "overload"
    assert "factor 1 -> 0.5" in ev.detail and "b 0.8 -> 0.4" in ev.detail
    assert "> 80% of the 60 s budget" in ev.detail and "p90 55" in ev.detail
    for _ in range(5):
        overload.adapt_prescale()
    assert factor(template) == 0.1, "never below the floor"
    n_events = TemplateEvent.objects.filter(action="adaptive-prescale").count()
    assert overload.adapt_prescale() == 0, "at the floor nothing moves, nothing is recorded"
    assert TemplateEvent.objects.filter(action="adaptive-prescale").count() == n_events

    # The backlog clears: runs ended 5 s after their files arrived.
    now = timezone.now()
    DagRun.objects.filter(template=template).update(state="succeeded", ended=now)
    age_files(template, 5)
    assert overload.adapt_prescale() == 1
    assert factor(template) == pytest.approx(0.15)
    ev = TemplateEvent.objects.filter(action="adaptive-prescale").first()
    assert "headroom" in ev.detail and "< 50% of the 60 s budget" in ev.detail
    for _ in range(10):
        overload.adapt_prescale()
    assert factor(template) == 1.0, "back to the expert's prescale, not beyond"
    assert StageSettings.objects.get(template=template, stage="b").prescale == 0.8


def test_between_the_thresholds_nothing_moves_and_changes_are_rate_limited(make_dag, announce):
    template = make_dag(ADAPTIVE.replace("interval: 0", "interval: 3600"))
    announce()
    age_files(template, 40)  # 67 % of the budget: inside the dead band
    assert overload.adapt_prescale() == 0
    age_files(template, 59)
    assert overload.adapt_prescale() == 1
    assert overload.adapt_prescale() == 0, "one change per interval"
    assert factor(template) == 0.5


def test_the_sweeper_runs_it_and_adaptive_drops_count_as_behind(make_dag, announce, pilot_record):
    template = make_dag(ADAPTIVE)
    announce()
    age_files(template, 300)
    assert sweep_once().counts["adapt_prescale"] == 1
    StageSettings.objects.filter(template=template, stage="b").update(adaptive_factor=0.01)
    pilot = pilot_record()
    reasons = {}
    for _ in range(30):
        run = announce().dagruns[0]
        job = claim_next(pilot.pk, pilot.queues)
        actions.report(job.pk, pilot.pk, Report("running"), "p")
        actions.report(job.pk, pilot.pk, Report("finished"), "p")
        b = Job.objects.filter(dagrun=run, stage="b").first()
        if b is not None and b.state == "dropped":
            reasons[b.drop_reason] = reasons.get(b.drop_reason, 0) + 1
            if b.drop_reason == overload.ADAPTIVE:
                assert "dropped because behind" in b.events.first().reason
                run.refresh_from_db()
                assert run.state == "partial"
        Job.objects.filter(dagrun=run, stage="b", state="waiting").delete()
    # prescale 0.8: ~20 % prescaled by the expert; nearly all the rest dropped because behind
    assert reasons.get("prescaled", 0) >= 1 and reasons.get(overload.ADAPTIVE, 0) >= 15
    counts = overload.drop_counts(timezone.now() - timedelta(hours=1))
    assert counts["prescaled"] == reasons["prescaled"]
    assert counts[overload.ADAPTIVE] == reasons[overload.ADAPTIVE]
    assert counts["behind"] == counts[overload.ADAPTIVE] + counts["too-old"] + counts["queue-depth"]


def test_under_overload_the_newest_data_are_processed_first(make_dag, announce, pilot_record):
    make_dag(ADAPTIVE)
    base = timezone.now() - timedelta(minutes=30)
    runs = [announce(ts=base + timedelta(seconds=i)).dagruns[0] for i in range(12)]
    assert drop_stale() == 7, "max_waiting 5: the 7 oldest files' jobs are dropped"
    kept = set(Job.objects.filter(state="waiting").values_list("dagrun_id", flat=True))
    assert kept == {r.pk for r in runs[-5:]}
    assert set(Job.objects.filter(state="dropped").values_list("drop_reason", flat=True)) == {
        "queue-depth"
    }
    pilot = pilot_record()
    order = [claim_next(pilot.pk, pilot.queues).dagrun_id for _ in range(5)]
    assert order == [r.pk for r in reversed(runs[-5:])], "newest first"


def test_the_adaptive_policy_is_checked_and_round_trips():
    for bad, match in (
        ("{budget: 60}", "stages"),
        ("{stages: [b]}", "budget"),
        ("{budget: -1, stages: [b]}", "budget"),
        ("{budget: 60, stages: [zz]}", "unknown stage"),
        ("{budget: 60, stages: [b], floor: 2}", "floor"),
        ("{budget: 60, stages: [b], speed: 2}", "mapping"),
        ("{budget: 60, stages: [b], high: 0.3, low: 0.5}", "low must be below high"),
    ):
        with pytest.raises(InvalidDag, match=match):
            spec.load(ADAPTIVE.replace("{budget: 60, stages: [b], floor: 0.1, interval: 0}", bad))
    s = spec.load(ADAPTIVE)
    assert s.adaptive == {"budget": 60.0, "stages": ["b"], "floor": 0.1, "interval": 0.0}
    assert spec.load(spec.dump_yaml(s)).adaptive == s.adaptive


def test_the_default_templates_carry_a_prompt_policy():
    from pathlib import Path

    import p3s.dags

    for path in sorted((Path(p3s.dags.__file__).parent / "defaults").glob("*-dqm.yaml")):
        s = spec.load(path.read_text())
        assert s.max_age and s.max_waiting, path.name
