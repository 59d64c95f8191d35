"""The sweeper's units: timeouts, lost pilots, never-started jobs, stale work; and the loop."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from p3s.jobs import actions, sweep
from p3s.jobs.actions import Report
from p3s.jobs.claim import claim_next
from p3s.pilots.models import Pilot
from tests.conftest import FANOUT_JOIN, ROOT

pytestmark = pytest.mark.django_db


def test_a_job_past_its_stage_timeout_becomes_timeout_and_is_not_retried(
    make_dag, announce, pilot_record
):
    make_dag(FANOUT_JOIN)
    run = announce().dagruns[0]
    pilot = pilot_record()
    job = claim_next(pilot.pk, ["default"])
    actions.report(job.pk, pilot.pk, Report("running"), f"pilot:{pilot.pk}")
    assert sweep.expire_timeouts() == 0
    later = timezone.now() + timedelta(seconds=60 + 31)
    assert sweep.expire_timeouts(later) == 1
    job.refresh_from_db()
    run.refresh_from_db()
    assert job.state == "timeout" and job.attempt == 1
    assert run.state == "partial"
    assert Pilot.objects.get(pk=pilot.pk).job_id is None


def test_a_silent_pilot_is_lost_and_its_job_goes_back_with_attempt_plus_one(
    make_dag, announce, pilot_record
):
    make_dag(FANOUT_JOIN)
    announce()
    pilot = pilot_record()
    job = claim_next(pilot.pk, ["default"])
    actions.report(job.pk, pilot.pk, Report("running"), f"pilot:{pilot.pk}")
    beats = pilot.heartbeat_interval * 3
    assert sweep.find_lost_pilots(timezone.now() + timedelta(seconds=beats - 1)) == 0
    assert sweep.find_lost_pilots(timezone.now() + timedelta(seconds=beats + 1)) == 1
    job.refresh_from_db()
    pilot.refresh_from_db()
    assert (job.state, job.attempt, job.pilot_id) == ("waiting", 2, None)
    assert pilot.state == "lost"
    assert "lost" in job.events.last().reason


def test_a_lost_pilots_job_with_no_attempts_left_fails(make_dag, announce, pilot_record):
    make_dag(
        FANOUT_JOIN.replace(
            "a: {payload: diag, timeout: 60}", "a: {payload: diag, timeout: 60, max_attempts: 1}"
        )
    )
    run = announce().dagruns[0]
    pilot = pilot_record()
    claim_next(pilot.pk, ["default"])
    sweep.find_lost_pilots(timezone.now() + timedelta(hours=1))
    run.refresh_from_db()
    assert run.jobs.get().state == "failed" and run.state == "failed"


def test_a_dispatched_job_never_started_goes_back_to_waiting(
    make_dag, announce, pilot_record, settings
):
    make_dag(FANOUT_JOIN)
    announce()
    pilot = pilot_record()
    job = claim_next(pilot.pk, ["default"])
    grace = settings.P3S["DISPATCH_GRACE"]
    assert sweep.requeue_undispatched(timezone.now() + timedelta(seconds=grace - 1)) == 0
    assert sweep.requeue_undispatched(timezone.now() + timedelta(seconds=grace + 1)) == 1
    job.refresh_from_db()
    assert (job.state, job.attempt) == ("waiting", 2)


def test_waiting_jobs_on_data_older_than_max_age_are_dropped(make_dag, announce):
    make_dag(
        FANOUT_JOIN.replace(
            "trigger: {stream: diag}", "trigger: {stream: diag}\npolicy: {max_age: 3600}"
        )
    )
    old = announce(ts=timezone.now() - timedelta(hours=2)).dagruns[0]
    new = announce(ts=timezone.now() - timedelta(minutes=5)).dagruns[0]
    assert sweep.drop_stale() == 1
    old.refresh_from_db()
    assert old.jobs.get().state == "dropped" and old.jobs.get().drop_reason == "too-old"
    assert old.state == "partial"
    assert new.jobs.get().state == "waiting"


def test_beyond_max_waiting_the_oldest_data_are_dropped(make_dag, announce):
    make_dag(
        FANOUT_JOIN.replace(
            "trigger: {stream: diag}", "trigger: {stream: diag}\npolicy: {max_waiting: 3}"
        )
    )
    now = timezone.now()
    runs = [announce(ts=now - timedelta(minutes=m)).dagruns[0] for m in (50, 10, 40, 20, 30)]
    assert sweep.drop_stale() == 2
    kept = {r.pk for r in runs if r.jobs.get().state == "waiting"}
    assert kept == {runs[1].pk, runs[3].pk, runs[4].pk}  # the three newest data


def test_the_sweeper_loop_runs_in_a_subprocess_and_stops_on_sigterm(tmp_path):
    env = {
        **os.environ,
        "P3S_DATABASE_URL": f"sqlite:///{tmp_path / 'sweep.sqlite3'}",
        "P3S_VAR_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, check=True, cwd=ROOT
    )
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "p3s_sweep", "--loop", "--interval", "0.2"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Wait for its first words: they come after the signal handlers are installed.
    first = proc.stdout.readline()
    assert first.startswith("sweeper: every"), first + proc.stdout.read()
    time.sleep(0.5)
    assert proc.poll() is None, proc.stdout.read()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out
    assert "sweeper: stopped" in out


def test_after_a_server_outage_pilots_get_their_grace_again(
    make_dag, announce, pilot_record, settings
):
    from p3s.pilots import beacon

    make_dag(FANOUT_JOIN)
    announce()
    pilot = pilot_record()
    claim_next(pilot.pk, ["default"])
    t0 = timezone.now()
    beacon.beat(t0)
    beats = timedelta(seconds=3 * pilot.heartbeat_interval)
    # The server stops beating: while it is silent, nobody is declared lost.
    assert sweep.find_lost_pilots(t0 + beats + timedelta(seconds=60)) == 0
    # It comes back: up_since restarts, and the pilot has a full grace from then, plus the
    # outage grace (a request of the pilot's may have hung through the outage).
    grace = beats + timedelta(seconds=settings.P3S["OUTAGE_GRACE"])
    assert grace > beats
    back = t0 + beats + timedelta(seconds=60)
    period = timedelta(seconds=beacon.period())
    t = back
    while t < back + grace:
        beacon.beat(t)
        t += period
    assert sweep.find_lost_pilots(back + beats + timedelta(seconds=2)) == 0  # not yet
    assert sweep.find_lost_pilots(back + grace - timedelta(seconds=1)) == 0
    beacon.beat(back + grace + timedelta(seconds=1))
    assert sweep.find_lost_pilots(back + grace + timedelta(seconds=2)) == 1


def test_a_continuously_beating_server_declares_a_silent_pilot_lost(pilot_record):
    from p3s.pilots import beacon

    pilot = pilot_record()
    t0 = pilot.last_seen
    period = timedelta(seconds=beacon.period())
    for i in range(0, 40):
        beacon.beat(t0 + i * period)
    assert sweep.find_lost_pilots(t0 + 39 * period) == 1


def test_the_sweeper_applies_retention_at_most_once_per_interval(settings, monkeypatch):
    import p3s.dqm.retention

    calls = []
    monkeypatch.setattr(
        p3s.dqm.retention, "apply_retention", lambda now=None: calls.append(now) or 0
    )
    monkeypatch.setattr(sweep, "_retention_last", None)
    settings.P3S = {**settings.P3S, "RETENTION_INTERVAL": 60}
    t0 = timezone.now()
    for seconds in (0, 10, 59, 61, 90, 125):
        sweep.sweep_once(t0 + timedelta(seconds=seconds))
    assert calls == [t0, t0 + timedelta(seconds=61), t0 + timedelta(seconds=125)]


def test_a_short_silence_of_the_server_gives_pilots_as_much_more_grace_and_a_long_one_at_most_the_cap(
    db, settings
):
    from p3s.pilots import beacon
    from p3s.pilots.models import ServerBeacon

    t0 = timezone.now()
    beacon.beat(t0)
    gap = timedelta(seconds=3 * beacon.period())  # silent longer than two periods
    beacon.beat(t0 + gap)
    assert ServerBeacon.objects.get().up_since == t0 + gap + gap
    long = timedelta(seconds=settings.P3S["OUTAGE_GRACE"] + 500)
    beacon.beat(t0 + gap + long)
    cap = timedelta(seconds=settings.P3S["OUTAGE_GRACE"])
    assert ServerBeacon.objects.get().up_since == t0 + gap + long + cap
