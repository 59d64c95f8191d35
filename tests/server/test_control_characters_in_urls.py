"""A NUL or control character in an API path or query parameter is a 400 JSON answer.

PostgreSQL refuses NUL in any text parameter, so such a value must never reach a query:
schemathesis found ``GET /api/v1/references/{template}/?stream=<...NUL...>`` answering 500.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/references/tpc-dqm/?stream=tp%00c",
        "/api/v1/references/tpc-dqm/?stream=%1Btpc",
        "/api/v1/conditions/bands/?run=1&x%00=1",
        "/api/v1/references/tpc%00dqm/",
        "/api/v1/files/?stream=t%07pc",
    ],
)
def test_a_control_character_in_the_url_is_a_400_that_names_the_problem(operator, url):
    r = operator.get(url)
    assert r.status_code == 400
    assert "control character" in r.json()["detail"]


def test_ordinary_unicode_in_a_query_parameter_is_still_accepted(operator):
    r = operator.get("/api/v1/references/tpc-dqm/?stream=t%C3%A9st")
    assert r.status_code == 404 and "detail" in r.json()
