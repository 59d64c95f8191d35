"""The loop: what ends it, and what the claim asks for."""

from __future__ import annotations

import time

from pilot.loop import EXIT_CRASH, EXIT_OK


def test_max_jobs_ends_the_loop_after_that_many_jobs(fake, make_pilot):
    for _ in range(3):
        fake.add_job("diag")
    pilot = make_pilot(fake, max_jobs=2, idle_exit=30.0)

    assert pilot.run() == EXIT_OK

    assert pilot.jobs_done == 2
    assert list(fake.states().values()) == ["finished", "finished", "waiting"]
    (goodbye,) = fake.calls.exits
    assert goodbye["ok"] is True
    assert "--max-jobs" in goodbye["reason"]


def test_idle_exit_ends_the_loop_when_no_job_comes(fake, make_pilot):
    pilot = make_pilot(fake, idle_exit=0.6, wait=30.0)
    start = time.monotonic()

    assert pilot.run() == EXIT_OK

    assert 0.5 <= time.monotonic() - start < 10
    assert fake.calls.claims, "the pilot never asked for a job"
    assert all(claim["wait"] <= 0.6 for claim in fake.calls.claims)  # long poll cut to fit
    assert "--idle-exit" in fake.calls.exits[0]["reason"]


def test_idle_time_counts_from_the_end_of_the_last_job(fake, make_pilot):
    fake.add_job("diag", ["--seconds", "1"])
    pilot = make_pilot(fake, idle_exit=0.7)

    assert pilot.run() == EXIT_OK

    assert fake.states() == {1: "finished"}


def test_time_left_is_sent_with_each_claim_and_the_lifetime_ends_the_loop(fake, make_pilot):
    pilot = make_pilot(fake, lifetime=3.0, lifetime_reserve=1.0, idle_exit=None, wait=30.0)
    start = time.monotonic()

    assert pilot.run() == EXIT_OK

    assert 1.5 <= time.monotonic() - start < 10
    time_lefts = [claim["time_left"] for claim in fake.calls.claims]
    assert time_lefts and all(0 <= left <= 2.0 for left in time_lefts)
    assert time_lefts == sorted(time_lefts, reverse=True)
    assert "--lifetime" in fake.calls.exits[0]["reason"]
    assert fake.calls.registrations[0]["resources"]["lifetime"] == 3.0


def test_a_job_longer_than_the_time_left_is_not_given_and_a_shorter_one_is(fake, make_pilot):
    long_job = fake.add_job("diag", timeout=600.0)
    short_job = fake.add_job("diag", timeout=5.0)
    pilot = make_pilot(fake, lifetime=60.0, lifetime_reserve=10.0, max_jobs=1)

    assert pilot.run() == EXIT_OK

    assert fake.states() == {long_job: "waiting", short_job: "finished"}
    assert fake.calls.claims[0]["time_left"] <= 50.0


def test_exit_command_from_the_heartbeat_ends_an_idle_pilot(fake, make_pilot):
    pilot = make_pilot(fake, idle_exit=30.0, wait=0.3)
    fake.command(1, "exit")
    start = time.monotonic()

    assert pilot.run() == EXIT_OK

    assert time.monotonic() - start < 5
    assert fake.calls.exits[0]["reason"] == "the server asked the pilot to exit"


def test_registration_describes_the_node_and_the_queues(fake, make_pilot):
    pilot = make_pilot(fake, queues=["tpc", "crt"], max_jobs=1, idle_exit=0.1, site="np04")

    pilot.run()

    (info,) = fake.calls.registrations
    assert info["queues"] == ["tpc", "crt"]
    assert info["site"] == "np04"
    assert info["resources"]["cores"] >= 1
    assert info["resources"]["disk_free_mb"] > 0
    assert set(info) == {
        "host",
        "site",
        "batch_system",
        "batch_id",
        "queues",
        "resources",
        "version",
    }


def test_exit_command_during_a_job_kills_it_hands_it_back_and_ends_the_loop(fake, make_pilot):
    def exit_once_running(server, job_id, body):
        if body["state"] == "running":
            server.command(1, "exit")

    fake.on_report = exit_once_running
    job = fake.add_job("diag", ["--seconds", "60"])
    pilot = make_pilot(fake, idle_exit=30.0)
    start = time.monotonic()

    assert pilot.run() == EXIT_OK

    assert time.monotonic() - start < 10
    assert [body["state"] for body in fake.reports_for(job)] == ["running", "released"]
    assert fake.states()[job] == "waiting"
    assert fake.calls.exits[0]["reason"] == "the server asked the pilot to exit"


def test_a_pilot_bug_says_goodbye_with_ok_false_and_exits_nonzero(fake, make_pilot, monkeypatch):
    pilot = make_pilot(fake)

    def broken_claim():
        raise RuntimeError("oops")

    monkeypatch.setattr(pilot, "claim_one", broken_claim)

    assert pilot.run() == EXIT_CRASH

    (goodbye,) = fake.calls.exits
    assert goodbye["ok"] is False
    assert goodbye["reason"] == "pilot crashed: RuntimeError: oops"
