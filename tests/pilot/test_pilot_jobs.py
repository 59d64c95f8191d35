"""Running one job: what the pilot runs, how it ends, and what the server hears."""

from __future__ import annotations

from pathlib import Path

from pilot_helpers import process_gone, read_pid, run_one

from pilot.loop import UNKNOWN_PAYLOAD_CODE


def test_diag_job_runs_to_finished_with_its_metrics_and_outputs_reported(
    fake, make_pilot, tmp_path
):
    out = tmp_path / "staging"
    job = fake.add_job("diag", ["--bytes", "100", "--metric", "7.5"], output_dir=str(out))
    pilot = make_pilot(fake)

    assert run_one(pilot) == "finished"

    states = [body["state"] for body in fake.reports_for(job)]
    assert states == ["running", "finished"]
    finished = fake.reports_for(job)[-1]
    assert finished["outputs"] == [(out / f"diag-diag-{job}.bin").resolve().as_uri()]
    assert (out / f"diag-diag-{job}.bin").stat().st_size == 100
    assert "diag: job" in finished["log_tail"]
    ((metrics_job, metrics),) = fake.calls.metrics
    assert metrics_job == job
    assert {m["name"]: m["value"] for m in metrics} == {"diag_seconds": 0.0, "diag_value": 7.5}
    assert fake.states()[job] == "finished"


def test_products_are_uploaded_with_kind_title_and_labels_before_the_finished_report(
    fake, make_pilot, test_payloads
):
    job = fake.add_job("product")
    pilot = make_pilot(fake)

    assert run_one(pilot) == "finished"

    products = {p["name"]: p for p in fake.calls.products}
    assert set(products) == {"plot.png", "summary.json"}
    assert products["plot.png"]["kind"] == "png"
    assert products["plot.png"]["title"] == "ADC RMS"
    assert products["plot.png"]["labels"] == {"apa": "1"}
    assert products["plot.png"]["content"].startswith(b"\x89PNG")
    assert products["summary.json"]["kind"] == "json"
    assert fake.reports_for(job)[-1]["state"] == "finished"


def test_failing_payload_is_reported_failed_with_its_exit_code_and_stderr_tail(fake, make_pilot):
    job = fake.add_job("diag", ["--exit-code", "5"])
    pilot = make_pilot(fake)

    assert run_one(pilot) == "failed"

    report = fake.reports_for(job)[-1]
    assert report["state"] == "failed"
    assert report["exit_code"] == 5
    assert "exiting with code 5 as asked" in report["message"]
    assert "diag: job" in report["log_tail"]  # stdout is in the log, not in the message
    assert "diag: job" not in report["message"]


def test_payload_failing_on_its_first_attempt_reports_diag_message(fake, make_pilot):
    job = fake.add_job("diag", ["--fail-attempts", "1"], attempt=1)
    pilot = make_pilot(fake)

    assert run_one(pilot) == "failed"

    report = fake.reports_for(job)[-1]
    assert report["exit_code"] == 3
    assert "failing on purpose (attempt 1)" in report["message"]


def test_payload_past_its_timeout_is_killed_with_its_whole_process_group_and_reported_timeout(
    fake, make_pilot, test_payloads, tmp_path
):
    pidfile = tmp_path / "grandchild.pid"
    job = fake.add_job("forker", [str(pidfile)], timeout=2.5)
    pilot = make_pilot(fake)

    assert run_one(pilot) == "timeout"

    grandchild = read_pid(pidfile)
    assert process_gone(grandchild), "the payload's child survived the timeout kill"
    report = fake.reports_for(job)[-1]
    assert report["state"] == "timeout"
    assert "time limit of 2.5 s" in report["message"]


def test_payload_that_ignores_sigterm_is_killed_after_the_grace(
    fake, make_pilot, test_payloads, tmp_path
):
    pidfile = tmp_path / "stubborn.pid"
    fake.add_job("stubborn", [str(pidfile)], timeout=2.0)
    pilot = make_pilot(fake, kill_grace=0.5)

    assert run_one(pilot) == "timeout"

    assert process_gone(read_pid(pidfile))


def test_processes_left_behind_by_a_payload_that_exited_are_killed(
    fake, make_pilot, test_payloads, tmp_path
):
    pidfile = tmp_path / "leftover.pid"
    fake.add_job("leaver", [str(pidfile)])
    pilot = make_pilot(fake)

    assert run_one(pilot) == "finished"

    assert process_gone(read_pid(pidfile))


def test_unknown_payload_is_reported_failed_and_never_executed(fake, make_pilot, tmp_path):
    marker = tmp_path / "ran"
    job = fake.add_job("rm-rf", ["--seconds", "0"], output_dir=str(marker))
    pilot = make_pilot(fake)

    assert run_one(pilot) == "failed"

    (report,) = fake.reports_for(job)  # no "running": it never started
    assert report["state"] == "failed"
    assert report["exit_code"] == UNKNOWN_PAYLOAD_CODE
    assert "'rm-rf' is not registered" in report["message"]
    assert "diag" in report["message"]  # says what is registered
    assert not marker.exists()
    assert not (pilot.home / "jobs").exists()


def test_exit_zero_without_a_result_file_is_a_failure_with_a_clear_message(
    fake, make_pilot, test_payloads
):
    job = fake.add_job("noresult")
    pilot = make_pilot(fake)

    assert run_one(pilot) == "failed"

    report = fake.reports_for(job)[-1]
    assert report["exit_code"] == 0
    assert "wrote no result file" in report["message"]
    assert "exiting 0 without a result" in report["log_tail"]


def test_malformed_result_file_is_a_failure_with_a_clear_message(fake, make_pilot, test_payloads):
    job = fake.add_job("badresult")
    pilot = make_pilot(fake)

    assert run_one(pilot) == "failed"

    assert "not valid JSON" in fake.reports_for(job)[-1]["message"]


def test_payload_reads_its_job_file_in_a_fresh_work_dir_without_the_pilot_token(
    fake, make_pilot, test_payloads, monkeypatch
):
    monkeypatch.setenv("P3S_TOKEN", "secret")
    job = fake.add_job("envdump")
    pilot = make_pilot(fake)

    assert run_one(pilot) == "finished"

    ((_, metrics),) = fake.calls.metrics
    seen = {m["name"]: m["value"] for m in metrics}
    assert seen == {"job_id_seen": float(job), "token_visible": 0.0}


def test_finished_work_dirs_are_removed_and_failed_ones_kept_up_to_a_bound(fake, make_pilot):
    pilot = make_pilot(fake, keep_failed=2)
    for _ in range(3):
        fake.add_job("diag", ["--exit-code", "1"])
    fake.add_job("diag")

    states = [run_one(pilot) for _ in range(4)]

    assert states == ["failed", "failed", "failed", "finished"]
    kept = sorted(p.name for p in (pilot.home / "jobs").iterdir())
    assert kept == ["job-2-a1", "job-3-a1"]
    assert (pilot.home / "jobs" / "job-3-a1" / "payload.log").exists()
    assert Path(pilot.home / "jobs" / "job-3-a1" / "job.json").exists()


def test_a_payload_that_cannot_be_started_is_reported_failed_and_the_pilot_survives(
    fake, make_pilot, monkeypatch
):
    job = fake.add_job("diag")
    pilot = make_pilot(fake)
    monkeypatch.setattr("pilot.runner.payload_command", lambda name, args: ["/nonexistent/python"])

    assert run_one(pilot) == "failed"

    report = fake.reports_for(job)[-1]
    assert report["exit_code"] == -1
    assert "could not start the payload" in report["message"]
