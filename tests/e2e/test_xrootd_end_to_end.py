"""End to end over XRootD: the full TPC chain with its raw file only on a real XRootD server,
the pilots' work directories on another tree than the server's DATA_ROOT, products arriving."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from payloads.daqsim import writer
from tests.storage.conftest import start_xrootd

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def xrootd():
    server = start_xrootd()
    yield server
    server.cleanup()


def test_the_tpc_chain_reads_its_raw_file_over_xrootd(live_p3s, xrootd):
    # One event of one APA (30 MB): the raw file exists only in the XRootD server's tree.
    (xrootd.data / "raw").mkdir()
    info = writer.write_tpc_file(
        xrootd.data / "raw",
        seed=3,
        run=41,
        subrun=1,
        n_events=1,
        apas=[0],
        start=datetime.now(UTC),
    )
    xrootd.own(xrootd.data / "raw")
    url = xrootd.url(f"raw/{info.path.name}")
    # Every stage of this file (the default template prescales SIG to half the files).
    text = (
        (ROOT / "p3s/dags/defaults/tpc-dqm.yaml")
        .read_text()
        .replace("prescale: 0.5", "prescale: 1.0")
    )
    r = live_p3s.post(
        "/api/v1/dags/", role="expert", data=text, headers={"Content-Type": "application/yaml"}
    )
    assert r.status_code in (200, 201), r.text
    elsewhere = Path(tempfile.mkdtemp(prefix="p3s-pilot-elsewhere-"))
    data_root = Path(live_p3s.env["P3S_DATA_ROOT"]).resolve()
    assert data_root not in elsewhere.parents
    for i in (1, 2):
        live_p3s.start_pilot(
            "--idle-exit", "600", "--workdir", str(elsewhere / f"p{i}"), name=f"x{i}"
        )
    body = {
        "urls": [url],
        "stream": "tpc",
        "run": 41,
        "subrun": 1,
        "timestamp": datetime.now(UTC).isoformat(),
        "events": 1,
        "size": info.path.stat().st_size,
    }
    r = live_p3s.post("/api/v1/files/", role="daq", json=body)
    assert r.status_code == 201, r.text
    run_id = next(d["id"] for d in r.json()["dagruns"] if d["template"] == "tpc-dqm")

    def over():
        d = live_p3s.get(f"/api/v1/dagruns/{run_id}/").json()
        return d if d["state"] != "running" else None

    run = live_p3s.wait_for(over, 1200, "the TPC DAG run over XRootD to end")
    states = {j["stage"]: j["state"] for j in run["jobs"]}
    assert run["state"] == "succeeded", (states, run)
    assert {"daq", "adcfft", "sig", "reco", "vis"} <= set(states)
    products = live_p3s.get("/api/v1/products/", params={"dagrun": run_id}).json()
    items = products["results"] if isinstance(products, dict) else products
    assert items, products
    # The pilots read the raw file over XRootD: nothing of it was copied to their trees.
    assert not list(elsewhere.rglob(info.path.name))
