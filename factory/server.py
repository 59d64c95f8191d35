"""Reading demand from the p3s server: ``GET {server}/api/v1/summary/``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from factory.demand import Demand
from factory.errors import ServerError

SUMMARY_PATH = "/api/v1/summary/"


def fetch_summary(server: str, token: str, timeout: float = 10.0) -> dict[str, Any]:
    """The server's summary as a dict; raises ServerError when it cannot be had."""
    url = server.rstrip("/") + SUMMARY_PATH
    try:
        response = requests.get(
            url,
            headers={"Authorization": f"Token {token}", "Accept": "application/json"},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise ServerError(f"server unreachable at {url}: {exc.__class__.__name__}: {exc}") from exc
    if response.status_code in (401, 403):
        raise ServerError(
            f"server refused the token ({response.status_code}) at {url}: "
            "give an operator token with --token-file or P3S_TOKEN_FILE"
        )
    if response.status_code != 200:
        raise ServerError(f"server answered {response.status_code} at {url}: {response.text[:200]}")
    try:
        data = response.json()
    except ValueError as exc:
        raise ServerError(f"server answer at {url} is not JSON: {response.text[:200]!r}") from exc
    if not isinstance(data, dict):
        raise ServerError(f"server answer at {url} is not a JSON object")
    return data


def _int(value: Any, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ServerError(f"summary field {where} is not a number: {value!r}")
    return int(value)


def _mapping(data: Mapping[str, Any], *path: str) -> Mapping[str, Any]:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping):
            raise ServerError(f"summary field {'.'.join(path)} is not an object")
        node = node.get(key) or {}
    if not isinstance(node, Mapping):
        raise ServerError(f"summary field {'.'.join(path)} is not an object")
    return node


def demand_from_summary(summary: Mapping[str, Any]) -> dict[str, Demand]:
    """Per-queue demand out of the summary.

    ``claimable`` is used when present; an older server without it falls back to the
    ``waiting`` count of ``jobs.by_queue``.
    """
    claimable = _mapping(summary, "claimable")
    top = _mapping(summary, "top_priority")
    jobs = _mapping(summary, "jobs", "by_queue")
    pilots = _mapping(summary, "pilots", "by_queue")
    names = set(claimable) | set(top) | set(jobs) | set(pilots)
    out: dict[str, Demand] = {}
    for q in sorted(names):
        if q in claimable:
            n = _int(claimable[q], f"claimable.{q}")
        else:
            n = _int(_mapping(jobs, q).get("waiting"), f"jobs.by_queue.{q}.waiting")
        prio = top.get(q)
        by_state = _mapping(pilots, q)
        out[q] = Demand(
            claimable=max(0, n),
            top_priority=None if prio is None else _int(prio, f"top_priority.{q}"),
            idle=_int(by_state.get("idle"), f"pilots.by_queue.{q}.idle"),
            busy=_int(by_state.get("busy"), f"pilots.by_queue.{q}.busy"),
        )
    return out
