"""Warm payloads: a pre-imported template process that forks each job (a zygote).

A cold payload pays 1-1.5 s of interpreter start and imports (numpy, scipy, h5py,
matplotlib, bokeh, the payloads package) before it reads a byte. The pilot therefore keeps
one *warm worker*: ``python -m pilot.warm FD``, started once, which imports the payload
stack and every registered payload whose module is in the warm set, says hello with the
names it can start, and then forks one child per job on request.

Isolation is today's (see :mod:`pilot.launch` and :mod:`pilot.runner`):

- each job's child calls ``setsid()``: its own session and process group, so the pilot's
  time limit and ``kill-job`` end the whole group (:func:`pilot.runner.kill_group`);
- it ``chdir``\\ s to the job's work dir, takes the job's environment (the pilot's minus its
  token, plus ``P3S_JOB``/``P3S_RESULT``) and writes stdout/stderr to pipes the pilot made
  and passed over the socket (``SCM_RIGHTS``), so log capture is unchanged;
- it then becomes the same guard as a cold start (:func:`pilot.launch._guard`): a child
  subreaper that forks the payload and waits for it;
- a job's child is a fresh fork of the template: whatever one payload does to module
  globals, file descriptors or the heap dies with it; the template never runs payload code.

A payload dies with its pilot, even on SIGKILL: the worker has a parent-death signal
(SIGHUP, default action: terminate) on the pilot, each guard has one on the worker
(re-checked after arming, as in :mod:`pilot.launch`), and the guard kills its whole group
on SIGHUP. Pilot dies -> worker dies -> guards kill their groups.

A payload outside the warm set (a module not under the warm prefixes, or one that failed
to import in the worker) starts cold, exactly as before. If the worker itself dies, the
job it was running reads as killed by SIGKILL and the next job starts a new worker.
"""

from __future__ import annotations

import json
import logging
import os
import random
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from pilot import launch
from pilot.registry import find_payload, registered_payloads

log = logging.getLogger(__name__)

# The payload stack imported once by the worker (any that fails to import is skipped).
STACK = (
    "numpy",
    "scipy",
    "scipy.fft",
    "scipy.signal",
    "scipy.ndimage",
    "h5py",
    "matplotlib",
    "matplotlib.pyplot",
    "bokeh",
    "bokeh.plotting",
    "bokeh.embed",
    "payloads",
)
DEFAULT_PREFIXES = ("payloads",)
MESSAGE = 1 << 16


def _in_warm_set(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


# -- the worker (template) process -----------------------------------------------------


def _preload(prefixes: list[str], stack: list[str]) -> dict[str, Any]:
    """Import the stack and the warm payloads' entry points; the names that loaded."""
    import importlib
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)
    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in stack:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a missing extra only makes it colder
            print(f"pilot.warm: cannot preload {name}: {exc}", file=sys.stderr)
    loaded = {}
    for name, entry_point in registered_payloads().items():
        if not _in_warm_set(entry_point.module, prefixes):
            continue
        try:
            loaded[name] = entry_point.load()
        except Exception as exc:  # noqa: BLE001 - it will start cold and fail there visibly
            print(f"pilot.warm: payload {name} stays cold: {exc}", file=sys.stderr)
    return loaded


def _job_child(
    request: dict[str, Any], out_fd: int, err_fd: int, worker: int, close: list[int]
) -> None:
    """In the fork: become the job's session, take its files and environment, guard it."""
    code = 1
    try:
        os.setsid()
        launch.prctl(launch.PR_SET_PDEATHSIG, int(launch.DEATH_SIGNAL))
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in close:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        for fd in {devnull, out_fd, err_fd} - {0, 1, 2}:
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # The guard's parent is this worker, not the pilot: it re-checks the worker.
        os.environ[launch.PILOT_PID_ENV] = str(worker)
        random.seed()
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            numpy.random.seed()  # a fork would repeat the template's global stream
        code = launch._guard(str(request["name"]), [str(a) for a in request["args"]])
    except BaseException:  # noqa: BLE001 - the fork must never return into the worker loop
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code & 0xFF)


def serve(ctl_fd: int, prefixes: list[str], stack: list[str]) -> int:
    """The worker's loop: hello, then one fork per request until the pilot hangs up."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if launch._orphaned():
        return 1
    launch.prctl(launch.PR_SET_CHILD_SUBREAPER, 1)
    started = time.monotonic()
    ctl = socket.socket(fileno=ctl_fd)
    loaded = _preload(prefixes, stack)
    # SIGCHLD wakes the loop at once when a job ends (no polling delay on the report).
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    _send(ctl, {"pid": os.getpid(), "warm": sorted(loaded), "import_s": time.monotonic() - started})
    jobs: dict[int, socket.socket] = {}
    me = os.getpid()
    while True:
        ready, _, _ = select.select([ctl.fileno(), wake_r], [], [], 5.0)
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
        while True:  # reap guards (and orphans adopted as subreaper)
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = jobs.pop(pid, None)
            if conn is not None:
                try:
                    _send(conn, {"exit": os.waitstatus_to_exitcode(status)})
                except OSError:
                    pass
                conn.close()
        if ctl.fileno() not in ready:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(ctl, MESSAGE, 3)
        except OSError:
            data, fds = b"", []
        if not data:  # the pilot hung up: guards get SIGHUP when we exit
            return 0
        request = json.loads(data)
        conn_fd, out_fd, err_fd = fds
        sys.stdout.flush()
        sys.stderr.flush()
        close = [ctl.fileno(), wake_r, wake_w, conn_fd, *(c.fileno() for c in jobs.values())]
        pid = os.fork()
        if pid == 0:
            _job_child(request, out_fd, err_fd, me, close)
        os.close(out_fd)
        os.close(err_fd)
        conn = socket.socket(fileno=conn_fd)
        jobs[pid] = conn
        try:
            _send(conn, {"pid": pid})
        except OSError:
            pass


# -- the pilot's side --------------------------------------------------------------------


class WarmProcess:
    """A job forked by the worker, with the parts of :class:`subprocess.Popen` the runner
    uses (``pid``, ``poll``, ``wait``, ``returncode``). ``pid`` is the job's group leader."""

    def __init__(self, conn: socket.socket, args: list[str], timeout: float = 30.0) -> None:
        self._conn = conn
        self.args = args
        self.returncode: int | None = None
        first = self._read(timeout)
        if not first or "pid" not in first:
            conn.close()
            raise OSError("the warm worker did not start the payload")
        self.pid = int(first["pid"])

    def _read(self, timeout: float | None) -> dict[str, Any] | None:
        ready, _, _ = select.select([self._conn], [], [], timeout)
        if not ready:
            raise TimeoutError
        data = self._conn.recv(MESSAGE)
        return json.loads(data) if data else None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.wait(0)
            except subprocess.TimeoutExpired:
                pass
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        try:
            message = self._read(timeout)
        except TimeoutError:
            raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
        # No exit status means the worker died: its guards died by SIGHUP -> SIGKILL.
        self.returncode = int(message["exit"]) if message else -signal.SIGKILL
        self._conn.close()
        return self.returncode


class WarmWorker:
    """The pilot's handle on its warm worker: started in the background, restarted when it
    died, asked to fork one job at a time (:meth:`spawn`).

    Parameters
    ----------
    prefixes : iterable of str
        Modules whose registered payloads start warm (``payloads`` covers every stage).
    stack : iterable of str
        Modules the worker imports before its hello (default :data:`STACK`).
    ready_timeout : float
        Longest wait for the worker's hello (its imports) before a job starts cold.
    """

    def __init__(
        self,
        prefixes: Iterable[str] = DEFAULT_PREFIXES,
        stack: Iterable[str] = STACK,
        ready_timeout: float = 120.0,
    ) -> None:
        self.prefixes = list(prefixes)
        self.stack = list(stack)
        self.ready_timeout = ready_timeout
        self.names: set[str] = set()
        self.pid: int | None = None
        self.import_s: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._ctl: socket.socket | None = None
        self._ready = False

    def start(self) -> None:
        """Start the worker (returns at once; its imports run in the background)."""
        if not hasattr(socket, "send_fds") or not sys.platform.startswith("linux"):
            log.info("warm payloads need Linux: every payload starts cold")
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        launch._libc()  # load libc before forking, as the runner does
        env = {k: v for k, v in os.environ.items() if k not in ("P3S_TOKEN", "P3S_TOKEN_FILE")}
        env[launch.PILOT_PID_ENV] = str(os.getpid())
        env["PYTHONUNBUFFERED"] = "1"
        argv = [sys.executable, "-m", "pilot.warm", str(theirs.fileno())]
        argv += [",".join(self.prefixes), ",".join(self.stack)]
        self._proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            start_new_session=True,
            preexec_fn=launch.arm_parent_death_signal,
        )
        theirs.close()
        self._ctl = ours
        self._ready = False
        log.info("warm worker starting as pid %d (warm set: %s)", self._proc.pid, self.prefixes)

    def _hello(self, interrupt: Callable[[], str | None] | None = None) -> bool:
        if self._ready:
            return True
        if self._ctl is None:
            return False
        deadline = time.monotonic() + self.ready_timeout
        data = b""
        while time.monotonic() < deadline:
            if interrupt is not None and interrupt():
                return False  # the job is being stopped: do not wait for the imports
            ready, _, _ = select.select([self._ctl], [], [], 0.1)
            if ready:
                data = self._ctl.recv(MESSAGE)
                break
        if not data:
            log.warning("the warm worker gave no hello: payloads start cold")
            self.close()
            return False
        hello = json.loads(data)
        self.pid, self.names = int(hello["pid"]), set(hello["warm"])
        self.import_s = float(hello["import_s"])
        self._ready = True
        log.info(
            "warm worker %d ready after %.2f s of imports: %d warm payload(s)",
            self.pid,
            self.import_s,
            len(self.names),
        )
        return True

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def covers(self, name: str, interrupt: Callable[[], str | None] | None = None) -> bool:
        """Whether payload ``name`` starts warm (waits for the worker's hello if needed;
        a payload outside the warm prefixes never waits)."""
        entry_point = find_payload(name)
        if entry_point is None or not _in_warm_set(entry_point.module, self.prefixes):
            return False
        if self._proc is not None and not self.alive():
            log.warning("the warm worker died (exit %s): starting a new one", self._proc.returncode)
            self.close()
        if self._proc is None:
            self.start()
        return self._hello(interrupt) and name in self.names

    def spawn(
        self, name: str, args: list[str], cwd: str, env: dict[str, str], out_fd: int, err_fd: int
    ) -> WarmProcess:
        """Fork payload ``name`` in ``cwd`` with ``env``, stdout/stderr on the given fds."""
        if not self._ready or self._ctl is None:
            raise OSError("the warm worker is not running")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        request = {"name": name, "args": args, "cwd": cwd, "env": env}
        try:
            _send(self._ctl, request, [theirs.fileno(), out_fd, err_fd])
        except OSError:
            ours.close()
            self.close()
            raise
        finally:
            theirs.close()
        return WarmProcess(ours, [name, *args])

    def close(self) -> None:
        """Hang up and end the worker (a job it still runs dies with it)."""
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        self._ready = False
        self.names = set()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    prefixes = [p for p in argv[1].split(",") if p] if len(argv) > 1 else list(DEFAULT_PREFIXES)
    stack = [m for m in argv[2].split(",") if m] if len(argv) > 2 else list(STACK)
    return serve(int(argv[0]), prefixes, stack)


if __name__ == "__main__":
    sys.exit(main())
