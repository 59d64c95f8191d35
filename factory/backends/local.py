"""Local: pilots as detached background processes on this machine.

Each pilot gets a record ``<state dir>/local/<factory id>/<id>.json`` with its pid and the
process start time (so a recycled pid is never mistaken for a pilot); query reads the records
and drops those whose process is gone; remove sends SIGTERM to the pilot's process group and
SIGKILL after a grace. Pilots' stdout and stderr go to ``<log dir>/local-<id>.out|err``.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from factory.backends.base import BatchPilot, PilotSpec
from factory.errors import BackendError


def _proc_start(pid: int) -> str | None:
    """The kernel's start time of a live (non-zombie) process, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


class LocalBackend:
    name = "local"

    def __init__(
        self, factory_id: str, queues: Sequence[str], state_dir: Path, kill_grace: float = 10.0
    ) -> None:
        self.factory_id = factory_id
        self.queues = list(queues)
        self.dir = Path(state_dir) / "local" / factory_id
        self.kill_grace = kill_grace

    def describe(self, n: int, spec: PilotSpec) -> str:
        return f"{n} x {shlex.join(spec.pilot_argv())} (detached, records in {self.dir})"

    def submit(self, n: int, spec: PilotSpec) -> list[str]:
        self.dir.mkdir(parents=True, exist_ok=True)
        spec.log_dir.mkdir(parents=True, exist_ok=True)
        ids = []
        for _ in range(n):
            pilot_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
            env = {
                **os.environ,
                **spec.environment(),
                "P3S_BATCH_SYSTEM": "local",
                "P3S_BATCH_ID": pilot_id,
            }
            env.pop("P3S_TOKEN", None)  # the pilot reads its token from the file
            with (
                open(spec.log_dir / f"local-{pilot_id}.out", "ab") as out,
                open(spec.log_dir / f"local-{pilot_id}.err", "ab") as err,
            ):
                try:
                    proc = subprocess.Popen(
                        spec.pilot_argv(),
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=err,
                        env=env,
                        start_new_session=True,
                        close_fds=True,
                    )
                except OSError as exc:
                    raise BackendError(f"cannot start {spec.pilot}: {exc}") from exc
            record = {
                "id": pilot_id,
                "pid": proc.pid,
                "start": _proc_start(proc.pid),
                "queue": spec.queue,
                "argv": spec.pilot_argv(),
                "submitted": time.time(),
            }
            tmp = self.dir / f".{pilot_id}.tmp"
            tmp.write_text(json.dumps(record))
            tmp.rename(self.dir / f"{pilot_id}.json")
            ids.append(pilot_id)
        return ids

    def _records(self) -> list[dict]:
        records = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                records.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        return records

    def _alive(self, record: dict) -> bool:
        start = _proc_start(int(record["pid"]))
        return start is not None and start == record.get("start")

    def query(self) -> list[BatchPilot]:
        pilots = []
        for record in self._records():
            if self._alive(record):
                pilots.append(BatchPilot(id=record["id"], queue=record["queue"], state="running"))
            else:
                (self.dir / f"{record['id']}.json").unlink(missing_ok=True)
        return pilots

    def remove(self, ids: Sequence[str]) -> None:
        wanted = set(ids)
        victims = [r for r in self._records() if r["id"] in wanted and self._alive(r)]
        for record in victims:
            try:
                os.killpg(int(record["pid"]), signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.kill_grace
        while victims and time.monotonic() < deadline:
            victims = [r for r in victims if self._alive(r)]
            time.sleep(0.1)
        for record in victims:
            try:
                os.killpg(int(record["pid"]), signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pilot_id in wanted:
            record_path = self.dir / f"{pilot_id}.json"
            if record_path.exists() and not any(
                r["id"] == pilot_id and self._alive(r) for r in self._records()
            ):
                record_path.unlink(missing_ok=True)
