"""IBM Spectrum LSF: bsub, ``bjobs -o ... -json``, bkill.

Pilots are tagged by their job name ``p3s.<factory id>.<queue>``; bjobs selects them with
``-J "p3s.<factory id>.*"``. Formats (IBM LSF 10.1 command reference): bsub prints
``Job <1234> is submitted to [default ]queue <normal>.``; ``bjobs -o "jobid stat job_name"
-json`` prints ``{"COMMAND":"bjobs","JOBS":n,"RECORDS":[{"JOBID":..,"STAT":..,"JOB_NAME":..}]}``
and, when there is nothing, "No unfinished job found" on stderr.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Callable, Sequence

from factory.backends.base import LIFETIME_GRACE, BatchPilot, PilotSpec, State, parse_job_name, run
from factory.errors import BackendError

BSUB_RE = re.compile(r"Job <(\d+)> is submitted")
QUEUED_STATES = {"PEND", "WAIT", "PROV"}
RUNNING_STATES = {"RUN", "SSUSP", "USUSP"}
HELD_STATES = {"PSUSP"}  # suspended while pending (bstop): never starts by itself


class LsfBackend:
    name = "lsf"

    def __init__(
        self, factory_id: str, queues: Sequence[str], runner: Callable[..., str] = run
    ) -> None:
        self.factory_id = factory_id
        self.queues = list(queues)
        self.run = runner

    def bsub_argv(self, spec: PilotSpec) -> list[str]:
        minutes = math.ceil((spec.lifetime + LIFETIME_GRACE) / 60)
        env = ", ".join(f"{k}={v}" for k, v in spec.environment().items())
        argv = [
            "bsub",
            "-J",
            spec.job_name,
            "-o",
            f"{spec.log_dir}/lsf-%J.out",
            "-e",
            f"{spec.log_dir}/lsf-%J.err",
            "-W",
            str(minutes),
            "-M",
            f"{spec.memory}MB",
            "-R",
            f"rusage[mem={spec.memory}MB]",
            "-env",
            f"all, {env}",
        ]
        if spec.batch_queue:
            argv += ["-q", spec.batch_queue]
        return argv + spec.pilot_argv()

    def describe(self, n: int, spec: PilotSpec) -> str:
        return f"{n} x {shlex.join(self.bsub_argv(spec))}"

    def submit(self, n: int, spec: PilotSpec) -> list[str]:
        spec.log_dir.mkdir(parents=True, exist_ok=True)
        argv = self.bsub_argv(spec)
        return [parse_bsub(self.run(argv)) for _ in range(n)]

    def bjobs_argv(self) -> list[str]:
        return ["bjobs", "-o", "jobid stat job_name", "-json", "-J", f"p3s.{self.factory_id}.*"]

    def query(self) -> list[BatchPilot]:
        # bjobs exits non-zero when it finds no job; the JSON still says so (or stderr does).
        return parse_bjobs_json(self.run(self.bjobs_argv(), ok=(0, 255)), self.factory_id)

    def remove(self, ids: Sequence[str]) -> None:
        if ids:
            self.run(["bkill", *ids], ok=(0, 255))


def parse_bsub(out: str) -> str:
    match = BSUB_RE.search(out)
    if not match:
        raise BackendError(f"bsub answered {out.strip()!r}, no job id in it")
    return match.group(1)


def parse_bjobs_json(out: str, factory_id: str) -> list[BatchPilot]:
    if not out.strip():
        return []
    try:
        data = json.loads(out)
    except ValueError as exc:
        raise BackendError(f"bjobs -json answered {out.strip()[:200]!r}, not JSON") from exc
    pilots = []
    for record in data.get("RECORDS", []):
        if "ERROR" in record:  # a job id bjobs could not find
            continue
        queue = parse_job_name(str(record.get("JOB_NAME", "")), factory_id)
        if queue is None:
            continue
        stat = str(record.get("STAT", ""))
        state: State
        if stat in QUEUED_STATES:
            state = "queued"
        elif stat in RUNNING_STATES:
            state = "running"
        elif stat in HELD_STATES:
            state = "held"
        else:
            continue  # DONE, EXIT, ZOMBI, UNKWN: gone
        pilots.append(BatchPilot(id=str(record["JOBID"]), queue=queue, state=state))
    return pilots
