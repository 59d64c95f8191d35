"""The heartbeat's own time limit, against a real socket server that accepts every
connection and never answers (a hung server or a half-dead proxy)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from pilot.errors import Unreachable
from pilot.heartbeat import Heartbeat
from pilot.transport import HttpTransport, Retrying


class Staller:
    """Listens on 127.0.0.1, accepts, reads the request and then says nothing, ever."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[float] = []
        self._held: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(time.monotonic())
            conn.recv(65536)
            self._held.append(conn)  # kept open, never answered

    def close(self) -> None:
        self._closed = True
        self.sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def staller():
    s = Staller()
    yield s
    s.close()


def test_a_beat_to_a_server_that_never_answers_gives_up_within_its_own_limit(staller):
    http = HttpTransport(staller.url, "tok", connect_timeout=10.0, read_timeout=30.0)
    t0 = time.monotonic()
    with pytest.raises(Unreachable):
        Retrying(http).heartbeat(1, None, {}, timeout=0.5)
    took = time.monotonic() - t0
    assert 0.4 <= took < 3.0, took  # not the 30 s every other call may wait
    assert len(staller.accepted) == 1


def test_heartbeats_go_on_and_the_pilot_stops_promptly_while_the_server_stalls(staller):
    http = HttpTransport(staller.url, "tok", connect_timeout=10.0, read_timeout=30.0)
    commands: list[str] = []
    beat = Heartbeat(Retrying(http), 7, 0.5, lambda: (None, {}), lambda c, j: commands.append(c))
    assert beat.timeout == 0.5
    beat.start()
    time.sleep(4.0)
    t0 = time.monotonic()
    beat.stop()
    stopped_in = time.monotonic() - t0
    # One beat every interval + at most one limit: with a 30 s wait there would be one.
    assert len(staller.accepted) >= 3, staller.accepted
    assert stopped_in < 2.0, stopped_in
    assert not beat._thread.is_alive()
    assert commands == []


def test_the_beat_limit_follows_the_interval_within_bounds():
    def limit(interval: float) -> float:
        return Heartbeat(None, 1, interval, lambda: (None, {}), lambda c, j: None).timeout  # type: ignore[arg-type]

    assert limit(2.0) == 2.0
    assert limit(0.05) == 0.5
    assert limit(60.0) == 10.0
