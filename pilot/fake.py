"""An in-memory p3s server speaking the :class:`~pilot.transport.Transport` interface.

It keeps just enough of the server's semantics for the pilot logic to be tested without
one: a queue of jobs, long-poll claims, job ownership, heartbeat commands, and a record of
every call. It is thread-safe (the pilot heartbeats from a thread) and can be told to be
unreachable for a while.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pilot.errors import ClientError, Conflict, Forbidden, NotFound, Unreachable

TERMINAL = {"finished", "failed", "timeout", "cancelled"}
REPORT_STATES = {"running", "finished", "failed", "timeout", "released"}
PRODUCT_KINDS = {"png", "bokeh", "json"}


@dataclass
class FakeJob:
    spec: dict[str, Any]
    state: str = "waiting"
    pilot: int | None = None

    @property
    def id(self) -> int:
        return int(self.spec["id"])


@dataclass
class Calls:
    """Everything the pilot sent, in order, per endpoint."""

    registrations: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    claims: list[dict[str, Any]] = field(default_factory=list)
    reports: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    releases: list[tuple[int, list[str]]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[tuple[int, list[dict[str, Any]]]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)  # content: the gzip bytes
    exits: list[dict[str, Any]] = field(default_factory=list)
    sequence: list[str] = field(default_factory=list)  # "claim", "report 3 running"...


class FakeServer:
    """In-memory stand-in for the p3s server.

    Parameters
    ----------
    heartbeat_interval : float
        Interval handed to pilots at registration and with every heartbeat answer.
    on_report : callable, optional
        Called as ``on_report(server, job_id, body)`` after a report is accepted; tests use
        it to act at a precise moment (cancel a job once it runs, stop the server...).
    """

    def __init__(
        self,
        heartbeat_interval: float = 0.2,
        on_report: Callable[[FakeServer, int, dict[str, Any]], None] | None = None,
    ) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.on_report = on_report
        self.calls = Calls()
        self.jobs: dict[int, FakeJob] = {}
        self.waiting: deque[int] = deque()
        self.commands: dict[int, deque[str]] = {}
        self.down_until = 0.0
        self.failures_while_down = 0
        self._ids = itertools.count(1)
        self._pilot_ids = itertools.count(1)
        self._cond = threading.Condition()

    # -- test controls ------------------------------------------------------------------

    def add_job(self, payload: str = "diag", args: list[str] | None = None, **spec: Any) -> int:
        """Queue a job; ``spec`` overrides any :class:`payloads.jobio.JobSpec` field."""
        with self._cond:
            job_id = next(self._ids)
            full = {
                "id": job_id,
                "stage": "diag",
                "payload": payload,
                "args": list(args or []),
                "file": {},
                "inputs": [],
                "parents": {},
                "output_dir": "",
                "event_fraction": 1.0,
                "timeout": 60.0,
                "attempt": 1,
                "dagrun": 1,
            }
            full.update(spec)
            full["id"] = job_id
            self.jobs[job_id] = FakeJob(full)
            self.waiting.append(job_id)
            self._cond.notify_all()
            return job_id

    def cancel(self, job_id: int) -> None:
        """Cancel a job as an operator would: its pilot gets ``kill-job`` on its next beat."""
        with self._cond:
            job = self.jobs[job_id]
            if job.id in self.waiting:
                self.waiting.remove(job.id)
            job.state = "cancelled"

    def command(self, pilot_id: int, command: str) -> None:
        """Answer the pilot's next heartbeat with ``command`` (``exit``, ``kill-job``...)."""
        with self._cond:
            self.commands.setdefault(pilot_id, deque()).append(command)

    def go_down(self, seconds: float) -> None:
        """Be unreachable for ``seconds``: every call raises :class:`Unreachable`."""
        self.down_until = time.monotonic() + seconds

    def states(self) -> dict[int, str]:
        return {job_id: job.state for job_id, job in self.jobs.items()}

    def reports_for(self, job_id: int) -> list[dict[str, Any]]:
        return [body for jid, body in self.calls.reports if jid == job_id]

    # -- the Transport interface ------------------------------------------------------

    def _check_up(self, what: str) -> None:
        if time.monotonic() < self.down_until:
            self.failures_while_down += 1
            raise Unreachable(f"{what}: fake server is down")

    def _owned(self, job_id: int, what: str) -> FakeJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"{what}: no job {job_id}")
        if job.pilot is None:
            raise Forbidden(f"{what}: job {job_id} is not yours")
        return job

    def register(self, info: dict[str, Any]) -> dict[str, Any]:
        self._check_up("register")
        with self._cond:
            self.calls.registrations.append(info)
            pilot_id = next(self._pilot_ids)
        return {"id": pilot_id, "heartbeat_interval": self.heartbeat_interval, "state": "idle"}

    def heartbeat(
        self,
        pilot_id: int,
        job_id: int | None,
        progress: dict[str, Any],
        timeout: float | None = None,
    ) -> dict[str, Any]:
        self._check_up("heartbeat")
        with self._cond:
            self.calls.heartbeats.append({"pilot": pilot_id, "job": job_id, "progress": progress})
            pending = self.commands.get(pilot_id)
            command = pending.popleft() if pending else "continue"
            if command == "continue" and job_id is not None:
                job = self.jobs.get(job_id)
                if job is not None and job.state == "cancelled":
                    command = "kill-job"
        return {"command": command, "heartbeat_interval": self.heartbeat_interval}

    def claim(self, pilot_id: int, wait: float, time_left: float | None) -> dict[str, Any] | None:
        self._check_up("claim")
        deadline = time.monotonic() + max(0.0, min(wait, 60.0))
        with self._cond:
            self.calls.claims.append({"pilot": pilot_id, "wait": wait, "time_left": time_left})
            self.calls.sequence.append("claim")
            while True:
                for job_id in list(self.waiting):
                    job = self.jobs[job_id]
                    timeout = float(job.spec.get("timeout") or 0)
                    if time_left is not None and timeout > time_left:
                        continue
                    self.waiting.remove(job_id)
                    job.state, job.pilot = "dispatched", pilot_id
                    return dict(job.spec)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def report(self, job_id: int, body: dict[str, Any]) -> dict[str, Any]:
        what = f"report for job {job_id}"
        self._check_up(what)
        with self._cond:
            job = self._owned(job_id, what)
            state = body.get("state")
            if state not in REPORT_STATES:
                raise Conflict(f"{what}: unknown state {state!r}")
            if job.state == "cancelled" or job.state == "waiting":
                raise Conflict(f"{what}: job {job_id} is {job.state}, no longer yours")
            self.calls.reports.append((job_id, body))
            self.calls.sequence.append(f"report {job_id} {state}")
            if job.state in TERMINAL:
                return {"id": job_id, "state": job.state}
            if state == "released":
                job.state, job.pilot = "waiting", None
                self.waiting.appendleft(job_id)
                self._cond.notify_all()
            else:
                job.state = state
        if self.on_report is not None:
            self.on_report(self, job_id, body)
        answer: dict[str, Any] = {"id": job_id, "state": job.state}
        if isinstance(body.get("claim"), dict) and state == "finished" and job.pilot is not None:
            claim = body["claim"]  # report-and-claim: the next job without a wait
            answer["next"] = self.claim(job.pilot, 0.0, claim.get("time_left"))
        return answer

    def release_outputs(
        self, job_id: int, outputs: list[str], attempt: int | None = None
    ) -> dict[str, Any]:
        what = f"release of the outputs of job {job_id}"
        self._check_up(what)
        with self._cond:
            job = self._owned(job_id, what)
            if job.state not in ("dispatched", "running"):
                return {"id": job_id, "state": job.state, "children": []}
            self.calls.releases.append((job_id, list(outputs)))
            self.calls.sequence.append(f"release {job_id}")
        return {"id": job_id, "state": job.state, "children": []}

    def upload_product(
        self,
        job_id: int,
        path: Path,
        kind: str,
        title: str,
        labels: dict[str, Any],
        key: str = "",
        attempt: int | None = None,
    ) -> None:
        what = f"product for job {job_id}"
        self._check_up(what)
        with self._cond:
            self._owned(job_id, what)
            if kind not in PRODUCT_KINDS:
                raise ClientError(f"{what}: kind {kind!r} is not one of {sorted(PRODUCT_KINDS)}")
            self.calls.products.append(
                {
                    "job": job_id,
                    "name": path.name,
                    "content": path.read_bytes(),
                    "kind": kind,
                    "title": title,
                    "labels": labels,
                    "key": key,
                    "attempt": attempt,
                }
            )

    def upload_products(
        self, job_id: int, items: list[dict[str, Any]], attempt: int | None = None
    ) -> None:
        from pilot import send

        for item in items:  # recorded as single uploads: the tests read calls.products
            send.send_upload(self, job_id, {**item, "op": "product", "attempt": attempt})

    def post_metrics(
        self,
        job_id: int,
        metrics: list[dict[str, Any]],
        key: str = "",
        attempt: int | None = None,
    ) -> None:
        what = f"metrics for job {job_id}"
        self._check_up(what)
        with self._cond:
            self._owned(job_id, what)
            self.calls.metrics.append((job_id, metrics))

    def upload_log(
        self, job_id: int, path: Path, cut: int, key: str = "", attempt: int | None = None
    ) -> None:
        what = f"log for job {job_id}"
        self._check_up(what)
        with self._cond:
            self._owned(job_id, what)
            if key and any(r["job"] == job_id and r["key"] == key for r in self.calls.logs):
                return  # a retry: stored once, as the server does
            content = path.read_bytes()
            if content[:2] != b"\x1f\x8b":
                raise ClientError(f"{what}: the file is not gzip-compressed")
            entry = {"job": job_id, "content": content, "cut": cut, "key": key}
            self.calls.logs.append(entry | {"attempt": attempt})

    def exit(self, pilot_id: int, reason: str, ok: bool) -> None:
        self._check_up("exit")
        with self._cond:
            self.calls.exits.append({"pilot": pilot_id, "reason": reason, "ok": ok})
