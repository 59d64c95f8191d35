"""Intermediate outputs of ENDED DAG runs go after their rule's time; products stay; a live
DAG run (its outputs, what it reads, its rows) is never touched."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from p3s.archive.models import OutputRule, PruneRule, RunCleanup
from p3s.archive.outputs import delete_outputs, run_dir
from p3s.archive.prune import prune
from p3s.archive.sweep import run_once
from p3s.dags.models import DagRun, DataFile
from p3s.dqm.models import Product
from p3s.jobs.models import Job, JobEvent
from storage.local import path_of


def test_intermediate_outputs_go_after_the_rule_time_and_products_stay(staged):
    world = staged(files=2)
    assert all(r.state == "succeeded" and r.ended for r in world.runs)
    OutputRule.objects.create(hours=6)
    assert delete_outputs(timezone.now() + timedelta(hours=5)).deleted == 0
    assert all(p.exists() for paths in world.outputs.values() for p in paths)
    tally = delete_outputs(timezone.now() + timedelta(hours=7))
    assert tally.deleted == 6 and tally.runs_cleaned == 2
    assert not any(p.exists() for paths in world.outputs.values() for p in paths)
    assert not any(path_of(run_dir(r)).exists() for r in world.runs)
    assert Product.objects.count() == 2
    assert all(Path(p.file.path).exists() for p in Product.objects.all())
    assert RunCleanup.objects.filter(outputs_deleted_at__isnull=False, deleted=3).count() == 2
    assert delete_outputs(timezone.now() + timedelta(hours=8)).deleted == 0  # once


def test_a_template_rule_overrides_the_default(staged):
    quick = staged(files=1, template="quick", stream="bi")
    slow = staged(files=1, template="slow", stream="crt")
    OutputRule.objects.create(hours=100)
    OutputRule.objects.create(hours=1, template=quick.runs[0].template)
    delete_outputs(timezone.now() + timedelta(hours=2))
    assert not any(p.exists() for p in quick.outputs[quick.runs[0].pk])
    assert all(p.exists() for p in slow.outputs[slow.runs[0].pk])
    OutputRule.objects.filter(template__isnull=True).update(enabled=False)
    assert delete_outputs(timezone.now() + timedelta(days=999)).deleted == 0


def test_a_running_dag_run_is_untouched(staged):
    world = staged(files=3, live=1)
    live = world.runs[-1]
    assert live.state == "running" and live.ended is None
    OutputRule.objects.create(hours=0)
    PruneRule.objects.create(days=0, keep_dqm=False)
    # The live run's vis job reads the fft output: say the live fft output were also named
    # by an ended run (a reprocessing, an operator edit): it must stay as well.
    fft_of_live = Job.objects.get(dagrun=live, stage="fft").outputs[0]
    ended = world.runs[0]
    Job.objects.filter(dagrun=ended, stage="adc").update(outputs=[fft_of_live])
    rows = (
        Job.objects.filter(dagrun=live).count(),
        JobEvent.objects.filter(job__dagrun=live).count(),
    )
    far = timezone.now() + timedelta(days=365)
    while run_once(far):
        pass
    assert all(p.exists() for p in world.outputs[live.pk])
    assert DagRun.objects.filter(pk=live.pk, state="running").exists()
    assert DataFile.objects.filter(pk=live.file_id).exists()
    assert rows == (
        Job.objects.filter(dagrun=live).count(),
        JobEvent.objects.filter(job__dagrun=live).count(),
    )
    # The ended runs are gone, rows and outputs alike.
    assert not DagRun.objects.filter(pk__in=[r.pk for r in world.runs[:-1]]).exists()
    assert not any(
        p.exists()
        for r in world.runs[:-1]
        for p in world.outputs[r.pk]
        if str(p.as_uri()) != fft_of_live
    )


def test_outputs_outside_the_staging_areas_are_never_deleted(staged, tmp_path):
    world = staged(files=1)
    elsewhere = tmp_path / "elsewhere" / "keep.h5"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"not ours")
    escape = f"file://{tmp_path}/data/outputs/../elsewhere/keep.h5"
    Job.objects.filter(dagrun=world.runs[0], stage="adc").update(outputs=[elsewhere.as_uri()])
    Job.objects.filter(dagrun=world.runs[0], stage="fft").update(outputs=[escape, "/etc/hostname"])
    OutputRule.objects.create(hours=0)
    assert delete_outputs(timezone.now() + timedelta(hours=1)).deleted == 1  # vis only
    assert elsewhere.exists() and Path("/etc/hostname").exists()


def test_pruning_waits_for_the_outputs_to_be_deleted(staged):
    world = staged(files=1, products=False)
    OutputRule.objects.create(hours=48)
    PruneRule.objects.create(days=1, keep_dqm=False)
    assert prune(timezone.now() + timedelta(days=1.5)).total == 0  # outputs still there
    later = timezone.now() + timedelta(days=3)
    delete_outputs(later)
    assert prune(later).dagruns == 1
    assert not DagRun.objects.filter(pk=world.runs[0].pk).exists()
