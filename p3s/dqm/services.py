"""Storing DQM results: products (files) and metrics (rows that feed strip charts and alarms)."""

from __future__ import annotations

import errno
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from p3s.dqm.models import Metric, MetricBatch, Product
from p3s.jobs import actions
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


def store_product(
    job: Job,
    upload,
    kind: str,
    title: str,
    labels: dict[str, str],
    attempt: int = 1,
    key: str = "",
    fence: Callable[[Job], None] | None = None,
) -> Product:
    """Save an uploaded product file (the name is built by the server) and its row.

    With a ``key``, a retry of an upload already stored returns the stored product, marked
    ``replayed = True``. ``fence(job)`` runs under the job's row lock just before
    the row is written (the attempt check); whatever refuses the row removes the file.
    """
    if key and (done := Product.objects.filter(job=job, key=key).first()) is not None:
        done.replayed = True
        return done
    head = upload.read(16)
    upload.seek(0)

    def read_all() -> bytes:
        upload.seek(0)
        data = upload.read()
        upload.seek(0)
        return data

    check_content(kind, head, read_all)
    slug = slugify(title)[:60] or "product"
    existing = Product.objects.filter(job=job, attempt=attempt, slug__startswith=slug).count()
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
        attempt=attempt,
        key=key,
    )
    # File I/O happens here, outside any transaction that changes job state.
    try:
        product.file.save(f"{slug}", upload, save=False)
    except OSError as exc:
        if exc.errno in DISK_FULL:
            _remove_partial(product, slug)
        raise  # the API answers a full disk 503 (p3s.api.middleware): the pilot retries
    try:
        with transaction.atomic():
            if fence is not None:
                fence(Job.objects.select_for_update().get(pk=job.pk))
            product.save()
    except IntegrityError:
        product.file.delete(save=False)
        done = Product.objects.filter(job=job, key=key).first() if key else None
        if done is None:
            raise
        done.replayed = True  # a parallel identical upload won the race
        return done
    except BaseException:
        product.file.delete(save=False)  # refused (fenced, bad labels): no file left behind
        raise
    product.replayed = False
    if kind == "json":
        _notify(product_listeners, product, read_all())
    return product


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def drop_superseded_products(job: Job) -> int:
    """Products an older attempt uploaded before it was re-queued: gone when a newer attempt
    finishes (rows now, files after commit), so a re-run job shows its products once.
    Found by scripts/chaos.py: a pilot lost in the middle of its uploads left 20 of them."""
    if job.attempt <= 1:
        return 0  # a first attempt has nothing older to drop (and skips the query)
    old = list(Product.objects.filter(job=job, attempt__lt=job.attempt).only("id", "file"))
    if not old:
        return 0
    names = [p.file.name for p in old]
    storage = old[0].file.storage
    Product.objects.filter(pk__in=[p.pk for p in old]).delete()
    transaction.on_commit(lambda: [storage.delete(name) for name in names])
    log.info("job %s: %d product(s) of older attempts removed", job.pk, len(old))
    return len(old)


def drop_superseded_metrics(job: Job) -> int:
    """Metrics an older attempt delivered before it was re-queued (its pilot lost after the
    metrics, before its report): gone when a newer attempt finishes, as its products are.
    They are the rows stored before this attempt was dispatched (attempt fencing refuses an
    old attempt's delivery from the moment the job is re-queued). Found by scripts/chaos.py:
    a pilot declared lost during a server restart left its metrics counted twice."""
    if job.attempt <= 1 or job.dispatched_at is None:
        return 0
    n, _ = Metric.objects.filter(job=job, created__lt=job.dispatched_at).delete()
    if n:
        log.info("job %s: %d metric(s) of older attempts removed", job.pk, n)
    return n


def _remove_partial(product: Product, slug: str) -> None:
    """What a write cut by a full disk left in this attempt's directory, owned by no row."""
    storage = product.file.storage
    where = Path(storage.path(product.file.field.generate_filename(product, slug))).parent
    for path in where.glob(f"{slug}*"):
        name = str(path.relative_to(Path(storage.location)))
        if not Product.objects.filter(file=name).exists():
            path.unlink(missing_ok=True)
            log.warning("removed %s, cut short by a full staging disk", path)


def _notify(listeners: list, *args) -> None:
    for listener in listeners:
        try:
            with transaction.atomic():  # a failing hook rolls back its own work only
                listener(*args)
        except Exception:  # a quality or alarm hook must never lose the results
            log.exception("listener %r failed", listener)


def record_metrics(
    job: Job,
    items: list[dict[str, Any]],
    attempt: int = 1,
    key: str = "",
    fence: Callable[[Job], None] | None = None,
) -> list[Metric]:
    """Store a delivery of metrics; returns the new rows.

    With a ``key`` the delivery is stored at most once per job (a retry finds its
    :class:`MetricBatch`, stores nothing and returns no rows). Runs in the caller's transaction when there
    is one, so a report and its metrics commit or fail together.
    """
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
        if fence is not None:
            fence(Job.objects.select_for_update().get(pk=job.pk))
        if key:
            # The job row lock (fence, or the report's) serialises deliveries of one job.
            _, created = MetricBatch.objects.get_or_create(
                job=job, key=key, defaults={"attempt": attempt, "count": len(rows)}
            )
            if not created:
                return []
        Metric.objects.bulk_create(rows)
    _notify(metric_listeners, rows)
    return rows


def apply_report(
    job_id: int, pilot_id: int, rep: actions.Report, metrics: list[dict[str, Any]], actor: str
) -> Job:
    """A pilot's report and the metrics it carries, in one transaction: when the database
    refuses the metrics, the job is not finished and no child is created. A finished
    report's metrics are stored once per attempt, however often the report is repeated.
    (The metrics are stored inside the report's own transaction: no savepoint around it.)"""
    if not metrics:
        return actions.report(job_id, pilot_id, rep, actor=actor)

    def store(job: Job) -> None:
        record_metrics(job, metrics, attempt=job.attempt, key=f"report-a{job.attempt}")

    return actions.report(job_id, pilot_id, rep, actor=actor, on_finished=store)
