"""Batch backends behind one small interface (see base.Backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from factory.backends.base import Backend, BatchPilot, PilotSpec
from factory.errors import ConfigError

NAMES = ("local", "htcondor", "lsf", "slurm")


def make_backend(name: str, factory_id: str, queues: Sequence[str], state_dir: Path) -> Backend:
    if name == "htcondor":
        from factory.backends.htcondor import HTCondorBackend

        return HTCondorBackend(factory_id, queues)
    if name == "slurm":
        from factory.backends.slurm import SlurmBackend

        return SlurmBackend(factory_id, queues)
    if name == "lsf":
        from factory.backends.lsf import LsfBackend

        return LsfBackend(factory_id, queues)
    if name == "local":
        from factory.backends.local import LocalBackend

        return LocalBackend(factory_id, queues, state_dir)
    raise ConfigError(f"unknown backend {name!r}: choose one of {', '.join(NAMES)}")


__all__ = ["Backend", "BatchPilot", "PilotSpec", "NAMES", "make_backend"]
