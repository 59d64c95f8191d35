"""A retention rule of target ``logs`` deletes old job logs, rows and files (in batches, by
stream); a log whose job is deleted (pruned) takes its file with it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.utils import timezone

from p3s.dqm.admin import RetentionRuleAdmin
from p3s.dqm.models import RetentionRule
from p3s.dqm.retention import apply_retention
from p3s.jobs.models import Job
from p3s.logs.models import JobLog
from tests.logs.conftest import FILE, claim_and_run, files, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_logs(running, new_pilot, daq):
    """Logs of three jobs of stream diag, the first one ten days old: (first, [others])."""
    pilot, first = running
    assert upload(pilot, first, key="a").status_code == 201
    more = []
    for i in range(2):
        daq.post("/api/v1/files/", {**FILE, "url": f"file:///d/g{i}.h5"}, format="json")
        other = new_pilot(host=f"wn{i}")
        job = claim_and_run(other)
        assert upload(other, job["id"], key="b").status_code == 201, job
        more.append(job["id"])
    JobLog.objects.filter(job_id=first).update(created=timezone.now() - timedelta(days=10))
    return first, more


def test_old_logs_go_with_their_files_and_new_ones_stay(
    three_logs, tmp_path, django_capture_on_commit_callbacks
):
    old, new = three_logs
    assert len(files(tmp_path)) == 3
    assert apply_retention() == 0  # no rule, nothing goes
    RetentionRule.objects.create(target="logs", days=7, stream="tpc")
    assert apply_retention() == 0  # our jobs are of stream diag
    rule = RetentionRule.objects.create(target="logs", days=7)
    assert RetentionRuleAdmin(RetentionRule, admin.site).due_now(rule) == 1  # the admin says
    with django_capture_on_commit_callbacks(execute=True):
        assert apply_retention() == 1
    assert sorted(JobLog.objects.values_list("job_id", flat=True)) == sorted(new)
    left = files(tmp_path)
    assert len(left) == 2 and all(f"job{old}-" not in p.name for p in left)
    with django_capture_on_commit_callbacks(execute=True):
        assert apply_retention(now=timezone.now() + timedelta(days=8), limit=1) == 1
        assert apply_retention(now=timezone.now() + timedelta(days=8), limit=1) == 1
    assert not JobLog.objects.exists() and files(tmp_path) == []
    assert list((tmp_path / "logs").iterdir()) == []  # emptied day directories go too


def test_a_deleted_job_takes_its_log_file(three_logs, tmp_path, django_capture_on_commit_callbacks):
    old, _ = three_logs
    with django_capture_on_commit_callbacks(execute=True):
        Job.objects.filter(pk=old).delete()
    assert len(files(tmp_path)) == 2 and JobLog.objects.count() == 2
