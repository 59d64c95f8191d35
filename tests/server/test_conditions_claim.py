"""A claimed job carries the URLs of the conditions current for its file's run, each pinned to
its version so that a pilot's cached copy stays valid until a new version exists."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from p3s.conditions import services
from tests.conftest import FANOUT_JOIN

pytestmark = pytest.mark.django_db

BAD = {"channels": [{"apa": 0, "channel": 5, "status": "dead"}]}


def claim(daq, pilot, run: int, name: str) -> dict:
    file = {
        "url": f"file:///d/{name}",
        "stream": "diag",
        "run": run,
        "timestamp": "2026-11-22T00:00:00Z",
    }
    assert daq.post("/api/v1/files/", file, format="json").status_code == 201
    r = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {"wait": 1}, format="json")
    assert r.status_code == 200, r.content
    return r.json()


def test_the_job_spec_names_each_current_condition_by_its_versioned_url(
    daq, new_pilot, make_dag, settings, tmp_path
):
    settings.DATA_ROOT = tmp_path
    make_dag(FANOUT_JOIN)
    services.new_version("bad-channels", BAD, valid_from_run=50)
    pilot = new_pilot()
    early = claim(daq, pilot, 10, "early.h5")["conditions"]
    late = claim(daq, pilot, 60, "late.h5")["conditions"]
    base = "http://testserver/api/v1/conditions/"
    assert early == {
        "bad-channels": f"{base}bad-channels/?version=1",
        "bands": f"{base}bands/?version=1",
        "channel-map": f"{base}channel-map/?version=1",
    }
    assert late["bad-channels"] == f"{base}bad-channels/?version=2"
    assert late["bands"] == early["bands"]
    # The URL answers with that version.
    assert pilot.get(late["bad-channels"]).json()["data"] == BAD


def test_a_version_valid_from_a_data_time_applies_to_files_taken_after_it(
    daq, new_pilot, make_dag, settings, tmp_path
):
    settings.DATA_ROOT = tmp_path
    make_dag(FANOUT_JOIN)
    services.new_version("bad-channels", BAD, valid_from=datetime(2026, 11, 22, 12, tzinfo=UTC))
    pilot = new_pilot()
    before = claim(daq, pilot, 10, "morning.h5")["conditions"]  # data of 2026-11-22 00:00
    assert before["bad-channels"].endswith("bad-channels/?version=1")
    file = {
        "url": "file:///d/evening.h5",
        "stream": "diag",
        "run": 10,
        "timestamp": "2026-11-22T18:00:00Z",
    }
    assert daq.post("/api/v1/files/", file, format="json").status_code == 201
    r = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {"wait": 1}, format="json")
    assert r.json()["conditions"]["bad-channels"].endswith("bad-channels/?version=2")
