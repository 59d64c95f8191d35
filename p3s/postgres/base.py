"""The PostgreSQL back end of p3s: Django's, with its connection health check made cheap.

With ``CONN_HEALTH_CHECKS`` Django runs ``SELECT 1`` before the first query of every
request: on the pilots' hot path (a heartbeat is one statement) that was a second round
trip per request. Here a persistent connection is checked by a round trip at most once
every ``P3S_CONN_CHECK_SECONDS`` (default 10 s; 0: before every request, as Django does).
In between, the first query of a request is preceded by a zero-timeout poll of the
connection's socket (a system call, no round trip): an idle connection to which the server
has sent something was cut (a terminated backend, a restarting database: PostgreSQL sends
its FATAL message and closes the socket), so the full check runs and the connection is
replaced before the request uses it. What the poll cannot see (a cut at the very moment
the request starts, a silent network loss) fails the one request that finds it: the API
answers 503 (pilots retry it; p3s.api.middleware) and Django closes a connection that had
errors at the end of that request, so the next one connects afresh.
"""

from __future__ import annotations

import select
import time

from django.conf import settings
from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    _checked_at = float("-inf")

    def _idle_socket_quiet(self) -> bool:
        """True when nothing waits to be read on the idle connection's socket."""
        try:
            readable, _, _ = select.select([self.connection.fileno()], [], [], 0)
        except (OSError, ValueError, AttributeError):  # closed, or no socket any more
            return False
        return not readable

    def close_if_health_check_failed(self):
        if self.connection is not None and self.health_check_enabled and not self.health_check_done:
            now = time.monotonic()
            recent = now - self._checked_at < settings.P3S["CONN_CHECK_SECONDS"]
            if recent and self._idle_socket_quiet():
                self.health_check_done = True
                return
            self._checked_at = now
        super().close_if_health_check_failed()

    def connect(self):
        super().connect()
        self._checked_at = time.monotonic()  # a new connection needs no check
