"""`/healthz?deep=1` tells a working sweeper from a dead or hung one (503 JSON when late)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from p3s.jobs import sweep
from p3s.jobs.models import LoopBeat

pytestmark = pytest.mark.django_db


def test_plain_healthz_answers_200_without_asking_about_the_sweeper(anonymous):
    r = anonymous.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_deep_healthz_is_503_json_when_the_sweeper_never_swept(anonymous):
    r = anonymous.get("/healthz?deep=1")
    assert r.status_code == 503
    assert r["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["status"] == "late" and "never completed a pass" in body["detail"]


def test_deep_healthz_is_200_after_a_recent_sweep(anonymous):
    sweep.sweep_once()
    sweep.record_beat()
    r = anonymous.get("/healthz?deep=1")
    assert r.status_code == 200, r.content
    assert r.json()["sweeper"]["age_s"] < 5


def test_deep_healthz_is_503_when_the_last_sweep_is_older_than_the_threshold(anonymous, settings):
    sweep.record_beat()
    LoopBeat.objects.update(last_ok=timezone.now() - timedelta(seconds=120))
    settings.P3S = {**settings.P3S, "SWEEP_LATE": 60.0}
    r = anonymous.get("/healthz?deep=1")
    assert r.status_code == 503
    assert "last swept 120 s ago" in r.json()["detail"]


def test_a_recorded_beat_counts_passes_and_the_errors_met_since_the_last_one():
    sweep.record_beat()
    sweep.record_beat(errors=3, last_error="OperationalError: server closed the connection")
    beat = LoopBeat.objects.get(name="sweeper")
    assert (beat.passes, beat.errors) == (2, 3)
    assert "server closed" in beat.last_error and beat.last_error_at is not None
