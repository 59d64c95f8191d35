"""Slurm: sbatch --parsable, squeue with a fixed --format, scancel.

Pilots are tagged by their job name ``p3s.<factory id>.<queue>`` (squeue can filter on it)
and a comment. Output formats: sbatch(1) ``--parsable`` ("jobid[;cluster]"), squeue(1)
``--format`` with ``%i`` (job id), ``%T`` (extended state name) and ``%j`` (job name).
"""

from __future__ import annotations

import getpass
import math
import shlex
from collections.abc import Callable, Sequence

from factory.backends.base import LIFETIME_GRACE, BatchPilot, PilotSpec, State, parse_job_name, run
from factory.errors import BackendError

SQUEUE_FORMAT = "%i|%T|%j"

# squeue(1) "JOB STATE CODES": those that still hold or will hold a slot.
QUEUED_STATES = {
    "PENDING",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "RESV_DEL_HOLD",
    "CONFIGURING",
    "POWER_UP_NODE",
}
RUNNING_STATES = {
    "RUNNING",
    "COMPLETING",
    "SUSPENDED",
    "STAGE_OUT",
    "SIGNALING",
    "STOPPED",
    "RESIZING",
}
HELD_STATES: set[str] = set()  # a held Slurm job is PENDING with a reason; it may be released


class SlurmBackend:
    name = "slurm"

    def __init__(
        self,
        factory_id: str,
        queues: Sequence[str],
        runner: Callable[..., str] = run,
        user: str | None = None,
    ) -> None:
        self.factory_id = factory_id
        self.queues = list(queues)
        self.run = runner
        self.user = user or getpass.getuser()

    def sbatch_argv(self, spec: PilotSpec) -> list[str]:
        minutes = math.ceil((spec.lifetime + LIFETIME_GRACE) / 60)
        env = ",".join(f"{k}={v}" for k, v in spec.environment().items())
        argv = [
            "sbatch",
            "--parsable",
            f"--job-name={spec.job_name}",
            f"--comment=p3s pilot factory={spec.factory_id} queue={spec.queue}",
            f"--time={minutes}",
            f"--mem={spec.memory}M",
            "--ntasks=1",
            f"--output={spec.log_dir}/slurm-%j.out",
            f"--error={spec.log_dir}/slurm-%j.err",
            f"--export=ALL,{env}",
        ]
        if spec.batch_queue:
            argv.append(f"--partition={spec.batch_queue}")
        argv.append("--wrap=exec " + shlex.join(spec.pilot_argv()))
        return argv

    def describe(self, n: int, spec: PilotSpec) -> str:
        return f"{n} x {shlex.join(self.sbatch_argv(spec))}"

    def submit(self, n: int, spec: PilotSpec) -> list[str]:
        spec.log_dir.mkdir(parents=True, exist_ok=True)
        argv = self.sbatch_argv(spec)
        return [parse_sbatch(self.run(argv)) for _ in range(n)]

    def squeue_argv(self) -> list[str]:
        names = ",".join(f"p3s.{self.factory_id}.{q}" for q in self.queues)
        return [
            "squeue",
            "--noheader",
            "--array",
            f"--user={self.user}",
            f"--name={names}",
            f"--format={SQUEUE_FORMAT}",
        ]

    def query(self) -> list[BatchPilot]:
        return parse_squeue(self.run(self.squeue_argv()), self.factory_id)

    def remove(self, ids: Sequence[str]) -> None:
        if ids:
            self.run(["scancel", *ids])


def parse_sbatch(out: str) -> str:
    """The job id out of ``sbatch --parsable`` ("12345" or "12345;cluster")."""
    first = out.strip().splitlines()[0] if out.strip() else ""
    job_id = first.split(";")[0].strip()
    if not job_id.isdigit():
        raise BackendError(f"sbatch --parsable answered {out.strip()!r}, not a job id")
    return job_id


def parse_squeue(out: str, factory_id: str) -> list[BatchPilot]:
    pilots = []
    for line in out.splitlines():
        if not line.strip():
            continue
        parts = line.strip().split("|", 2)
        if len(parts) != 3:
            raise BackendError(f"unexpected squeue line {line!r} (format {SQUEUE_FORMAT})")
        job_id, state_name, name = parts
        queue = parse_job_name(name, factory_id)
        if queue is None:
            continue
        state: State
        if state_name in QUEUED_STATES:
            state = "queued"
        elif state_name in RUNNING_STATES:
            state = "running"
        else:
            continue  # COMPLETED, CANCELLED, FAILED, TIMEOUT, ...: gone
        pilots.append(BatchPilot(id=job_id, queue=queue, state=state))
    return pilots
