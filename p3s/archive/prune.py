"""Pruning: jobs, job events, DAG runs and files of runs that ENDED long ago leave the hot
tables, in batches, so the claim, the sweeper and the pages stay fast after months.

Rows are deleted, not moved to archive tables: what is worth keeping for years (a fraction
of the outputs, the products) is copied by the archive pass with its provenance in
:class:`~p3s.archive.models.ArchivedCopy`; a second copy of millions of job rows would only
move the growth to another table of the same database. A run is pruned only when

* it ended (``ended`` set, not ``running``) more than the rule's ``days`` ago;
* its clean-up is done: outputs deleted where an output rule applies, archived where an
  archive rule applies (its outputs must not be orphaned, nor its copies skipped);
* with ``keep_dqm`` (the default), none of its jobs holds products or metrics any more: those
  go by their own retention rules (p3s.dqm.retention) first.

A file goes once no DAG run of it is left, it is older than the rule and its data are older
than the oldest live run's data minus ``P3S_PRUNE_LIVE_MARGIN`` (stream matching may ask
for files near a live run's time range).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import models, transaction
from django.db.models import Exists, Min, OuterRef, Q
from django.db.models.deletion import Collector
from django.db.models.functions import Coalesce
from django.db.models.signals import post_delete, pre_delete
from django.utils import timezone

from p3s.archive import conf
from p3s.archive.models import ArchiveRule, OutputRule, PruneRule
from p3s.dags.models import DagRun, DagRunState, DataFile
from p3s.dqm.models import Metric, Product
from p3s.jobs.models import Job, JobEvent

log = logging.getLogger("p3s.archive")


@dataclass
class Pruned:
    jobs: int = 0
    events: int = 0
    dagruns: int = 0
    files: int = 0

    @property
    def total(self) -> int:
        return self.jobs + self.events + self.dagruns + self.files


def _templates(rules) -> set | None:
    """Template ids the rules apply to; None when one applies to every template."""
    ids = {r.template_id for r in rules}
    return None if None in ids else ids


def prunable_runs(cutoff: datetime, keep_dqm: bool):
    qs = DagRun.objects.filter(ended__lt=cutoff).exclude(state=DagRunState.RUNNING)
    out_t = _templates(OutputRule.objects.filter(enabled=True))
    if out_t is None or out_t:
        done = Q(cleanup__outputs_deleted_at__isnull=False)
        qs = qs.filter(done if out_t is None else done | ~Q(template_id__in=out_t))
    arch_t = _templates(ArchiveRule.objects.filter(enabled=True))
    if arch_t is None or arch_t:
        done = Q(cleanup__archived_at__isnull=False)
        qs = qs.filter(done if arch_t is None else done | ~Q(template_id__in=arch_t))
    if keep_dqm:
        qs = qs.exclude(Exists(Product.objects.filter(job__dagrun=OuterRef("pk"))))
        qs = qs.exclude(Exists(Metric.objects.filter(job__dagrun=OuterRef("pk"))))
    return qs


def _rule() -> PruneRule | None:
    """The enabled rule that keeps the longest (several rules: the most careful wins)."""
    return PruneRule.objects.filter(enabled=True).order_by("-days").first()


def prune(now: datetime | None = None, limit: int | None = None, dry_run: bool = False) -> Pruned:
    """One bounded batch: at most ``limit`` jobs (with their events), then the runs and files
    left empty. A later call continues where this one stopped."""
    now = now or timezone.now()
    limit = limit or conf.PRUNE_BATCH
    out = Pruned()
    rule = _rule()
    if rule is None:
        return out
    cutoff = now - timedelta(days=rule.days)
    runs = list(
        prunable_runs(cutoff, rule.keep_dqm)
        .order_by("ended", "id")
        .values_list("pk", flat=True)[: conf.RUN_BATCH * 4]
    )
    job_ids = list(
        Job.objects.filter(dagrun_id__in=runs).order_by().values_list("pk", flat=True)[:limit]
    )
    if dry_run:
        out.jobs = len(job_ids)
        out.events = JobEvent.objects.filter(job_id__in=job_ids).count()
        out.dagruns = len(runs)
        out.files = _prunable_files(cutoff, runs).count()
        return out
    if job_ids:
        with transaction.atomic():
            deleted = delete_jobs(job_ids)
            out.jobs = deleted.get("jobs.Job", 0)
            out.events = deleted.get("jobs.JobEvent", 0)
    empty = DagRun.objects.filter(pk__in=runs).exclude(
        Exists(Job.objects.filter(dagrun=OuterRef("pk")))
    )
    with transaction.atomic():
        out.dagruns = empty.delete()[1].get("dags.DagRun", 0)
    files = list(_prunable_files(cutoff, []).values_list("pk", flat=True)[:limit])
    if files:
        with transaction.atomic():
            out.files = DataFile.objects.filter(pk__in=files).delete()[1].get("dags.DataFile", 0)
    if out.total:
        log.info(
            "pruned %d job(s), %d event(s), %d DAG run(s), %d file(s) ended before %s",
            out.jobs,
            out.events,
            out.dagruns,
            out.files,
            cutoff.isoformat(timespec="seconds"),
        )
    return out


def delete_jobs(ids: list[int]) -> dict[str, int]:
    """Delete the jobs ``ids`` and the rows that cascade from them (in the caller's
    transaction); rows deleted per model label, as ``QuerySet.delete`` counts them.

    ``QuerySet.delete`` loads every job as a model instance and builds its child filters
    from those instances: about 60 % of a 5,000-job batch's time in the profile. When every
    relation to a job cascades and the job has no delete signal listeners, each child table
    (and then the job table) is emptied by one ``DELETE ... WHERE job_id IN`` of the ids, as
    Django's own collector does for its "fast deletes"; a child that has relations or
    listeners of its own goes through ``QuerySet.delete``. Anything else (a SET_NULL, a
    PROTECT, a signal on Job) takes the ordinary ``QuerySet.delete`` of the whole batch."""
    rels = [r for r in Job._meta.related_objects if r.on_delete is not models.DO_NOTHING]
    if (
        pre_delete.has_listeners(Job)
        or post_delete.has_listeners(Job)
        or any(r.on_delete is not models.CASCADE for r in rels)
    ):
        return dict(Job.objects.filter(pk__in=ids).delete()[1])
    counts: dict[str, int] = {}
    collector = Collector(using=Job.objects.db)
    for rel in rels:
        qs = rel.related_model._base_manager.filter(**{f"{rel.field.name}__in": ids})
        if collector.can_fast_delete(qs):
            n = {rel.related_model._meta.label: qs._raw_delete(qs.db)}
        else:
            n = qs.delete()[1]
        for label, k in n.items():
            counts[label] = counts.get(label, 0) + k
    counts["jobs.Job"] = Job._base_manager.filter(pk__in=ids)._raw_delete(Job.objects.db)
    return counts


def _prunable_files(cutoff: datetime, leaving: list[int]):
    """Files older than ``cutoff`` without DAG runs (besides those in ``leaving``), whose data
    are older than the oldest live run's minus the margin."""
    live = DagRun.objects.filter(state=DagRunState.RUNNING).aggregate(t=Min("data_ts"))["t"]
    qs = DataFile.objects.filter(created__lt=cutoff).exclude(
        Exists(DagRun.objects.filter(file=OuterRef("pk")).exclude(pk__in=leaving))
    )
    if live is not None:
        margin = live - timedelta(seconds=conf.LIVE_MARGIN)
        qs = qs.alias(end=Coalesce("data_ts_end", "data_ts")).filter(end__lt=margin)
    return qs
