"""The heartbeat: a background thread that tells the server the pilot is alive.

Each beat carries the current job and its elapsed time; the answer may carry a command
(``kill-job``, ``exit``) that is handed to the pilot, and a new interval. A beat that fails
is logged and simply retried at the next interval.

A beat has its own short time limit (:meth:`Heartbeat.timeout`: one interval, at least
``MIN_TIMEOUT`` and at most ``MAX_TIMEOUT`` seconds) to connect and to wait for each read of
the answer, so a server that accepts the connection and then never answers delays the next
beat by one interval at most, and the pilot's stop by no more than that.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from pilot.errors import TransportError
from pilot.transport import Transport

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.05
MAX_INTERVAL = 3600.0
MIN_TIMEOUT, MAX_TIMEOUT = 0.5, 10.0


class Heartbeat:
    """Beats every ``interval`` seconds until :meth:`stop`.

    Parameters
    ----------
    current : callable
        Returns ``(job_id or None, progress dict)`` at the time of the beat.
    on_command : callable
        Called as ``on_command(command, job_id)`` for every command other than ``continue``;
        ``job_id`` is the job the beat was about.
    """

    def __init__(
        self,
        transport: Transport,
        pilot_id: int,
        interval: float,
        current: Callable[[], tuple[int | None, dict[str, Any]]],
        on_command: Callable[[str, int | None], None],
    ) -> None:
        self.transport = transport
        self.pilot_id = pilot_id
        self.interval = self._clamp(interval)
        self.current = current
        self.on_command = on_command
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    @staticmethod
    def _clamp(value: Any, default: float = 60.0) -> float:
        try:
            interval = float(value)
        except (TypeError, ValueError):
            return default
        return min(MAX_INTERVAL, max(MIN_INTERVAL, interval))

    @property
    def timeout(self) -> float:
        """Seconds one beat may wait to connect, and for each read of its answer."""
        return min(MAX_TIMEOUT, max(MIN_TIMEOUT, self.interval))

    def beat(self) -> str:
        """Send one heartbeat and act on its answer; returns the command ("" on failure)."""
        job_id, progress = self.current()
        try:
            answer = self.transport.heartbeat(self.pilot_id, job_id, progress, self.timeout)
        except TransportError as exc:
            log.warning("heartbeat failed, next try in %.1f s: %s", self.interval, exc)
            return ""
        if "heartbeat_interval" in answer:
            self.interval = self._clamp(answer["heartbeat_interval"], self.interval)
        command = str(answer.get("command") or "continue")
        if command != "continue":
            log.info("heartbeat: server says %s (job %s)", command, job_id)
            self.on_command(command, job_id)
        return command

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception:  # the thread must outlive any surprise
                log.exception("heartbeat crashed; continuing")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():  # a beat in flight ends within its own time limit
            self._thread.join(timeout=self.timeout + 1.0)
