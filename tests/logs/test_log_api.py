"""The job log endpoint: the pilot of the current attempt uploads (fenced, idempotent, checked),
operators read it (gzip passed through, or decompressed, or downloaded) and search it."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from p3s.jobs import actions
from p3s.jobs.models import Job
from p3s.logs.models import JobLog
from tests.logs.conftest import LOG, claim_and_run, files, upload

pytestmark = pytest.mark.django_db


def test_the_log_is_stored_compressed_with_its_figures(running, tmp_path):
    pilot, job_id = running
    r = upload(pilot, job_id, cut=1234)
    assert r.status_code == 201, r.content
    row = JobLog.objects.get()
    (path,) = files(tmp_path)
    assert r.json()["size"] == row.size == len(LOG.encode())
    assert row.lines == 3001 and row.cut_bytes == 1234 and row.attempt == 1
    assert row.compressed_size == path.stat().st_size < row.size / 5
    assert row.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert gzip.decompress(path.read_bytes()).decode() == LOG


def test_a_retry_after_a_lost_answer_stores_once(running, tmp_path):
    pilot, job_id = running
    assert upload(pilot, job_id).status_code == 201
    again = upload(pilot, job_id)
    assert again.status_code == 200, again.content
    assert JobLog.objects.count() == 1 and len(files(tmp_path)) == 1


@pytest.mark.parametrize("attempt", [1, None])
def test_a_late_log_of_an_old_attempt_is_409_and_leaves_no_file(
    running, new_pilot, attempt, tmp_path
):
    old, job_id = running
    job = Job.objects.select_related("settings").get(pk=job_id)
    actions.requeue_lost(job, "test", "lost")
    new = new_pilot(host="b")
    assert claim_and_run(new)["attempt"] == 2
    r = upload(old, job_id, attempt=attempt)
    assert r.status_code == 409, r.content
    assert "attempt" in r.json()["detail"]
    assert not JobLog.objects.exists() and files(tmp_path) == []
    assert upload(new, job_id, attempt=2, key="k-2").status_code == 201


@pytest.mark.parametrize(
    "content, why",
    [
        (b"plain text, not gzip", "not a gzip"),
        (gzip.compress(LOG.encode(), mtime=0)[:-30], "incomplete"),
        (gzip.compress(b"a\n", mtime=0) + b"trailing rubbish", "after the end"),
        (gzip.compress(b"\n" * 3_000_000, mtime=0), "over"),  # a 3 kB bomb of 3 MB
    ],
    ids=["not-gzip", "incomplete", "trailing-rubbish", "bomb"],  # the same in every worker
)
def test_bad_uploads_are_400_and_change_nothing(running, content, why, tmp_path, settings):
    pilot, job_id = running
    settings.P3S = {**settings.P3S, "LOG_MAX_BYTES": 1_000_000}
    r = upload(pilot, job_id, content=content)
    assert r.status_code == 400, r.content
    assert why in r.json()["detail"]
    assert not JobLog.objects.exists() and files(tmp_path) == []


def test_bad_fields_are_400(running):
    pilot, job_id = running
    assert upload(pilot, job_id, cut=-1).status_code == 400
    assert upload(pilot, job_id, key="no spaces allowed").status_code == 400
    assert not JobLog.objects.exists()


def test_a_body_over_the_limit_is_refused_before_it_is_read(running, settings):
    pilot, job_id = running
    settings.P3S = {**settings.P3S, "LOG_MAX_BYTES": 2000}
    r = pilot.post(
        f"/api/v1/jobs/{job_id}/log/",
        b"x",
        content_type="application/octet-stream",
        CONTENT_LENGTH=str(10_000_000),
    )
    assert r.status_code == 413 and "at most" in r.json()["detail"]


def test_only_a_pilot_uploads_and_only_operators_read(running, operator, client_as):
    pilot, job_id = running
    r = upload(operator, job_id)
    assert r.status_code == 403, r.content
    assert upload(pilot, job_id).status_code == 201
    assert pilot.get(f"/api/v1/jobs/{job_id}/log/").status_code == 403
    assert client_as(None).get(f"/api/v1/jobs/{job_id}/log/").status_code in (401, 403)
    assert operator.get(f"/api/v1/jobs/{job_id}/log/").status_code == 200


def test_operators_get_it_gzip_passed_through_plain_or_as_a_download(running, operator):
    pilot, job_id = running
    upload(pilot, job_id, cut=7)
    zipped = operator.get(f"/api/v1/jobs/{job_id}/log/", HTTP_ACCEPT_ENCODING="gzip, br")
    assert zipped.status_code == 200
    assert zipped["Content-Encoding"] == "gzip" and zipped["Content-Type"].startswith("text/plain")
    assert gzip.decompress(b"".join(zipped.streaming_content)).decode() == LOG
    assert zipped["X-P3S-Log-Cut-Bytes"] == "7"
    plain = operator.get(f"/api/v1/jobs/{job_id}/log/")
    assert "Content-Encoding" not in plain and b"".join(plain.streaming_content).decode() == LOG
    down = operator.get(f"/api/v1/jobs/{job_id}/log/?download=1&attempt=1")
    assert down["Content-Type"] == "application/gzip"
    assert f'filename="job{job_id}-a1.log.gz"' in down["Content-Disposition"]
    assert gzip.decompress(b"".join(down.streaming_content)).decode() == LOG


def test_reading_a_missing_log_or_bad_parameters_is_a_json_4xx(running, operator):
    pilot, job_id = running
    r = operator.get(f"/api/v1/jobs/{job_id}/log/")
    assert r.status_code == 404 and "has no log" in r.json()["detail"]
    upload(pilot, job_id)
    assert operator.get(f"/api/v1/jobs/{job_id}/log/?attempt=2").status_code == 404
    assert operator.get(f"/api/v1/jobs/{job_id}/log/?attempt=zero").status_code == 400
    assert operator.get(f"/api/v1/jobs/{job_id}/log/?download=maybe").status_code == 400
    assert operator.get("/api/v1/jobs/999999/log/").status_code == 404
    assert operator.get(f"/api/v1/jobs/{job_id}/log/search/?q=").status_code == 400
    assert operator.get(f"/api/v1/jobs/{job_id}/log/search/?q=" + "x" * 201).status_code == 400


def test_search_returns_matching_lines_with_their_numbers(running, operator):
    pilot, job_id = running
    upload(pilot, job_id)
    r = operator.get(f"/api/v1/jobs/{job_id}/log/search/?q=adc 7 SATURATED")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["matches"] == [{"line": 3001, "text": "ERROR: ADC 7 saturated"}]
    assert body["scanned_lines"] == 3001 and body["stopped"] == ""
    many = operator.get(f"/api/v1/jobs/{job_id}/log/search/?q=of the payload").json()
    assert len(many["matches"]) == 200 and "first 200" in many["stopped"]
    assert many["matches"][0] == {"line": 1, "text": "line 00000 of the payload"}
