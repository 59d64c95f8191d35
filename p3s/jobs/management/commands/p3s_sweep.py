"""manage.py p3s_sweep [--loop]: timeouts, lost pilots, retries, prompt-policy drops."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from p3s.jobs.sweep import sweep_once


class Command(BaseCommand):
    help = "Run the sweeper once, or forever with --loop (SIGTERM/SIGINT stop it cleanly)."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="repeat until SIGTERM")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="seconds between sweeps (default P3S_SWEEP_INTERVAL)",
        )

    def handle(self, *args, **opts):
        interval = opts["interval"] or settings.P3S["SWEEP_INTERVAL"]
        stop = threading.Event()
        if opts["loop"]:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            self.stdout.write(f"sweeper: every {interval:g} s until SIGTERM")
            self.stdout.flush()
        while True:
            close_old_connections()
            result = sweep_once()
            if result.total or not opts["loop"]:
                self.stdout.write(
                    "sweep: " + ", ".join(f"{k}={v}" for k, v in result.counts.items())
                )
            if not opts["loop"] or stop.wait(0 if result.total else interval):
                break
        self.stdout.write("sweeper: stopped")
