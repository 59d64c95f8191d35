"""Early outputs on the pilot's side (pilot/release.py): a payload that releases its data
outputs has them sent while it still runs; a release that cannot be read or sent costs the
job nothing; outputs published early are not published again at the end."""

from __future__ import annotations

import json

from pilot_helpers import run_one

from pilot.release import OUTPUTS_NAME, RELEASED_NAME, read_outputs
from pilot.runner import JOB_NAME, RESULT_NAME, read_result


def test_released_outputs_reach_the_server_before_the_job_ends(fake, make_pilot, tmp_path):
    out = tmp_path / "staging"
    job = fake.add_job(
        "diag", ["--bytes", "100", "--seconds", "0.8", "--release"], output_dir=str(out)
    )
    pilot = make_pilot(fake)

    assert run_one(pilot) == "finished"

    url = (out / f"diag-diag-{job}.bin").resolve().as_uri()
    assert fake.calls.releases == [(job, [url])]
    seq = [s for s in fake.calls.sequence if s.startswith(("release", "report"))]
    assert seq == [f"report {job} running", f"release {job}", f"report {job} finished"]
    assert fake.reports_for(job)[-1]["outputs"] == [url]


def test_a_payload_that_releases_nothing_is_reported_as_before(fake, make_pilot, tmp_path):
    job = fake.add_job("diag", ["--bytes", "10", "--seconds", "0.3"], output_dir=str(tmp_path))
    pilot = make_pilot(fake)
    assert run_one(pilot) == "finished"
    assert fake.calls.releases == []
    assert len(fake.reports_for(job)[-1]["outputs"]) == 1


def test_a_release_the_server_does_not_take_costs_the_job_nothing(fake, make_pilot, tmp_path):
    job = fake.add_job(
        "diag", ["--bytes", "10", "--seconds", "3.5", "--release"], output_dir=str(tmp_path)
    )
    pilot = make_pilot(fake, give_up=0.3)  # the release gives up; the end's report waits
    fake.on_report = lambda server, job_id, body: (
        server.go_down(3.0) if body.get("state") == "running" else None
    )
    assert run_one(pilot) == "finished"
    assert fake.calls.releases == []
    assert fake.reports_for(job)[-1]["state"] == "finished"
    assert len(fake.reports_for(job)[-1]["outputs"]) == 1


def test_a_payload_failing_after_its_release_is_reported_failed(fake, make_pilot, tmp_path):
    job = fake.add_job(
        "diag",
        ["--bytes", "10", "--seconds", "0.5", "--release", "--fail-attempts", "1"],
        output_dir=str(tmp_path),
    )
    pilot = make_pilot(fake)
    assert run_one(pilot) == "failed"
    assert [j for j, _ in fake.calls.releases] == [job]
    assert fake.reports_for(job)[-1]["state"] == "failed"


def test_a_malformed_release_file_is_refused(tmp_path):
    for text in ("{", '{"outputs": []}', '{"outputs": [3]}', "[]"):
        (tmp_path / OUTPUTS_NAME).write_text(text)
        try:
            read_outputs(tmp_path)
        except ValueError:
            continue
        raise AssertionError(f"{text!r} was taken")


def test_outputs_published_early_are_not_published_again(tmp_path):
    # A remote staging area that would fail any put: the early release already placed the
    # output, so the end reads the published URL from released.json and copies nothing.
    local = tmp_path / "outputs" / "sig.h5"
    local.parent.mkdir()
    local.write_bytes(b"x" * 10)
    spec = {"id": 9, "attempt": 1, "output_dir": str(local.parent)}
    spec["output_url"] = "root://127.0.0.1:1//nowhere/sig-job9-a1"
    (tmp_path / JOB_NAME).write_text(json.dumps(spec))
    (tmp_path / RESULT_NAME).write_text(json.dumps({"outputs": [str(local)]}))
    published = "root://127.0.0.1:1//nowhere/sig-job9-a1/sig.h5"
    (tmp_path / RELEASED_NAME).write_text(json.dumps({local.resolve().as_uri(): published}))
    assert read_result(tmp_path)["outputs"] == [published]
