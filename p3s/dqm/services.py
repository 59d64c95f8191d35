"""Storing DQM results: products (files) and metrics (rows that feed strip charts and alarms)."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import transaction
from django.utils.text import slugify

from p3s.dqm.models import Metric, Product
from p3s.jobs.models import Job

log = logging.getLogger(__name__)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Called with the list of new Metric rows after they are saved (alarm rules hook in here).
metric_listeners: list = []
# Called with each new Product and its file's bytes after it is saved (quality checks).
product_listeners: list = []


class BadProduct(ValueError):
    pass


def check_content(kind: str, head: bytes, read_all) -> None:
    """Refuse files whose content does not match their kind."""
    if kind == "png":
        if not head.startswith(PNG_MAGIC):
            raise BadProduct("kind png but the file is not a PNG image")
        return
    try:
        data = json.loads(read_all())
    except (ValueError, UnicodeDecodeError):
        raise BadProduct(f"kind {kind} but the file is not JSON") from None
    if kind == "bokeh" and not (isinstance(data, dict) and "doc" in data):
        raise BadProduct(
            "kind bokeh needs a bokeh.embed.json_item document (a JSON object with 'doc')"
        )


def store_product(job: Job, upload, kind: str, title: str, labels: dict[str, str]) -> Product:
    """Save an uploaded product file (the name is built by the server) and its row."""
    head = upload.read(16)
    upload.seek(0)

    def read_all() -> bytes:
        upload.seek(0)
        data = upload.read()
        upload.seek(0)
        return data

    check_content(kind, head, read_all)
    slug = slugify(title)[:60] or "product"
    existing = Product.objects.filter(job=job, slug__startswith=slug).count()
    if existing:
        slug = f"{slug}-{existing + 1}"
    product = Product(
        job=job,
        run=job.dagrun.file.run,
        kind=kind,
        title=title,
        slug=slug,
        labels=labels,
        size=upload.size,
        data_ts=job.data_ts,
    )
    # File I/O happens here, outside any transaction that changes job state.
    product.file.save(f"{slug}", upload, save=False)
    product.save()
    if kind == "json":
        _notify(product_listeners, product, read_all())
    return product


def _notify(listeners: list, *args) -> None:
    for listener in listeners:
        try:
            listener(*args)
        except Exception:  # a quality or alarm hook must never lose the results
            log.exception("listener %r failed", listener)


def record_metrics(job: Job, items: list[dict[str, Any]]) -> list[Metric]:
    run = job.dagrun.file.run
    rows = [
        Metric(
            job=job,
            name=m["name"],
            value=m["value"],
            labels=m.get("labels") or {},
            run=run,
            data_ts=job.data_ts,
        )
        for m in items
    ]
    with transaction.atomic():
        Metric.objects.bulk_create(rows)
    _notify(metric_listeners, rows)
    return rows
