"""The PostgreSQL back end of p3s: Django's, with its connection health check rate-limited.

With ``CONN_HEALTH_CHECKS`` Django runs ``SELECT 1`` before the first query of every
request: on the pilots' hot path (a heartbeat is one statement) that was a second round
trip per request. Here a persistent connection is checked at most once every
``P3S_CONN_CHECK_SECONDS`` (default 10 s; 0: before every request, as Django does). A
connection cut in between (a database restart) fails the one request that finds it: the
API answers 503 (pilots retry it; p3s.api.middleware) and Django closes a connection that
had errors at the end of that request, so the next one connects afresh.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    _checked_at = float("-inf")

    def close_if_health_check_failed(self):
        if self.connection is not None and self.health_check_enabled and not self.health_check_done:
            now = time.monotonic()
            if now - self._checked_at < settings.P3S["CONN_CHECK_SECONDS"]:
                self.health_check_done = True
                return
            self._checked_at = now
        super().close_if_health_check_failed()

    def connect(self):
        super().connect()
        self._checked_at = time.monotonic()  # a new connection needs no check
