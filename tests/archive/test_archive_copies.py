"""Archive rules copy a chosen fraction of outputs and products, verified by sha256; a copy
that no longer matches is caught before its source is deleted."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from p3s.archive.admin import ArchiveRuleForm
from p3s.archive.copies import chosen
from p3s.archive.models import ArchivedCopy, ArchiveRule, OutputRule, RunCleanup
from p3s.archive.outputs import archive_runs, delete_outputs
from storage.local import path_of
from tests.archive.conftest import sha256_file


def test_the_fraction_is_chosen_by_hash_the_same_on_every_pass():
    urls = [f"file:///data/outputs/run1/dagrun{i}/adc.h5" for i in range(4000)]
    first = [u for u in urls if chosen(u, 0.25)]
    assert first == [u for u in urls if chosen(u, 0.25)]
    assert 0.22 < len(first) / len(urls) < 0.28
    assert set(first) <= {u for u in urls if chosen(u, 0.5)}  # a larger fraction adds files
    assert not any(chosen(u, 0.0) for u in urls) and all(chosen(u, 1.0) for u in urls)


def test_archived_copies_carry_the_sources_checksum_verified(staged, tmp_path):
    world = staged(files=2)
    archive = tmp_path / "archive"
    ArchiveRule.objects.create(
        target="outputs", stage="fft", fraction=1.0, archive_url=str(archive)
    )
    tally = archive_runs()
    assert tally.copied == 2 and tally.runs_archived == 2
    for copy in ArchivedCopy.objects.all():
        source = path_of(copy.source)
        assert copy.stage == "fft" and copy.verified_at is not None and not copy.error
        assert copy.checksum == sha256_file(source) == sha256_file(path_of(copy.archive_url))
        assert copy.size == source.stat().st_size
        assert copy.archive_url.startswith(str(archive) + "/outputs/")
    assert RunCleanup.objects.filter(archived_at__isnull=False).count() == len(world.runs)
    assert archive_runs().copied == 0  # done once


def test_a_corrupted_copy_is_detected_and_its_source_is_not_deleted(staged, tmp_path):
    world = staged(files=1)
    run = world.runs[0]
    ArchiveRule.objects.create(target="outputs", fraction=1.0, archive_url=str(tmp_path / "a"))
    OutputRule.objects.create(hours=1)
    assert archive_runs().copied == 3
    bad = ArchivedCopy.objects.filter(stage="adc").get()
    dest = path_of(bad.archive_url)
    dest.write_bytes(b"X" + dest.read_bytes()[1:])  # one byte flipped on the archive
    later = timezone.now() + timedelta(hours=2)
    assert delete_outputs(later).deleted == 0
    assert all(p.exists() for p in world.outputs[run.pk])
    bad.refresh_from_db()
    assert bad.verified_at is None and "reads as sha256:" in bad.error
    cleanup = RunCleanup.objects.get(dagrun=run)
    assert cleanup.archived_at is None and cleanup.outputs_deleted_at is None
    # The next archive pass copies it again; then the outputs may go.
    assert archive_runs(later).copied == 1
    bad.refresh_from_db()
    assert bad.verified_at is not None and sha256_file(dest) == bad.checksum
    assert delete_outputs(later).deleted == 3
    assert not any(p.exists() for p in world.outputs[run.pk])
    assert all(path_of(c.archive_url).exists() for c in ArchivedCopy.objects.all())


def test_products_are_archived_and_stay_in_place(staged, tmp_path):
    world = staged(files=2)
    ArchiveRule.objects.create(target="products", fraction=1.0, archive_url=str(tmp_path / "a"))
    OutputRule.objects.create(hours=0)
    assert archive_runs().copied == len(world.products) == 2
    delete_outputs(timezone.now() + timedelta(hours=1))
    for product in world.products:
        copy = ArchivedCopy.objects.get(source=str(Path(product.file.path)))
        assert copy.kind == "product" and copy.verified_at
        assert Path(product.file.path).exists()
        assert copy.checksum == sha256_file(Path(product.file.path))


def test_an_archive_rule_with_an_unreadable_url_is_refused_in_the_admin(db):
    base = {"target": "outputs", "stage": "", "fraction": 0.1, "enabled": True}
    for url, why in [("s3://bucket/x", "no storage backend"), ("https://h/x", "not HTTP")]:
        form = ArchiveRuleForm(data={**base, "archive_url": url})
        assert not form.is_valid() and why in str(form.errors["archive_url"])
    assert not ArchiveRuleForm(data={**base, "fraction": 1.5, "archive_url": "/a"}).is_valid()
    assert ArchiveRuleForm(data={**base, "archive_url": "root://h:1094//archive"}).is_valid()
