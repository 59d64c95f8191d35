"""A full staging disk is the server's trouble, not the pilot's: a product upload that meets
ENOSPC is answered 503 JSON with Retry-After (pilots retry it; a 500 three times in a row
would make them drop the product), leaves no row and no partial file, and the retry after
space came back stores the product once. The disk is a real 1 MB tmpfs, filled for real."""

from __future__ import annotations

import errno
import io
import os
import subprocess

import pytest

from p3s.dqm.models import Product

pytestmark = pytest.mark.django_db

FILE = {"url": "file:///d/full.h5", "stream": "diag", "run": 5, "timestamp": "2026-11-22T10:00:00Z"}


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "staging"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def fill(mnt) -> None:
    with open(mnt / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\xff" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_product_upload_on_a_full_disk_is_a_503_that_leaves_nothing_and_a_retry_stores_once(
    tiny_disk, settings, daq, new_pilot, make_dag
):
    settings.MEDIA_ROOT = tiny_disk
    make_dag()
    daq.post("/api/v1/files/", FILE, format="json")
    pilot = new_pilot()
    job = pilot.post(f"/api/v1/pilots/{pilot.pilot_id}/claim/", {}, format="json").json()
    pilot.post(f"/api/v1/jobs/{job['id']}/report/", {"state": "running"}, format="json")
    # A little room is left: the write starts, then meets ENOSPC part way.
    fill(tiny_disk)
    (tiny_disk / "filler").write_bytes(b"\xff" * (os.path.getsize(tiny_disk / "filler") - 8192))
    body = b'{"values": [' + b"1.0, " * 20000 + b"1.0]}"

    def upload():
        f = io.BytesIO(body)
        f.name = "big.json"
        data = {"file": f, "kind": "json", "title": "big", "key": "k-a1-p0", "attempt": 1}
        return pilot.post(f"/api/v1/jobs/{job['id']}/products/", data, format="multipart")

    r = upload()
    assert r.status_code == 503, r.content
    assert r["Content-Type"].startswith("application/json") and r["Retry-After"]
    assert "staging disk is full" in r.json()["detail"]
    assert not Product.objects.filter(job_id=job["id"]).exists()
    left = [p for p in tiny_disk.rglob("*") if p.is_file() and p.name != "filler"]
    assert left == []
    (tiny_disk / "filler").unlink()
    assert upload().status_code == 201
    assert upload().status_code == 200  # the pilot's retry of a lost answer: still one
    product = Product.objects.get(job_id=job["id"])
    assert (tiny_disk / product.file.name).read_bytes() == body
