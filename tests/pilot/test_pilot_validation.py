"""Environment validation: a node that cannot run payloads says so and claims nothing."""

from __future__ import annotations

from pilot.loop import EXIT_INVALID_ENV, EXIT_OK
from pilot.validate import check_environment, check_payloads


def test_failed_validation_reports_exit_with_ok_false_and_claims_nothing(fake, make_pilot):
    fake.add_job("diag")
    pilot = make_pilot(fake, validate=True, min_disk_mb=1e12)

    assert pilot.run() == EXIT_INVALID_ENV

    assert len(fake.calls.registrations) == 1
    (goodbye,) = fake.calls.exits
    assert goodbye["ok"] is False
    assert "environment validation failed" in goodbye["reason"]
    assert "MB free" in goodbye["reason"]
    assert fake.calls.claims == []
    assert fake.states() == {1: "waiting"}


def test_a_fit_node_passes_validation_and_runs_jobs(fake, make_pilot):
    fake.add_job("diag")
    pilot = make_pilot(fake, validate=True, max_jobs=1)

    assert pilot.run() == EXIT_OK

    assert fake.states() == {1: "finished"}


def test_unwritable_staging_area_fails_validation(make_config, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the staging area should be")
    monkeypatch.setenv("P3S_DATA_ROOT", str(blocker / "data"))

    problems = check_environment(make_config())

    assert len(problems) == 1
    assert "staging area (P3S_DATA_ROOT)" in problems[0]


def test_payload_module_that_does_not_import_fails_validation(tmp_path, monkeypatch):
    site = tmp_path / "site"
    info = site / "p3s_broken-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: p3s-broken\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text("[p3s.payloads]\nbroken = p3s_broken:main\n")
    (site / "p3s_broken.py").write_text("import numpy_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))

    problem = check_payloads(timeout=60)

    assert problem is not None
    assert "p3s_broken: ModuleNotFoundError" in problem
    assert "payloads.diag" not in problem


def test_installed_payloads_import_cleanly():
    assert check_payloads(timeout=60) is None


def test_unwritable_work_dir_fails_validation_without_crashing_the_pilot(
    fake, make_pilot, tmp_path
):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the work dir should be")
    pilot = make_pilot(fake, validate=True, workdir=blocker / "work")

    assert pilot.run() == EXIT_INVALID_ENV

    (goodbye,) = fake.calls.exits
    assert goodbye["ok"] is False and "cannot write in the work dir" in goodbye["reason"]
    assert fake.calls.claims == []
