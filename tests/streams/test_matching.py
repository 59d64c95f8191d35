"""Matching in the DAG: a stage asks for the files of other streams overlapping its file's
time range, waits for them up to a limit (the sweeper releases it), then runs with what has
arrived, recording what was missing. Joins, prescale and the prompt policy keep working."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from p3s.dags import flow, spec
from p3s.dags.matching import HOLD_QUEUE, release_expired
from p3s.dags.matching_models import StreamMatch
from p3s.exceptions import InvalidDag
from p3s.jobs import sweep
from p3s.jobs.claim import claim_next
from p3s.jobs.models import Job
from tests.server.test_dag_flow import run_next

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
MATCHED = """
name: matched
trigger: {stream: tpc}
policy: {max_age: 1000000000}
stages:
  daq: {payload: diag, timeout: 60}
  beamtag:
    payload: diag
    timeout: 60
    match: {streams: [bi, crt], window: 1.0, wait: 60}
"""


def file(stream, start, seconds, name=None):
    """Announce a file of ``stream`` covering [start, start + seconds]."""
    name = name or f"{stream}-{start:%H%M%S}-{seconds:g}.h5"
    url = f"file:///data/{name}"
    return flow.announce_file(
        {
            "url": url,
            "name": name,
            "stream": stream,
            "run": 1,
            "subrun": 1,
            "data_ts": start,
            "data_ts_end": start + timedelta(seconds=seconds),
        },
        actor="test",
    )


def matched_job(make_dag, yaml=MATCHED):
    make_dag(yaml)
    return lambda ann: Job.objects.get(dagrun=ann.dagruns[0], stage="beamtag")


def matched_args(job):
    args = job.args
    return json.loads(args[args.index("--matched") + 1]), json.loads(
        args[args.index("--match-missing") + 1]
    )


def test_a_bi_spill_file_and_a_tpc_file_overlapping_in_time_start_one_matched_stage(
    make_dag, pilot_record
):
    job_of = matched_job(make_dag, MATCHED.replace("[bi, crt]", "[bi]"))
    tpc = file("tpc", T0, 0.75)
    held = job_of(tpc)
    assert held.state == "waiting" and held.queue == HOLD_QUEUE
    pilot = pilot_record()
    daq = claim_next(pilot.pk, pilot.queues)
    assert daq.stage == "daq" and claim_next(pilot.pk, pilot.queues) is None, "held: not claimable"
    file("bi", T0 + timedelta(seconds=40), 32.4)  # another supercycle: does not overlap
    assert job_of(tpc).queue == HOLD_QUEUE
    bi = file("bi", T0 - timedelta(seconds=10), 32.4)  # the supercycle holding the TPC file
    job = job_of(tpc)
    assert job.queue == "default" and job.state == "waiting"
    found, missing = matched_args(job)
    assert found == {"bi": [bi.file.url]} and missing == {}
    assert job.inputs == [tpc.file.url, bi.file.url]
    assert StreamMatch.objects.get(job=job).state == StreamMatch.COMPLETE
    assert "matched: bi: 1 file(s)" in job.events.last().reason
    assert claim_next(pilot.pk, pilot.queues).pk == job.pk
    assert Job.objects.filter(stage="beamtag").count() == 1


def test_files_that_arrived_first_match_at_once(make_dag):
    job_of = matched_job(make_dag)
    file("bi", T0 - timedelta(seconds=10), 32.4)
    file("crt", T0, 0.75)
    job = job_of(file("tpc", T0, 0.75))
    assert job.queue == "default"
    found, missing = matched_args(job)
    assert sorted(found) == ["bi", "crt"] and missing == {}


def test_a_missing_crt_file_times_out_and_the_stage_runs_with_a_recorded_gap(
    make_dag, pilot_record
):
    job_of = matched_job(make_dag)
    tpc = file("tpc", T0, 0.75)
    file("bi", T0 - timedelta(seconds=10), 32.4)
    assert job_of(tpc).queue == HOLD_QUEUE
    assert release_expired(timezone.now() + timedelta(seconds=30)) == 0, "not before the limit"
    counts = sweep.sweep_once(timezone.now() + timedelta(seconds=61)).counts
    assert counts["release_expired"] == 1
    job = job_of(tpc)
    assert job.queue == "default"
    found, missing = matched_args(job)
    assert found["crt"] == [] and len(found["bi"]) == 1
    assert list(missing) == ["crt"]
    (gap,) = missing["crt"]
    assert datetime.fromisoformat(gap[0]) == T0
    assert "running with a gap" in job.events.last().reason and "crt" in job.events.last().reason
    assert StreamMatch.objects.get(job=job).state == StreamMatch.TIMED_OUT
    pilot = pilot_record()
    run_next(pilot)  # daq
    assert run_next(pilot).pk == job.pk
    assert job.dagrun.__class__.objects.get(pk=job.dagrun_id).state == "succeeded"


def test_a_partial_cover_waits_for_the_rest_of_the_range(make_dag):
    job_of = matched_job(make_dag, MATCHED.replace("[bi, crt]", "[crt]").replace("1.0", "0.0"))
    tpc = file("tpc", T0, 60)
    file("crt", T0, 30, "crt-a.h5")
    match = StreamMatch.objects.get(job=job_of(tpc))
    assert match.state == "waiting" and len(match.found["crt"]) == 1
    assert match.missing["crt"][0][0] == (T0 + timedelta(seconds=30)).isoformat()
    file("crt", T0 + timedelta(seconds=30), 30, "crt-b.h5")
    assert job_of(tpc).queue == "default"
    assert matched_args(job_of(tpc))[0] == {
        "crt": ["file:///data/crt-a.h5", "file:///data/crt-b.h5"]
    }


def test_a_matched_join_waits_after_its_parents_and_prescale_still_drops(make_dag, pilot_record):
    make_dag(
        """
name: joined
trigger: {stream: tpc}
stages:
  a: {payload: diag, timeout: 60}
  b: {payload: diag, timeout: 60}
  j: {payload: diag, parents: [a, b], timeout: 60, match: {streams: [bi], wait: 10}}
  never: {payload: diag, timeout: 60, prescale: 0.0, match: {streams: [bi], wait: 10}}
"""
    )
    tpc = file("tpc", T0, 1)
    run = tpc.dagruns[0]
    never = run.jobs.get(stage="never")
    assert never.state == "dropped" and not StreamMatch.objects.filter(job=never).exists()
    pilot = pilot_record()
    run_next(pilot, outputs=["file:///out/a"])
    assert not run.jobs.filter(stage="j").exists()
    run_next(pilot, outputs=["file:///out/b"])
    j = run.jobs.get(stage="j")
    assert j.queue == HOLD_QUEUE and j.parents == {"a": ["file:///out/a"], "b": ["file:///out/b"]}
    run.refresh_from_db()
    assert run.state == "running", "a held stage keeps its run open"
    file("bi", T0, 10)
    j.refresh_from_db()
    assert j.queue == "default" and j.inputs[:3] == [tpc.file.url, "file:///out/a", "file:///out/b"]


def test_the_prompt_policy_drops_a_held_job_and_the_match_then_closes(make_dag):
    job_of = matched_job(make_dag, MATCHED.replace("1000000000", "60"))
    tpc = file("tpc", timezone.now() - timedelta(hours=1), 1)
    assert job_of(tpc).queue == HOLD_QUEUE
    sweep.drop_stale()
    assert job_of(tpc).state == "dropped"
    assert release_expired(timezone.now() + timedelta(seconds=61)) == 0
    assert StreamMatch.objects.get(job=job_of(tpc)).state == StreamMatch.CLOSED
    assert job_of(tpc).state == "dropped" and job_of(tpc).queue == HOLD_QUEUE


@pytest.mark.parametrize(
    "match, words",
    [
        ("{streams: []}", "streams"),
        ("{streams: [BI!]}", "streams"),
        ("{streams: [bi], wait: -1}", "wait"),
        ("{streams: [bi], window: .inf}", "infinities"),
        ("{streams: [bi], window: 7200}", "window"),
        ("{streams: [bi], later: 1}", "mapping"),
        ("[bi]", "mapping"),
    ],
)
def test_bad_match_keys_are_refused_with_the_reason(match, words):
    text = f"name: x\ntrigger: {{stream: tpc}}\nstages:\n  s: {{payload: diag, match: {match}}}\n"
    with pytest.raises(InvalidDag, match=words):
        spec.load(text, payloads={"diag"})


def test_a_template_without_match_keeps_its_graph_unchanged():
    s = spec.load(MATCHED, payloads={"diag"})
    assert "match" not in s.graph["daq"]
    assert s.graph["beamtag"]["match"] == {"streams": ["bi", "crt"], "window": 1.0, "wait": 60.0}
    assert spec.load(spec.dump_yaml(s), payloads={"diag"}).graph == s.graph
