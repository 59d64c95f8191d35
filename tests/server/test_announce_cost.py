"""The cost of a file announcement, the first step of every wake-up: on PostgreSQL it is a
read of the templates and one statement writing the file, its runs, their jobs with their
events and the wake-up notice (p3s.dags.announce_sql), and the answer is built from the rows
just written, not read back. The answer is the one a later GET gives, for one template and for several."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from p3s.jobs.models import Job, JobEvent

pytestmark = pytest.mark.django_db

ONE = """
name: {name}
trigger: {{stream: diag}}
stages:
  only: {{payload: diag, timeout: 60}}
"""


def post(daq, n: int, timestamp: str = "2026-11-22T01:00:00+01:00"):
    f = {"url": f"file:///d/a{n}.h5", "stream": "diag", "run": 3, "timestamp": timestamp}
    with CaptureQueriesContext(connection) as q:
        r = daq.post("/api/v1/files/", f, format="json")
    assert r.status_code == 201, r.content
    sql = [x["sql"] for x in q.captured_queries]
    return r.json(), [s for s in sql if s.split()[0] not in ("SAVEPOINT", "RELEASE")]


def test_the_answer_is_what_a_later_read_gives(daq, operator, make_dag):
    for name in ("first", "second", "third"):
        make_dag(ONE.format(name=name))
    answer, _ = post(daq, 1)
    assert len(answer["dagruns"]) == 3
    assert operator.get(f"/api/v1/files/{answer['id']}/").json() == answer
    assert answer["timestamp"] == "2026-11-22T00:00:00Z"  # the offset normalised, as on a read


def test_a_new_job_is_one_statement_with_its_event_and_its_notice(daq, make_dag):
    make_dag(ONE.format(name="one"))
    post(daq, 1)  # the token's last_used written once
    answer, sql = post(daq, 2)
    job = Job.objects.get(dagrun_id=answer["dagruns"][0]["id"])
    assert job.state == "waiting" and job.created is not None
    events = list(JobEvent.objects.filter(job=job).values_list("from_state", "to_state", "actor"))
    assert [e[:2] for e in events] == [("", "waiting")] and events[0][2].startswith("daq:")
    if connection.vendor != "postgresql":
        return
    assert not [s for s in sql if "dags_datafile" in s and s.startswith("SELECT")], sql
    assert not [s for s in sql if "pg_notify" in s and s.startswith("SELECT pg_notify")], sql
    # the token; the templates with their versions and stage settings (prepared); the file,
    # the run, the job, its event, the notice and whether a held job waits for this file
    # (p3s.dags.announce_sql)
    assert len(sql) == 3, "\n".join(sql)
    assert sql[1].startswith("EXECUTE p3s_templates") and sql[2].startswith("WITH f AS"), sql


@pytest.mark.django_db(transaction=True)
def test_the_one_statement_creation_wakes_the_other_server_processes(daq, make_dag):
    if connection.vendor != "postgresql":
        pytest.skip("the notice is PostgreSQL's NOTIFY")
    import select

    import psycopg2

    from p3s.jobs import wakeup

    make_dag(ONE.format(name="one"))
    d = connection.settings_dict
    other = psycopg2.connect(
        dbname=d["NAME"], user=d["USER"], password=d["PASSWORD"], host=d["HOST"], port=d["PORT"]
    )
    other.autocommit = True
    try:
        other.cursor().execute(f"LISTEN {wakeup.CHANNEL}")
        seen = wakeup.generation()
        post(daq, 1)
        select.select([other], [], [], 5)
        other.poll()
        assert [n.channel for n in other.notifies] == [wakeup.CHANNEL]
        assert wakeup.generation() > seen  # and this process's own waiting claims
    finally:
        other.close()


def test_the_answer_of_an_ended_run_with_replicas_and_a_range_is_a_later_read(
    daq, operator, make_dag
):
    from p3s.dags.models import StageSettings

    make_dag(ONE.format(name="dropped"))
    make_dag(ONE.format(name="kept"))
    StageSettings.objects.filter(template__name="dropped").update(prescale=0.0)
    f = {
        "urls": ["root://a//d/r.h5", "file:///d/r.h5"],
        "stream": "diag",
        "run": 3,
        "timestamp": "2026-11-22T01:00:00.123456+01:00",
        "data_ts_end": "2026-11-22T01:00:05+01:00",
        "size": 7,
    }
    r = daq.post("/api/v1/files/", f, format="json")
    assert r.status_code == 201, r.content
    answer = r.json()
    assert {run["template"]: run["state"] for run in answer["dagruns"]} == {
        "dropped": "succeeded",
        "kept": "running",
    }
    assert [run["ended"] is None for run in answer["dagruns"]].count(False) == 1
    assert answer["replicas"] == ["file:///d/r.h5"]
    assert operator.get(f"/api/v1/files/{answer['id']}/").json() == answer
