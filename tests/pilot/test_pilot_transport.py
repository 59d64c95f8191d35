"""The HTTP transport against a real (fake) HTTP server: calls, errors and retries."""

from __future__ import annotations

import socket
import time

import pytest
from pilot_httpfake import HttpFake

from pilot.errors import ClientError, Conflict, Forbidden, NotFound, Unreachable
from pilot.fake import FakeServer
from pilot.transport import Backoff, HttpTransport, Retrying


@pytest.fixture
def http():
    with HttpFake(FakeServer(heartbeat_interval=0.1)) as server:
        yield server


def fast_retrying(inner, give_up=5.0):
    return Retrying(inner, give_up=give_up, backoff_base=0.02, backoff_cap=0.1)


def test_every_call_carries_the_token_and_round_trips_through_http(http, tmp_path):
    t = HttpTransport(http.url, "pilot-token")
    pilot_id = t.register({"host": "h", "queues": ["default"]})["id"]
    job_id = http.fake.add_job("diag", ["--seconds", "1"])

    job = t.claim(pilot_id, 1.0, 120.0)
    assert job["id"] == job_id and job["args"] == ["--seconds", "1"]
    assert t.heartbeat(pilot_id, job_id, {"elapsed": 1.0})["command"] == "continue"
    assert t.report(job_id, {"state": "running"})["state"] == "running"
    product = tmp_path / "p.png"
    product.write_bytes(b"\x89PNG...")
    t.upload_product(job_id, product, "png", "A plot", {"apa": "2"})
    t.post_metrics(job_id, [{"name": "rms", "value": 1.0, "labels": {}}])
    t.report(job_id, {"state": "finished", "outputs": [], "metrics": [], "log_tail": ""})
    t.exit(pilot_id, "done", True)

    assert all(h["Authorization"] == "Token pilot-token" for _, h in http.requests)
    (upload,) = http.fake.calls.products
    assert (upload["name"], upload["kind"], upload["title"]) == ("p.png", "png", "A plot")
    assert upload["labels"] == {"apa": "2"} and upload["content"] == b"\x89PNG..."
    assert http.fake.calls.metrics == [(job_id, [{"name": "rms", "value": 1.0, "labels": {}}])]
    assert http.fake.calls.exits == [{"pilot": pilot_id, "reason": "done", "ok": True}]
    assert http.fake.states()[job_id] == "finished"


def test_claim_with_nothing_to_do_is_none_after_the_long_poll(http):
    t = HttpTransport(http.url, "pilot-token", read_timeout=0.5)
    pilot_id = t.register({})["id"]
    start = time.monotonic()

    assert t.claim(pilot_id, 1.0, None) is None

    # the server held the request longer than read_timeout: the claim waits for it
    assert time.monotonic() - start >= 0.9


def test_error_statuses_become_the_matching_exceptions_with_the_server_detail(http):
    t = HttpTransport(http.url, "pilot-token")
    for status, error in [(409, Conflict), (403, Forbidden), (404, NotFound), (400, ClientError)]:
        http.fail_next = [status]
        with pytest.raises(error, match="injected failure"):
            t.report(1, {"state": "running"})
    http.fail_next = [503]
    with pytest.raises(Unreachable):
        t.report(1, {"state": "running"})
    with pytest.raises(Forbidden, match="Invalid token"):
        HttpTransport(http.url, "wrong").register({})


def test_5xx_answers_are_retried_with_backoff_until_the_call_succeeds(http):
    http.fail_next = [503, 502, 500]
    t = fast_retrying(HttpTransport(http.url, "pilot-token"))

    assert t.register({})["id"] == 1

    assert len(http.requests) == 4


def test_4xx_answers_are_never_retried(http):
    http.fail_next = [400, 400, 400]
    t = fast_retrying(HttpTransport(http.url, "pilot-token"))

    with pytest.raises(ClientError):
        t.register({})

    assert len(http.requests) == 1


def test_retries_give_up_after_the_total_time_when_nobody_listens():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    t = fast_retrying(HttpTransport(f"http://127.0.0.1:{port}", "x", connect_timeout=0.5), 0.5)
    start = time.monotonic()

    with pytest.raises(Unreachable, match="no answer"):
        t.register({})

    assert 0.4 <= time.monotonic() - start < 3


def test_retrying_stops_waiting_when_the_pilot_is_stopping():
    class Down:
        def register(self, info):
            raise Unreachable("down")

    retrying = Retrying(Down(), give_up=60, backoff_base=5, backoff_cap=5)  # type: ignore[arg-type]
    retrying.cancel.set()
    start = time.monotonic()

    with pytest.raises(Unreachable, match="stopping"):
        retrying.register({})

    assert time.monotonic() - start < 1


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap():
    backoff = Backoff(base=1.0, cap=8.0)
    delays = [backoff.next_delay() for _ in range(6)]

    for n, delay in enumerate(delays):
        bound = min(8.0, 2**n)
        assert bound / 2 <= delay <= bound
