"""The local backend: detached pilot processes with records that query and remove use."""

import json
import os
import time
from pathlib import Path

from factory_helpers import started_pilots

from factory.backends.base import PilotSpec
from factory.backends.local import LocalBackend


def spec(tmp_path: Path, fake_pilot: Path, queue: str = "default") -> PilotSpec:
    token = tmp_path / "pilot.token"
    token.write_text("pilot-secret-456")
    return PilotSpec(
        server="http://127.0.0.1:9",
        token_file=token,
        queue=queue,
        factory_id="t1",
        lifetime=120,
        log_dir=tmp_path / "logs",
        pilot=str(fake_pilot),
        pilot_args=("--idle-exit", "30"),
    )


def test_submitted_pilots_run_detached_and_are_counted(tmp_path, fake_pilot):
    backend = LocalBackend("t1", ["default"], tmp_path / "state", kill_grace=2)
    ids = backend.submit(2, spec(tmp_path, fake_pilot))
    assert len(ids) == 2
    records = started_pilots(fake_pilot, wait_for=2)
    assert len(records) == 2
    pilots = backend.query()
    assert sorted(p.id for p in pilots) == sorted(ids)
    assert {p.state for p in pilots} == {"running"}
    assert {p.queue for p in pilots} == {"default"}
    argv = records[0]["argv"]
    assert argv[argv.index("--token-file") + 1] == str(tmp_path / "pilot.token")
    assert "pilot-secret-456" not in " ".join(argv)
    assert "--idle-exit" in argv and argv[argv.index("--lifetime") + 1] == "120"
    assert records[0]["env"]["P3S_BATCH_SYSTEM"] == "local"
    assert records[0]["env"]["P3S_BATCH_ID"] in ids
    assert "P3S_TOKEN" not in records[0]["env"]
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == sorted(
        f"local-{i}.{ext}" for i in ids for ext in ("out", "err")
    )


def test_remove_stops_pilots_and_the_next_query_notices(tmp_path, fake_pilot):
    backend = LocalBackend("t1", ["default"], tmp_path / "state", kill_grace=2)
    ids = backend.submit(3, spec(tmp_path, fake_pilot))
    started_pilots(fake_pilot, wait_for=3)
    backend.remove(ids[:2])
    assert [p.id for p in backend.query()] == [ids[2]]
    pids = [r["pid"] for r in started_pilots(fake_pilot)]
    alive = [
        pid
        for pid in pids
        if Path(f"/proc/{pid}").exists()
        and Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    ]
    assert len(alive) == 1
    backend.remove(ids[2:])
    assert backend.query() == []


def test_a_pilot_that_exits_by_itself_drops_out_of_the_count(tmp_path, fake_pilot, monkeypatch):
    monkeypatch.setenv("FAKE_PILOT_SECONDS", "0.2")
    backend = LocalBackend("t1", ["default"], tmp_path / "state")
    backend.submit(1, spec(tmp_path, fake_pilot))
    started_pilots(fake_pilot, wait_for=1)
    deadline = time.monotonic() + 10
    while backend.query() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert backend.query() == []
    assert list((tmp_path / "state" / "local" / "t1").glob("*.json")) == []


def test_a_recycled_pid_is_not_taken_for_a_pilot(tmp_path):
    backend = LocalBackend("t1", ["default"], tmp_path / "state")
    backend.dir.mkdir(parents=True)
    # This very process is alive, but it started at another time than the record says.
    (backend.dir / "x.json").write_text(
        json.dumps({"id": "x", "pid": os.getpid(), "start": "1", "queue": "default"})
    )
    assert backend.query() == []
