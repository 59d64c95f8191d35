"""Secrets never reach a log: a real server (access log on, debug logging), sweeper and pilot
(verbose) run a DAG, a pilot registers and acts with its key, a request carries a wrong token,
a person logs in on the page and fails once; then every log and every file the pilot wrote
in its work directory is searched for every token, the pilot key, the secret key, the
password and the session cookie: none may appear."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
import requests

pytestmark = [pytest.mark.e2e]


def test_no_token_key_password_or_cookie_is_written_to_any_log(live_p3s):
    live_p3s.kill_server()
    live_p3s.env.update({"P3S_ACCESS_LOG": "-", "P3S_LOG_LEVEL": "DEBUG"})
    live_p3s.start_server()
    live_p3s.start_sweeper()
    password = "pw-" + uuid.uuid4().hex
    live_p3s.manage(
        "shell", "-c",
        "from django.contrib.auth.models import User;"
        f" User.objects.create_superuser('ed', password='{password}')",
    )  # fmt: skip
    pilot = live_p3s.start_pilot("--idle-exit", "15", "-v", name="pilot")
    body = {
        "url": "file:///e2e/secrets-1.dat",
        "stream": "diag",
        "run": 7,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    run_id = live_p3s.post("/api/v1/files/", role="daq", json=body).json()["dagruns"][0]["id"]
    live_p3s.wait_for(
        lambda: live_p3s.get(f"/api/v1/dagruns/{run_id}/").json()["state"] == "succeeded",
        120,
        "the diag DAG run",
    )
    # A second pilot identity, by hand: its key is known to the test.
    reg = live_p3s.post("/api/v1/pilots/", role="pilot", json={"host": "by-hand"}).json()
    key = reg["key"]
    headers = {**live_p3s.headers("pilot"), "X-P3S-Pilot-Key": key}
    requests.post(
        f"{live_p3s.url}/api/v1/pilots/{reg['id']}/heartbeat/", json={}, headers=headers, timeout=30
    ).raise_for_status()
    wrong = "wrong-" + uuid.uuid4().hex
    bad = requests.get(
        f"{live_p3s.url}/api/v1/jobs/", headers={"Authorization": f"Token {wrong}"}, timeout=30
    )
    assert bad.status_code == 401
    s = requests.Session()
    s.get(f"{live_p3s.url}/accounts/login/", timeout=30)
    csrf = s.cookies["csrftoken"]
    form = {"username": "ed", "password": password + "x", "csrfmiddlewaretoken": csrf}
    assert s.post(f"{live_p3s.url}/accounts/login/", data=form, timeout=30).status_code == 200
    assert "sessionid" not in s.cookies  # refused
    form["password"] = password
    s.post(f"{live_p3s.url}/accounts/login/", data=form, timeout=30)
    session = s.cookies["sessionid"]
    assert s.get(f"{live_p3s.url}/admin/", timeout=30).status_code == 200
    pilot.wait(60)
    live_p3s.kill_server()

    secrets = {
        **{f"{role} token": tok for role, tok in live_p3s.tokens.items()},
        "pilot key": key,
        "wrong token": wrong,
        "secret key": live_p3s.env["P3S_SECRET_KEY"],
        "password": password,
        "session cookie": session,
        "csrf cookie": csrf,
    }
    files = [
        p
        for p in live_p3s.workdir.rglob("*")
        if p.is_file() and p.name != "pilot.token" and ".sqlite3" not in p.name
    ]
    logs = [p for p in files if p.suffix == ".log"]
    assert {p.name for p in logs} >= {
        "gunicorn.log",
        "sweeper.log",
        "pilot.log",
    }  # job dirs of succeeded jobs are removed
    access = (live_p3s.workdir / "gunicorn.log").read_text(errors="replace")
    assert re.search(r'"GET /api/v1/jobs/ HTTP/1.1" 401', access)  # the access log is on
    found = [
        (what, str(p.relative_to(live_p3s.workdir)))
        for p in files
        for what, value in secrets.items()
        if value in p.read_text(errors="replace")
    ]
    assert not found, found
