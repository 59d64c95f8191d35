"""Run one payload process: work dir, job file, process group, time limit, log capture.

:func:`run_payload` starts ``python -m pilot.launch NAME ARGS...`` in its own session (so
it and everything it spawns share one process group), copies its stdout and stderr into
``payload.log`` while keeping the last stderr lines, and ends the whole group when the job
runs past its time limit or when the pilot asks it to (``kill-job``, SIGTERM). It does not
talk to the server: it returns an :class:`Outcome` and the pilot decides what to report.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlparse

from pilot import launch
from pilot.registry import payload_command
from pilot.release import OUTPUTS_NAME, already_published

if TYPE_CHECKING:
    from pilot.warm import WarmProcess, WarmWorker

log = logging.getLogger(__name__)

LOG_NAME = "payload.log"
JOB_NAME = "job.json"
RESULT_NAME = "result.json"
PRODUCT_KINDS = ("png", "bokeh", "json")
STDERR_LINES = 20
TAIL_LINES = 100
TAIL_CHARS = 8000
MESSAGE_CHARS = 2000
SECRET_ENV = ("P3S_TOKEN", "P3S_TOKEN_FILE")
# A payload killed on request (kill-job, SIGTERM) gets at most this long to end cleanly:
# after SIGTERM the batch system's own SIGKILL is usually only seconds away.
STOP_GRACE = 5.0


@dataclass
class Outcome:
    """How a payload process ended.

    ``ended`` is ``exited`` (see ``exit_code``), ``timeout`` (killed at its time limit) or
    ``interrupted`` (killed because the pilot asked: ``reason`` says why).
    """

    ended: str
    exit_code: int | None
    elapsed: float
    reason: str = ""
    stderr_tail: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.ended == "exited" and self.exit_code == 0


class ResultError(ValueError):
    """The payload exited 0 but its result file is missing or malformed."""


# -- process handling ---------------------------------------------------------------------


def _group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` still runs (zombies do not count).

    Orphans of a killed payload become zombies of init, which in some containers reaps them
    late; ``killpg(pgid, 0)`` would count those, so on Linux ``/proc`` is read instead.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return True
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def kill_group(proc: subprocess.Popen[bytes] | WarmProcess, grace: float) -> None:
    """SIGTERM the payload's whole process group, then SIGKILL what is left after ``grace``."""
    pgid = proc.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _group_alive(pgid):
            break
        time.sleep(0.05)
    if proc.poll() is None or _group_alive(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
            log.info("process group %d still alive after %.1f s: sent SIGKILL", pgid, grace)
        except ProcessLookupError:
            pass
    proc.wait()


def _pump(
    stream: IO[bytes], sink: IO[bytes], lock: threading.Lock, keep: deque[str] | None
) -> None:
    """Copy a pipe into the log file line by line; keep the last lines when asked."""
    try:
        for line in iter(lambda: stream.readline(65536), b""):
            with lock:
                sink.write(line)
                sink.flush()
            if keep is not None:
                text = line.decode("utf-8", errors="replace").rstrip()
                if text:
                    keep.append(text)
    except (OSError, ValueError):  # the log was closed under a process that escaped its group
        pass
    finally:
        stream.close()


def payload_env(jobdir: Path) -> dict[str, str]:
    """The payload's environment: the pilot's, without its token, plus the job files."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    env["P3S_JOB"] = str(jobdir / JOB_NAME)
    env["P3S_RESULT"] = str(jobdir / RESULT_NAME)
    env["P3S_OUTPUTS"] = str(jobdir / OUTPUTS_NAME)  # early outputs (pilot.release)
    env["PYTHONUNBUFFERED"] = "1"
    env[launch.PILOT_PID_ENV] = str(os.getpid())  # the payload's guard re-checks its parent
    return env


def become_subreaper() -> bool:
    """Orphaned processes of our payloads reparent to the pilot, not to init (Linux), so
    nothing a payload leaves behind escapes the pilot's view. Idempotent."""
    return launch.prctl(launch.PR_SET_CHILD_SUBREAPER, 1)


def reap_orphans() -> int:
    """Collect exited orphans adopted as subreaper (no payload runs when this is called)."""
    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped += 1


def _spawn_warm(
    warm: WarmWorker, argv: list[str], jobdir: Path
) -> tuple[WarmProcess, IO[bytes], IO[bytes]]:
    """Fork the payload from the warm worker, its stdout and stderr on pipes of ours."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        proc = warm.spawn(argv[0], argv[1:], str(jobdir), payload_env(jobdir), out_w, err_w)
    except BaseException:
        for fd in (out_r, err_r):
            os.close(fd)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    return proc, os.fdopen(out_r, "rb"), os.fdopen(err_r, "rb")


def run_payload(
    spec: dict[str, Any],
    jobdir: Path,
    timeout: float,
    kill_grace: float,
    interrupt: Callable[[], str | None],
    on_start: Callable[[int], None] | None = None,
    poll: float = 0.1,
    warm: WarmWorker | None = None,
    watch: Callable[[], None] | None = None,
) -> Outcome:
    """Run the job's payload in ``jobdir`` until it exits, times out or is interrupted.

    Parameters
    ----------
    spec : dict
        The job as the server sent it (written to ``job.json``).
    timeout : float
        Seconds before the process group gets SIGTERM, then SIGKILL after ``kill_grace``.
    interrupt : callable
        Polled every ``poll`` seconds; a non-empty string means "stop the payload now"
        and becomes the outcome's ``reason``.
    warm : WarmWorker, optional
        Fork the payload from this pre-imported worker when it covers the payload
        (:mod:`pilot.warm`); otherwise, or without one, start a fresh interpreter.
    watch : callable, optional
        Called every ``poll`` seconds while the payload runs (the early release of its
        outputs, :class:`pilot.release.Release`); it must not block.
    """
    jobdir.mkdir(parents=True, exist_ok=True)
    (jobdir / JOB_NAME).write_text(json.dumps(spec, indent=1), encoding="utf-8")
    args = [str(a) for a in spec.get("args") or []]
    argv = payload_command(str(spec["payload"]), args)
    stderr_tail: deque[str] = deque(maxlen=STDERR_LINES)
    lock = threading.Lock()
    started = time.monotonic()
    become_subreaper()
    warm_start = warm is not None and warm.covers(str(spec["payload"]), interrupt)
    why = interrupt()
    if why:  # stopped while the warm worker was still importing
        return Outcome("interrupted", None, time.monotonic() - started, why)
    with open(jobdir / LOG_NAME, "ab") as sink:
        # The payload's guard (pilot.launch) gets SIGHUP if the pilot dies, even by SIGKILL,
        # and takes the payload's whole process group with it.
        proc: subprocess.Popen[bytes] | WarmProcess
        if warm is not None and warm_start:
            proc, stdout, stderr = _spawn_warm(warm, [str(spec["payload"]), *args], jobdir)
        else:
            proc = subprocess.Popen(
                argv,
                cwd=jobdir,
                env=payload_env(jobdir),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                preexec_fn=launch.arm_parent_death_signal,
            )
            assert proc.stdout is not None and proc.stderr is not None
            stdout, stderr = proc.stdout, proc.stderr
        pumps = [
            threading.Thread(target=_pump, args=(stdout, sink, lock, None), daemon=True),
            threading.Thread(target=_pump, args=(stderr, sink, lock, stderr_tail), daemon=True),
        ]
        for pump in pumps:
            pump.start()
        how = "warm" if warm is not None and not isinstance(proc, subprocess.Popen) else "cold"
        log.info(
            "job %s: started payload %s %s as pid %d", spec["id"], spec["payload"], how, proc.pid
        )
        if on_start is not None:
            on_start(proc.pid)
        ended, reason = "exited", ""
        while True:
            try:
                proc.wait(timeout=poll)
                break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() - started >= timeout:
                ended = "timeout"
                log.warning("job %s: past its time limit of %.0f s: killing", spec["id"], timeout)
                kill_group(proc, kill_grace)
                break
            if watch is not None:
                watch()
            why = interrupt()
            if why:
                ended, reason = "interrupted", why
                log.warning("job %s: %s: killing the payload", spec["id"], why)
                kill_group(proc, min(kill_grace, STOP_GRACE))
                break
        # Whatever the payload left behind in its group goes with it.
        kill_group(proc, min(kill_grace, 2.0))
        for pump in pumps:
            pump.join(timeout=5)
        reap_orphans()
    elapsed = time.monotonic() - started
    code = proc.returncode if ended == "exited" else None
    log.info("job %s: payload %s after %.3f s (exit code %s)", spec["id"], ended, elapsed, code)
    return Outcome(ended, code, elapsed, reason, list(stderr_tail))


# -- what the payload left ----------------------------------------------------------------


def log_tail(jobdir: Path, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The last lines of the payload's log (bounded in lines and characters)."""
    path = jobdir / LOG_NAME
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - chars * 2))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    tail = "\n".join(text.splitlines()[-lines:])
    return tail[-chars:]


def failure_message(outcome: Outcome) -> str:
    """The job's message for a failure: the last stderr lines, or what the exit code means."""
    code = outcome.exit_code
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        what = f"payload killed by {name}"
    else:
        what = f"payload exited with code {code}"
    if code == 127:
        what += " (payload not registered on the node?)"
    tail = "\n".join(outcome.stderr_tail[-10:])
    message = f"{what}:\n{tail}" if tail else what
    return message[-MESSAGE_CHARS:]


def as_url(value: str, jobdir: Path) -> str:
    if urlparse(value).scheme and "://" in value:
        return value
    path = Path(value)
    if not path.is_absolute():
        path = jobdir / path
    return path.resolve().as_uri()


def _published(outputs: list[str], jobdir: Path) -> list[str]:
    """The outputs on the staging area of the job (``job.json``): published there by the
    pilot when that area is remote (:func:`pilot.transfer.publish_outputs`)."""
    from pilot import transfer
    from storage import StorageError

    try:
        spec = json.loads((jobdir / JOB_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return outputs  # no job file (a result read on its own): nothing to publish
    done = already_published(jobdir)  # released early: published then, not again
    todo = [o for o in outputs if o not in done]
    try:
        fresh = iter(transfer.publish_outputs(spec, todo, jobdir) if todo else [])
        return [done[o] if o in done else next(fresh) for o in outputs]
    except StorageError as exc:
        raise ResultError(f"the outputs could not be published to a staging area: {exc}") from exc


def read_result(jobdir: Path) -> dict[str, Any]:
    """Read and check the payload's result file.

    Returns ``{"outputs": [urls], "metrics": [...], "products": [...]}`` with product paths
    made absolute and outputs published to a remote staging area where the job has one
    (``output_url``, then ``output_fallback``). Raises :class:`ResultError` saying what is
    wrong.
    """
    path = jobdir / RESULT_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultError(f"payload exited 0 but wrote no result file ({RESULT_NAME})") from None
    except (OSError, ValueError) as exc:
        raise ResultError(f"payload exited 0 but its result file is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ResultError("payload result is not a JSON object")
    for key in ("outputs", "metrics", "products"):
        if not isinstance(data.get(key, []), list):
            raise ResultError(f"payload result: {key!r} must be a list")
    outputs = []
    for item in data.get("outputs", []):
        if not isinstance(item, str) or not item:
            raise ResultError(f"payload result: output {item!r} is not a URL or path")
        outputs.append(as_url(item, jobdir))
    outputs = _published(outputs, jobdir)
    metrics = []
    for item in data.get("metrics", []):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ResultError(f"payload result: metric {item!r} has no name")
        value = item.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ResultError(f"payload result: metric {item['name']!r} value is not a number")
        if not math.isfinite(value):
            log.warning("dropping metric %s: value %r is not finite", item["name"], value)
            continue
        labels = item.get("labels") or {}
        if not isinstance(labels, dict):
            raise ResultError(f"payload result: metric {item['name']!r} labels are not an object")
        metrics.append({"name": item["name"], "value": value, "labels": labels})
    products = []
    for item in data.get("products", []):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise ResultError(f"payload result: product {item!r} has no path")
        product_path = Path(item["path"])
        if not product_path.is_absolute():
            product_path = jobdir / product_path
        if not product_path.is_file():
            raise ResultError(f"payload result: product file {item['path']} does not exist")
        kind = item.get("kind")
        if kind not in PRODUCT_KINDS:
            raise ResultError(
                f"payload result: product {item['path']} has kind {kind!r}, "
                f"expected one of {', '.join(PRODUCT_KINDS)}"
            )
        labels = item.get("labels") or {}
        if not isinstance(labels, dict):
            raise ResultError(f"payload result: product {item['path']} labels are not an object")
        products.append(
            {
                "path": str(product_path.resolve()),
                "kind": kind,
                "title": str(item.get("title") or product_path.name),
                "labels": labels,
            }
        )
    return {"outputs": outputs, "metrics": metrics, "products": products}
