"""HTCondor through the Python bindings (``htcondor2``).

Pilots carry ``+P3SFactory = "<factory id>"`` and ``+P3SQueue = "<queue>"`` in their job ad;
query and remove select on them. The token file travels with the job (file transfer), so
the execute node needs no shared file system and the token never shows in the job ad.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from factory.backends.base import LIFETIME_GRACE, BatchPilot, PilotSpec, State
from factory.errors import BackendError

# JobStatus codes (HTCondor manual, "Job ClassAd attributes").
IDLE, RUNNING, REMOVED, COMPLETED, HELD, TRANSFERRING_OUTPUT, SUSPENDED = 1, 2, 3, 4, 5, 6, 7
STATES: dict[int, State] = {
    IDLE: "queued",
    RUNNING: "running",
    TRANSFERRING_OUTPUT: "running",
    SUSPENDED: "running",
    HELD: "held",
}


def _quote(value: str) -> str:
    """A ClassAd string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _args(argv: Sequence[str]) -> str:
    """The submit-language "new syntax" arguments string (double-quoted, single-quoted words)."""
    words = []
    for word in argv:
        if any(c in word for c in " \t'\""):
            word = "'" + word.replace("'", "''").replace('"', '""') + "'"
        words.append(word)
    return '"' + " ".join(words) + '"'


def submit_description(spec: PilotSpec) -> dict[str, str]:
    """The submit description of one pilot (what ``--dry-run`` prints)."""
    token_name = spec.token_file.name
    return {
        "universe": "vanilla",
        "executable": spec.pilot,
        "transfer_executable": "false",
        "arguments": _args(spec.pilot_argv(token_file=token_name)[1:]),
        "environment": _args([f"{k}={v}" for k, v in spec.environment().items()]),
        "should_transfer_files": "YES",
        "when_to_transfer_output": "ON_EXIT_OR_EVICT",
        "transfer_input_files": str(spec.token_file),
        "initialdir": str(spec.log_dir),
        "output": "pilot-$(ClusterId).$(ProcId).out",
        "error": "pilot-$(ClusterId).$(ProcId).err",
        # Streamed while the pilot runs, so the log of a removed pilot is not lost.
        "stream_output": "true",
        "stream_error": "true",
        "log": "pilots.log",
        "request_cpus": "1",
        "request_memory": str(spec.memory),
        "request_disk": "1GB",
        # The pilot stops by itself at --lifetime; the batch system makes sure of it.
        "periodic_remove": f"JobStatus == {RUNNING} && time() - EnteredCurrentStatus > "
        f"{spec.lifetime + LIFETIME_GRACE}",
        "batch_name": spec.job_name,
        "+P3SFactory": _quote(spec.factory_id),
        "+P3SQueue": _quote(spec.queue),
    }


class HTCondorBackend:
    name = "htcondor"

    def __init__(self, factory_id: str, queues: Sequence[str], schedd: Any = None) -> None:
        self.factory_id = factory_id
        self.queues = list(queues)
        self._schedd = schedd

    @property
    def constraint(self) -> str:
        return f"P3SFactory == {_quote(self.factory_id)}"

    def schedd(self) -> Any:
        if self._schedd is None:
            try:
                import htcondor2 as htcondor
            except ImportError as exc:  # pragma: no cover - the pinned bindings are installed
                raise BackendError(
                    "the htcondor Python bindings are missing: pip install htcondor"
                ) from exc
            try:
                self._schedd = htcondor.Schedd()
            except Exception as exc:
                raise BackendError(
                    f"cannot locate the HTCondor schedd: {exc} "
                    "(is CONDOR_CONFIG set? scripts/condor-pool.sh env)"
                ) from exc
        return self._schedd

    def describe(self, n: int, spec: PilotSpec) -> str:
        lines = [f"{k} = {v}" for k, v in submit_description(spec).items()]
        return "\n".join(lines + [f"queue {n}"])

    def submit(self, n: int, spec: PilotSpec) -> list[str]:
        import htcondor2 as htcondor

        spec.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            result = self.schedd().submit(htcondor.Submit(submit_description(spec)), count=n)
        except Exception as exc:
            raise BackendError(f"HTCondor refused the submission: {exc}") from exc
        cluster = result.cluster()
        first = result.first_proc()
        return [f"{cluster}.{first + i}" for i in range(result.num_procs())]

    def query(self) -> list[BatchPilot]:
        try:
            ads = self.schedd().query(
                constraint=self.constraint,
                projection=["ClusterId", "ProcId", "JobStatus", "P3SQueue"],
            )
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"HTCondor query failed: {exc}") from exc
        pilots = []
        for ad in ads:
            state = STATES.get(int(ad.get("JobStatus", 0)))
            if state is None:
                continue  # removed or completed, on its way out of the queue
            pilots.append(
                BatchPilot(
                    id=f"{ad['ClusterId']}.{ad['ProcId']}",
                    queue=str(ad.get("P3SQueue", "default")),
                    state=state,
                )
            )
        return pilots

    def remove(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        import htcondor2 as htcondor

        try:
            self.schedd().act(
                htcondor.JobAction.Remove, list(ids), reason=f"p3s-factory {self.factory_id}"
            )
        except Exception as exc:
            raise BackendError(f"HTCondor remove of {len(ids)} pilots failed: {exc}") from exc
