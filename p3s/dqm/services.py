"""Storing DQM results: products (files) and metrics (rows that feed strip charts and alarms)."""

from __future__ import annotations

import errno
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
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
    """A file whose content does not match its kind; ``index``: its place in a batch."""

    index: int = 0


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


@dataclass
class Upload:
    """One product of an upload: the file (a Django ``File``) and what describes it."""

    file: Any
    kind: str
    title: str
    labels: dict[str, str]
    key: str = ""


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
    return store_products(job, [Upload(upload, kind, title, labels, key)], attempt, fence)[0]


def store_products(
    job: Job,
    uploads: list[Upload],
    attempt: int = 1,
    fence: Callable[[Job], None] | None = None,
    _retried: bool = False,
) -> list[Product]:
    """Save several products of one job's attempt: all of them or none.

    The contents are checked before anything is written (a bad one raises
    :class:`BadProduct` naming its index, and nothing is stored); the files are written
    outside any transaction, then every row in one transaction under the job's row lock
    (``fence``), so a batch costs one lock and one commit instead of one per product
    (issue 12: a 22-product ADC+FFT job spent 0.7-1.1 s in single uploads). Products whose
    ``key`` is already stored come back marked ``replayed = True`` and are not written again.
    """
    keys = [u.key for u in uploads if u.key]
    done = {p.key: p for p in Product.objects.filter(job=job, key__in=keys)} if keys else {}
    todo = [(i, u) for i, u in enumerate(uploads) if u.key not in done]
    bodies: dict[int, bytes] = {}
    for i, u in todo:
        try:
            check_content(
                u.kind, _head(u.file), lambda u=u, i=i: bodies.setdefault(i, _all(u.file))
            )
        except BadProduct as exc:
            exc.index = i
            raise
    rows = _new_rows(job, todo, attempt)
    saved: list[Product] = []
    try:  # file I/O here, outside any transaction that changes job state
        for (_, u), product in zip(todo, rows, strict=True):
            product.file.save(product.slug, u.file, save=False)
            saved.append(product)
    except OSError as exc:
        for product in saved:
            product.file.delete(save=False)
        if exc.errno in DISK_FULL:
            _remove_partial(rows[len(saved)], rows[len(saved)].slug)
        raise  # the API answers a full disk 503 (p3s.api.middleware): the pilot retries
    try:
        with transaction.atomic():
            if fence is not None:
                fence(Job.objects.select_for_update().get(pk=job.pk))
            if rows:
                Product.objects.bulk_create(rows)
    except IntegrityError:
        for product in rows:
            product.file.delete(save=False)
        if not keys or _retried:
            raise
        # a parallel identical upload won the race: the retry finds its rows by key
        return store_products(job, uploads, attempt, fence, _retried=True)
    except BaseException:
        for product in rows:
            product.file.delete(save=False)  # refused (fenced, bad labels): no file left behind
        raise
    out: list[Product] = []
    fresh = iter(rows)
    for i, u in enumerate(uploads):
        if u.key in done:
            product = done[u.key]
            product.replayed = True
        else:
            product = next(fresh)
            product.replayed = False
            if u.kind == "json":
                _notify(product_listeners, product, bodies.get(i) or _all(u.file))
        out.append(product)
    return out


def _head(upload) -> bytes:
    head = upload.read(16)
    upload.seek(0)
    return head


def _all(upload) -> bytes:
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    return data


def _new_rows(job: Job, todo: list[tuple[int, Upload]], attempt: int) -> list[Product]:
    """Unsaved rows, each with a slug unique within the attempt (``title``, ``title-2``...)."""
    if not todo:
        return []
    taken = list(Product.objects.filter(job=job, attempt=attempt).values_list("slug", flat=True))
    rows = []
    run = job.dagrun.file.run
    for _, u in todo:
        slug = slugify(u.title)[:60] or "product"
        existing = sum(1 for t in taken if t.startswith(slug))
        if existing:
            slug = f"{slug}-{existing + 1}"
        taken.append(slug)
        rows.append(
            Product(
                job=job,
                run=run,
                kind=u.kind,
                title=u.title,
                slug=slug,
                labels=u.labels,
                size=u.file.size,
                data_ts=job.data_ts,
                attempt=attempt,
                key=u.key,
            )
        )
    return rows


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
