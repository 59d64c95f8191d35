"""The small interface every batch backend implements, and what a pilot is told."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from factory.errors import BackendError

State = Literal["queued", "running", "held"]

# Seconds a batch job may outlive the pilot's own --lifetime before the batch system kills it.
LIFETIME_GRACE = 300


@dataclass(frozen=True)
class PilotSpec:
    """Everything a submitted pilot needs; the same for every backend."""

    server: str
    token_file: Path
    """A file with the pilot token. Only its path ever goes on a command line."""
    queue: str = "default"
    factory_id: str = "p3s"
    lifetime: int = 3600
    """Seconds: passed to the pilot (--lifetime) and, with a grace, to the batch system."""
    memory: int = 2000
    """MB requested from the batch system."""
    log_dir: Path = Path("var/factory/logs")
    pilot: str = "p3s-pilot"
    """The pilot command (an absolute path on the batch nodes, or a name on their PATH)."""
    pilot_args: tuple[str, ...] = ()
    batch_queue: str | None = None
    """Slurm partition or LSF queue (HTCondor and local ignore it)."""
    extra_env: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def job_name(self) -> str:
        """The batch job name that tags this factory's pilots for one p3s queue."""
        return f"p3s.{self.factory_id}.{self.queue}"

    def pilot_argv(self, token_file: str | None = None) -> list[str]:
        """The pilot's command line (the token as a file, never the token itself)."""
        return [
            self.pilot,
            "--server",
            self.server,
            "--token-file",
            token_file or str(self.token_file),
            "--queue",
            self.queue,
            "--lifetime",
            str(self.lifetime),
            *self.pilot_args,
        ]

    def environment(self) -> dict[str, str]:
        return {"P3S_SERVER": self.server, "P3S_QUEUE": self.queue, **dict(self.extra_env)}


def parse_job_name(name: str, factory_id: str) -> str | None:
    """The p3s queue out of a job name made by PilotSpec.job_name, or None if not ours."""
    prefix = f"p3s.{factory_id}."
    return name[len(prefix) :] if name.startswith(prefix) and len(name) > len(prefix) else None


@dataclass(frozen=True)
class BatchPilot:
    id: str
    queue: str
    state: State


class Backend(Protocol):
    name: str

    def submit(self, n: int, spec: PilotSpec) -> list[str]:
        """Submit n pilots for spec.queue; returns their batch ids."""
        ...

    def query(self) -> list[BatchPilot]:
        """This factory's pilots still in the batch system (queued, running or held)."""
        ...

    def remove(self, ids: Sequence[str]) -> None:
        """Remove these pilots from the batch system (queued or running)."""
        ...

    def describe(self, n: int, spec: PilotSpec) -> str:
        """What submit(n, spec) would do, for --dry-run and the log."""
        ...


def run(argv: Sequence[str], *, timeout: float = 60.0, ok: Sequence[int] = (0,)) -> str:
    """Run a batch command; its stdout, or BackendError with its stderr."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise BackendError(
            f"{argv[0]} not found: is this a submit host of that batch system?"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise BackendError(f"{shlex.join(argv)} took more than {timeout:.0f} s") from exc
    if proc.returncode not in ok:
        raise BackendError(
            f"{shlex.join(argv)} failed with exit code {proc.returncode}: "
            f"{(proc.stderr or proc.stdout).strip()[:500]}"
        )
    return proc.stdout
