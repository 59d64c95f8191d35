"""Fixtures: a real XRootD server and a real HTTP range server, each over a data directory."""

from __future__ import annotations

import pytest

from tests.storage.servers import RangeServer, XrootdServer


def start_xrootd() -> XrootdServer:
    try:
        # storage.xroot first: it sets the client's settings (XRD_*), read when it loads
        import storage.xroot  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"the XRootD Python bindings do not import ({exc}); pip install xrootd")
    try:
        return XrootdServer().start()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"no XRootD server can start here: {exc}")


@pytest.fixture(scope="module")
def xrootd():
    server = start_xrootd()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def http_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("http")
    server = RangeServer(root).start()
    server.root = root
    yield server
    server.stop()
