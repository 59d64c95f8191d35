"""The Slurm backend against a real one-node Slurm (scripts/ensure-slurm.sh).

The fixture starts Slurm when it is installable and not up, and stops it afterwards; CI starts
it beforehand. Skipped, with the reason, where Slurm cannot run.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from factory_helpers import started_pilots

from factory.backends.base import PilotSpec
from factory.backends.slurm import SlurmBackend

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-slurm.sh"


def _status() -> bool:
    return subprocess.run([str(SCRIPT), "status"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def slurm():
    started = False
    if not _status():
        if os.geteuid() != 0:
            pytest.skip("Slurm is not up and starting it needs root (scripts/ensure-slurm.sh)")
        out = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            pytest.skip(f"Slurm could not be started here: {out.stderr.strip()[-300:]}")
        started = True
    real_memory = int(
        subprocess.run(["sinfo", "-h", "-o", "%m"], capture_output=True, text=True, check=True)
        .stdout.split()[0]
        .rstrip("+")
    )
    yield real_memory
    if started:
        subprocess.run([str(SCRIPT), "stop"], capture_output=True, timeout=60)


def wait(predicate, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_slurm_pilots_are_submitted_counted_and_removed(slurm, tmp_path, fake_pilot):
    assert shutil.which("sbatch")
    token = tmp_path / "pilot.token"
    token.write_text("pilot-secret")
    factory_id = f"t{os.getpid()}"
    backend = SlurmBackend(factory_id, ["default"])
    # Each pilot asks for 60% of the node's memory: one runs, the others must wait.
    spec = PilotSpec(
        server="http://127.0.0.1:9",
        token_file=token,
        factory_id=factory_id,
        lifetime=120,
        memory=int(slurm * 0.6),
        log_dir=tmp_path / "logs",
        pilot=str(fake_pilot),
    )
    ids = backend.submit(3, spec)
    try:
        assert len(ids) == 3 and all(i.isdigit() for i in ids)
        pilots = wait(
            lambda: [p for p in backend.query() if p.state == "running"] and backend.query(),
            what="a running pilot",
        )
        assert sorted(p.id for p in pilots) == sorted(ids)
        assert sorted(p.state for p in pilots) == ["queued", "queued", "running"]
        record = started_pilots(fake_pilot, wait_for=1, timeout=30)[0]
        assert record["argv"][record["argv"].index("--token-file") + 1] == str(token)
        assert record["env"]["P3S_QUEUE"] == "default"
        backend.remove(ids[:2])
        left = wait(lambda: (q := backend.query()) and len(q) == 1 and q, what="two pilots gone")
        assert [p.id for p in left] == [ids[2]]
    finally:
        backend.remove(ids)
    wait(lambda: backend.query() == [], what="all pilots gone")
