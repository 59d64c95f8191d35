"""manage.py p3s_sweep [--loop]: timeouts, lost pilots, retries, prompt-policy drops.

With ``--loop`` it survives its database: a pass that fails with a database error (the
server restarted, the connection was cut) is logged, the connection closed, and the next
pass tried after a bounded exponential back-off. Each completed pass is recorded
(:func:`p3s.jobs.sweep.record_beat`) so ``/healthz?deep=1`` can tell when it is late.
"""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, InterfaceError, close_old_connections, connections

from p3s.jobs.sweep import record_beat, sweep_once

log = logging.getLogger("p3s.sweep")
DB_ERRORS = (DatabaseError, InterfaceError)  # OperationalError is a DatabaseError
BACKOFF_CAP = 30.0


def _close_all() -> None:
    """Drop every connection: a broken one must not be reused by the next pass."""
    for conn in connections.all(initialized_only=True):
        try:
            conn.close()
        except DB_ERRORS:
            pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else 'no message'}"


class Command(BaseCommand):
    help = "Run the sweeper once, or forever with --loop (SIGTERM/SIGINT stop it cleanly)."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="repeat until SIGTERM")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="seconds between sweeps (default: P3S_SWEEP_INTERVAL, now "
            f"{settings.P3S['SWEEP_INTERVAL']:g} s)",
        )

    def handle(self, *args, **opts):
        interval = opts["interval"] or settings.P3S["SWEEP_INTERVAL"]
        if not opts["loop"]:
            result = sweep_once()
            record_beat()
            self._print(result)
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"sweeper: every {interval:g} s until SIGTERM")
        self.stdout.flush()
        failures, last_error = 0, ""
        while not stop.is_set():
            try:
                close_old_connections()
                result = sweep_once()
                record_beat(failures, last_error)
            except DB_ERRORS as exc:
                failures += 1
                last_error = _first_line(exc)
                delay = min(BACKOFF_CAP, interval * 2 ** min(failures - 1, 10))
                log.error(
                    "sweep failed on a database error (%d in a row), retrying in %.1f s: %s",
                    failures,
                    delay,
                    last_error,
                )
                _close_all()
                stop.wait(delay)
                continue
            if failures:
                log.warning("sweeper: database back after %d failed pass(es)", failures)
                failures, last_error = 0, ""
            if result.total:
                self._print(result)
            stop.wait(0 if result.total else interval)
        self.stdout.write("sweeper: stopped")

    def _print(self, result) -> None:
        self.stdout.write("sweep: " + ", ".join(f"{k}={v}" for k, v in result.counts.items()))
        self.stdout.flush()
