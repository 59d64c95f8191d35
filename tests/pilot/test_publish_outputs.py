"""Outputs on a remote staging area: the payload writes into the job dir, the pilot publishes
each output with storage.put to the claim's output_dir (a real XRootD server) and reports
the URLs; when that area does not take them, to the claim's output_fallback; when neither
does, the job fails saying so. A local output_dir is left as it is."""

from __future__ import annotations

import json

import pytest

try:  # first: storage.xroot sets the XRootD client's retry settings before the bindings load
    import storage.xroot  # noqa: F401
except ImportError:
    pass

from pilot import transfer
from pilot.runner import JOB_NAME, RESULT_NAME, ResultError, read_result
from storage.xrdserver import free_port
from tests.storage.conftest import start_xrootd


@pytest.fixture(scope="module")
def xrootd():
    server = start_xrootd()
    yield server
    server.cleanup()


def job_with_outputs(jobdir, output_dir, output_fallback="", names=("a.h5", "sub/b.h5")):
    """A job dir as the pilot leaves it for read_result: job.json after prepare_inputs, the
    payload's outputs in the local output dir, its result file."""
    spec = {"id": 7, "attempt": 1, "output_dir": output_dir, "output_fallback": output_fallback}
    spec = transfer.prepare_inputs(spec, jobdir)
    (jobdir / JOB_NAME).write_text(json.dumps(spec))
    outs = []
    for i, name in enumerate(names):
        path = jobdir / "outputs" / name if "output_url" in spec else jobdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes([i]) * (1000 + i))
        outs.append(str(path))
    (jobdir / RESULT_NAME).write_text(json.dumps({"outputs": outs}))
    return spec


def test_outputs_are_published_to_the_remote_staging_area_and_reported_by_url(xrootd, tmp_path):
    area = xrootd.url("staging/run1/dagrun2/sig-job7-a1")
    spec = job_with_outputs(tmp_path, area)
    assert spec["output_url"] == area and spec["output_dir"] == str(tmp_path / "outputs")
    result = read_result(tmp_path)
    assert result["outputs"] == [f"{area}/a.h5", f"{area}/sub/b.h5"]
    where = xrootd.data / "staging/run1/dagrun2/sig-job7-a1"
    assert (where / "a.h5").read_bytes() == b"\0" * 1000
    assert (where / "sub/b.h5").read_bytes() == b"\1" * 1001
    log = (tmp_path / "transfer.log").read_text()
    assert f"published output a.h5 (1000 bytes) to {area}/a.h5" in log


def test_an_area_that_does_not_answer_sends_the_outputs_to_the_fallback(xrootd, tmp_path):
    dead = f"root://127.0.0.1:{free_port()}//staging/run1/dagrun3/sig-job7-a1"
    fallback = xrootd.url("fallback/run1/dagrun3/sig-job7-a1")
    job_with_outputs(tmp_path / "job", dead, fallback)
    result = read_result(tmp_path / "job")
    assert result["outputs"] == [f"{fallback}/a.h5", f"{fallback}/sub/b.h5"]
    assert (xrootd.data / "fallback/run1/dagrun3/sig-job7-a1/sub/b.h5").stat().st_size == 1001
    log = (tmp_path / "job/transfer.log").read_text()
    assert f"publishing to {dead} failed" in log and f"using {fallback}" in log


def test_a_local_fallback_directory_takes_the_outputs_as_file_urls(tmp_path):
    dead = f"root://127.0.0.1:{free_port()}//staging/x"
    pytest.importorskip("storage.xroot")
    fallback = tmp_path / "fallback" / "x"
    job_with_outputs(tmp_path / "job", dead, str(fallback))
    result = read_result(tmp_path / "job")
    assert result["outputs"] == [(fallback / "a.h5").as_uri(), (fallback / "sub/b.h5").as_uri()]
    assert (fallback / "a.h5").read_bytes() == b"\0" * 1000


def test_outputs_that_no_area_takes_fail_the_job_with_the_reason(tmp_path):
    pytest.importorskip("storage.xroot")
    dead = f"root://127.0.0.1:{free_port()}//staging/x"
    also_dead = f"root://127.0.0.1:{free_port()}//fallback/x"
    job_with_outputs(tmp_path, dead, also_dead)
    with pytest.raises(ResultError, match="could not be published to a staging area"):
        read_result(tmp_path)


def test_a_local_output_dir_is_used_as_it_is(tmp_path):
    out = tmp_path / "data" / "outputs" / "run1"
    spec = job_with_outputs(tmp_path, str(out), "root://elsewhere.example//fallback/run1")
    assert "output_url" not in spec and spec["output_dir"] == str(out)
    result = read_result(tmp_path)
    assert result["outputs"] == [(tmp_path / "a.h5").as_uri(), (tmp_path / "sub/b.h5").as_uri()]
