"""The newcomer's API docs (issue 14): the OpenAPI schema validates, every operation is
described with its request and response, pilot calls name the key header, /api/docs/ works
offline (no CDN), DAG endpoints answer ?format=yaml."""

import re

import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db
PILOT_OPS = {
    ("post", "/api/v1/pilots/{id}/heartbeat/"),
    ("post", "/api/v1/pilots/{id}/claim/"),
    ("post", "/api/v1/pilots/{id}/exit/"),
    ("post", "/api/v1/jobs/{id}/report/"),
    ("post", "/api/v1/jobs/{id}/products/"),
    ("post", "/api/v1/jobs/{id}/metrics/"),
}
NO_BODY = {"ack", "cancel", "retry"}  # actions that take no body by design


def test_the_schema_validates_and_every_operation_is_described(operator):
    schema = operator.get("/api/schema/?format=json").json()
    validate(schema)
    ops = [
        (m, p, op)
        for p, item in schema["paths"].items()
        for m, op in item.items()
        if m in ("get", "post", "put", "patch", "delete")
    ]
    assert len(ops) >= 40
    problems = []
    for method, path, op in ops:
        if not (op.get("summary") or op.get("description")):
            problems.append(f"{method} {path}: no description")
        ok = {c: r for c, r in op["responses"].items() if c.startswith("2")}
        if not ok:
            problems.append(f"{method} {path}: no success response")
        for code, resp in ok.items():
            if code != "204" and "content" not in resp:
                problems.append(f"{method} {path}: {code} has no schema")
        last = path.rstrip("/").rsplit("/", 1)[-1]
        if method in ("post", "put") and "requestBody" not in op and last not in NO_BODY:
            problems.append(f"{method} {path}: no request body")
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        if (method, path) in PILOT_OPS and "X-P3S-Pilot-Key" not in headers:
            problems.append(f"{method} {path}: the pilot key header is not documented")
    assert problems == []


def test_the_api_docs_need_no_network(operator, client):
    html = operator.get("/api/docs/").content.decode()
    external = re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html)
    assert external == []
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)""", html)
    assert any("swagger-ui" in a for a in assets), html[:2000]
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_dag_endpoints_answer_yaml_as_saved(expert):
    text = "# kept\nname: yml\ntrigger: {stream: diag}\nstages:\n  a: {payload: diag}\n"
    assert expert.post("/api/v1/dags/", text, content_type="application/yaml").status_code == 201
    one = expert.get("/api/v1/dags/yml/?format=yaml")
    assert one.status_code == 200 and one["Content-Type"].startswith("application/yaml")
    assert one.content.decode() == text
    many = expert.get("/api/v1/dags/?format=yaml")
    assert many.status_code == 200 and "---\n" + text in many.content.decode()
    assert expert.get("/api/v1/dags/nope/?format=yaml").status_code == 404


def test_yaml_answers_carry_drf_types_errors_included():
    """``?format=yaml`` renders what DRF hands a renderer: an error answer's ErrorDetail and a
    serializer's ReturnDict (schemathesis found 500s on every DAG endpoint's error answers)."""
    import yaml
    from rest_framework.exceptions import ErrorDetail
    from rest_framework.utils.serializer_helpers import ReturnDict

    from p3s.api.renderers import YAMLRenderer

    data = {
        "detail": ErrorDetail("bad request", code="invalid"),
        "stages": ReturnDict({"only": [ErrorDetail("unknown payload", code="x")]}, serializer=None),
    }
    assert yaml.safe_load(YAMLRenderer().render(data)) == {
        "detail": "bad request",
        "stages": {"only": ["unknown payload"]},
    }
