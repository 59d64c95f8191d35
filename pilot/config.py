"""The pilot's settings: command line, environment fallbacks, and what the node looks like.

Everything the pilot reads from its surroundings is read here, once, into a :class:`Config`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pilot import __version__
from pilot.errors import ConfigError

DEFAULT_SERVER = "http://127.0.0.1:8000"


@dataclass
class Config:
    """Resolved settings of one pilot run (see ``p3s-pilot --help`` for each)."""

    server: str
    token: str
    queues: list[str] = field(default_factory=lambda: ["default"])
    max_jobs: int | None = None
    idle_exit: float | None = None
    lifetime: float | None = None
    lifetime_reserve: float = 60.0
    workdir: Path = field(default_factory=Path.cwd)
    wait: float = 30.0
    site: str = "local"
    batch_system: str = "local"
    batch_id: str = ""
    give_up: float = 600.0
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    kill_grace: float = 10.0
    default_timeout: float = 3600.0
    min_disk_mb: float = 1000.0
    keep_failed: int = 5
    validate: bool = True
    import_timeout: float = 120.0
    # Modules whose payloads fork from the warm worker (pilot.warm); empty: all start cold.
    warm: tuple[str, ...] = ()


# -- batch system ---------------------------------------------------------------------------


def read_condor_ad(path: str | os.PathLike[str]) -> dict[str, str]:
    """Attributes of an HTCondor job ad file (``Name = value`` lines), quotes removed."""
    ad: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ad
    for line in text.splitlines():
        match = re.match(r"\s*([A-Za-z_][\w.]*)\s*=\s*(.*?)\s*$", line)
        if match:
            ad[match.group(1).lower()] = match.group(2).strip('"')
    return ad


def detect_batch(env: Mapping[str, str]) -> tuple[str, str, dict[str, str]]:
    """Guess ``(batch_system, batch_id, hints)`` from the environment of the pilot.

    ``hints`` may carry ``cores`` and ``memory_mb`` the batch system granted.
    ``P3S_BATCH_SYSTEM`` and ``P3S_BATCH_ID`` override the guess.
    """
    system, batch_id, hints = "local", str(os.getpid()), {}
    ad_path = env.get("_CONDOR_JOB_AD")
    if ad_path or env.get("CONDOR_ID") or env.get("_CONDOR_SCRATCH_DIR"):
        system = "htcondor"
        ad = read_condor_ad(ad_path) if ad_path else {}
        if "clusterid" in ad and "procid" in ad:
            batch_id = f"{ad['clusterid']}.{ad['procid']}"
        elif env.get("CONDOR_ID"):
            batch_id = env["CONDOR_ID"]
        elif "globaljobid" in ad:
            batch_id = ad["globaljobid"]
        for key, hint in (("requestcpus", "cores"), ("requestmemory", "memory_mb")):
            if ad.get(key, "").isdigit():
                hints[hint] = ad[key]
    elif env.get("SLURM_JOB_ID"):
        system, batch_id = "slurm", env["SLURM_JOB_ID"]
        if env.get("SLURM_CPUS_ON_NODE", "").isdigit():
            hints["cores"] = env["SLURM_CPUS_ON_NODE"]
        if env.get("SLURM_MEM_PER_NODE", "").isdigit():
            hints["memory_mb"] = env["SLURM_MEM_PER_NODE"]
    elif env.get("LSB_JOBID"):
        system, batch_id = "lsf", env["LSB_JOBID"]
        index = env.get("LSB_JOBINDEX", "0")
        if index not in ("", "0"):
            batch_id = f"{batch_id}[{index}]"
        if env.get("LSB_DJOB_NUMPROC", "").isdigit():
            hints["cores"] = env["LSB_DJOB_NUMPROC"]
    system = env.get("P3S_BATCH_SYSTEM") or system
    batch_id = env.get("P3S_BATCH_ID") or batch_id
    return system, batch_id, hints


def default_workdir(env: Mapping[str, str]) -> Path:
    """Where job directories go by default: the batch scratch area, else TMPDIR, else cwd."""
    for name in ("_CONDOR_SCRATCH_DIR", "TMPDIR"):
        if env.get(name):
            return Path(env[name])
    return Path.cwd()


def total_memory_mb() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError, AttributeError):
        return None


def describe_node(config: Config, hints: Mapping[str, str]) -> dict[str, Any]:
    """The registration body: host, site, batch identity, queues, resources, version."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    existing = next((p for p in (config.workdir, *config.workdir.parents) if p.is_dir()), None)
    try:
        disk_free_mb = shutil.disk_usage(existing).free // 2**20 if existing else None
    except OSError:
        disk_free_mb = None
    return {
        "host": socket.gethostname(),
        "site": config.site,
        "batch_system": config.batch_system,
        "batch_id": config.batch_id,
        "queues": list(config.queues),
        "resources": {
            "cores": int(hints.get("cores", cores)),
            "memory_mb": int(hints.get("memory_mb", total_memory_mb() or 0)) or None,
            "disk_free_mb": disk_free_mb,
            "lifetime": config.lifetime,
        },
        "version": __version__,
    }


# -- command line ---------------------------------------------------------------------------


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="p3s-pilot",
        description="Run p3s payloads on this batch slot: register, claim jobs, run, report.",
        epilog="exit codes: 0 done (limit, idle, lifetime, signal, server's exit), "
        "1 bad configuration, 2 server unreachable (reports left in the spool), "
        "3 environment validation failed, 4 refused by the server, 5 pilot bug. "
        "See docs/pilot.md.",
    )
    p.add_argument(
        "--server",
        metavar="URL",
        help=f"server base URL (env P3S_SERVER, default {DEFAULT_SERVER})",
    )
    p.add_argument("--token", metavar="T", help="API token of role pilot (env P3S_TOKEN)")
    p.add_argument("--token-file", metavar="F", help="file holding the token (env P3S_TOKEN_FILE)")
    p.add_argument(
        "--queue",
        action="append",
        dest="queues",
        metavar="Q",
        help="queue to serve; repeat or comma-separate (default: default)",
    )
    p.add_argument("--max-jobs", type=_positive(int), metavar="N", help="exit after N jobs")
    p.add_argument("--once", action="store_true", help="same as --max-jobs 1")
    p.add_argument(
        "--idle-exit", type=_positive(float), metavar="S", help="exit after S seconds without a job"
    )
    p.add_argument(
        "--lifetime", type=_positive(float), metavar="S", help="seconds this slot may live"
    )
    p.add_argument(
        "--lifetime-reserve",
        type=float,
        metavar="S",
        help="seconds of lifetime kept back for reporting and clean-up "
        "(default 60, or a tenth of a shorter lifetime)",
    )
    p.add_argument("--workdir", type=Path, metavar="D", help="where job directories are made")
    p.add_argument(
        "--wait", type=float, default=30.0, metavar="S", help="claim long-poll seconds (max 60)"
    )
    p.add_argument("--site", metavar="NAME", help="site name sent at registration (env P3S_SITE)")
    p.add_argument("--batch-system", metavar="NAME", help="override the detected batch system")
    p.add_argument("--batch-id", metavar="ID", help="override the detected batch job id")
    p.add_argument(
        "--give-up",
        type=_positive(float),
        default=600.0,
        metavar="S",
        help="seconds to keep retrying an unreachable server before exiting (default 600)",
    )
    p.add_argument(
        "--kill-grace",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds between SIGTERM and SIGKILL to a payload (default 10)",
    )
    p.add_argument(
        "--default-timeout",
        type=_positive(float),
        default=3600.0,
        metavar="S",
        help="time limit of a job that comes without one (default 3600)",
    )
    p.add_argument(
        "--min-disk-mb",
        type=float,
        default=1000.0,
        metavar="MB",
        help="free disk the work dir needs to pass validation (default 1000)",
    )
    p.add_argument(
        "--keep-failed",
        type=int,
        default=5,
        metavar="N",
        help="work dirs of failed jobs kept for inspection (default 5)",
    )
    p.add_argument(
        "--no-validate", action="store_true", help="skip the environment checks (debugging only)"
    )
    p.add_argument(
        "--warm",
        default="payloads",
        metavar="MODULES",
        help="comma-separated modules whose payloads fork from a pre-imported warm worker "
        "(default payloads; others start cold)",
    )
    p.add_argument("--no-warm", action="store_true", help="start every payload cold")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--version", action="version", version=f"p3s-pilot {__version__}")
    return p


def lifetime_reserve(lifetime: float | None, asked: float | None) -> float:
    """Lifetime kept back: as asked, else 60 s, but at most a tenth of a short lifetime."""
    if asked is not None:
        return max(0.0, asked)
    return min(60.0, 0.1 * lifetime) if lifetime else 60.0


def read_token(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    if args.token:
        return str(args.token).strip()
    token_file = args.token_file or env.get("P3S_TOKEN_FILE")
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the token file {token_file}: {exc.strerror}") from exc
        if not token:
            raise ConfigError(f"the token file {token_file} is empty")
        return token
    if env.get("P3S_TOKEN"):
        return env["P3S_TOKEN"].strip()
    raise ConfigError(
        "no API token: pass --token or --token-file, or set P3S_TOKEN or P3S_TOKEN_FILE "
        "(make one with: python manage.py p3s_token --role pilot NAME)"
    )


def parse_queues(values: list[str] | None) -> list[str]:
    queues: list[str] = []
    for value in values or ["default"]:
        for name in value.split(","):
            name = name.strip()
            if name and name not in queues:
                queues.append(name)
    if not queues:
        raise ConfigError("--queue was given but names no queue")
    return queues


def make_config(
    argv: list[str] | None, env: Mapping[str, str]
) -> tuple[Config, dict[str, str], argparse.Namespace]:
    """Parse the command line with the environment as fallback.

    Returns the config, the batch system's resource hints, and the raw arguments.
    Raises :class:`ConfigError` for bad combinations (argparse exits on bad syntax).
    """
    args = build_parser().parse_args(argv)
    system, batch_id, hints = detect_batch(env)
    if not 0 <= args.wait <= 60:
        raise ConfigError(f"--wait {args.wait}: the long poll must be 0 to 60 seconds")
    server = args.server or env.get("P3S_SERVER") or DEFAULT_SERVER
    if not re.match(r"https?://", server):
        raise ConfigError(f"--server {server!r}: expected an http:// or https:// URL")
    config = Config(
        server=server,
        token=read_token(args, env),
        queues=parse_queues(args.queues),
        max_jobs=1 if args.once else args.max_jobs,
        idle_exit=args.idle_exit,
        lifetime=args.lifetime,
        lifetime_reserve=lifetime_reserve(args.lifetime, args.lifetime_reserve),
        workdir=(args.workdir or default_workdir(env)).absolute(),
        wait=args.wait,
        site=args.site or env.get("P3S_SITE") or "local",
        batch_system=args.batch_system or system,
        batch_id=args.batch_id or batch_id,
        give_up=args.give_up,
        kill_grace=max(0.0, args.kill_grace),
        default_timeout=args.default_timeout,
        min_disk_mb=args.min_disk_mb,
        keep_failed=max(0, args.keep_failed),
        validate=not args.no_validate,
        warm=() if args.no_warm else tuple(m for m in args.warm.split(",") if m.strip()),
    )
    return config, hints, args
