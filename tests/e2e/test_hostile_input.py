"""A table of hostile requests against the live server (real gunicorn): no 5xx, every error
JSON with a short message, and nothing changes on a reject. The bounded form runs by default;
``-m slow`` (``make chaos``) adds the big bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import requests

pytestmark = [pytest.mark.e2e]

DEEP = 5000


@dataclass
class Case:
    name: str
    method: str
    path: str
    role: str | None = "expert"
    body: bytes | str | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    files: dict | None = None
    data: dict | None = None
    slow: bool = False


def dag_yaml(extra: str = "", name: str = "hostile", stages: str | None = None) -> str:
    stages = stages or "  a: {payload: diag}\n"
    return f"name: {name}\ntrigger: {{stream: diag}}\n{extra}stages:\n{stages}"


BOMB = """name: bomb
trigger: {stream: diag}
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
stages: {x: {payload: diag, args: [*f]}}
"""
SMALL_BOMB = """name: bomb2
trigger: {stream: diag}
description: &d "x"
a: &a [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
stages: {x: {payload: diag}}
"""
MANY_STAGES = "".join(f"  s{i}: {{payload: diag}}\n" for i in range(1000))


def cases() -> list[Case]:
    deep_json = "[" * DEEP + "]" * DEEP
    deep_obj = '{"a":' * DEEP + "1" + "}" * DEEP
    deep_yaml = dag_yaml(stages="  a: {payload: diag, args: " + "[" * DEEP + "]" * DEEP + "}\n")
    out = [
        Case("deep JSON array to dags", "POST", "/api/v1/dags/", body=deep_json),
        Case("deep JSON object to files", "POST", "/api/v1/files/", "daq", body=deep_obj),
        Case("deep JSON report", "POST", "/api/v1/jobs/1/report/", "pilot", body=deep_obj),
        Case(
            "deep YAML template",
            "POST",
            "/api/v1/dags/",
            body=deep_yaml,
            content_type="application/yaml",
        ),
        Case("billion laughs", "POST", "/api/v1/dags/", body=BOMB, content_type="application/yaml"),
        Case(
            "small alias bomb", "POST", "/api/v1/dags/", body=SMALL_BOMB, content_type="text/yaml"
        ),
        Case(
            "NaN priority",
            "POST",
            "/api/v1/dags/",
            body=dag_yaml(stages="  a: {payload: diag, priority: .nan}\n"),
            content_type="application/yaml",
        ),
        Case(
            "inf max_attempts",
            "POST",
            "/api/v1/dags/",
            body=dag_yaml(stages="  a: {payload: diag, max_attempts: .inf}\n"),
            content_type="application/yaml",
        ),
        Case(
            "-inf timeout",
            "POST",
            "/api/v1/dags/",
            body=dag_yaml(stages="  a: {payload: diag, timeout: -.inf}\n"),
            content_type="application/yaml",
        ),
        Case(
            "nan max_waiting",
            "POST",
            "/api/v1/dags/",
            body=dag_yaml("policy: {max_waiting: .nan}\n"),
            content_type="application/yaml",
        ),
        Case(
            "inf max_age",
            "POST",
            "/api/v1/dags/",
            body=dag_yaml("policy: {max_age: .inf}\n"),
            content_type="application/yaml",
        ),
        Case(
            "JSON NaN in a DAG",
            "POST",
            "/api/v1/dags/",
            body='{"name": "j", "trigger": {"stream": "diag"}, "stages": {"a": {"payload": "diag", "priority": NaN}}}',
        ),
        Case(
            "JSON Infinity metric",
            "POST",
            "/api/v1/jobs/1/metrics/",
            "pilot",
            body='{"metrics": [{"name": "x", "value": Infinity}]}',
        ),
        Case(
            "NUL in description",
            "POST",
            "/api/v1/dags/",
            body=json.dumps(
                {
                    "name": "nul",
                    "description": "a\u0000b",
                    "trigger": {"stream": "diag"},
                    "stages": {"a": {"payload": "diag"}},
                }
            ),
        ),
        Case(
            "NUL in args",
            "POST",
            "/api/v1/dags/",
            body=json.dumps(
                {
                    "name": "nul2",
                    "trigger": {"stream": "diag"},
                    "stages": {"a": {"payload": "diag", "args": ["x\u0000"]}},
                }
            ),
        ),
        Case(
            "NUL in pattern",
            "POST",
            "/api/v1/dags/",
            body=json.dumps(
                {
                    "name": "nul3",
                    "trigger": {"stream": "diag", "pattern": "\u0000"},
                    "stages": {"a": {"payload": "diag"}},
                }
            ),
        ),
        Case(
            "NUL in stream",
            "POST",
            "/api/v1/dags/",
            body=json.dumps(
                {
                    "name": "nul4",
                    "trigger": {"stream": "d\u0000"},
                    "stages": {"a": {"payload": "diag"}},
                }
            ),
        ),
        Case(
            "lone surrogate in a file URL",
            "POST",
            "/api/v1/files/",
            "daq",
            body='{"url": "file:///a/\\ud800.h5", "stream": "diag", "run": 1, "timestamp": "2026-01-01T00:00:00Z"}',
        ),
        Case(
            "NUL in a file URL",
            "POST",
            "/api/v1/files/",
            "daq",
            body=json.dumps(
                {
                    "url": "file:///a/\u0000.h5",
                    "stream": "diag",
                    "run": 1,
                    "timestamp": "2026-01-01T00:00:00Z",
                }
            ),
        ),
        Case(
            "NUL in a pilot host",
            "POST",
            "/api/v1/pilots/",
            "pilot",
            body=json.dumps({"host": "a\u0000"}),
        ),
        Case(
            "deep resources",
            "POST",
            "/api/v1/pilots/",
            "pilot",
            body=json.dumps({"host": "h", "resources": json.loads('{"a":' * 30 + "1" + "}" * 30)}),
        ),
        Case(
            "NUL key in resources",
            "POST",
            "/api/v1/pilots/",
            "pilot",
            body=json.dumps({"host": "h", "resources": {"\u0000": 1}}),
        ),
        Case(
            "NUL value in resources",
            "POST",
            "/api/v1/pilots/",
            "pilot",
            body=json.dumps({"host": "h", "resources": {"a": "\u0000"}}),
        ),
        Case("isnull=maybe filter", "GET", "/api/v1/products/?label.apa__isnull=maybe", "operator"),
        Case("lookup in a label filter", "GET", "/api/v1/metrics/?label.apa__gt=1", "operator"),
        Case("NUL in a label filter", "GET", "/api/v1/metrics/?label.apa=%00", "operator"),
        Case(
            "path traversal in a template name",
            "GET",
            "/api/v1/dags/..%2F..%2Fetc%2Fpasswd/",
            "operator",
        ),
        Case("path traversal in a job id", "GET", "/api/v1/jobs/..%2F1/", "operator"),
        Case("unknown API path", "GET", "/api/v1/nowhere/", "operator"),
        Case("unknown API path without auth", "GET", "/api/v1/nowhere/", None),
        Case(
            "bad Host header", "GET", "/api/v1/jobs/", "operator", headers={"Host": "evil.example"}
        ),
        Case(
            "wrong content type for a report",
            "POST",
            "/api/v1/jobs/1/report/",
            "pilot",
            body="state=running",
            content_type="text/csv",
        ),
        Case(
            "XML to files",
            "POST",
            "/api/v1/files/",
            "daq",
            body="<file/>",
            content_type="application/xml",
        ),
        Case("not UTF-8 JSON", "POST", "/api/v1/files/", "daq", body=b'{"url": "\xff\xfe"}'),
        Case("JSON to the upload endpoint", "POST", "/api/v1/jobs/1/products/", "pilot", body="{}"),
        Case(
            "a huge string as a choice",
            "POST",
            "/api/v1/jobs/1/report/",
            "pilot",
            body=json.dumps({"state": "x" * 200_000}),
        ),
        Case(
            "a huge template name",
            "POST",
            "/api/v1/dags/",
            body=json.dumps(
                {
                    "name": "n" * 100_000,
                    "trigger": {"stream": "diag"},
                    "stages": {"a": {"payload": "diag"}},
                }
            ),
        ),
        Case(
            "1000 stages",
            "POST",
            "/api/v1/dags/",
            body=dag_yaml(name="wide", stages=MANY_STAGES),
            content_type="application/yaml",
        ),
        # A Content-Length that is not a number never reaches p3s: gunicorn answers it (400).
        Case(
            "Content-Length over the limit, no body sent",
            "POST",
            "/api/v1/files/",
            "daq",
            body="",
            headers={"Content-Length": "999999999"},
        ),
        Case(
            "body over the limit",
            "POST",
            "/api/v1/files/",
            "daq",
            body="[" + "0," * 3_000_000 + "0]",
            slow=True,
        ),
        Case(
            "template over the limit",
            "POST",
            "/api/v1/dags/",
            body="#" * 400_000,
            content_type="application/yaml",
            slow=True,
        ),
        Case(
            "oversized multipart",
            "POST",
            "/api/v1/jobs/1/products/",
            "pilot",
            files={"file": ("x.png", b"\x89PNG\r\n\x1a\n" + b"0" * (21 * 1024 * 1024))},
            data={"kind": "png", "title": "t"},
            body=None,
            content_type="",
            slow=True,
        ),
    ]
    return out


def send(server, case: Case) -> requests.Response:
    headers = dict(server.headers(case.role)) if case.role else {}
    if case.content_type:
        headers["Content-Type"] = case.content_type
    headers.update(case.headers)
    body = case.body.encode("utf-8", "surrogatepass") if isinstance(case.body, str) else case.body
    if "Content-Length" in case.headers:  # a raw request: requests would fix the header
        import http.client

        conn = http.client.HTTPConnection(server.url.split("//")[1], timeout=30)
        conn.putrequest(case.method, case.path)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders(body or b"")
        raw = conn.getresponse()
        response = requests.Response()
        response.status_code = raw.status
        response.headers.update(dict(raw.getheaders()))
        response._content = raw.read()
        conn.close()
        return response
    return requests.request(
        case.method,
        server.url + case.path,
        headers=headers,
        data=body if case.files is None else case.data,
        files=case.files,
        timeout=60,
    )


def snapshot(server) -> tuple:
    """What a reject must not change: templates, files, pilots, products, metrics."""
    dags = server.get("/api/v1/dags/").json()
    counts = tuple(
        server.get(p).json().get("count")
        for p in ("/api/v1/files/", "/api/v1/pilots/", "/api/v1/products/", "/api/v1/metrics/")
    )
    return tuple(sorted((d["name"], d["version"]) for d in dags)), counts


def run_table(server, slow: bool) -> list[str]:
    pilot = server.post("/api/v1/pilots/", role="pilot", json={"host": "hostile"}).json()
    server.tokens_key = pilot["key"]
    body = {
        "url": "file:///hostile/f.dat",
        "stream": "diag",
        "run": 1,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    server.post("/api/v1/files/", role="daq", json=body).raise_for_status()
    before = snapshot(server)
    problems = []
    tried = 0
    for case in cases():
        if case.slow and not slow:
            continue
        tried += 1
        if case.role == "pilot":
            case.headers = {"X-P3S-Pilot-Key": pilot["key"], **case.headers}
        try:
            r = send(server, case)
        except requests.RequestException as exc:
            problems.append(f"{case.name}: no answer ({exc})")
            continue
        if r.status_code >= 500:
            problems.append(f"{case.name}: HTTP {r.status_code}")
            continue
        if r.status_code < 400:
            problems.append(f"{case.name}: accepted with HTTP {r.status_code}")
            continue
        if not r.headers.get("Content-Type", "").startswith("application/json"):
            problems.append(f"{case.name}: HTTP {r.status_code} is not JSON")
            continue
        if len(r.content) > 4000:
            problems.append(f"{case.name}: a {len(r.content)}-byte error body (echoes input?)")
    after = snapshot(server)
    if after != before:
        problems.append(f"a rejected request changed data: {before} -> {after}")
    print(f"hostile cases tried: {tried}; problems: {len(problems)}")
    return problems


def test_hostile_requests_get_a_short_json_4xx_and_change_nothing(live_p3s):
    problems = run_table(live_p3s, slow=False)
    assert not problems, "\n".join(problems)
    log = (live_p3s.workdir / "gunicorn.log").read_text(errors="replace")
    assert "Internal Server Error" not in log, log[-4000:]


@pytest.mark.slow
def test_hostile_requests_with_big_bodies_are_refused_by_size(live_p3s):
    problems = run_table(live_p3s, slow=True)
    assert not problems, "\n".join(problems)
