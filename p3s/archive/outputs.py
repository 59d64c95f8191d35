"""The archive pass and the deletion of intermediate outputs of ENDED DAG runs.

Order for one run: its chosen outputs and products are copied to the archive and verified
(:func:`archive_runs`); then, once its output rule's time since the run ended is over, each
archived copy is read back once more and, only if it still has its checksum, the run's outputs
under the staging areas are deleted (:func:`delete_outputs`). A URL that a job of a live DAG
run names among its inputs or parents is never deleted, nor is anything of a run still running.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

import storage
from p3s.archive import conf
from p3s.archive.copies import (
    chosen,
    copy_verified,
    files_of,
    is_local,
    still_good,
    under,
)
from p3s.archive.models import ArchivedCopy, ArchiveRule, ArchiveTarget, OutputRule, RunCleanup
from p3s.dags.models import DagRun, DagRunState
from p3s.dqm.models import Product
from p3s.jobs.models import Job
from p3s.jobs.states import JobState
from storage.local import path_of

log = logging.getLogger("p3s.archive")


@dataclass
class Planned:
    """One file to copy: where from, where to, under which rule."""

    source: str
    dest: str
    kind: str
    stage: str


@dataclass
class Tally:
    copied: int = 0
    refused: int = 0
    runs_archived: int = 0
    deleted: int = 0
    runs_cleaned: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.copied + self.runs_archived + self.deleted + self.runs_cleaned


def _ended() -> Q:
    return Q(ended__isnull=False) & ~Q(state=DagRunState.RUNNING)


def _rules_for(run: DagRun, rules: list[ArchiveRule]) -> list[ArchiveRule]:
    return [r for r in rules if r.template_id in (None, run.template_id)]


def planned_copies(run: DagRun, rules: list[ArchiveRule]) -> list[Planned]:
    """Every file the archive rules choose in ``run`` (outputs of finished jobs, products)."""
    out: list[Planned] = []
    jobs = list(
        Job.objects.filter(dagrun=run, state=JobState.FINISHED).only("id", "stage", "outputs")
    )
    prefix = f"run{run.file.run:06d}/{run.template.name}/dagrun{run.pk}"
    for rule in _rules_for(run, rules):
        base = rule.archive_url.rstrip("/")
        if rule.target == ArchiveTarget.OUTPUTS:
            for job in jobs:
                if rule.stage and job.stage != rule.stage:
                    continue
                for url in job.outputs or []:
                    for src in files_of(url):
                        if chosen(src, rule.fraction):
                            name = src.rstrip("/").rsplit("/", 1)[-1]
                            dest = f"{base}/outputs/{prefix}/{job.stage}-job{job.pk}/{name}"
                            out.append(Planned(src, dest, "output", job.stage))
        else:
            products = Product.objects.filter(job__dagrun=run).select_related("job")
            if rule.stage:
                products = products.filter(job__stage=rule.stage)
            media = Path(settings.MEDIA_ROOT)
            for p in products.only("id", "file", "job__stage"):
                if not p.file.name:
                    continue
                src = str(media / p.file.name)
                if chosen(src, rule.fraction):
                    dest = f"{base}/products/{prefix}/{p.file.name.rsplit('/', 1)[-1]}"
                    out.append(Planned(src, dest, "product", p.job.stage))
    return out


def _archive_candidates(rules: list[ArchiveRule], limit: int):
    templates = {r.template_id for r in rules}
    qs = DagRun.objects.filter(_ended()).exclude(cleanup__archived_at__isnull=False)
    qs = qs.exclude(cleanup__outputs_deleted_at__isnull=False)
    if None not in templates:
        qs = qs.filter(template_id__in=templates)
    return qs.select_related("file", "template").order_by("ended", "id")[:limit]


def archive_runs(now: datetime | None = None, dry_run: bool = False) -> Tally:
    """Copy (and verify) the chosen files of ended runs not archived yet, a bounded number."""
    now = now or timezone.now()
    tally = Tally()
    rules = list(ArchiveRule.objects.filter(enabled=True))
    if not rules:
        return tally
    budget = conf.COPY_BATCH
    for run in _archive_candidates(rules, conf.RUN_BATCH):
        plan = planned_copies(run, rules)
        done = {
            (c.source, c.archive_url)
            for c in ArchivedCopy.objects.filter(dagrun_id=run.pk, verified_at__isnull=False).only(
                "source", "archive_url"
            )
        }
        todo = [p for p in plan if (p.source, p.dest) not in done]
        if dry_run:
            tally.copied += len(todo)
            tally.notes += [f"copy {p.source} -> {p.dest}" for p in todo]
            tally.runs_archived += 1
            continue
        failed = False
        for p in todo:
            if budget <= 0:
                return tally
            budget -= 1
            failed |= not _copy_one(run, p, now, tally)
        if not failed:
            RunCleanup.objects.update_or_create(
                dagrun=run, defaults={"archived_at": now, "error": ""}
            )
            tally.runs_archived += 1
    return tally


def _copy_one(run: DagRun, p: Planned, now: datetime, tally: Tally) -> bool:
    """Copy one file; True when the copy is verified or the source is gone (nothing to keep)."""
    record = {"kind": p.kind, "template": run.template.name, "stage": p.stage}
    try:
        made = copy_verified(p.source, p.dest)
    except storage.NotFound as exc:
        ArchivedCopy.objects.update_or_create(
            source=p.source,
            archive_url=p.dest,
            defaults={**record, "dagrun_id": run.pk, "error": f"source missing: {exc}"},
        )
        log.warning("archive: %s is gone, nothing to copy", p.source)
        return True
    except storage.StorageError as exc:
        _note(run, f"copy of {p.source} to {p.dest} failed: {exc}")
        tally.refused += 1
        return False
    ArchivedCopy.objects.update_or_create(
        source=p.source,
        archive_url=p.dest,
        defaults={
            **record,
            "dagrun_id": run.pk,
            "size": made.size,
            "checksum": made.checksum,
            "verified_at": now if made.ok else None,
            "error": made.error,
        },
    )
    if not made.ok:
        _note(run, f"archive copy of {p.source} refused: {made.error}")
        tally.refused += 1
        return False
    tally.copied += 1
    return True


def _note(run: DagRun, error: str) -> None:
    log.warning("archive: DAG run %s: %s", run.pk, error)
    RunCleanup.objects.update_or_create(dagrun=run, defaults={"error": error[:4000]})


# -- deleting intermediate outputs ----------------------------------------------------------


def _hours_by_template() -> tuple[float | None, dict[int, float | None]]:
    default = None
    per: dict[int, float | None] = {}
    for rule in OutputRule.objects.all():
        hours = rule.hours if rule.enabled else None
        if rule.template_id is None:
            default = hours if rule.enabled else default
        else:
            per[rule.template_id] = hours
    return default, per


def needed_by_live_runs() -> set[str]:
    """URLs that jobs of DAG runs still running name as inputs or parents' outputs."""
    needed: set[str] = set()
    for inputs, parents in Job.objects.filter(dagrun__state=DagRunState.RUNNING).values_list(
        "inputs", "parents"
    ):
        needed.update(u for u in inputs or [] if isinstance(u, str))
        for urls in (parents or {}).values():
            needed.update(u for u in urls or [] if isinstance(u, str))
    return needed


def _due_runs(now: datetime, limit: int):
    default, per = _hours_by_template()
    due = Q()
    any_rule = False
    for template_id, hours in per.items():
        if hours is not None:
            due |= Q(template_id=template_id, ended__lte=now - timedelta(hours=hours))
            any_rule = True
    if default is not None:
        due |= ~Q(template_id__in=list(per)) & Q(ended__lte=now - timedelta(hours=default))
        any_rule = True
    if not any_rule:
        return []
    arch_templates = {r.template_id for r in ArchiveRule.objects.filter(enabled=True)}
    qs = DagRun.objects.filter(_ended()).filter(due)
    qs = qs.exclude(cleanup__outputs_deleted_at__isnull=False)
    if arch_templates:  # the archive pass goes first where a rule applies
        archived = Q(cleanup__archived_at__isnull=False)
        if None not in arch_templates:
            archived |= ~Q(template_id__in=arch_templates)
        qs = qs.filter(archived)
    return list(qs.select_related("file").order_by("ended", "id")[:limit])


def run_dir(run: DagRun) -> str:
    """The run's own folder in the default staging layout (p3s.api.views.job_spec)."""
    return str(settings.DATA_ROOT / "outputs" / f"run{run.file.run:06d}" / f"dagrun{run.pk}")


def delete_outputs(now: datetime | None = None, dry_run: bool = False) -> Tally:
    """Delete the intermediate outputs of ended runs whose rule's time is over."""
    now = now or timezone.now()
    tally = Tally()
    runs = _due_runs(now, conf.RUN_BATCH)
    if not runs:
        return tally
    roots = conf.staging_roots()
    needed = needed_by_live_runs()
    for run in runs:
        named = Job.objects.filter(dagrun=run).values_list("outputs", flat=True)
        urls = list(
            dict.fromkeys(
                u
                for outs in named
                for u in outs or []
                if isinstance(u, str) and under(u, roots) and u not in needed
            )
        )
        folder = run_dir(run)
        whole = under(folder + "/x", roots) and not any(n.startswith(folder + "/") for n in needed)
        if dry_run:
            tally.deleted += len(urls)
            tally.notes += [f"delete {u}" for u in urls]
            tally.runs_cleaned += 1
            continue
        if not _copies_hold(run):
            continue
        if DagRun.objects.filter(pk=run.pk, state=DagRunState.RUNNING).exists():
            continue  # reopened (a retry) since it was picked
        tally.deleted += _remove(run, urls)
        if whole and path_of(folder).exists():
            shutil.rmtree(path_of(folder), ignore_errors=True)
        RunCleanup.objects.update_or_create(
            dagrun=run, defaults={"outputs_deleted_at": now, "deleted": len(urls)}
        )
        tally.runs_cleaned += 1
    return tally


def _copies_hold(run: DagRun) -> bool:
    """Read every verified archive copy of the run's outputs back; any that lost its checksum
    is marked bad, the run goes back to the archive pass and nothing of it is deleted."""
    bad = []
    for c in ArchivedCopy.objects.filter(
        dagrun_id=run.pk, kind="output", verified_at__isnull=False
    ):
        problem = still_good(c.archive_url, c.checksum)
        if problem:
            c.verified_at = None
            c.error = problem
            c.save(update_fields=["verified_at", "error"])
            bad.append(problem)
    if bad:
        RunCleanup.objects.update_or_create(
            dagrun=run, defaults={"archived_at": None, "error": bad[0][:4000]}
        )
        log.error("archive: DAG run %s keeps its outputs: %s", run.pk, bad[0])
        return False
    return True


def _remove(run: DagRun, urls: list[str]) -> int:
    done = 0
    for url in urls:
        try:
            if is_local(url) and path_of(url).is_dir():
                shutil.rmtree(path_of(url))
            else:
                storage.remove(url)
            done += 1
        except (storage.StorageError, OSError) as exc:
            log.warning("archive: could not delete %s of DAG run %s: %s", url, run.pk, exc)
    return done
