"""The two-statement announcement on PostgreSQL (p3s.dags.announce_sql) writes what flow's
ORM path writes, row for row, and answers the same: the same file announced both ways (each in
a savepoint rolled back after its rows are read) for templates with splits, prescale, adaptive
drops, patterns, a disabled template, a run whose first jobs are all dropped (it ends at once
and tells the bus) and a held job this file completes. What it does not cover (a first stage
that waits for other streams) goes the ORM's way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from p3s.bus.models import OutboxEvent
from p3s.dags import announce_sql, flow
from p3s.dags.matching_models import StreamMatch
from p3s.dags.models import DagRun, DagTemplate, DataFile, StageSettings
from p3s.jobs.models import Job, JobEvent

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

T0 = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
TEMPLATES = {
    "plain": "name: plain\ntrigger: {stream: diag}\nstages:\n  only: {payload: diag, timeout: 60}\n",
    "fan": """
name: fan
trigger: {stream: diag, pattern: "*.h5"}
stages:
  a: {payload: diag, timeout: 60, args: [--x, "1"], queue: fast}
  b: {payload: diag, timeout: 60}
  c: {payload: diag, parents: [a, b], timeout: 60}
""",
    "other": "name: other\ntrigger: {stream: diag, pattern: '*.dat'}\nstages:\n  o: {payload: diag}\n",
    "disabled": "name: disabled\ntrigger: {stream: diag}\nstages:\n  o: {payload: diag}\n",
}
HELD = """
name: held
trigger: {stream: tpc}
policy: {max_age: 1000000000}
stages:
  beamtag:
    payload: diag
    timeout: 60
    match: {streams: [diag], window: 1.0, wait: 60}
"""


def tune(template: str, stage: str, **fields) -> None:
    StageSettings.objects.filter(template__name=template, stage=stage).update(**fields)


def rows_of(url: str) -> dict:
    """Everything the announcement wrote, without ids and clocks."""
    f = DataFile.objects.get(url=url)
    runs = DagRun.objects.filter(file=f).order_by("template__name")
    jobs = Job.objects.filter(dagrun__file=f).order_by("dagrun__template__name", "stage", "part")
    job_fields = [
        "dagrun__template__name", "stage", "part", "settings_id", "payload", "args", "queue",
        "priority", "data_ts", "state", "attempt", "timeout", "event_fraction", "inputs",
        "parents", "outputs", "drop_reason", "pilot_id", "deadline", "dispatched_at",
    ]  # fmt: skip
    events = JobEvent.objects.filter(job__dagrun__file=f).order_by(
        "job__dagrun__template__name", "job__stage", "job__part"
    )
    return {
        "file": DataFile.objects.filter(pk=f.pk)
        .values(
            "url",
            "name",
            "stream",
            "run",
            "subrun",
            "data_ts",
            "data_ts_end",
            "events",
            "size",
            "checksum",
            "replicas",
        )  # fmt: skip
        .get(),
        "runs": list(
            runs.values_list("template__name", "version_id", "state", "data_ts", "generation")
        ),
        "ended": [r.ended is not None for r in runs],
        "jobs": list(jobs.values_list(*job_fields)),
        "job_ended": [j.ended_at is not None for j in jobs],
        "events": list(
            events.values_list("job__stage", "from_state", "to_state", "actor", "reason", "attempt")
        ),
        "bus": sorted(
            (e.kind, e.payload["state"])
            for e in OutboxEvent.objects.filter(kind="dagrun.finished", payload__file_id=f.pk)
        ),
        "matches": list(
            StreamMatch.objects.order_by("id").values_list("state", "found", "missing", "queue")
        ),
    }


class _Undo(Exception):
    pass


def both_ways(settings, daq, url, start=T0, end=None, stream="diag", expect_lean=True):
    """Announce ``url`` through the API with the lean path on, then off: (rows, answers)."""
    seen = []
    for lean in (True, False):
        settings.P3S = {**settings.P3S, "LEAN_ANNOUNCE": lean}
        try:
            with transaction.atomic():
                body = {"url": url, "stream": stream, "run": 7, "subrun": 2, "events": 5,
                        "timestamp": start.isoformat(), "size": 11, "checksum": "adler32:1"}  # fmt: skip
                if end is not None:
                    body["data_ts_end"] = end.isoformat()
                with CaptureQueriesContext(connection) as q:
                    r = daq.post("/api/v1/files/", body, format="json")
                assert r.status_code == 201, r.content
                one = [x["sql"] for x in q.captured_queries if x["sql"].startswith("WITH f AS")]
                assert (len(one) == 1) == (lean and expect_lean), q.captured_queries
                answer = r.json()
                for run in answer["dagruns"]:
                    run.pop("id"), run.pop("created"), run.pop("ended")
                answer.pop("id"), answer.pop("created")
                seen.append((rows_of(url), answer))
                raise _Undo
        except _Undo:
            pass
    (lean_rows, lean_answer), (orm_rows, orm_answer) = seen
    assert lean_rows == orm_rows
    assert lean_answer == orm_answer
    return lean_rows, lean_answer


@pytest.fixture
def world(make_dag):
    for text in TEMPLATES.values():
        make_dag(text)
    DagTemplate.objects.filter(name="disabled").update(enabled=False)


def test_the_same_rows_and_answer_for_a_plain_fan_in_file(world, settings, daq):
    rows, answer = both_ways(settings, daq, "file:///d/a.h5")
    assert [r[0] for r in rows["runs"]] == ["fan", "plain"]  # not "other" (pattern), not "disabled"
    assert [j[1] for j in rows["jobs"]] == ["a", "b", "only"]  # first stages only
    assert rows["jobs"][0][5:7] == (["--x", "1"], "fast")
    assert [run["state"] for run in answer["dagruns"]] == ["running", "running"]


def test_the_same_rows_with_a_split_stage_and_a_prescaled_one(world, settings, daq):
    tune("fan", "a", split="apa:3", priority=4, event_fraction=0.5)
    tune("fan", "b", prescale=0.0)
    rows, _ = both_ways(settings, daq, "file:///d/b.h5")
    fan = [j for j in rows["jobs"] if j[0] == "fan"]
    assert [(j[1], j[2], j[9]) for j in fan] == [
        ("a", "apa:0/3", "waiting"), ("a", "apa:1/3", "waiting"), ("a", "apa:2/3", "waiting"),
        ("b", "", "dropped"),
    ]  # fmt: skip
    assert fan[0][5][-2:] == ["--split", "apa:0/3"] and fan[0][7] == 4
    assert [e[4] for e in rows["events"] if e[0] == "b"] == ["prescaled out (prescale 0)"]


def test_a_run_whose_first_jobs_are_all_dropped_ends_and_tells_the_bus(
    world, settings, daq, monkeypatch
):
    monkeypatch.setenv("P3S_BUS_URL", "amqp://127.0.0.1:1/")  # the outbox is written, not sent
    tune("plain", "only", prescale=1.0, adaptive_factor=0.0)  # dropped because behind
    tune("fan", "a", prescale=0.0)
    tune("fan", "b", prescale=0.0)
    rows, answer = both_ways(settings, daq, "file:///d/c.h5")
    assert [r[2] for r in rows["runs"]] == ["succeeded", "partial"]
    assert rows["ended"] == [True, True]
    states = {r["template"]: r["state"] for r in answer["dagruns"]}
    assert states == {"fan": "succeeded", "plain": "partial"}
    assert rows["bus"] == [("dagrun.finished", "partial"), ("dagrun.finished", "succeeded")]


def test_a_file_no_template_wants_is_recorded_alone(world, settings, daq):
    rows, answer = both_ways(settings, daq, "file:///d/x.h5", stream="nobody")
    assert rows["runs"] == [] and answer["dagruns"] == []


def test_a_file_a_held_job_waits_for_releases_it(make_dag, world, settings, daq):
    make_dag(HELD)
    ann = flow.announce_file(
        {
            "url": "file:///t/1.h5",
            "name": "1.h5",
            "stream": "tpc",
            "run": 7,
            "data_ts": T0,
            "data_ts_end": T0 + timedelta(seconds=1),
        },  # fmt: skip
        actor="test",
    )
    assert StreamMatch.objects.get().state == StreamMatch.WAITING
    assert Job.objects.get(dagrun=ann.dagruns[0]).queue != "default"
    start, end = T0 - timedelta(seconds=5), T0 + timedelta(seconds=5)  # covers the window
    rows, _ = both_ways(settings, daq, "file:///d/m.h5", start=start, end=end)
    assert [m[0] for m in rows["matches"]] == [StreamMatch.COMPLETE]


def test_a_template_whose_first_stage_waits_for_other_streams_goes_the_orm_way(
    make_dag, settings, daq
):
    make_dag(HELD)
    assert not announce_sql.applies(
        announce_sql.templates(DataFile(url="file:///t/2.h5", name="2.h5", stream="tpc"))
    )
    rows, _ = both_ways(settings, daq, "file:///t/2.h5", stream="tpc", expect_lean=False)
    assert [m[0] for m in rows["matches"]] == [StreamMatch.WAITING]


def test_the_same_url_again_writes_nothing_and_answers_the_first(world, settings, daq):
    settings.P3S = {**settings.P3S, "LEAN_ANNOUNCE": True}
    body = {"url": "file:///d/dup.h5", "stream": "diag", "run": 1, "timestamp": T0.isoformat()}
    first = daq.post("/api/v1/files/", body, format="json")
    count = Job.objects.count(), JobEvent.objects.count(), DagRun.objects.count()
    again = daq.post("/api/v1/files/", body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert (Job.objects.count(), JobEvent.objects.count(), DagRun.objects.count()) == count
