"""Bad input is a 4xx, never a 5xx: schemathesis fuzzes the live server from its own OpenAPI
schema, as each role (and as a registered pilot with its key), and fails on any server error."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime

import pytest

from tests.conftest import BIN

pytestmark = [pytest.mark.e2e]

FULL_EXAMPLES = int(os.environ.get("P3S_FUZZ_EXAMPLES", "40"))  # per operation and role


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


def fuzz_as_every_role(server, examples: int) -> dict[str, subprocess.CompletedProcess]:
    schema = server.get("/api/schema/")
    assert schema.status_code == 200
    path = server.workdir / "schema.yaml"
    path.write_text(schema.text)
    # Some data for the fuzzer to find: a file, its DAG run and jobs, and a registered pilot.
    server.post(
        "/api/v1/files/",
        role="daq",
        json={
            "url": "file:///fuzz/a.dat",
            "stream": "diag",
            "run": 1,
            "timestamp": datetime.now(UTC).isoformat(),
        },
    ).raise_for_status()
    pilot = server.post("/api/v1/pilots/", role="pilot", json={"host": "fuzz"}).json()
    runs = {
        role: fuzz(server, path, f"Authorization: Token {server.tokens[role]}", examples=examples)
        for role in ("expert", "daq")
    }
    runs["pilot"] = fuzz(
        server,
        path,
        f"Authorization: Token {server.tokens['pilot']}",
        f"X-P3S-Pilot-Key: {pilot['key']}",
        examples=examples,
    )
    for who, run in runs.items():
        assert run.returncode == 0, f"as {who}:\n{run.stdout[-6000:]}"
    log = (server.workdir / "gunicorn.log").read_text(errors="replace")
    assert "Internal Server Error" not in log, log[-4000:]
    return runs


def generated(run: subprocess.CompletedProcess) -> int:
    """How many test cases schemathesis generated in one run (from its summary)."""
    found = re.findall(r"(\d+) generated", run.stdout)
    return int(found[-1]) if found else 0


def test_no_input_makes_the_api_answer_with_a_server_error(live_p3s):
    fuzz_as_every_role(live_p3s, examples=5)


@pytest.mark.slow
@pytest.mark.full  # make test-full and make chaos; the bounded form above is in make test
def test_over_a_thousand_generated_cases_find_no_server_error(live_p3s):
    runs = fuzz_as_every_role(live_p3s, examples=FULL_EXAMPLES)
    total = sum(generated(run) for run in runs.values())
    print(f"schemathesis: {total} generated cases, no server error")
    assert total >= 1000, {who: run.stdout[-1500:] for who, run in runs.items()}
