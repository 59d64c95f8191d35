"""A real XRootD server (Debian's xrootd, scripts/ensure-xrootd.sh) as the archive, and as a
staging area whose outputs are deleted by URL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

import storage
from p3s.archive.models import ArchivedCopy, ArchiveRule, OutputRule
from p3s.archive.outputs import archive_runs, delete_outputs
from p3s.jobs.models import Job
from tests.archive.conftest import sha256_file
from tests.storage.conftest import start_xrootd

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def xrootd():
    server = start_xrootd()
    yield server
    server.cleanup()


def test_outputs_archived_on_xrootd_are_verified_and_a_corrupted_one_is_caught(staged, xrootd):
    world = staged(files=1)
    run = world.runs[0]
    ArchiveRule.objects.create(target="outputs", fraction=1.0, archive_url=xrootd.url("archive"))
    OutputRule.objects.create(hours=1)
    assert archive_runs().copied == 3
    for copy in ArchivedCopy.objects.all():
        assert copy.archive_url.startswith(f"root://127.0.0.1:{xrootd.port}//archive/outputs/")
        on_server = xrootd.data / copy.archive_url.split("//", 2)[2]
        assert copy.verified_at and sha256_file(on_server) == copy.checksum
    bad = ArchivedCopy.objects.get(stage="fft")
    on_server = xrootd.data / bad.archive_url.split("//", 2)[2]
    on_server.write_bytes(on_server.read_bytes()[:-10])  # truncated on the archive
    later = timezone.now() + timedelta(hours=2)
    assert delete_outputs(later).deleted == 0
    assert all(p.exists() for p in world.outputs[run.pk])
    bad.refresh_from_db()
    assert bad.verified_at is None and "reads as" in bad.error
    assert archive_runs(later).copied == 1
    assert delete_outputs(later).deleted == 3
    assert not any(p.exists() for p in world.outputs[run.pk])


def test_outputs_on_an_xrootd_staging_area_are_deleted_by_url(staged, xrootd, monkeypatch):
    world = staged(files=1)
    run = world.runs[0]
    remote = []
    for job in Job.objects.filter(dagrun=run).order_by("id"):  # adc, fft, vis
        url = xrootd.url(f"staging/dagrun{run.pk}/{job.stage}.h5")
        storage.put(world.outputs[run.pk][0], url)
        job.outputs = [url]
        job.save(update_fields=["outputs"])
        remote.append(url)
    outside = xrootd.url("elsewhere/keep.h5")
    storage.put(world.outputs[run.pk][0], outside)
    Job.objects.filter(dagrun=run, stage="vis").update(outputs=[remote[-1], outside])
    monkeypatch.setenv("P3S_ARCHIVE_STAGING_ROOTS", xrootd.url("staging"))
    OutputRule.objects.create(hours=0)
    assert all(storage.exists(u) for u in remote)
    assert delete_outputs(timezone.now() + timedelta(minutes=1)).deleted == 3
    assert not any(storage.exists(u) for u in remote)
    assert storage.exists(outside)
