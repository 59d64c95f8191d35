"""The pilot sends each job's whole log (gzip) before its report, for failed, timed-out and
finished jobs alike, with an idempotency key and the attempt; a huge log is capped."""

from __future__ import annotations

import gzip

import pytest
from pilot_helpers import run_one

from pilot.errors import Unreachable
from pilot.fake import FakeServer


def sent_log(fake, job: int) -> tuple[dict, str]:
    (entry,) = [log for log in fake.calls.logs if log["job"] == job]
    return entry, gzip.decompress(entry["content"]).decode()


def test_a_failing_jobs_whole_log_goes_before_its_report(fake, make_pilot):
    job = fake.add_job("diag", ["--log-lines", "2000", "--exit-code", "4"], attempt=2)
    pilot = make_pilot(fake)
    assert run_one(pilot) == "failed"
    entry, text = sent_log(fake, job)
    report = fake.reports_for(job)[-1]
    assert len(text) > 20 * len(report["log_tail"])  # the whole log, not the 8 kB tail
    assert "log line 0000000 of job" in text and "log line 0001999 of job" in text
    assert "log line 0000000" not in report["log_tail"]
    assert text.rstrip().endswith("exiting with code 4 as asked]")  # the pilot's lines
    assert f"[p3s pilot: job {job} attempt 2: failed, payload exited (exit code 4)" in text
    assert entry["attempt"] == 2 and entry["cut"] == 0
    assert entry["key"].startswith(f"j{job}-a2-l-")


def test_timed_out_and_finished_jobs_send_their_logs_too(fake, make_pilot):
    slow = fake.add_job("diag", ["--log-lines", "10", "--seconds", "30"], timeout=1.0)
    done = fake.add_job("diag", ["--log-lines", "10"])
    pilot = make_pilot(fake, kill_grace=0.5)
    assert run_one(pilot) == "timeout"
    assert run_one(pilot) == "finished"
    _, text = sent_log(fake, slow)
    assert "log line 0000009" in text and ": timeout, payload timeout" in text
    _, text = sent_log(fake, done)
    assert "log line 0000009" in text and ": finished, payload exited (exit code 0)" in text


def test_a_log_over_the_cap_arrives_cut_with_the_count(fake, make_pilot, monkeypatch):
    monkeypatch.setenv("P3S_LOG_MAX_BYTES", "20000")
    job = fake.add_job("diag", ["--log-lines", "3000", "--exit-code", "1"])
    pilot = make_pilot(fake)
    assert run_one(pilot) == "failed"
    entry, text = sent_log(fake, job)
    assert entry["cut"] > 250_000
    assert f"[p3s pilot: {entry['cut']} bytes cut here from the middle" in text
    assert "log line 0000000" in text and "log line 0002999" in text
    assert len(text) < 21_000


def test_a_log_upload_that_fails_is_retried_with_the_same_key(make_pilot):
    def down_once_running(server: FakeServer, job_id: int, body: dict) -> None:
        if body["state"] == "running":
            server.down_until = float("inf")  # the server goes away while the job runs

    fake = FakeServer(heartbeat_interval=0.1, on_report=down_once_running)
    job = fake.add_job("diag", ["--log-lines", "5", "--exit-code", "2"])
    pilot = make_pilot(fake, give_up=0.5)
    pilot.register()
    pilot.run_job(pilot.claim_one())
    with pytest.raises(Unreachable):
        pilot.flush_spool()
    assert fake.calls.logs == []
    (entry,) = pilot.spool.entries()
    key = entry.actions[0]["key"]
    assert [a["op"] for a in entry.actions] == ["log", "report"]
    fake.down_until = 0.0
    pilot.flush_spool()
    (sent,) = fake.calls.logs
    assert sent["key"] == key and fake.reports_for(job)[-1]["state"] == "failed"
