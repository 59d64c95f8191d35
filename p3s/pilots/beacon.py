"""The server beacon: API workers write 'alive now' every few seconds; a gap restarts
'up since'. The sweeper reads it so that a server outage does not make every pilot lost."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from p3s.pilots.models import ServerBeacon

log = logging.getLogger(__name__)


def period() -> float:
    return min(settings.P3S["HEARTBEAT_INTERVAL"] / 2, 5.0)


def beat(now: datetime | None = None) -> ServerBeacon:
    """Record that the server is up; an outage longer than two periods restarts up_since."""
    now = now or timezone.now()
    gap = timedelta(seconds=2 * period())
    with transaction.atomic():
        beacon = ServerBeacon.objects.select_for_update().filter(pk=1).first()
        if beacon is None:
            return ServerBeacon.objects.create(pk=1, alive_at=now, up_since=now)
        if now - beacon.alive_at > gap:
            silent = (now - beacon.alive_at).total_seconds()
            # Pilots' requests sent while it was silent wait in the backlog (or hang until
            # their read timeout): their grace starts as much later as the silence lasted,
            # at most OUTAGE_GRACE. Found by scripts/chaos.py: a 35 s restart under load
            # made the whole fleet lost while their heartbeats sat in the backlog.
            extra = min(silent, settings.P3S["OUTAGE_GRACE"])
            log.warning(
                "server was silent for %.0f s: pilots get their grace again, %.0f s later",
                silent,
                extra,
            )
            beacon.up_since = now + timedelta(seconds=extra)
        beacon.alive_at = max(beacon.alive_at, now)
        beacon.save()
        return beacon


def listening_since(now: datetime) -> datetime | None:
    """Since when the server has been continuously able to hear pilots (None: it is not now);
    after an outage, that moment plus the outage's grace (see :func:`beat`).

    Without a beacon (no API server ever ran, as in unit tests) the answer is 'forever'.
    """
    beacon = ServerBeacon.objects.filter(pk=1).first()
    if beacon is None:
        return datetime.min.replace(tzinfo=now.tzinfo)
    if now - beacon.alive_at > timedelta(seconds=2 * period()):
        return None
    return beacon.up_since


def start_thread(listening: Callable[[], bool] = lambda: True) -> threading.Thread:
    """Beat in the background (gunicorn's post_worker_init starts one per worker) while
    ``listening()`` says the worker still takes requests.

    A worker told to stop (SIGTERM: a restart) stops accepting at once but lives on up to
    gunicorn's graceful_timeout to finish its requests (long-poll claims hold it that long).
    Beating on meanwhile said 'up' while no pilot could get in: found by scripts/chaos.py,
    whose SIGTERM restart had the sweeper declare three busy pilots lost."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(period()) and listening():
            try:
                close_old_connections()
                beat()
            except Exception as exc:  # the database may be down: try again next period
                log.warning("beacon: %s", exc)

    try:
        beat()
    except Exception as exc:
        log.warning("beacon: %s", exc)
    thread = threading.Thread(target=loop, name="p3s-beacon", daemon=True)
    thread.start()
    return thread
