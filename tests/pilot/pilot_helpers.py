"""Small helpers shared by the pilot tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (absent, or a zombie waiting for its reaper)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, step: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something true; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


def read_pid(path: Path) -> int:
    return int(wait_for(lambda: path.exists() and path.read_text().strip()))


def run_one(pilot: Any) -> str:
    """Register if needed, claim one job, run it and deliver what it owes; its end state."""
    if pilot.pilot_id is None:
        pilot.register()
    job = pilot.claim_one()
    assert job is not None, "the fake server had no job to give"
    state = pilot.run_job(job)
    pilot.flush_spool()
    return str(state)
