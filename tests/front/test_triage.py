"""Failure triage (issue 14): seeded failures are grouped by stage and normalised message,
counted over the chosen range with first/last seen and files, classed retriable or not as the
queue treats them (a bad input file is not retried), one click to the jobs, CSV/JSON export."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from p3s.jobs import actions, triage
from p3s.jobs.actions import Report
from p3s.jobs.claim import claim_next
from p3s.jobs.models import Job, JobEvent

pytestmark = pytest.mark.django_db

TRI = """
name: tri
trigger: {stream: tri}
stages:
  read: {payload: diag, timeout: 60, max_attempts: 2}
"""
OTHER = (
    TRI.replace("name: tri", "name: tri-other")
    .replace("stream: tri", "stream: trio")
    .replace("read:", "plot:")
)


def fail(pilot, message, exit_code=1, state="failed"):
    job = claim_next(pilot.pk, ["default"])
    assert job is not None
    actor = f"pilot:{pilot.pk}"
    actions.report(job.pk, pilot.pk, Report("running"), actor)
    rep = Report(state, exit_code=exit_code, message=message)
    return actions.report(job.pk, pilot.pk, rep, actor)


@pytest.fixture
def seeded(make_dag, announce, pilot_record):
    make_dag(TRI)
    make_dag(OTHER)
    pilot = pilot_record()
    bad = []
    for i in range(3):  # a bad input file: the same error on three files, never retried
        announce(stream="tri")
        bad.append(fail(pilot, f"dqm-daq: /data/run{i}/f{i}.h5 is truncated at byte {1000 + i}", 2))
    announce(stream="tri")
    crash = fail(pilot, "worker 0x7f3a9c crashed after 12.5 s", 1)  # retried: waits again
    crash_again = fail(pilot, "worker 0x1b2c3d crashed after 3 s", 1)  # same job, 2nd attempt
    announce(stream="trio")
    slow = fail(pilot, "killed at its time limit of 60 s", None, state="timeout")
    return {"bad": bad, "crash": crash, "crash_again": crash_again, "slow": slow}


def test_normalisation_merges_variable_parts_and_keeps_the_words():
    n = triage.normalise
    assert n("cannot open /data/run12/f3.h5: truncated at byte 4096") == n(
        "cannot open /var/x/y.h5: truncated at byte 17"
    )
    assert n("cannot open /data/a.h5") == "cannot open <path>"
    assert n("job 3f2a9c1e-0000-4a4a-9b9b-123456789abc gone") == "job <hex> gone"
    assert n("fetch https://x.org/a?b=1 failed: 0xdeadbeef, rms 3.5e-2") == (
        "fetch <url> failed: <hex>, rms <n>"
    )
    assert n("first line 1\ntraceback 2") == "first line <n>"
    assert n("") == "(no message)"
    assert n("dead channels") != n("noisy channels")


def test_failures_are_grouped_by_stage_and_message_with_their_class(seeded):
    now = timezone.now()
    groups, truncated = triage.groups(now - timedelta(days=1), now + timedelta(seconds=1))
    assert not truncated
    rows = {(r["template"], r["stage"], r["error"]): r for r in (g.row() for g in groups)}
    assert set(rows) == {
        ("tri", "read", "dqm-daq: <path> is truncated at byte <n>"),
        ("tri", "read", "worker <hex> crashed after <n> s"),
        ("tri-other", "plot", "killed at its time limit of <n> s"),
    }
    bad = rows[("tri", "read", "dqm-daq: <path> is truncated at byte <n>")]
    assert (bad["class"], bad["failures"], bad["jobs"], bad["files"]) == ("not retriable", 3, 3, 3)
    assert bad["job_ids"] == sorted(j.pk for j in seeded["bad"])
    assert bad["exit_codes"] == [2]
    assert bad["first_seen"] <= bad["last_seen"]
    crash = rows[("tri", "read", "worker <hex> crashed after <n> s")]
    assert (crash["class"], crash["failures"], crash["jobs"], crash["files"]) == (
        "retriable",
        2,
        1,
        1,
    )
    assert rows[("tri-other", "plot", "killed at its time limit of <n> s")]["class"] == "timeout"
    # the queue did what the class says: the bad input was not retried, the crash was
    assert {Job.objects.get(pk=j.pk).state for j in seeded["bad"]} == {"failed"}
    assert Job.objects.get(pk=seeded["crash"].pk).attempt == 2


def test_the_range_and_filters_choose_the_failures(seeded):
    JobEvent.objects.filter(job__in=seeded["bad"], to_state="failed").update(
        at=timezone.now() - timedelta(days=3)
    )
    now = timezone.now()
    day = triage.groups(now - timedelta(days=1), now + timedelta(seconds=1))[0]
    assert sum(g.count for g in day) == 3  # the two crashes and the timeout
    week = triage.groups(now - timedelta(days=7), now + timedelta(seconds=1))[0]
    assert sum(g.count for g in week) == 6
    only = triage.groups(now - timedelta(days=7), now, template="tri-other")[0]
    assert [g.stage for g in only] == ["plot"]


def test_the_page_the_click_to_the_jobs_and_the_exports(seeded, operator, client_of):
    c = client_of(operator())
    page = c.get("/failures/?range=day")
    assert page.status_code == 200
    html = page.content.decode()
    assert "dqm-daq: &lt;path&gt; is truncated at byte &lt;n&gt;" in html
    assert "not retriable" in html and "timeout" in html
    row = next(r for r in page.context["rows"] if r["class"] == "not retriable")
    jobs = c.get(row["jobs_url"])
    assert [j.pk for j in jobs.context["page_obj"]] == sorted(
        (j.pk for j in seeded["bad"]), reverse=True
    )
    assert "truncated at byte" in jobs.content.decode()  # the error column
    data = c.get("/failures/?range=day&export=json").json()
    assert {r["error"]: r["failures"] for r in data["rows"]} == {
        "dqm-daq: <path> is truncated at byte <n>": 3,
        "worker <hex> crashed after <n> s": 2,
        "killed at its time limit of <n> s": 1,
    }
    text = c.get("/failures/?range=shift&export=csv").content.decode()
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 3 and table[0]["failures"] == "3" and table[0]["class"] == "not retriable"
    jobs_csv = list(
        csv.DictReader(io.StringIO(c.get(row["jobs_url"] + "&export=csv").content.decode()))
    )
    assert {r["class"] for r in jobs_csv} == {"not retriable"} and len(jobs_csv) == 3
    assert c.get("/jobs/?export=json").json()["columns"][0] == "id"


def test_bad_input_to_the_page_is_ignored_with_a_warning(seeded, operator, client_of, client):
    c = client_of(operator())
    r = c.get("/failures/?since=yesterday&range=zzz")
    assert r.status_code == 200 and "not a date" in r.content.decode()
    r = c.get("/jobs/?ids=1,x")
    assert r.status_code == 200 and "filter ignored" in r.content.decode()
    assert client.get("/failures/").status_code in (302, 403)  # anonymous


def test_a_csv_cell_cannot_be_a_spreadsheet_formula():
    from p3s.front import export

    resp = export.response("csv", "x", ["a"], [{"a": "=HYPERLINK(1)"}])
    assert "'=HYPERLINK" in resp.content.decode()
