"""The storage layer against real servers: XRootD (Debian's xrootd) and an HTTP range server."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import h5py
import numpy as np
import pytest

import storage
from payloads import tolerances as tol
from payloads.daqsim import writer
from payloads.daqsim.tpc import SimConfig
from payloads.detector import Detector
from payloads.errors import RawFileError
from payloads.rawio import RawFile, select_events
from payloads.stages.adcfft import analyse_file
from storage import retry
from tests.storage.servers import free_port

SMALL = Detector(n_ticks=600)  # the real channel map, fewer ticks: 20 events stay small
START = datetime(2026, 1, 1, tzinfo=UTC)
QUICK = retry.Policy(attempts=3, base=0.01, cap=0.05)


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory):
    info = writer.write_tpc_file(
        tmp_path_factory.mktemp("raw"),
        seed=5,
        run=1,
        subrun=1,
        n_events=20,
        apas=[0],
        start=START,
        cfg=SimConfig(det=SMALL, signals=False),
    )
    return info.path


@pytest.fixture(scope="module")
def raw_on_xrootd(xrootd, raw_file):
    dest = xrootd.data / "raw" / raw_file.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(raw_file, dest)
    xrootd.own(dest.parent)
    return xrootd.url(f"raw/{raw_file.name}")


def _adc_bytes(fraction: float, url: str) -> tuple[int, int, int]:
    with RawFile(url, det=SMALL) as raw:
        header = raw.bytes_read
        positions = select_events(raw.n_events, fraction)
        analyse_file(raw, positions, det=SMALL)
        return header, raw.bytes_read - header, raw.size


def test_a_tenth_of_the_events_moves_about_a_tenth_of_the_bytes_over_xrootd(raw_on_xrootd):
    header, data, size = _adc_bytes(0.1, raw_on_xrootd)
    expected = 0.1 * 20 * SMALL.n_channels * SMALL.n_ticks * 2
    lo, hi = tol.FRACTION_BYTES_RATIO
    assert lo <= data / expected <= hi, (data, expected)
    assert (header + data) / size < 0.2, (header, data, size)
    _, full, _ = _adc_bytes(1.0, raw_on_xrootd)
    assert 8 <= full / data <= 12, (full, data)


def test_xrootd_read_equals_the_local_read(raw_on_xrootd, raw_file):
    with RawFile(raw_on_xrootd, det=SMALL) as remote, RawFile(raw_file, det=SMALL) as local:
        assert remote.attrs == local.attrs
        assert np.array_equal(remote.read_apa(3, 0), local.read_apa(3, 0))


def test_xrootd_missing_and_refused_are_not_retried(xrootd):
    with pytest.raises(storage.NotFound) as missing:
        storage.open_input(xrootd.url("no/such.h5"), QUICK)
    assert "no such file" in str(missing.value)
    secret = xrootd.data / "secret.h5"
    secret.write_bytes(b"x" * 100)
    secret.chmod(0o000)  # root-owned 000 for nobody (or 000 for the same user): refused
    if xrootd.user:
        shutil.chown(secret, "root")
    with pytest.raises(storage.PermissionRefused) as refused:
        storage.open_input(xrootd.url("secret.h5"), QUICK)
    assert "permission" in str(refused.value)
    with pytest.raises(RawFileError, match="no such file"):
        RawFile(xrootd.url("no/such.h5"))


def test_a_server_that_does_not_answer_is_retried_then_transient(monkeypatch):
    from storage import xroot

    monkeypatch.setattr(xroot, "OPEN_TIMEOUT", 1)
    calls = []

    def once():
        calls.append(1)
        return storage.backend("root://x//y").open(f"root://127.0.0.1:{free_port()}//f.h5")

    with pytest.raises(storage.Transient):
        retry.call(once, "open", QUICK)
    assert len(calls) == QUICK.attempts


def test_write_by_url_and_read_back_over_xrootd(xrootd, tmp_path):
    src = tmp_path / "out.h5"
    with h5py.File(src, "w") as h5:
        h5["x"] = np.arange(1000)
    url = xrootd.url("outputs/run1/a/out.h5")
    assert storage.put(src, url) == src.stat().st_size
    assert storage.exists(url) and storage.size(url) == src.stat().st_size
    with storage.open_input(url) as fh, h5py.File(fh, "r") as h5:
        assert h5["x"][()].sum() == 999 * 1000 // 2
    back = tmp_path / "back.h5"
    storage.get(url, back)
    assert back.read_bytes() == src.read_bytes()
    storage.remove(url)
    assert not storage.exists(url)
    total, free = storage.backend(url).usage(xrootd.url("outputs"))
    assert 0 < free <= total


def test_http_range_reads_feed_h5py(http_server, raw_file):
    shutil.copyfile(raw_file, http_server.root / raw_file.name)
    url = http_server.url(raw_file.name)
    before = http_server.bytes_sent
    header, data, size = _adc_bytes(0.1, url)
    sent = http_server.bytes_sent - before
    assert sent == header + data  # the counters count what the server sent
    assert sent / size < 0.2
    with RawFile(url, det=SMALL) as remote, RawFile(raw_file, det=SMALL) as local:
        assert np.array_equal(remote.read_apa(7, 0), local.read_apa(7, 0))


def test_http_errors_are_sorted(http_server, tmp_path):
    with pytest.raises(storage.NotFound):
        storage.open_input(http_server.url("missing.h5"), QUICK)
    (http_server.root / "forbidden.h5").write_bytes(b"x")
    with pytest.raises(storage.PermissionRefused):
        storage.open_input(http_server.url("forbidden.h5"), QUICK)
    (http_server.root / "whole.bin").write_bytes(b"y" * 10_000)
    http_server.httpd.ignore_ranges = True
    try:
        with storage.open_input(http_server.url("whole.bin")) as fh:
            with pytest.raises(storage.StorageError, match="ignored the Range"):
                fh.read(10)
    finally:
        http_server.httpd.ignore_ranges = False
    src = tmp_path / "p.bin"
    src.write_bytes(b"z" * 5000)
    storage.put(src, http_server.url("up/p.bin"))
    assert (http_server.root / "up" / "p.bin").read_bytes() == src.read_bytes()


def test_local_paths_and_file_urls(raw_file):
    with storage.open_input(raw_file.as_uri()) as a, storage.open_input(str(raw_file)) as b:
        assert a.read(8) == b.read(8) == b"\x89HDF\r\n\x1a\n"
        assert a.counters.bytes_read == 8
    with pytest.raises(storage.NotFound):
        storage.open_input(str(raw_file) + ".missing")


def test_unknown_scheme_is_refused_with_the_reason():
    with pytest.raises(storage.UnsupportedScheme, match="no storage backend for scheme 'gsiftp'"):
        storage.check_url("gsiftp://host/a.h5")
    assert {"file", "root", "https"} <= set(storage.supported_schemes())
    with pytest.raises(RawFileError, match="scheme 's3'"):
        RawFile("s3://bucket/a.h5")
