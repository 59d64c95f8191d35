"""A server that answers the same 500 every time is not unreachable: the pilot stops retrying
after a few tries instead of waiting out its give-up time; 503 (no database) and silence are
retried until then, and a 4xx is never retried."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pilot.errors import ClientError, ServerFault, Unreachable
from pilot.transport import HttpTransport, Retrying


class Answers(BaseHTTPRequestHandler):
    status = 500
    calls = 0

    def do_POST(self):  # noqa: N802 - http.server's name
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"detail": "boom: a bug on the server"}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    def make(status: int) -> tuple[str, type[Answers]]:
        handler = type("H", (Answers,), {"status": status, "calls": 0})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}", handler

    servers: list[ThreadingHTTPServer] = []
    yield make
    for httpd in servers:
        httpd.shutdown()


def retrying(url: str, give_up: float) -> Retrying:
    return Retrying(HttpTransport(url, "t"), give_up=give_up, backoff_base=0.05, backoff_cap=0.1)


def test_the_same_500_three_times_is_a_server_fault_long_before_the_give_up_time(server):
    url, handler = server(500)
    started = time.monotonic()
    with pytest.raises(ServerFault) as fault:
        retrying(url, give_up=600).report(7, {"state": "finished"})
    assert time.monotonic() - started < 10
    assert handler.calls == 3
    assert fault.value.status == 500 and "boom" in str(fault.value)
    assert isinstance(fault.value, ClientError)  # the spool skips it like a refusal


def test_a_503_is_retried_until_the_give_up_time(server):
    url, handler = server(503)
    with pytest.raises(Unreachable):
        retrying(url, give_up=1.0).report(7, {"state": "finished"})
    assert handler.calls > 3


def test_a_4xx_is_not_retried(server):
    url, handler = server(400)
    with pytest.raises(ClientError):
        retrying(url, give_up=600).report(7, {"state": "finished"})
    assert handler.calls == 1


def test_no_answer_at_all_is_unreachable_until_the_give_up_time():
    started = time.monotonic()
    with pytest.raises(Unreachable) as silence:
        retrying("http://127.0.0.1:9", give_up=1.0).report(7, {"state": "finished"})
    assert not silence.value.answered
    assert time.monotonic() - started >= 1.0
