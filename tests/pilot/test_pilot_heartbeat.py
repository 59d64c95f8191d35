"""The heartbeat: what it carries and the commands it brings back."""

from __future__ import annotations

import threading

from pilot_helpers import process_gone, read_pid, wait_for

from pilot.loop import EXIT_OK


def test_heartbeat_carries_the_running_job_and_its_elapsed_time(fake, make_pilot):
    job = fake.add_job("diag", ["--seconds", "1.2"])
    pilot = make_pilot(fake, max_jobs=1)

    assert pilot.run() == EXIT_OK

    during = [beat for beat in fake.calls.heartbeats if beat["job"] == job]
    assert len(during) >= 3
    elapsed = [beat["progress"]["elapsed"] for beat in during]
    assert elapsed == sorted(elapsed) and 0 <= elapsed[0] < elapsed[-1]
    assert all(beat["pilot"] == pilot.pilot_id for beat in fake.calls.heartbeats)


def test_kill_job_command_kills_the_payload_group_and_nothing_more_is_reported(
    fake, make_pilot, test_payloads, tmp_path
):
    pidfile = tmp_path / "grandchild.pid"
    job = fake.add_job("forker", [str(pidfile)], timeout=60.0)
    follow_up = fake.add_job("diag")
    pilot = make_pilot(fake, max_jobs=2)

    def cancel_once_the_grandchild_runs():
        read_pid(pidfile)
        fake.cancel(job)  # as an operator would; the next heartbeat brings kill-job

    threading.Thread(target=cancel_once_the_grandchild_runs, daemon=True).start()
    assert pilot.run() == EXIT_OK

    assert [body["state"] for body in fake.reports_for(job)] == ["running"]
    assert process_gone(read_pid(pidfile))
    assert any(beat["job"] == job for beat in fake.calls.heartbeats)
    assert fake.states()[follow_up] == "finished"  # and the pilot carried on


def test_kill_job_for_another_job_is_ignored(fake, make_pilot):
    pilot = make_pilot(fake)
    pilot.register()
    fake.add_job("diag", ["--seconds", "0.5"])
    job = pilot.claim_one()
    assert job is not None
    done = threading.Event()
    killed = []

    def beat_with_a_foreign_kill():
        wait_for(lambda: pilot.progress()[0] == job["id"])
        pilot.on_command("kill-job", 999)
        killed.append(pilot._current.kill.is_set() if pilot._current else None)
        done.set()

    threading.Thread(target=beat_with_a_foreign_kill, daemon=True).start()
    assert pilot.run_job(job) == "finished"
    assert done.wait(5)
    assert killed == [False]


def test_heartbeat_follows_the_interval_the_server_gives(fake, make_pilot):
    fake.heartbeat_interval = 0.05
    pilot = make_pilot(fake, idle_exit=0.6)

    pilot.run()

    assert pilot.heartbeat is not None and pilot.heartbeat.interval == 0.05
    assert len(fake.calls.heartbeats) >= 5
