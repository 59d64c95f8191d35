"""While the database does not answer, the API says so: 503 JSON with Retry-After (never an
HTML 500), and /healthz is a 503 JSON too. Here the server's database is a port where
nothing listens (the shared PostgreSQL server itself is never stopped)."""

from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import BIN, ROOT, free_port

pytestmark = [pytest.mark.e2e]


def test_the_api_answers_json_503_while_its_database_is_unreachable(live_p3s):
    port = free_port()
    env = {
        **live_p3s.env,
        "P3S_DATABASE_URL": f"postgres://p3s:p3s@127.0.0.1:{free_port()}/gone",
        "P3S_BIND": f"127.0.0.1:{port}",
        "P3S_WORKERS": "1",
    }
    live_p3s.start(
        [str(BIN / "gunicorn"), "-c", str(ROOT / "p3s/gunicorn.conf.py"), "p3s.wsgi"],
        "gunicorn-nodb.log",
        env=env,
    )
    url = f"http://127.0.0.1:{port}"

    def answer(path: str, **kw):
        try:
            return requests.get(url + path, timeout=10, **kw)
        except requests.RequestException:
            return None

    deadline = time.monotonic() + 60
    while (r := answer("/healthz")) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert r is not None and r.status_code == 503
    assert r.json()["status"] == "error"
    for path in ("/api/v1/jobs/", "/api/v1/dags/", "/api/v1/summary/"):
        r = answer(path, headers=live_p3s.headers("operator"))
        assert r.status_code == 503, (path, r.status_code, r.text[:300])
        assert r.headers["Content-Type"].startswith("application/json")
        assert "database" in r.json()["detail"] and r.headers.get("Retry-After")
    r = requests.post(
        url + "/api/v1/files/", json={"url": "file:///x.h5"}, headers=live_p3s.headers("daq")
    )
    assert r.status_code == 503 and r.headers["Content-Type"].startswith("application/json")
