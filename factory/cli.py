"""``p3s-factory``: one cron-safe pilot-factory cycle.

Options come from the command line, then the environment, then ``--config FILE`` (TOML with
the long option names as keys, dashes or underscores), then the defaults below.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import socket
import sys
import tomllib
from pathlib import Path
from typing import Any

from factory.backends import NAMES, make_backend
from factory.backends.base import PilotSpec
from factory.cycle import run_cycle
from factory.demand import Limits
from factory.errors import ConfigError, FactoryError
from factory.lock import LockBusy, cycle_lock

log = logging.getLogger("p3s.factory")

DEFAULTS: dict[str, Any] = {
    "server": "http://127.0.0.1:8000",
    "queue": ["default"],
    "cap": 10,
    "queue_limit": None,
    "hot": 0,
    "lifetime": 3600,
    "memory": 2000,
    "pilot_args": "",
    "batch_queue": None,
    "state_dir": "var/factory",
}
ENV = {
    "server": "P3S_SERVER",
    "token_file": "P3S_TOKEN_FILE",
    "state_dir": "P3S_FACTORY_STATE",
    "factory_id": "P3S_FACTORY_ID",
}
INTS = ("target", "cap", "queue_limit", "hot", "lifetime", "memory")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="p3s-factory",
        description="One pilot-factory cycle: compare the server's demand with the pilots in "
        "the batch system and submit (or trim) pilots. Cron-safe.",
    )
    a = p.add_argument
    a(
        "--backend",
        choices=NAMES,
        help="REQUIRED (here or in --config FILE): batch system",
    )
    a(
        "--target",
        type=int,
        metavar="N",
        help="REQUIRED (here or in --config FILE): maximum pilots alive per queue",
    )
    a(
        "--queue",
        action="append",
        metavar="Q",
        help="p3s queue to serve; repeat or comma-separate (default: default)",
    )
    a("--dry-run", action="store_true", default=None, help="print the plan, submit nothing")
    a("--server", help="server base URL (env P3S_SERVER, default http://127.0.0.1:8000)")
    a(
        "--token-file",
        metavar="FILE",
        help="token to read the server summary (env P3S_TOKEN_FILE, or the token in P3S_TOKEN)",
    )
    a(
        "--pilot-token-file",
        metavar="FILE",
        help="pilot-role token file handed to pilots (default: --token-file)",
    )
    a("--cap", type=int, metavar="N", help="at most N submissions per cycle (default 10)")
    a(
        "--queue-limit",
        type=int,
        metavar="N",
        help="at most N of this factory's pilots waiting in the batch queue (default: no limit)",
    )
    a(
        "--hot",
        type=int,
        metavar="N",
        help="idle pilots kept ready for the highest-priority queue (default 0)",
    )
    a("--lifetime", type=int, metavar="S", help="pilot lifetime in seconds (default 3600)")
    a("--memory", type=int, metavar="MB", help="memory requested per pilot (default 2000)")
    a("--pilot-args", metavar="ARGS", help="extra pilot arguments, one shell-quoted string")
    a(
        "--pilot-command",
        metavar="PATH",
        help="the pilot executable on the batch nodes (default: p3s-pilot next to this Python)",
    )
    a("--batch-queue", metavar="NAME", help="Slurm partition or LSF queue")
    a(
        "--factory-id",
        metavar="ID",
        help="tag of this factory's pilots in the batch system (default: short host name)",
    )
    a("--state-dir", metavar="DIR", help="lock, local pilot records, logs (default var/factory)")
    a("--log-dir", metavar="DIR", help="pilots' stdout/stderr (default STATE_DIR/logs)")
    a("--lock-file", metavar="FILE", help="default STATE_DIR/FACTORY_ID.lock")
    a("--config", metavar="FILE", help="TOML file with defaults for these options")
    a("-v", "--verbose", action="store_true", default=None, help="debug logging")
    return p


def load_config(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    known = {a.dest for a in build_parser()._actions}
    out = {}
    for key, value in data.items():
        dest = key.replace("-", "_")
        if dest not in known or dest in ("config", "help"):
            raise ConfigError(f"config file {path}: unknown key {key!r}")
        out[dest] = value
    return out


def resolve(argv: list[str] | None, env: dict[str, str]) -> dict[str, Any]:
    """Merge command line > environment > config file > defaults into one dict."""
    args = vars(build_parser().parse_args(argv))
    merged: dict[str, Any] = dict(DEFAULTS)
    merged.update(load_config(args.get("config")))
    for dest, var in ENV.items():
        if env.get(var):
            merged[dest] = env[var]
    merged.update({k: v for k, v in args.items() if v is not None})
    for name in INTS:
        value = merged.get(name)
        if value is None:
            continue
        try:
            merged[name] = int(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"--{name.replace('_', '-')} must be a whole number, got {value!r}"
            ) from None
        if merged[name] < 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 0, got {value}")
    if not merged.get("backend"):
        raise ConfigError("no backend: give --backend local|htcondor|lsf|slurm")
    if merged.get("target") is None:
        raise ConfigError("no target: give --target N (maximum pilots alive per queue)")
    if merged.get("lifetime", 1) <= 0:
        raise ConfigError("--lifetime must be > 0")
    queues = merged["queue"] if isinstance(merged["queue"], list) else [merged["queue"]]
    merged["queue"] = [q.strip() for item in queues for q in str(item).split(",") if q.strip()]
    if not merged["queue"]:
        raise ConfigError("no queue to serve")
    merged.setdefault("factory_id", None)
    merged["factory_id"] = merged["factory_id"] or socket.gethostname().split(".")[0]
    if not all(c.isalnum() or c in "-_" for c in merged["factory_id"]):
        raise ConfigError(f"--factory-id {merged['factory_id']!r}: use letters, digits, - and _")
    state = Path(merged["state_dir"]).absolute()
    merged["state_dir"] = state
    merged["log_dir"] = Path(merged.get("log_dir") or state / "logs").absolute()
    merged["lock_file"] = Path(merged.get("lock_file") or state / f"{merged['factory_id']}.lock")
    merged["token"] = read_token(merged.get("token_file"), env)
    pilot_token = merged.get("pilot_token_file") or merged.get("token_file")
    merged["pilot_token_file"] = Path(pilot_token).absolute() if pilot_token else None
    if merged.get("pilot_command"):
        merged["pilot_command"] = str(merged["pilot_command"])
    else:
        beside = Path(sys.executable).parent / "p3s-pilot"
        merged["pilot_command"] = str(beside) if beside.exists() else "p3s-pilot"
    return merged


def read_token(token_file: str | None, env: dict[str, str]) -> str:
    if token_file:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the token file {token_file}: {exc.strerror}") from exc
        if not token:
            raise ConfigError(f"the token file {token_file} is empty")
        return token
    if env.get("P3S_TOKEN"):
        return env["P3S_TOKEN"].strip()
    raise ConfigError("no token: give --token-file FILE (or set P3S_TOKEN_FILE or P3S_TOKEN)")


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = resolve(argv, dict(os.environ))
    except ConfigError as exc:
        print(f"p3s-factory: {exc}", file=sys.stderr)
        return exc.exit_code
    logging.basicConfig(
        level=logging.DEBUG if cfg.get("verbose") else logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s p3s-factory[{cfg['factory_id']}/{cfg['backend']}] %(message)s",
    )
    dry_run = bool(cfg.get("dry_run"))

    def spec_for(queue: str) -> PilotSpec:
        if cfg["pilot_token_file"] is None:
            raise ConfigError(
                "pilots need a token file (never a token on a command line): "
                "give --pilot-token-file or --token-file"
            )
        return PilotSpec(
            server=cfg["server"],
            token_file=cfg["pilot_token_file"],
            queue=queue,
            factory_id=cfg["factory_id"],
            lifetime=cfg["lifetime"],
            memory=cfg["memory"],
            log_dir=cfg["log_dir"],
            pilot=cfg["pilot_command"],
            pilot_args=tuple(shlex.split(cfg["pilot_args"] or "")),
            batch_queue=cfg.get("batch_queue"),
        )

    try:
        limits = Limits(
            target=cfg["target"], cap=cfg["cap"], queue_limit=cfg["queue_limit"], hot=cfg["hot"]
        )
        backend = make_backend(cfg["backend"], cfg["factory_id"], cfg["queue"], cfg["state_dir"])
        with cycle_lock(cfg["lock_file"]):
            log.info(
                "cycle start: server %s, queues %s, target %d, cap %s, queue limit %s, hot %d%s",
                cfg["server"],
                ",".join(cfg["queue"]),
                limits.target,
                limits.cap,
                limits.queue_limit,
                limits.hot,
                " (dry run)" if dry_run else "",
            )
            result = run_cycle(
                server=cfg["server"],
                token=cfg["token"],
                backend=backend,
                queues=cfg["queue"],
                limits=limits,
                spec_for=spec_for,
                dry_run=dry_run,
            )
    except LockBusy as exc:
        logging.getLogger("p3s.factory").info("%s: this cycle does nothing", exc)
        return 0
    except FactoryError as exc:
        log.error("no pilots submitted: %s", exc)
        return exc.exit_code
    submitted = sum(len(v) for v in result.submitted.values())
    log.info(
        "cycle done: submitted %d, removed %d%s",
        submitted,
        len(result.removed),
        " (dry run)" if dry_run else "",
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
