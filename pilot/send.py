"""Sending a spool entry's uploads: metrics, logs, products (one by one or in batches).

The report itself stays with :class:`pilot.loop.Pilot` (it may carry the next claim).
Consecutive products of an entry go in one request (``POST jobs/{id}/products/batch/``):
an ADC+FFT job's 22 products took 0.7-1.1 s one by one (issue 12). When the server refuses a
batch (too big, an older server without the endpoint, one bad file), its products are sent
one by one, so one bad product never costs the others.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pilot.errors import ClientError, Conflict, Forbidden, NotFound
from pilot.transport import Transport

log = logging.getLogger(__name__)

#: Products in one batch at most (the server takes 64), and their bytes at most: well under
#: the server's default body limit of one upload (20 MiB); a bigger product goes alone.
BATCH_ITEMS = 32
BATCH_BYTES = 8 * 1024 * 1024


def products_ahead(actions: list[dict[str, Any]]) -> int:
    """How many of the leading actions are products that go in one batch (0: the first
    action is not a product; 1: it goes alone)."""
    n, size = 0, 0
    for action in actions[:BATCH_ITEMS]:
        if action["op"] != "product":
            break
        path = Path(action["path"])
        bytes_ = path.stat().st_size if path.is_file() else 0
        if n and size + bytes_ > BATCH_BYTES:
            break
        n, size = n + 1, size + bytes_
    return n


def send_products(transport: Transport, job_id: int, actions: list[dict[str, Any]]) -> None:
    """Upload these products, in one request when there are several."""
    if len(actions) > 1:
        try:
            transport.upload_products(job_id, actions, actions[0].get("attempt"))
            return
        except (Conflict, Forbidden):
            raise  # the job is no longer ours: the caller drops the entry
        except ClientError as exc:  # 400, 404 (older server, or no such job), 413
            log.warning(
                "job %d: batch of %d products refused (%s); one by one", job_id, len(actions), exc
            )
    for action in actions:
        try:
            send_upload(transport, job_id, action)
        except (Conflict, Forbidden, NotFound):
            raise
        except ClientError as exc:
            log.error(
                "server refused product %s of job %d, skipping it: %s",
                Path(action["path"]).name,
                job_id,
                exc,
            )


def send_upload(transport: Transport, job_id: int, action: dict[str, Any]) -> None:
    """Send one action other than the report."""
    op = action["op"]
    if op == "metrics":
        transport.post_metrics(
            job_id, action["metrics"], action.get("key", ""), action.get("attempt")
        )
    elif op == "product":
        transport.upload_product(
            job_id,
            Path(action["path"]),
            action["kind"],
            action["title"],
            action["labels"],
            action.get("key", ""),
            action.get("attempt"),
        )
    elif op == "log":
        path = Path(action["path"])
        if not path.is_file():  # the work dir went away (cleaned by hand): the report goes
            log.warning("job %d: the packed log %s is gone, not sending it", job_id, path)
            return
        cut, key = int(action.get("cut", 0)), action.get("key", "")
        try:
            transport.upload_log(job_id, path, cut, key, action.get("attempt"))
        except NotFound as exc:  # a server older than full logs: the report still goes
            log.warning("job %d: the server takes no full log: %s", job_id, exc)
    else:
        raise ValueError(f"unknown spool action {op!r}")
