"""The pilot picks a replica by site preference and falls back; remote parent outputs are
staged into the job's directory (real XRootD server, real local files)."""

from __future__ import annotations

import pytest

from pilot import transfer
from tests.storage.servers import free_port


def test_replica_order_follows_the_site_preference():
    urls = ["https://eos/a.h5", "root://buffer//a.h5", "file:///d/a.h5"]
    assert transfer.replica_order(urls, ["root", "file"]) == [urls[1], urls[2], urls[0]]
    assert transfer.replica_order(urls, ["root://buffer"])[0] == urls[1]
    assert transfer.replica_order(urls, []) == urls


def _spec(urls: list[str]) -> dict:
    return {
        "id": 7,
        "file": {"url": urls[0], "replicas": urls[1:]},
        "inputs": [urls[0]],
        "parents": {},
    }


def test_a_dead_or_missing_replica_is_skipped_for_the_next(xrootd, tmp_path, monkeypatch):
    from storage import xroot

    monkeypatch.setattr(xroot, "OPEN_TIMEOUT", 1)
    (xrootd.data / "good.h5").write_bytes(b"\x89HDF" + b"\0" * 100)
    xrootd.own(xrootd.data / "good.h5")
    port = free_port()
    dead = f"root://127.0.0.1:{port}//good.h5"
    missing = xrootd.url("gone.h5")
    good = xrootd.url("good.h5")
    monkeypatch.setenv(transfer.PREFERENCE_ENV, f"root://127.0.0.1:{port}")  # dead first
    out = transfer.prepare_inputs(_spec([missing, dead, good]), tmp_path)
    assert out["inputs"][0] == good
    log = (tmp_path / "transfer.log").read_text()
    assert "replica " + missing + " skipped" in log and "no such file" in log
    assert "replica " + dead + " skipped" in log
    assert "reading the raw file from " + good in log


def test_remote_parent_outputs_are_staged_locally(xrootd, tmp_path):
    (xrootd.data / "adc-1.h5").write_bytes(b"parent")
    xrootd.own(xrootd.data / "adc-1.h5")
    url = xrootd.url("adc-1.h5")
    spec = {"id": 8, "file": {"url": "file:///d/a.h5"}, "inputs": ["file:///d/a.h5", url]}
    spec["parents"] = {"adc": [url]}
    out = transfer.prepare_inputs(spec, tmp_path)
    local = tmp_path / "inputs" / "adc-1.h5"
    assert out["parents"] == {"adc": [local.as_uri()]} and out["inputs"][1] == local.as_uri()
    assert local.read_bytes() == b"parent"


def test_a_parent_output_that_cannot_be_had_is_a_storage_error(xrootd, tmp_path):
    import storage

    spec = {"id": 9, "file": {"url": "file:///d/a.h5"}, "inputs": ["file:///d/a.h5"]}
    spec["parents"] = {"adc": [xrootd.url("never-written.h5")]}
    with pytest.raises(storage.NotFound):
        transfer.prepare_inputs(spec, tmp_path)
