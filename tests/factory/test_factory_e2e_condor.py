"""End to end: the real p3s server (gunicorn), a real HTCondor pool, real pilots.

The factory reads the server's demand, submits pilots to the pool; they register, run the
diag DAG (A -> B, C -> D) of announced files; the next cycle counts them as running in the
batch system and registered with the server and submits nothing; removing the pilots from the
queue is noticed by the following cycle, which submits again for new work.
"""

import importlib.util
import os
import shutil
import time
from datetime import UTC, datetime

import pytest
from factory_helpers import log_tails, wait_for

from factory.backends.htcondor import HTCondorBackend
from factory.cli import main

pytestmark = [pytest.mark.condor, pytest.mark.e2e, pytest.mark.slow]

if importlib.util.find_spec("pilot.main") is None:
    pytest.skip("the pilot (pilot.main) is not on this branch yet", allow_module_level=True)


def results(response):
    data = response.json()
    return data["results"] if isinstance(data, dict) and "results" in data else data


@pytest.fixture
def e2e(live_p3s, condor_pool, tmp_path):
    job_dir = condor_pool.job_dir("e2e")
    # The pilot token goes with each job; the chroot's job user must read it (test pool only).
    pilot_token = job_dir / "pilot.token"
    pilot_token.write_text(live_p3s.tokens["pilot"] + "\n")
    pilot_token.chmod(0o644)
    operator_token = tmp_path / "operator.token"
    operator_token.write_text(live_p3s.tokens["operator"] + "\n")
    factory_id = f"e2e{os.getpid()}"
    backend = HTCondorBackend(factory_id, ["default"])

    def cycle(*extra: str) -> int:
        return main(
            [
                "--backend",
                "htcondor",
                "--target",
                "3",
                "--server",
                live_p3s.url,
                "--token-file",
                str(operator_token),
                "--pilot-token-file",
                str(pilot_token),
                "--factory-id",
                factory_id,
                "--state-dir",
                str(job_dir / "state"),
                "--log-dir",
                str(job_dir),
                "--lifetime",
                "600",
                "--memory",
                "256",
                "--pilot-args",
                "--idle-exit 300 --wait 2",
                *extra,
            ]
        )

    def announce(n: int, run: int) -> None:
        for i in range(n):
            r = live_p3s.post(
                "/api/v1/files/",
                role="daq",
                json={
                    "url": f"file:///data/diag/run{run}_{i}.h5",
                    "stream": "diag",
                    "run": run,
                    "subrun": i,
                    "timestamp": datetime.now(UTC).isoformat(),
                },
            )
            assert r.status_code == 201, r.text

    def summary() -> dict:
        return live_p3s.get("/api/v1/summary/").json()

    live_p3s.start_sweeper()
    yield live_p3s, backend, cycle, announce, summary, job_dir
    import htcondor2

    backend.schedd().act(htcondor2.JobAction.Remove, backend.constraint)
    wait_for(lambda: backend.query() == [], timeout=30, what="pilots removed at teardown")
    shutil.rmtree(job_dir, ignore_errors=True)


def test_factory_pilots_run_a_dag_and_the_next_cycles_count_them(e2e, caplog):
    server, backend, cycle, announce, summary, job_dir = e2e
    caplog.set_level("INFO", logger="p3s.factory")

    def logs() -> str:
        return (
            log_tails(job_dir, pattern="pilot-*.err")
            + "\n"
            + log_tails(server.workdir, pattern="*.log")
        )

    announce(2, run=1)
    assert summary()["claimable"].get("default") == 2
    assert cycle() == 0
    ids = [p.id for p in backend.query()]
    assert len(ids) == 2

    # The pilots start in the pool, register, and run both DAG runs to the end.
    def registered():
        pilots = results(server.get("/api/v1/pilots/", params={"batch_system": "htcondor"}))
        return len(pilots) == 2 and pilots

    pilots = wait_for(
        registered, timeout=120, what="two pilots registered from the pool", details=logs
    )
    assert sorted(p["batch_id"] for p in pilots) == sorted(ids)

    def all_succeeded():
        runs = results(server.get("/api/v1/dagruns/"))
        return len(runs) == 2 and all(r["state"] == "succeeded" for r in runs) and runs

    wait_for(all_succeeded, timeout=120, what="both diag DAG runs succeeded", details=logs)
    wait_for(
        lambda: summary()["pilots"]["by_queue"].get("default", {}).get("idle") == 2,
        timeout=30,
        what="both pilots idle",
        details=logs,
    )

    # Next cycle: nothing claimable, two idle pilots running in the pool -> submit nothing.
    caplog.clear()
    assert cycle() == 0
    assert (
        "queue default: claimable 0, hot 0, registered idle 2 busy 0, "
        "batch queued 0 running 2 held 0 -> will submit 0"
    ) in caplog.text
    assert sorted(p.id for p in backend.query()) == sorted(ids)

    # An operator removes the pilots from the queue: the next cycle notices at once.
    backend.remove(ids)
    caplog.clear()
    assert cycle() == 0
    assert "batch queued 0 running 0 held 0" in caplog.text
    assert backend.query() == []

    # The removed pilots leave the server's idle count; new work then gets a new pilot.
    def no_live_pilots():
        by_queue = summary()["pilots"]["by_queue"].get("default", {})
        return not by_queue.get("idle") and not by_queue.get("busy")

    wait_for(
        no_live_pilots, timeout=60, what="the removed pilots gone from the server", details=logs
    )
    # A claim long poll (--wait 2) a pilot abandoned on SIGTERM may still be parked in the
    # server; work announced inside that window can be handed to the departed pilot (a server
    # race, reported). Let such polls run out first.
    time.sleep(3)
    announce(1, run=2)
    wait_for(
        lambda: summary()["claimable"].get("default") == 1,
        timeout=60,
        what="the new job claimable",
        details=logs,
    )
    caplog.clear()
    assert cycle() == 0
    assert "batch queued 0 running 0 held 0 -> will submit 1" in caplog.text
    assert len(backend.query()) == 1
