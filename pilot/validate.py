"""Environment checks the pilot runs before it claims any job.

Each check returns a problem as a sentence, or None. A pilot with problems registers,
says goodbye with ``ok=false`` and the problems as the reason, and exits without claiming,
so a broken node does not eat jobs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pilot.config import Config
from pilot.registry import GROUP, registered_payloads

MIN_PYTHON = (3, 11)

_IMPORT_SCRIPT = """
import importlib, json, sys
failed = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(failed))
"""


def check_python() -> str | None:
    if sys.version_info < MIN_PYTHON:
        found = ".".join(map(str, sys.version_info[:3]))
        return f"Python {found} is too old: payloads need {'.'.join(map(str, MIN_PYTHON))}+"
    return None


def check_writable(directory: Path, what: str) -> str | None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".p3s-probe-") as fh:
            fh.write(b"probe")
            fh.flush()
    except OSError as exc:
        return f"cannot write in the {what} {directory}: {exc.strerror or exc}"
    return None


def check_disk(directory: Path, min_free_mb: float) -> str | None:
    try:
        free_mb = shutil.disk_usage(directory).free / 2**20
    except OSError as exc:
        return f"cannot measure free disk in {directory}: {exc.strerror or exc}"
    if free_mb < min_free_mb:
        return (
            f"only {free_mb:.0f} MB free in {directory}, need {min_free_mb:.0f} MB "
            "(free space or lower --min-disk-mb)"
        )
    return None


def check_payloads(timeout: float) -> str | None:
    """Import every registered payload's module in a fresh interpreter."""
    modules = sorted({ep.module for ep in registered_payloads().values()})
    if not modules:
        return f"no payload is registered in the {GROUP} entry-point group: is p3s installed?"
    try:
        done = subprocess.run(
            [sys.executable, "-c", _IMPORT_SCRIPT, *modules],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"importing the payload modules took more than {timeout:.0f} s"
    try:
        failed = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"the payload import check crashed: {done.stderr.strip()[-500:]}"
    if failed:
        details = "; ".join(f"{name}: {error}" for name, error in sorted(failed.items()))
        return f"payload modules that do not import: {details}"
    return None


def check_environment(config: Config) -> list[str]:
    """All the checks; the problems found, empty when the node is fit to run jobs."""
    problems = [
        check_python(),
        check_writable(config.workdir, "work dir"),
        check_disk(config.workdir, config.min_disk_mb),
    ]
    data_root = os.environ.get("P3S_DATA_ROOT")
    if data_root:
        problems.append(check_writable(Path(data_root), "staging area (P3S_DATA_ROOT)"))
    problems.append(check_payloads(config.import_timeout))
    return [p for p in problems if p]
