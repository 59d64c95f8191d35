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


def test_a_server_that_comes_back_is_seen_again_by_the_same_process(tmp_path):
    """After a connection error the XRootD client shuns a server for its stream error window
    (1800 s by default); storage.xroot cuts it to 5 s, so a long-lived process sees a
    restarted server again (the staging probe's switch back depends on it)."""
    import time

    import pytest

    from tests.storage.conftest import start_xrootd

    server = start_xrootd()
    try:
        src = tmp_path / "x"
        src.write_bytes(b"x")
        url = server.url("back/x")
        storage.put(src, url, storage.retry.NONE)
        server.stop()
        with pytest.raises(storage.Transient):
            storage.put(src, url, storage.retry.NONE)
        server.start()
        deadline = time.monotonic() + 20
        while True:
            try:
                storage.put(src, url, storage.retry.NONE)
                break
            except storage.Transient:
                assert time.monotonic() < deadline, "the restarted server was never seen"
                time.sleep(0.5)
    finally:
        server.cleanup()
