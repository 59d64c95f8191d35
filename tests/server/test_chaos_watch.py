"""What the chaos run watches (scripts/chaos_watch.py), on the shipped templates in a real
PostgreSQL: every template a file triggers is expected (a TPC file starts streams-dqm too,
whose match waits on a queue no pilot serves), the fleet serves every real queue, and the
system is quiet only when every expected DAG run ended and no job in them is live."""

from __future__ import annotations

import random
import sys
import types
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import chaos  # noqa: E402
import chaos_watch as w  # noqa: E402

from p3s.dags.models import DagRun, DagTemplate  # noqa: E402
from p3s.jobs.models import Job  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def body(url: str, stream: str) -> dict:
    return {"url": url, "stream": stream}


@pytest.fixture
def shipped(db):
    call_command("p3s_load_dags", stdout=StringIO())
    DagTemplate.objects.filter(name="tpc-dqm").update(enabled=False)  # as chaos.py does
    return w.enabled_templates(connection)


def test_a_tpc_file_is_expected_to_start_every_template_it_triggers(shipped):
    by_name = {t.name: t for t in shipped}
    assert "tpc-dqm" not in by_name and by_name["streams-dqm"].longest_wait == 60.0
    runs = w.expected_runs(
        shipped,
        [body("file:///x/np04_raw_1.h5", "tpc"), body("file:///x/a.dat", "diag")],
    )
    assert runs["file:///x/np04_raw_1.h5"] == ["streams-dqm"]
    assert runs["file:///x/a.dat"] == ["diag"]
    assert w.expected_runs(shipped, [body("file:///x/np04_raw_1.txt", "tpc")]) == {
        "file:///x/np04_raw_1.txt": []
    }


def test_the_fleet_serves_every_real_queue_and_never_the_matching_hold(shipped):
    extra = w.Template("t", "s", "", {"default", "gpu", "~matching"}, 0.0)
    assert w.served_queues(shipped) == ["default"]
    assert w.served_queues([*shipped, extra]) == ["default", "gpu"]


def test_quiet_only_when_every_expected_run_ended_and_no_job_is_live(shipped, announce):
    a = announce(stream="diag")
    runs = {a.file.url: ["diag"]}
    first = w.look(connection, runs)
    assert (first.expected, first.ended) == (1, 0) and first.live_jobs >= 1 and not first.quiet
    Job.objects.all().update(state="finished")
    DagRun.objects.all().update(state="succeeded")
    done = w.look(connection, runs)
    assert done.quiet and done.ended == 1 and done.live_jobs == 0
    # A run expected of another template (never started) keeps it from being quiet.
    runs[next(iter(runs))].append("streams-dqm")
    assert not w.look(connection, runs).quiet


def test_the_settle_bound_scales_with_the_measured_pace():
    s = w.Settler(floor=60.0, cap=900.0, slack=3.0)
    slow = s.bound(w.Progress(expected=20, ended=10, live_jobs=5, events=0), 100.0, 60.0)
    fast = s.bound(w.Progress(expected=20, ended=10, live_jobs=5, events=0), 10.0, 0.0)
    assert slow == 3 * 10 / 0.1 + 60.0
    assert fast == 60.0  # the floor
    assert s.bound(w.Progress(20, 0, 5, 0), 100.0, 0.0) == 900.0  # nothing ended: the cap


def test_kills_come_first_and_between_the_outages():
    args = types.SimpleNamespace(kills=2, server_restarts=2, pg_restarts=1, disk_fills=1)
    plan = chaos.fault_plan(args, random.Random(1))
    assert plan[0] == plan[2] == "kill" and plan.count("kill") == 2
    others = sorted(f for f in plan if f != "kill")
    assert others == ["disk-full", "postgres", "server-kill", "server-term"]
