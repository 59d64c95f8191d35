"""A persistent PostgreSQL connection is health-checked at most once every
P3S_CONN_CHECK_SECONDS (p3s.postgres), not before every request; 0 checks every time."""

from __future__ import annotations

import pytest
from django.db import connections

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def checks(connection, requests: int) -> int:
    """How many health checks ``requests`` requests' first queries make."""
    calls = []
    usable = connection.is_usable
    connection.is_usable = lambda: calls.append(1) or usable()
    enabled, connection.health_check_enabled = connection.health_check_enabled, True
    try:
        for _ in range(requests):
            connection.health_check_done = False  # what the start of a request does
            connection.close_if_health_check_failed()
    finally:
        del connection.is_usable
        connection.health_check_enabled = enabled
    return len(calls)


def test_a_busy_connection_is_checked_once_per_interval(settings):
    settings.P3S = {**settings.P3S, "CONN_CHECK_SECONDS": 60.0}
    connection = connections["default"]
    connection.ensure_connection()
    connection._checked_at = float("-inf")  # last checked long ago
    assert checks(connection, 5) == 1
    assert connection.connection is not None  # it answered: kept


def test_zero_checks_before_every_request_as_django_does(settings):
    settings.P3S = {**settings.P3S, "CONN_CHECK_SECONDS": 0.0}
    connection = connections["default"]
    connection.ensure_connection()
    assert checks(connection, 3) == 3


@pytest.mark.django_db(transaction=True)
def test_a_cut_connection_is_replaced_before_the_request_uses_it(settings):
    """Within the interval, a backend the server terminated is seen by the socket poll: the
    full check runs and the request gets a fresh connection instead of a 503."""
    import time

    import psycopg2

    settings.P3S = {**settings.P3S, "CONN_CHECK_SECONDS": 3600.0}
    connection = connections["default"]
    connection.ensure_connection()
    pid = connection.connection.get_backend_pid()
    params = connection.get_connection_params()
    killer = psycopg2.connect(**params)
    killer.autocommit = True
    with killer.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", [pid])
    killer.close()
    time.sleep(0.3)  # the FATAL message and the close reach the socket
    assert checks(connection, 1) == 1
    with connection.cursor() as cur:  # the request's first query
        cur.execute("SELECT pg_backend_pid()")
        assert cur.fetchone()[0] != pid
