"""Reference sets: snapshots of good data that checks and overlays compare against.

:func:`make_reference` copies the histogram products (kind ``json`` with a ``hist`` label,
format ``p3s-hist-1``) and the metrics of chosen runs or DAG runs of a template into the
reference's own rows, combined per histogram name and detector element (counts summed;
profiles averaged) and per metric and element (mean, standard deviation, count). Retention
may then delete the products: the reference keeps working. Making a reference supersedes the
active one of the same template and stream (it stays, inactive, as history).
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from collections import defaultdict
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import FieldError
from django.db import transaction
from django.urls import reverse

from p3s.conditions.models import (
    ReferenceHist,
    ReferenceMetric,
    ReferenceSet,
    digest_of,
    hist_key,
    hist_labels,
    iso,
    metric_key,
    metric_labels,
)
from p3s.dags.models import DagRun, DagTemplate
from p3s.dqm.models import Metric, Product
from p3s.exceptions import P3SError

log = logging.getLogger(__name__)

HIST_FORMAT = "p3s-hist-1"


class ReferenceRefused(P3SError):
    """The reference cannot be made from what was chosen (nothing found, unknown template)."""


def current_reference(
    template_name: str, stream: str | None = "tpc", run: int | None = None
) -> ReferenceSet | None:
    """The newest active reference of a template (and stream; None: any), valid for ``run``."""
    qs = ReferenceSet.objects.filter(template=template_name, active=True)
    if stream is not None:
        qs = qs.filter(stream=stream)
    if run is not None:
        qs = qs.exclude(valid_from_run__gt=run).exclude(valid_to_run__lt=run)
    return qs.order_by("-created", "-id").first()


def make_reference_url(template: str, stream: str, run: int) -> str:
    """The admin form that makes a reference from ``run``, prefilled (for "use as reference"
    links on the run pages; experts only)."""
    query = urlencode({"template": template, "stream": stream, "runs": run})
    return f"{reverse('admin:conditions_referenceset_add')}?{query}"


def _dagruns(template: str, stream: str, runs: list[int], dagruns: list[int]) -> list[int]:
    if not DagTemplate.objects.filter(name=template).exists():
        raise ReferenceRefused(f"there is no DAG template {template!r}")
    if not runs and not dagruns:
        raise ReferenceRefused("choose the runs or the DAG runs the reference is made from")
    qs = DagRun.objects.filter(template__name=template, file__stream=stream)
    ids: set[int] = set()
    if runs:
        ids |= set(qs.filter(file__run__in=runs).values_list("pk", flat=True))
    if dagruns:
        found = set(qs.filter(pk__in=dagruns).values_list("pk", flat=True))
        missing = sorted(set(dagruns) - found)
        if missing:
            raise ReferenceRefused(
                f"DAG runs {missing} are not runs of template {template!r} on stream {stream!r}"
            )
        ids |= found
    if not ids:
        raise ReferenceRefused(
            f"no DAG run of template {template!r} on stream {stream!r} for runs {runs}"
        )
    return sorted(ids)


def read_hist(product) -> dict[str, Any]:
    """Read and check one histogram product's JSON; raises ValueError saying what is wrong."""
    with product.file.open("rb") as fh:
        body = json.loads(fh.read().decode("utf-8"))
    if not isinstance(body, dict) or body.get("format") != HIST_FORMAT:
        raise ValueError(f"not a {HIST_FORMAT} histogram")
    edges, counts = body.get("edges"), body.get("counts")
    if not isinstance(edges, list) or not isinstance(counts, list) or not counts:
        raise ValueError("edges and counts must be lists")
    if len(edges) != len(counts) + 1:
        raise ValueError(f"{len(edges)} edges for {len(counts)} bins (expected bins + 1)")
    for v in (*edges, *counts):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError(f"edges and counts must be finite numbers, found {v!r}")
    return body


def _same_edges(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9) for x, y in zip(a, b, strict=True)
    )


def combine_hists(bodies: list[dict[str, Any]]) -> tuple[dict[str, Any], int, list[str]]:
    """Sum the counts of histograms with the same binning (profiles: average them).

    Returns the combined body, how many were combined, and notes on those left out.
    """
    first = bodies[0]
    profile = bool(first.get("profile"))
    total = [float(c) for c in first["counts"]]
    used, notes = 1, []
    for body in bodies[1:]:
        if bool(body.get("profile")) != profile:
            notes.append("one product disagrees on profile: left out")
            continue
        if not _same_edges(first["edges"], body["edges"]):
            notes.append("one product has other bin edges: left out")
            continue
        total = [t + float(c) for t, c in zip(total, body["counts"], strict=True)]
        used += 1
    if profile:
        total = [t / used for t in total]
    combined = {**first, "counts": total, "profile": profile}
    return combined, used, notes


def _snapshot_hists(dagrun_ids: list[int]) -> tuple[list[dict[str, Any]], list[str]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    labels_of: dict[tuple[str, str], dict[str, str]] = {}
    notes: list[str] = []
    products = Product.objects.filter(
        job__dagrun__in=dagrun_ids, kind="json", labels__has_key="hist"
    ).order_by("data_ts", "id")
    for product in products.iterator():
        name = str(product.labels.get("hist"))
        try:
            body = read_hist(product)
        except (OSError, ValueError) as exc:
            notes.append(f"product {product.pk} ({name}): {exc}: left out")
            continue
        key = (name, hist_key(product.labels))
        groups[key].append(body)
        labels_of[key] = hist_labels(product.labels)
    out = []
    for (name, key), bodies in sorted(groups.items()):
        combined, used, why = combine_hists(bodies)
        notes += [f"{name} {key}: {w}" for w in why]
        out.append(
            {
                "name": name,
                "labels": labels_of[(name, key)],
                "element_key": key,
                "body": combined,
                "n_sources": used,
            }
        )
    return out, notes


def _snapshot_metrics(dagrun_ids: list[int]) -> list[dict[str, Any]]:
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    labels_of: dict[tuple[str, str], dict[str, str]] = {}
    rows = Metric.objects.filter(job__dagrun__in=dagrun_ids).values_list("name", "labels", "value")
    for name, labels, value in rows.iterator():
        key = (name, metric_key(labels))
        values[key].append(float(value))
        labels_of[key] = metric_labels(labels)
    return [
        {
            "name": name,
            "labels": labels_of[(name, key)],
            "element_key": key,
            "mean": statistics.fmean(vs),
            "std": statistics.pstdev(vs) if len(vs) > 1 else 0.0,
            "n": len(vs),
        }
        for (name, key), vs in sorted(values.items())
    ]


def make_reference(
    template: str,
    stream: str,
    runs: list[int] | None = None,
    dagruns: list[int] | None = None,
    name: str = "",
    owner: str = "",
    valid_from_run: int | None = None,
    valid_to_run: int | None = None,
    valid_until: datetime | None = None,
    comment: str = "",
) -> ReferenceSet:
    """Snapshot the hists and metrics of ``runs`` / ``dagruns`` of a template into a new
    active reference set, superseding the active one of the same template and stream.

    Raises :class:`ReferenceRefused` when the template is unknown or nothing was found.
    """
    runs = sorted({int(r) for r in runs or []})
    dagruns = sorted({int(d) for d in dagruns or []})
    ids = _dagruns(template, stream, runs, dagruns)
    hists, notes = _snapshot_hists(ids)
    metrics = _snapshot_metrics(ids)
    if not hists and not metrics:
        raise ReferenceRefused(
            f"the {len(ids)} DAG runs chosen have no histogram products and no metrics: "
            "nothing to make a reference of (were they deleted by retention?)"
        )
    if not runs:
        runs = sorted(set(DagRun.objects.filter(pk__in=ids).values_list("file__run", flat=True)))
    default_name = f"run {runs[0]}" if len(runs) == 1 else f"runs {runs[0]}-{runs[-1]}"
    with transaction.atomic():
        ref = ReferenceSet.objects.create(
            template=template,
            stream=stream,
            name=name or default_name,
            source_runs=runs,
            source_dagruns=ids,
            owner=owner,
            comment=comment,
            notes="\n".join(notes),
            valid_from_run=valid_from_run,
            valid_to_run=valid_to_run,
            valid_until=valid_until,
            digest=digest_of({"hists": hists, "metrics": metrics}),
        )
        ReferenceHist.objects.bulk_create([ReferenceHist(reference=ref, **h) for h in hists])
        ReferenceMetric.objects.bulk_create([ReferenceMetric(reference=ref, **m) for m in metrics])
        older = ReferenceSet.objects.filter(template=template, stream=stream, active=True).exclude(
            pk=ref.pk
        )
        superseded = older.update(active=False, superseded_by=ref)
    log.info(
        "reference %d for %s/%s from runs %s: %d hists, %d metrics (%d superseded)",
        ref.pk,
        template,
        stream,
        runs,
        len(hists),
        len(metrics),
        superseded,
    )
    return ref


def signed_off_good(run: int) -> bool | None:
    """Whether the run's latest sign-off says good; None when sign-offs do not exist here."""
    try:
        from p3s.quality.models import RunSignoff

        latest = RunSignoff.objects.filter(run=run).order_by("-signed_at", "-id").first()
    except (ImportError, FieldError):  # no sign-offs here, or not by these field names
        return None
    return latest is not None and str(getattr(latest, "verdict", "")) == "good"


def as_dict(ref: ReferenceSet, contents: bool = True) -> dict[str, Any]:
    """The API body of a reference set; ``contents``: with its hists and metrics."""
    out: dict[str, Any] = {
        "id": ref.pk,
        "template": ref.template,
        "stream": ref.stream,
        "name": ref.name,
        "run": ref.run,
        "source_runs": ref.source_runs,
        "source_dagruns": ref.source_dagruns,
        "owner": ref.owner,
        "comment": ref.comment,
        "created": iso(ref.created),
        "updated": iso(ref.updated),
        "valid_from_run": ref.valid_from_run,
        "valid_to_run": ref.valid_to_run,
        "valid_until": iso(ref.valid_until),
        "active": ref.active,
        "expired": ref.expired,
        "expired_reason": ref.expired_reason,
    }
    if contents:
        out["hists"] = [
            {
                "name": h.name,
                "labels": h.labels,
                "element_key": h.element_key,
                "n_sources": h.n_sources,
                "body": h.body,
            }
            for h in ref.hists.all()
        ]
        out["metrics"] = [
            {
                "name": m.name,
                "labels": m.labels,
                "element_key": m.element_key,
                "mean": m.mean,
                "std": m.std,
                "n": m.n,
            }
            for m in ref.metrics.all()
        ]
    return out


def etag_of(ref: ReferenceSet) -> str:
    """Strong ETag from the snapshot's digest and what can change on the set (validity,
    active flag, expiry), without reading its hists."""
    state = digest_of(
        [ref.pk, ref.digest, iso(ref.updated), ref.expired_reason, ref.name, ref.comment]
    )
    return f'"ref-{ref.pk}-{state[:24]}"'
