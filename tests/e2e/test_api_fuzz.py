"""Bad input is a 4xx, never a 5xx: schemathesis fuzzes the live server from its own OpenAPI
schema, as each role (and as a registered pilot with its key), and fails on any server error."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import pytest

from tests.conftest import BIN

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def fuzz(server, schema_path, *headers: str, examples: int = 25) -> subprocess.CompletedProcess:
    argv = [
        str(BIN / "schemathesis"),
        "run",
        str(schema_path),
        "--url",
        server.url,
        "-c",
        "not_a_server_error",
        "-n",
        str(examples),
        "--seed",
        "1",
    ]
    for header in headers:
        argv += ["-H", header]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=server.workdir)


def test_no_input_makes_the_api_answer_with_a_server_error(live_p3s):
    schema = live_p3s.get("/api/schema/")
    assert schema.status_code == 200
    path = live_p3s.workdir / "schema.yaml"
    path.write_text(schema.text)
    # Some data for the fuzzer to find: a file, its DAG run and jobs, and a registered pilot.
    live_p3s.post(
        "/api/v1/files/",
        role="daq",
        json={
            "url": "file:///fuzz/a.dat",
            "stream": "diag",
            "run": 1,
            "timestamp": datetime.now(UTC).isoformat(),
        },
    ).raise_for_status()
    pilot = live_p3s.post("/api/v1/pilots/", role="pilot", json={"host": "fuzz"}).json()

    runs = {
        role: fuzz(live_p3s, path, f"Authorization: Token {live_p3s.tokens[role]}")
        for role in ("expert", "daq")
    }
    runs["pilot"] = fuzz(
        live_p3s,
        path,
        f"Authorization: Token {live_p3s.tokens['pilot']}",
        f"X-P3S-Pilot-Key: {pilot['key']}",
    )
    for who, run in runs.items():
        assert run.returncode == 0, f"as {who}:\n{run.stdout[-6000:]}"
    log = (live_p3s.workdir / "gunicorn.log").read_text(errors="replace")
    assert "Internal Server Error" not in log, log[-4000:]
