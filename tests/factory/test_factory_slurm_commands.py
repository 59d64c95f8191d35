"""Slurm command lines and the parsing of their output, against documented formats.

sbatch(1) --parsable: "Outputs only the job id number and the cluster name if present.
The values are separated by a semicolon." squeue(1) --format: %i job id, %T job state in
extended form (PENDING, RUNNING, COMPLETING, ...), %j job name; --noheader drops the header.
(Slurm 22.05 man pages, https://slurm.schedmd.com/archive/slurm-22.05.8/squeue.html.)
The same backend also runs against a real Slurm in test_factory_slurm_real.py when one is up.
"""

from pathlib import Path

import pytest

from factory.backends.base import PilotSpec
from factory.backends.slurm import SlurmBackend, parse_sbatch, parse_squeue
from factory.errors import BackendError

SQUEUE_OUT = """\
1201|RUNNING|p3s.f1.default
1202|PENDING|p3s.f1.default
1203|COMPLETING|p3s.f1.urgent
1204|PENDING|p3s.f1.urgent
1205|CANCELLED|p3s.f1.default
1206|PENDING|someone-elses-job
"""

SPEC = PilotSpec(
    server="https://p3s.example.org",
    token_file=Path("/home/p3s/pilot.token"),
    queue="default",
    factory_id="f1",
    lifetime=3600,
    memory=3000,
    log_dir=Path("/home/p3s/logs"),
    pilot="/opt/p3s/bin/p3s-pilot",
    pilot_args=("--idle-exit", "600"),
    batch_queue="debug",
)


def test_sbatch_command_line_tags_the_pilot_and_passes_the_token_as_a_file():
    argv = SlurmBackend("f1", ["default"], user="p3s").sbatch_argv(SPEC)
    assert argv[:2] == ["sbatch", "--parsable"]
    assert "--job-name=p3s.f1.default" in argv
    assert "--time=65" in argv
    assert "--mem=3000M" in argv
    assert "--partition=debug" in argv
    assert "--output=/home/p3s/logs/slurm-%j.out" in argv
    assert "--export=ALL,P3S_SERVER=https://p3s.example.org,P3S_QUEUE=default" in argv
    assert argv[-1] == (
        "--wrap=exec /opt/p3s/bin/p3s-pilot --server https://p3s.example.org "
        "--token-file /home/p3s/pilot.token --queue default --lifetime 3600 "
        "--idle-exit 600"
    )


def test_sbatch_parsable_answers_give_the_job_id():
    assert parse_sbatch("1234\n") == "1234"
    assert parse_sbatch("1234;cluster1\n") == "1234"
    with pytest.raises(BackendError, match="not a job id"):
        parse_sbatch("sbatch: error: Batch job submission failed: Invalid partition name")


def test_squeue_lines_become_this_factorys_pilots_per_state():
    pilots = parse_squeue(SQUEUE_OUT, "f1")
    assert [(p.id, p.queue, p.state) for p in pilots] == [
        ("1201", "default", "running"),
        ("1202", "default", "queued"),
        ("1203", "urgent", "running"),
        ("1204", "urgent", "queued"),
    ]


def test_squeue_is_asked_for_this_factorys_job_names_only():
    calls = []
    backend = SlurmBackend(
        "f1", ["default", "urgent"], user="p3s", runner=lambda argv, **kw: calls.append(argv) or ""
    )
    assert backend.query() == []
    assert calls[0] == [
        "squeue",
        "--noheader",
        "--array",
        "--user=p3s",
        "--name=p3s.f1.default,p3s.f1.urgent",
        "--format=%i|%T|%j",
    ]


def test_unexpected_squeue_output_is_an_error():
    with pytest.raises(BackendError, match="unexpected squeue line"):
        parse_squeue("JOBID PARTITION NAME\n", "f1")


def test_remove_calls_scancel_with_the_ids():
    calls = []
    SlurmBackend("f1", ["default"], runner=lambda argv, **kw: calls.append(argv) or "").remove(
        ["7", "8"]
    )
    assert calls == [["scancel", "7", "8"]]
