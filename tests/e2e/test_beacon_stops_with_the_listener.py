"""A gunicorn worker told to stop (SIGTERM, a restart) stops taking requests at once but
lives on up to graceful_timeout while its long-poll claims finish. Its server beacon
(p3s.pilots.beacon) must stop with the listening, not with the process: beating on said
'up' while no pilot could get in, and the sweeper declared busy pilots lost (found by
scripts/chaos.py: three pilots told to exit after a SIGTERM restart)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests

pytestmark = [pytest.mark.e2e]


def test_the_beacon_stops_when_a_draining_worker_stops_listening(live_p3s):
    r = live_p3s.post("/api/v1/pilots/", "pilot", json={"host": "wn-beacon"})
    assert r.status_code == 201, r.text
    pilot, key = r.json()["id"], r.json()["key"]
    headers = {**live_p3s.headers("pilot"), "X-P3S-Pilot-Key": key}

    def long_poll() -> None:  # nothing to claim: the server holds it for its whole wait
        try:
            requests.post(
                f"{live_p3s.url}/api/v1/pilots/{pilot}/claim/",
                json={"wait": 8}, headers=headers, timeout=30,
            )  # fmt: skip
        except requests.RequestException:
            pass

    poll = threading.Thread(target=long_poll, daemon=True)
    poll.start()
    time.sleep(1.5)  # the claim is in flight, beacons beat every 0.5 s
    t_term = time.time()
    os.killpg(live_p3s.server_proc.pid, signal.SIGTERM)
    live_p3s.server_proc.wait(30)
    drained = time.time() - t_term
    poll.join(30)
    out = live_p3s.manage(
        "shell", "-c",
        "from p3s.pilots.models import ServerBeacon;"
        " print(ServerBeacon.objects.get(pk=1).alive_at.timestamp())",
    ).stdout  # fmt: skip
    alive_at = float(out.strip().splitlines()[-1])
    assert drained >= 3.0, f"the worker did not drain (exit after {drained:.1f} s): no test"
    # One period (0.5 s) and a beat in flight at most; it used to beat until the exit.
    assert alive_at <= t_term + 1.0, (alive_at - t_term, drained)
