"""``manage.py p3s_bus consume|publish [--loop]``: the optional message bus (P3S_BUS_URL)."""

from __future__ import annotations

import os
import signal
import time

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Message bus: consume file-arrival messages, or publish p3s events (P3S_BUS_URL)."

    def add_arguments(self, parser):
        parser.add_argument("what", choices=["consume", "publish"])
        parser.add_argument("--loop", action="store_true", help="keep going until SIGTERM")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="seconds between idle passes"
        )

    def handle(self, what, loop, interval, **_):
        from p3s.bus import backends, consumer, publisher

        url = os.environ.get("P3S_BUS_URL", "").strip()
        if not url:
            raise CommandError(
                "the message bus is off: set P3S_BUS_URL (stomp://... or amqp://...)"
            )
        try:
            backend = backends.connect(url)
        except Exception as exc:  # noqa: BLE001 - say what failed, in one line
            raise CommandError(f"cannot connect to {url}: {exc}") from None
        stop = {"now": False}
        signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
        unit = (
            (lambda: consumer.consume_once(backend, wait=interval))
            if what == "consume"
            else (lambda: publisher.drain_once(backend))
        )
        try:
            while True:
                n = unit()
                if n:
                    self.stdout.write(f"{what}: {n}", ending="\n")
                    self.stdout.flush()
                if not loop or stop["now"]:
                    break
                if not n and what == "publish":
                    time.sleep(interval)
        finally:
            backend.close()
