"""Old jobs, events, DAG runs and files leave the database in bounded batches; DQM results
and recent runs stay."""

from __future__ import annotations

from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from p3s.archive.models import PruneRule
from p3s.archive.prune import prune
from p3s.dags.models import DagRun, DataFile
from p3s.dqm.models import Metric
from p3s.jobs.models import Job, JobEvent
from p3s.jobs.sweep import UNITS


def test_nothing_is_pruned_without_a_rule(staged):
    staged(files=2, products=False)
    assert prune(timezone.now() + timedelta(days=9999)).total == 0


def test_old_rows_go_in_batches_of_the_limit(staged):
    world = staged(files=4, products=False)
    PruneRule.objects.create(days=30, keep_dqm=False)
    events = JobEvent.objects.count()
    assert prune(timezone.now() + timedelta(days=29)).total == 0
    later = timezone.now() + timedelta(days=31)
    first = prune(later, limit=5)
    assert first.jobs == 5 and Job.objects.count() == 12 - 5
    assert 0 < first.events < events
    rounds = 1
    while prune(later, limit=5).total:
        rounds += 1
    assert rounds >= 3
    assert not Job.objects.exists() and not JobEvent.objects.exists()
    assert not DagRun.objects.filter(pk__in=[r.pk for r in world.runs]).exists()
    assert not DataFile.objects.exists()


def test_runs_with_dqm_results_stay_until_their_own_rules_delete_them(staged):
    with_dqm = staged(files=2, metrics=True)
    without = staged(files=1, products=False, template="plain", stream="bi")
    PruneRule.objects.create(days=1)
    later = timezone.now() + timedelta(days=2)
    while prune(later).total:
        pass
    assert DagRun.objects.filter(pk__in=[r.pk for r in with_dqm.runs]).count() == 2
    assert not DagRun.objects.filter(pk=without.runs[0].pk).exists()
    Metric.objects.all().delete()
    with_dqm.runs[0].jobs.get(stage="vis").products.all().delete()
    while prune(later).total:
        pass
    assert DagRun.objects.filter(pk__in=[r.pk for r in with_dqm.runs]).count() == 1


def test_a_file_near_a_live_runs_data_stays(staged):
    old = staged(files=2, products=False)
    staged(files=1, products=False, live=1)  # the same hour of data, still running
    PruneRule.objects.create(days=1, keep_dqm=False)
    later = timezone.now() + timedelta(days=2)
    while prune(later).total:
        pass
    assert not DagRun.objects.filter(pk__in=[r.pk for r in old.runs]).exists()
    assert DataFile.objects.filter(pk__in=[r.file_id for r in old.runs]).count() == 2


def test_the_command_dry_run_reports_and_changes_nothing(staged, capsys):
    staged(files=2, products=False)
    PruneRule.objects.create(days=0, keep_dqm=False)
    jobs = Job.objects.count()
    call_command("p3s_archive", "--dry-run")
    out = capsys.readouterr().out
    assert "dry run" in out and f"prune:   {jobs} job(s)" in out
    assert Job.objects.count() == jobs
    call_command("p3s_archive", "--until-done")
    assert f"pruned {jobs} job(s)" in capsys.readouterr().out
    assert not Job.objects.exists()


def test_the_sweeper_prunes_at_most_once_per_interval(staged, monkeypatch):
    from p3s.archive import conf
    from p3s.archive import sweep as archive_sweep
    from p3s.jobs.sweep import sweep_once

    assert archive_sweep.archive_and_prune in UNITS
    staged(files=2, products=False)
    PruneRule.objects.create(days=1, keep_dqm=False)
    monkeypatch.setattr(conf, "INTERVAL", 3600.0)
    monkeypatch.setattr(conf, "PRUNE_BATCH", 4)
    monkeypatch.setattr(archive_sweep, "_last", None)
    later = timezone.now() + timedelta(days=2)
    assert sweep_once(later).counts["archive_and_prune"] > 0
    assert Job.objects.count() == 6 - 4
    assert sweep_once(later + timedelta(minutes=5)).counts["archive_and_prune"] == 0
    assert sweep_once(later + timedelta(hours=2)).counts["archive_and_prune"] > 0
    assert not Job.objects.exists()


def test_the_fast_job_delete_removes_what_the_orm_delete_removes(
    staged, django_capture_on_commit_callbacks
):
    """prune.delete_jobs (one DELETE per child table) against QuerySet.delete on the same
    jobs, with products, metrics, events and a log present: the same rows per model, all
    gone, and the log's file too (its delete signal still runs)."""
    from django.db import transaction

    from p3s.archive.prune import delete_jobs
    from p3s.logs.models import JobLog
    from p3s.logs.store import path_of

    staged(files=2, metrics=True)
    ids = list(Job.objects.values_list("pk", flat=True))
    name = f"2026/11/01/job{ids[0]}-1.log.gz"
    path_of(name).parent.mkdir(parents=True, exist_ok=True)
    path_of(name).write_bytes(b"log")
    JobLog.objects.create(
        job_id=ids[0], attempt=1, name=name, size=3, compressed_size=3, sha256="0" * 64
    )
    assert Metric.objects.filter(job_id__in=ids).exists()

    def nonzero(counts):
        return {k: v for k, v in counts.items() if v}

    with transaction.atomic():
        orm = nonzero(Job.objects.filter(pk__in=ids).delete()[1])
        transaction.set_rollback(True)
    assert Job.objects.count() == len(ids)  # rolled back
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        fast = nonzero(delete_jobs(ids))
    assert fast == orm
    assert {"jobs.Job", "jobs.JobEvent", "dqm.Product", "dqm.Metric", "logs.JobLog"} <= set(fast)
    assert not path_of(name).exists()
    assert not Job.objects.exists() and not JobEvent.objects.exists()
    assert not Metric.objects.exists()
