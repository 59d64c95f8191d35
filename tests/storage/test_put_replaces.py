"""storage.put over a real XRootD server replaces a file that is already there (the staging
probe writes the same marker every pass; a retried job publishes the same output name)."""

from __future__ import annotations

import storage


def test_a_second_put_of_one_name_over_xrootd_replaces_the_file(xrootd, tmp_path):
    src = tmp_path / "out.bin"
    url = xrootd.url("replace/twice/out.bin")
    for body in (b"first version, longer", b"second"):
        src.write_bytes(body)
        assert storage.put(src, url, storage.retry.NONE) == len(body)
    assert (xrootd.data / "replace/twice/out.bin").read_bytes() == b"second"
    assert storage.size(url) == len(b"second")
