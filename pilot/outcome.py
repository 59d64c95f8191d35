"""What a pilot owes the server for one job: the spool entry built from the job's outcome.

Every delivery is stamped with the attempt it is for (the server refuses, 409, results of an
attempt that is over) and products and metrics carry an idempotency key made once, here, and
kept in the spool, so every retry (even by a restarted pilot) repeats the same key and the
server stores it once.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from pilot import joblog
from pilot.runner import Outcome, ResultError, failure_message, log_tail, read_result
from pilot.spool import Entry

log = logging.getLogger(__name__)

UNKNOWN_PAYLOAD_CODE = 127


def attempt_of(spec: dict[str, Any]) -> dict[str, int]:
    """``{"attempt": N}`` from a claimed job (empty for a server that sends none)."""
    attempt = spec.get("attempt")
    return {"attempt": int(attempt)} if isinstance(attempt, int) and attempt > 0 else {}


def new_key(job_id: int, attempt: int, what: str) -> str:
    """A fresh idempotency key for one delivery of one attempt (at most 64 characters)."""
    return f"j{job_id}-a{attempt}-{what}-{uuid.uuid4().hex}"


def stamped(entry: Entry, spec: dict[str, Any]) -> Entry:
    """``entry`` with every action stamped with the attempt of ``spec``."""
    for action in entry.actions:
        target = action["body"] if action["op"] == "report" else action
        target.update(attempt_of(spec))
    return entry


def report(job_id: int, jobdir: str, body: dict[str, Any], keep: bool = False) -> Entry:
    """An entry that owes one report."""
    return Entry(job_id, jobdir, [{"op": "report", "body": body}], keep)


def released(job_id: int, jobdir: str, why: str) -> Entry:
    return report(job_id, jobdir, {"state": "released", "message": why})


def failed(job_id: int, jobdir: str, exit_code: int, message: str, keep: bool = True) -> Entry:
    body = {"state": "failed", "exit_code": exit_code, "message": message, "log_tail": ""}
    return report(job_id, jobdir, body, keep)


def of_outcome(spec: dict[str, Any], jobdir: Path, outcome: Outcome, timeout: float) -> Entry:
    """What is owed for a payload that ran to an end (not interrupted)."""
    job_id = int(spec["id"])
    tail = log_tail(jobdir)
    body: dict[str, Any]
    if outcome.ended == "timeout":
        message = f"payload ran past its time limit of {timeout:g} s and was killed"
        body = {"state": "timeout", "message": message, "log_tail": tail}
    elif not outcome.succeeded:
        body = {
            "state": "failed",
            "exit_code": outcome.exit_code,
            "message": failure_message(outcome),
            "log_tail": tail,
        }
    else:
        try:
            result = read_result(jobdir)
        except ResultError as exc:
            body = {"state": "failed", "exit_code": 0, "message": str(exc), "log_tail": tail}
        else:
            return of_success(spec, jobdir, result, tail, outcome)
    log.info("job %d: %s: %s", job_id, body["state"], body["message"].splitlines()[0])
    entry = report(job_id, str(jobdir), body, keep=True)
    entry.actions[:0] = full_log(spec, jobdir, outcome, body["state"], body["message"])
    return entry


def full_log(
    spec: dict[str, Any], jobdir: Path, outcome: Outcome | None, state: str, message: str = ""
) -> list[dict[str, Any]]:
    """The ``log`` action (the whole log, packed by :mod:`pilot.joblog`), or none when the
    payload left no log or it cannot be packed (the report still goes)."""
    job_id = int(spec["id"])
    attempt = int(spec.get("attempt") or 1)
    ran = ""
    if outcome is not None:
        ran = f", payload {outcome.ended} (exit code {outcome.exit_code}) after "
        ran += f"{outcome.elapsed:.1f} s"
    footer = f"[p3s pilot: job {job_id} attempt {attempt}: {state}{ran}]"
    if message:
        footer += "\n[p3s pilot: " + message.replace("\n", "\n[p3s pilot: ") + "]"
    try:
        packed = joblog.pack(jobdir, footer)
    except OSError as exc:
        log.warning("job %d: could not pack the log, sending only its tail: %s", job_id, exc)
        return []
    if packed is None:
        return []
    if packed.cut:
        log.info("job %d: log of %d bytes: %d cut from the middle", job_id, packed.size, packed.cut)
    key = new_key(job_id, attempt, "l")
    return [{"op": "log", "path": str(packed.path), "cut": packed.cut, "key": key}]


def of_success(
    spec: dict[str, Any],
    jobdir: Path,
    result: dict[str, Any],
    tail: str,
    outcome: Outcome | None = None,
) -> Entry:
    """Products, metrics, the whole log, then the ``finished`` report, in that order."""
    job_id = int(spec["id"])
    attempt = int(spec.get("attempt") or 1)
    actions: list[dict[str, Any]] = [
        {"op": "product", **p, "key": new_key(job_id, attempt, "p")} for p in result["products"]
    ]
    if result["metrics"]:
        key = new_key(job_id, attempt, "m")
        actions.append({"op": "metrics", "metrics": result["metrics"], "key": key})
    # Metrics travel once, through the metrics endpoint; the report repeats none of them,
    # so a server that stores both cannot count them twice.
    body = {"state": "finished", "outputs": result["outputs"], "metrics": [], "log_tail": tail}
    actions.extend(full_log(spec, jobdir, outcome, "finished"))
    actions.append({"op": "report", "body": body})
    log.info(
        "job %d: finished, %d output(s), %d metric(s), %d product(s) to send",
        job_id,
        len(result["outputs"]),
        len(result["metrics"]),
        len(result["products"]),
    )
    return Entry(job_id, str(jobdir), actions)
