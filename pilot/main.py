"""``p3s-pilot``: the command that batch systems run on worker nodes."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType

from pilot.config import make_config
from pilot.errors import ConfigError
from pilot.loop import EXIT_CONFIG, Pilot
from pilot.transport import HttpTransport, Retrying

log = logging.getLogger("pilot")


def setup_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s p3s-pilot[%(process)d] %(levelname)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def install_signal_handlers(pilot: Pilot) -> None:
    """SIGTERM, SIGINT, SIGHUP, SIGUSR1 (HTCondor's soft kill may be any) stop the pilot."""

    def handler(signum: int, frame: FrameType | None) -> None:
        pilot.request_stop(f"received {signal.Signals(signum).name}")

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    setup_logging("-v" in words or "--verbose" in words)
    try:
        config, hints, _ = make_config(argv, os.environ)
    except ConfigError as exc:
        log.error("%s", exc)
        return EXIT_CONFIG
    stopping = threading.Event()
    http = HttpTransport(config.server, config.token, config.connect_timeout, config.read_timeout)
    transport = Retrying(
        http,
        give_up=config.give_up,
        backoff_base=config.backoff_base,
        backoff_cap=config.backoff_cap,
        cancel=stopping,
    )
    pilot = Pilot(config, transport, hints=hints, stopping=stopping)
    install_signal_handlers(pilot)
    log.info(
        "p3s pilot starting: server %s, queues %s, %s job %s, work dir %s",
        config.server,
        ",".join(config.queues),
        config.batch_system,
        config.batch_id,
        config.workdir,
    )
    return pilot.run()


if __name__ == "__main__":
    sys.exit(main())
