"""The HTCondor backend and whole factory cycles against a REAL HTCondor personal pool
(scripts/condor-pool.sh: minicondor 23.9 in a Debian 13 chroot, 25.x host bindings)."""

import json
import os
import shutil
import sys

import pytest
from factory_helpers import FAKE_PILOT, summary, wait_for

from factory.backends.base import PilotSpec
from factory.backends.htcondor import HTCondorBackend
from factory.cli import main

pytestmark = [pytest.mark.condor, pytest.mark.slow]


@pytest.fixture
def job_dir(condor_pool):
    path = condor_pool.job_dir("htc")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def factory_id(request):
    return f"t{os.getpid()}x{abs(hash(request.node.name)) % 10**6}"


@pytest.fixture
def backend(condor_pool, factory_id):
    b = HTCondorBackend(factory_id, ["default"])
    yield b
    b.schedd().act(__import__("htcondor2").JobAction.Remove, b.constraint)


def pilot_files(job_dir):
    """A fake pilot and a token file the chroot's job user can read."""
    (job_dir / "started").mkdir(mode=0o777)
    (job_dir / "started").chmod(0o777)
    script = job_dir / "fake-pilot"
    script.write_text(FAKE_PILOT.format(python=sys.executable))
    script.chmod(0o755)
    token = job_dir / "pilot.token"
    token.write_text("pilot-secret-789\n")
    token.chmod(0o644)
    return script, token


def records(job_dir):
    return [json.loads(p.read_text()) for p in sorted((job_dir / "started").glob("pilot-*.json"))]


def test_pilots_are_submitted_tagged_counted_and_removed(condor_pool, backend, job_dir, factory_id):
    script, token = pilot_files(job_dir)
    spec = PilotSpec(
        server="http://127.0.0.1:9",
        token_file=token,
        queue="default",
        factory_id=factory_id,
        lifetime=300,
        memory=64,
        log_dir=job_dir,
        pilot=str(script),
        extra_env=(("FAKE_PILOT_RECORD_DIR", str(job_dir / "started")),),
    )
    ids = backend.submit(2, spec)
    assert len(ids) == 2
    ads = condor_pool.schedd().query(
        constraint=backend.constraint, projection=["P3SFactory", "P3SQueue", "Args", "Environment"]
    )
    assert {(a["P3SFactory"], a["P3SQueue"]) for a in ads} == {(factory_id, "default")}
    assert "pilot-secret-789" not in json.dumps([str(a) for a in ads])

    assert sorted(p.id for p in backend.query()) == sorted(ids)
    running = wait_for(
        lambda: (
            [p for p in backend.query() if p.state == "running"]
            if len([p for p in backend.query() if p.state == "running"]) == 2
            else None
        ),
        timeout=90,
        what="two running pilots",
    )
    assert sorted(p.id for p in running) == sorted(ids)
    started = wait_for(
        lambda: len(records(job_dir)) == 2 and records(job_dir), what="pilots started"
    )
    argv = started[0]["argv"]
    # The token travels with the job; the pilot reads it from its scratch folder.
    assert argv[argv.index("--token-file") + 1] == "pilot.token"
    assert started[0]["env"]["P3S_SERVER"] == "http://127.0.0.1:9"

    backend.remove([ids[0]])
    wait_for(lambda: [p.id for p in backend.query()] == [ids[1]], what="the removed pilot gone")
    backend.remove([ids[1]])
    wait_for(lambda: backend.query() == [], what="no pilots left")


@pytest.fixture
def cycle(condor_pool, fake_server, job_dir, factory_id):
    script, token = pilot_files(job_dir)

    def run(*extra: str, target: int = 5) -> int:
        return main(
            [
                "--backend",
                "htcondor",
                "--target",
                str(target),
                "--server",
                fake_server.url,
                "--token-file",
                str(token),
                "--pilot-command",
                str(script),
                "--factory-id",
                factory_id,
                "--state-dir",
                str(job_dir / "state"),
                "--log-dir",
                str(job_dir),
                *extra,
            ]
        )

    return run


def test_factory_cycles_count_queued_pilots_and_trim_to_a_lowered_target(
    cycle, backend, fake_server, caplog
):
    caplog.set_level("INFO", logger="p3s.factory")
    fake_server.answer = summary(claimable={"default": 3})
    # Ask for more memory than the pool has: the pilots stay idle (queued) in the schedd.
    assert cycle("--memory", "10000000") == 0
    pilots = backend.query()
    assert len(pilots) == 3 and {p.state for p in pilots} == {"queued"}

    # Same demand: the three queued pilots are the supply, nothing more is submitted.
    assert cycle("--memory", "10000000") == 0
    assert len(backend.query()) == 3
    assert "batch queued 3" in caplog.text

    # Dry run with more demand: says what it would submit, submits nothing.
    fake_server.answer = summary(claimable={"default": 5})
    assert cycle("--memory", "10000000", "--dry-run") == 0
    assert "would submit 2" in caplog.text and "queue 2" in caplog.text
    assert len(backend.query()) == 3

    # The operator lowers the target: queued pilots above it are removed.
    assert cycle("--memory", "10000000", target=1) == 0
    wait_for(lambda: len(backend.query()) == 1, what="two queued pilots trimmed")


def test_held_pilots_are_removed_by_the_next_cycle(cycle, backend, fake_server, condor_pool):
    import htcondor2

    fake_server.answer = summary(claimable={"default": 1})
    assert cycle("--memory", "10000000") == 0
    (pilot,) = backend.query()
    condor_pool.schedd().act(htcondor2.JobAction.Hold, [pilot.id], reason="test")
    wait_for(lambda: [p.state for p in backend.query()] == ["held"], what="the pilot held")
    fake_server.answer = summary(claimable={"default": 0})
    assert cycle() == 0
    wait_for(lambda: backend.query() == [], what="the held pilot removed")


def test_unreachable_server_submits_nothing_to_condor(cycle, backend, fake_server):
    fake_server.answer = summary(claimable={"default": 3})
    fake_server.close()
    assert cycle() == 3
    assert backend.query() == []
