"""Results are not lost: the spool, retries while the server is away, and 409s."""

from __future__ import annotations

import json

from pilot.loop import EXIT_OK, EXIT_UNREACHABLE


def test_report_arrives_after_the_server_was_unreachable_for_a_while(fake, make_pilot):
    def go_down_when_running(server, job_id, body):
        if body["state"] == "running":
            server.go_down(1.5)  # longer than the job

    fake.on_report = go_down_when_running
    job = fake.add_job("diag", ["--seconds", "0.3", "--metric", "2"])
    pilot = make_pilot(fake, max_jobs=1, give_up=20.0)

    assert pilot.run() == EXIT_OK

    assert fake.failures_while_down >= 2  # it did try while the server was away
    assert [body["state"] for body in fake.reports_for(job)] == ["running", "finished"]
    assert fake.calls.metrics[0][1][1] == {
        "name": "diag_value",
        "value": 2.0,
        "labels": {"stage": "diag"},
    }
    assert not pilot.home.exists()  # delivered, so nothing is left behind


def test_nothing_new_is_claimed_while_a_report_is_owed(fake, make_pilot):
    def go_down_when_the_first_job_runs(server, job_id, body):
        if body["state"] == "running" and job_id == 1:
            server.go_down(1.0)

    fake.on_report = go_down_when_the_first_job_runs
    fake.add_job("diag")
    fake.add_job("diag")
    pilot = make_pilot(fake, max_jobs=2, give_up=20.0)

    assert pilot.run() == EXIT_OK

    assert fake.failures_while_down >= 2
    assert fake.calls.sequence == [
        "claim",
        "report 1 running",
        "report 1 finished",
        "claim",
        "report 2 running",
        "report 2 finished",
    ]


def test_pilot_gives_up_exits_nonzero_and_leaves_the_spool_when_the_server_stays_away(
    fake, make_pilot
):
    def go_down_for_good(server, job_id, body):
        if body["state"] == "running":
            server.go_down(3600)

    fake.on_report = go_down_for_good
    job = fake.add_job("diag", ["--metric", "4"])
    pilot = make_pilot(fake, max_jobs=1, give_up=0.5)

    assert pilot.run() == EXIT_UNREACHABLE

    (entry_file,) = (pilot.home / "spool").glob("job-*.json")
    entry = json.loads(entry_file.read_text())
    assert entry["job"] == job
    assert [a["op"] for a in entry["actions"]] == ["metrics", "log", "report"]
    assert entry["actions"][-1]["body"]["state"] == "finished"
    assert fake.calls.exits == []


def test_conflict_on_report_drops_the_job_and_the_pilot_carries_on(fake, make_pilot):
    def requeue_behind_the_pilots_back(server, job_id, body):
        if body["state"] == "running" and job_id == 1:
            job = server.jobs[job_id]
            job.state, job.pilot = "waiting", None  # the sweeper declared it lost

    fake.on_report = requeue_behind_the_pilots_back
    lost = fake.add_job("diag", ["--metric", "1"])
    fake.add_job("diag")
    pilot = make_pilot(fake, max_jobs=2)

    assert pilot.run() == EXIT_OK

    assert [body["state"] for body in fake.reports_for(lost)] == ["running"]
    assert fake.states()[2] == "finished"
    assert not (pilot.home / "spool").exists() or not list((pilot.home / "spool").iterdir())


def test_spool_entries_are_written_before_anything_is_sent(fake, make_pilot):
    fake.add_job("diag", ["--metric", "3"])
    pilot = make_pilot(fake)
    pilot.register()
    job = pilot.claim_one()

    assert pilot.run_job(job) == "finished"

    assert [r["state"] for r in fake.reports_for(job["id"])] == ["running"]
    (entry,) = pilot.spool.entries()
    assert [a["op"] for a in entry.actions] == ["metrics", "log", "report"]
    assert pilot.flush_spool() == 1
    assert [r["state"] for r in fake.reports_for(job["id"])] == ["running", "finished"]
    assert len(pilot.spool) == 0
