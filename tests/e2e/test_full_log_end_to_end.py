"""End to end: a real pilot runs a failing payload whose log is far bigger than the report's
tail (and over the pilot's cap); through real gunicorn its whole log (head and tail, the cut
said) reaches the server, and a line from the middle is found by search on the job page."""

from __future__ import annotations

import gzip
import re
import uuid
from datetime import UTC, datetime

import pytest
import requests

pytestmark = [pytest.mark.e2e]

DAG = """
name: chatty
trigger: {stream: chatty}
stages:
  noisy: {payload: diag, args: {log_lines: 30000, exit_code: 3}, timeout: 60, max_attempts: 1}
"""
CAP = 1_000_000  # the pilot's P3S_LOG_MAX_BYTES; the payload writes about 3 MB


def operator_session(live_p3s) -> requests.Session:
    password = "pw-" + uuid.uuid4().hex
    live_p3s.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import Group, User;"
        f" u = User.objects.create_user('olga', password='{password}');"
        " u.groups.add(Group.objects.get_or_create(name='operator')[0])",
    )
    s = requests.Session()
    s.get(f"{live_p3s.url}/accounts/login/", timeout=30)
    form = {"username": "olga", "password": password, "csrfmiddlewaretoken": s.cookies["csrftoken"]}
    s.post(f"{live_p3s.url}/accounts/login/", data=form, timeout=30)
    assert "sessionid" in s.cookies
    return s


def test_a_failing_jobs_whole_log_reaches_the_job_page_and_is_found_by_search(live_p3s):
    r = live_p3s.post(
        "/api/v1/dags/", role="expert", data=DAG, headers={"Content-Type": "application/yaml"}
    )
    assert r.status_code in (200, 201), r.text
    live_p3s.env["P3S_LOG_MAX_BYTES"] = str(CAP)  # for the pilot started next
    live_p3s.start_pilot("--idle-exit", "30", name="pilot")
    body = {
        "url": "file:///e2e/chatty-1.dat",
        "stream": "chatty",
        "run": 21,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    run_id = live_p3s.post("/api/v1/files/", role="daq", json=body).json()["dagruns"][0]["id"]

    def failed_job():
        (job,) = live_p3s.get(f"/api/v1/dagruns/{run_id}/").json()["jobs"]
        return job if job["state"] == "failed" else None

    job = live_p3s.wait_for(failed_job, 60, "the chatty job to fail")
    jid = job["id"]
    detail = live_p3s.get(f"/api/v1/jobs/{jid}/").json()
    assert detail["exit_code"] == 3
    tail = detail["log_tail"]
    assert "log line 0029999" in tail and "log line 0002000 " not in tail

    whole = live_p3s.get(f"/api/v1/jobs/{jid}/log/")  # requests takes the gzip encoding
    assert whole.status_code == 200 and whole.headers["Content-Encoding"] == "gzip"
    text = whole.text
    cut = int(whole.headers["X-P3S-Log-Cut-Bytes"])
    assert 1_500_000 < cut < 3_000_000
    assert f"[p3s pilot: {cut} bytes cut here from the middle" in text
    assert len(text) > 100 * len(tail) and len(text.encode()) <= CAP + 4096
    assert "log line 0000000 " in text and "log line 0029999 " in text
    assert f"job {jid} attempt 1: failed, payload exited (exit code 3)" in text
    down = live_p3s.get(f"/api/v1/jobs/{jid}/log/?download=1", stream=True)
    packed = down.raw.read()
    assert gzip.decompress(packed).decode() == text
    assert len(packed) < len(text) / 5

    browser = operator_session(live_p3s)
    page = browser.get(f"{live_p3s.url}/jobs/{jid}/?log_q=log+line+0002000+", timeout=30)
    assert page.status_code == 200
    found = re.search(r'<a href="[^"]+">(\d+)</a>: diag: log line 0002000 of job', page.text)
    assert found, page.text[page.text.find('id="log"') :][:2000]
    assert int(found.group(1)) == 2002  # the diag banner line, then lines 0 .. 1999
    assert "1 matching line" in page.text and "bytes cut from the middle" in page.text
