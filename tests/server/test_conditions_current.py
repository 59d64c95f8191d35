"""Each server process keeps which condition versions are current (p3s.conditions.current):
it picks what the table picks, costs no query once loaded, and is dropped when a version is
written, here or in another process. (Transactional tests: inside a transaction the copy is
never kept, since it could hold that transaction's own writes.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from p3s.conditions import current, services
from p3s.conditions.shipped import load_defaults

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 1, tzinfo=UTC)
BAD = {"channels": [{"apa": 1, "channel": 7, "status": "dead", "note": "open wire"}]}


@pytest.fixture(autouse=True)
def _shipped():
    load_defaults()  # a transactional test starts from an empty table
    current.forget()
    yield
    current.forget()


def table(run, at) -> dict[str, int]:
    """What one query picks (the copy switched off)."""
    from django.conf import settings

    saved = settings.P3S["CONDITIONS_CACHE"]
    settings.P3S["CONDITIONS_CACHE"] = False
    try:
        return services.current_versions(run, at)
    finally:
        settings.P3S["CONDITIONS_CACHE"] = saved


def test_the_copy_picks_what_the_table_picks_and_costs_no_query():
    services.new_version("bad-channels", BAD, valid_from_run=100, valid_to_run=199)
    services.new_version("bad-channels", {"channels": []}, valid_from_run=200)
    services.new_version("hv-map", {"kv": 180}, valid_from=T0, valid_to=T0 + timedelta(days=10))
    services.new_version("hv-map", {"kv": 175}, valid_from_run=150, valid_from=T0)
    services.current_versions(1, T0)  # loads the copy
    with CaptureQueriesContext(connection) as q:
        for run in (None, 1, 99, 100, 150, 199, 200, 10**6):
            for at in (
                None,
                T0 - timedelta(hours=1),
                T0,
                T0 + timedelta(days=1),
                T0 + timedelta(days=10),
            ):
                got = services.current_versions(run, at)
                assert got == table(run, at), (run, at)
    copied = [x for x in q.captured_queries if "conditions_condition" in x["sql"]]
    # only the reference reads of table() above; the copy itself read nothing
    assert len(copied) == 8 * 5


def test_a_version_written_here_is_handed_out_at_once():
    before = services.current_versions(5, None)
    assert current._validity is not None
    v = services.new_version("bad-channels", BAD)
    assert (
        services.current_versions(5, None)["bad-channels"]
        == v.version
        == before["bad-channels"] + 1
    )


@pytest.mark.postgres
def test_a_version_written_by_another_process_drops_the_copy_here(tmp_path):
    before = services.current_versions(5, None)
    assert current._validity is not None
    data = tmp_path / "bad.json"
    data.write_text(json.dumps(BAD))
    db_url = (
        os.environ["P3S_DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]
    )
    env = {**os.environ, "P3S_DATABASE_URL": db_url}
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "p3s_conditions",
            "--import",
            "bad-channels",
            str(data),
        ],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    end = time.monotonic() + 10
    while current._validity is not None and time.monotonic() < end:
        time.sleep(0.01)  # the listener thread hears the commit's NOTIFY
    assert current._validity is None, "the copy outlived a version written elsewhere"
    assert services.current_versions(5, None)["bad-channels"] == before["bad-channels"] + 1


def test_off_means_every_call_reads_the_table(settings):
    settings.P3S = {**settings.P3S, "CONDITIONS_CACHE": False}
    services.current_versions(5, None)
    with CaptureQueriesContext(connection) as q:
        services.current_versions(5, None)
    assert [x for x in q.captured_queries if "conditions_condition" in x["sql"]]
    assert current._validity is None
