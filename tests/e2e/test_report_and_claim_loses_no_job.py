"""Report-and-claim through real gunicorn and a proxy that loses answers after the server
committed: the pilot repeats the request and gets the very job the lost answer carried;
no job is left dispatched to a pilot that does not know it holds it."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from pilot.transport import HttpTransport, Retrying
from tests.e2e.lossy_proxy import LossyProxy

pytestmark = [pytest.mark.e2e]


def announce(live_p3s) -> None:
    body = {
        "url": f"file:///e2e/rc-{uuid.uuid4().hex[:6]}.dat",
        "stream": "diag",
        "run": 12,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    assert live_p3s.post("/api/v1/files/", role="daq", json=body).status_code == 201


def test_a_lost_report_and_claim_answer_loses_no_job(live_p3s):
    announce(live_p3s)
    direct = HttpTransport(live_p3s.url, live_p3s.tokens["pilot"])
    pilot = direct.register({"host": "lossy-rc", "queues": ["default"]})
    job = direct.claim(pilot["id"], 0, None)
    assert job is not None
    direct.report(job["id"], {"state": "running", "attempt": job["attempt"]})

    seen: Counter[str] = Counter()

    def lose_first_two(line: str) -> bool:  # the report-and-claim answer, twice
        seen[line] += 1
        return "/report/" in line and seen[line] <= 2

    port = int(live_p3s.url.rsplit(":", 1)[1])
    proxy = LossyProxy(port, lose_first_two)
    lossy = HttpTransport(proxy.url, live_p3s.tokens["pilot"])
    lossy.pilot_key = direct.pilot_key
    transport = Retrying(lossy, give_up=30, backoff_base=0.05, backoff_cap=0.2)
    body = {"state": "finished", "attempt": job["attempt"], "claim": {"time_left": None}}
    answer = transport.report(job["id"], body)
    proxy.close()
    assert len(proxy.dropped) == 2, proxy.dropped
    assert answer["state"] == "finished"
    nxt = answer["next"]
    assert nxt is not None and nxt["stage"] in ("b", "c")

    jobs = live_p3s.get(f"/api/v1/jobs/?dagrun={job['dagrun']}").json()["results"]
    held = [j["id"] for j in jobs if j["state"] == "dispatched"]
    assert held == [nxt["id"]]  # the job of the lost answers, once, to this pilot
    waiting = [j for j in jobs if j["state"] == "waiting"]
    assert len(waiting) == 1  # the other child is still there for anyone
    assert sorted(j["stage"] for j in jobs) == ["a", "b", "c"]
