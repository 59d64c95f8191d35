"""Run one registered payload: ``python -m pilot.launch NAME ARGS...``.

The pilot starts every payload this way, so that only names registered under the
``p3s.payloads`` entry-point group can run. Exit code 127 means "no such payload".

Payloads die with their pilot (Linux). The pilot starts this process in a new session with
a parent-death signal (``PR_SET_PDEATHSIG``, SIGHUP). Here it re-checks that its parent is
still the pilot (``P3S_PILOT_PID``: the pilot may have died before the signal was armed),
then forks: the child runs the payload, this process stays a small guard (a child
subreaper, so orphaned grandchildren stay below it) and on SIGHUP kills its whole process
group with SIGKILL, payload and grandchildren alike. Otherwise it waits for the payload and
ends the way the payload ended (exit code, or the same signal).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from typing import Any

from pilot.registry import GROUP, find_payload

PILOT_PID_ENV = "P3S_PILOT_PID"
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
DEATH_SIGNAL = signal.SIGHUP


@functools.cache
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl  # noqa: B018 - fail here, not in a forked child
        return libc
    except (OSError, AttributeError):
        return None


def prctl(option: int, value: int) -> bool:
    """``prctl(option, value)`` through libc; False where it is not available. Call it once
    in the parent before forking, so the child only makes the call (no library loading)."""
    libc = _libc()
    return libc is not None and libc.prctl(option, value, 0, 0, 0) == 0


def arm_parent_death_signal() -> None:
    """In the pilot's child between fork and exec: get SIGHUP when the pilot dies."""
    prctl(PR_SET_PDEATHSIG, int(DEATH_SIGNAL))


def _orphaned() -> bool:
    expected = os.environ.get(PILOT_PID_ENV) or ""
    return expected.isdigit() and os.getppid() != int(expected)


def _kill_my_group(*_: object) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _run(name: str, args: list[str]) -> int:
    entry_point = find_payload(name)
    if entry_point is None:
        print(f"pilot.launch: no payload {name!r} is registered in {GROUP}", file=sys.stderr)
        return 127
    payload_main = entry_point.load()
    sys.argv = [name, *args]
    code = payload_main(args)
    return int(code or 0)


def _guard(name: str, args: list[str]) -> int:
    """Fork the payload and stand guard over the process group until it ends."""
    signal.signal(DEATH_SIGNAL, _kill_my_group)
    if _orphaned():  # the pilot died before the parent-death signal was armed
        print("pilot.launch: the pilot is gone; not starting the payload", file=sys.stderr)
        return 1
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    pid = os.fork()
    if pid == 0:  # the payload: default signal handling, never the guard's
        signal.signal(DEATH_SIGNAL, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        code = 1
        try:
            code = _run(name, args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code & 0xFF)
    # The guard lets SIGTERM (time limit, kill-job) reach the payload and ends with it.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        done, status = os.waitpid(-1, 0)
        if done == pid:
            break
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    return os.waitstatus_to_exitcode(status)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python -m pilot.launch NAME [ARGS...]", file=sys.stderr)
        return 2
    name, args = argv[0], argv[1:]
    if os.environ.get(PILOT_PID_ENV) and hasattr(os, "fork"):
        return _guard(name, args)
    return _run(name, args)


if __name__ == "__main__":
    sys.exit(main())
