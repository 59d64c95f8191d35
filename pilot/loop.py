"""The pilot itself: register, then claim -> run -> report until a reason to stop.

:class:`Pilot` is a loop over small units of work that tests call one by one:
:meth:`Pilot.flush_spool`, :meth:`Pilot.claim_one`, :meth:`Pilot.run_job`,
:meth:`Pilot.stop_reason`. :meth:`Pilot.run` strings them together.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pilot import outcome, send, transfer
from pilot.conditions import CACHE_DIR, ConditionsCache, HttpFetch
from pilot.config import Config, describe_node
from pilot.errors import (
    ClientError,
    Conflict,
    Forbidden,
    Interrupted,
    NotFound,
    TransportError,
    Unreachable,
)
from pilot.heartbeat import Heartbeat
from pilot.outcome import UNKNOWN_PAYLOAD_CODE
from pilot.registry import GROUP, find_payload, registered_payloads
from pilot.release import Release
from pilot.runner import LOG_NAME, Outcome, run_payload
from pilot.spool import Entry, Spool
from pilot.transport import Transport
from pilot.validate import check_environment
from pilot.warm import WarmWorker

log = logging.getLogger(__name__)

# Exit codes of the pilot process.
EXIT_OK = 0
EXIT_CONFIG = 1
EXIT_UNREACHABLE = 2
EXIT_INVALID_ENV = 3
EXIT_REFUSED = 4
EXIT_CRASH = 5
#: Seconds between saves of a spool entry's progress while it is being sent (flush_spool).
SPOOL_CHECKPOINT = 0.5


@dataclass
class CurrentJob:
    id: int
    started: float
    jobdir: Path
    kill: threading.Event = field(default_factory=threading.Event)


class Pilot:
    """One pilot: a registration on the server and a loop over jobs.

    Parameters
    ----------
    config : Config
        Resolved settings.
    transport : Transport
        The server (HTTP, usually wrapped in :class:`~pilot.transport.Retrying`, or a fake).
    hints : dict, optional
        Resources the batch system granted (``cores``, ``memory_mb``).
    stopping : threading.Event, optional
        Set when the pilot must stop; share it with the transport's retry loop so back-off
        waits end at once.
    """

    def __init__(
        self,
        config: Config,
        transport: Transport,
        hints: dict[str, str] | None = None,
        stopping: threading.Event | None = None,
        conditions: ConditionsCache | None = None,
    ) -> None:
        self.config = config
        self.transport = transport
        self.hints = hints or {}
        self.stopping = stopping or threading.Event()
        self.pilot_id: int | None = None
        self.heartbeat_interval = 60.0
        self.heartbeat: Heartbeat | None = None
        self.jobs_done = 0
        self.started = time.monotonic()
        self.idle_since = self.started
        self._stop_reason = ""
        self._claiming = False
        self._current: CurrentJob | None = None
        self._lock = threading.Lock()
        self._kept: deque[Path] = deque()
        self._home: Path | None = None
        self._spool: Spool | None = None
        self._conditions = conditions
        self._next: dict[str, Any] | None = None
        self.warm = (
            WarmWorker(config.warm, ready_timeout=config.import_timeout) if config.warm else None
        )

    @property
    def home(self) -> Path:
        """This pilot's own directory under the work dir (made on first use, after the
        environment checks): ``jobs/`` holds one directory per job, ``spool/`` what is owed."""
        if self._home is None:
            self.config.workdir.mkdir(parents=True, exist_ok=True)
            prefix = f"p3s-pilot-{self.config.batch_system}-{self.config.batch_id}-"
            self._home = Path(
                tempfile.mkdtemp(prefix=prefix.replace("/", "_"), dir=self.config.workdir)
            )
            log.info("pilot home is %s", self._home)
        return self._home

    @property
    def spool(self) -> Spool:
        if self._spool is None:
            self._spool = Spool(self.home / "spool")
        return self._spool

    @property
    def conditions(self) -> ConditionsCache:
        """The node's conditions cache (``<workdir>/conditions-cache``), shared by its pilots."""
        if self._conditions is None:
            timeout = (self.config.connect_timeout, self.config.read_timeout)
            self._conditions = ConditionsCache(
                self.config.workdir / CACHE_DIR,
                HttpFetch(self.config.token, timeout),
                self.config.server,
            )
        return self._conditions

    # -- stopping -----------------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        """Ask the pilot to stop (signal handler, ``exit`` command). Kills a running payload.

        Called from the signal handler: while a claim is waiting on the server it raises
        :class:`~pilot.errors.Interrupted` to abandon the long poll at once.
        """
        if not self._stop_reason:
            self._stop_reason = reason
            log.warning("stopping: %s", reason)
        self.stopping.set()
        if self._claiming:
            raise Interrupted(reason)

    def time_left(self) -> float | None:
        """Seconds of lifetime left for a new job (lifetime minus age minus reserve)."""
        if self.config.lifetime is None:
            return None
        age = time.monotonic() - self.started
        return self.config.lifetime - age - self.config.lifetime_reserve

    def stop_reason(self) -> str:
        """Why the loop must end now, or "" to go on claiming."""
        if self._stop_reason:
            return self._stop_reason
        cfg = self.config
        if cfg.max_jobs is not None and self.jobs_done >= cfg.max_jobs:
            return f"ran {self.jobs_done} job(s), the --max-jobs limit"
        if cfg.idle_exit is not None and time.monotonic() - self.idle_since >= cfg.idle_exit:
            return f"idle for {cfg.idle_exit:.0f} s (--idle-exit)"
        left = self.time_left()
        if left is not None and left <= 0:
            return "lifetime nearly over (--lifetime)"
        return ""

    # -- registration and goodbye -------------------------------------------------------

    def register(self) -> int:
        info = describe_node(self.config, self.hints)
        answer = self.transport.register(info)
        self.pilot_id = int(answer["id"])
        self.heartbeat_interval = float(answer.get("heartbeat_interval") or 60.0)
        log.info(
            "registered as pilot %d on %s (%s %s), heartbeat every %.1f s, queues %s",
            self.pilot_id,
            self.config.server,
            self.config.batch_system,
            self.config.batch_id,
            self.heartbeat_interval,
            ",".join(self.config.queues),
        )
        return self.pilot_id

    def say_goodbye(self, reason: str, ok: bool) -> None:
        if self.pilot_id is None:
            return
        try:
            self.transport.exit(self.pilot_id, reason, ok)
            log.info("said goodbye to the server (ok=%s): %s", ok, reason)
        except TransportError as exc:
            log.warning("could not say goodbye to the server: %s", exc)

    # -- heartbeat --------------------------------------------------------------------

    def progress(self) -> tuple[int | None, dict[str, Any]]:
        with self._lock:
            job = self._current
        if job is None:
            return None, {}
        progress: dict[str, Any] = {"elapsed": round(time.monotonic() - job.started, 1)}
        try:
            progress["log_bytes"] = (job.jobdir / LOG_NAME).stat().st_size
        except OSError:
            pass
        return job.id, progress

    def on_command(self, command: str, job_id: int | None) -> None:
        if command == "kill-job":
            with self._lock:
                job = self._current
            if job is not None and (job_id is None or job.id == job_id):
                log.warning("server cancelled job %d: killing it", job.id)
                job.kill.set()
            else:
                log.info("kill-job for job %s, which is not running here: ignored", job_id)
        elif command == "exit":
            if not self._stop_reason:
                self._stop_reason = "the server asked the pilot to exit"
                log.warning("stopping: %s", self._stop_reason)
            self.stopping.set()
        else:
            log.warning("unknown heartbeat command %r: ignored", command)

    def start_heartbeat(self) -> None:
        assert self.pilot_id is not None
        self.heartbeat = Heartbeat(
            self.transport, self.pilot_id, self.heartbeat_interval, self.progress, self.on_command
        )
        self.heartbeat.start()

    # -- units of work ----------------------------------------------------------------

    def claim_one(self) -> dict[str, Any] | None:
        """Ask for one job, long-polling at most until the next reason to stop."""
        assert self.pilot_id is not None
        wait = self.config.wait
        if self.config.idle_exit is not None:
            idle_left = self.config.idle_exit - (time.monotonic() - self.idle_since)
            wait = min(wait, max(0.0, idle_left))
        time_left = self.time_left()
        if time_left is not None:
            wait = min(wait, max(0.0, time_left))
            time_left = round(max(0.0, time_left), 1)
        job: dict[str, Any] | None = None
        if self._next is not None:  # claimed with the last report
            job, self._next = self._next, None
            log.info(
                "job %s came with the last report: payload %s", job.get("id"), job.get("payload")
            )
            return job
        try:
            self._claiming = True
            if self.stopping.is_set():
                return None
            job = self.transport.claim(self.pilot_id, round(wait, 1), time_left)
        except Interrupted:
            log.info("claim abandoned: %s", self._stop_reason)
        finally:
            self._claiming = False
        if job is not None:
            log.info(
                "claimed job %s: payload %s, stage %s, attempt %s, timeout %s s",
                job.get("id"),
                job.get("payload"),
                job.get("stage"),
                job.get("attempt"),
                job.get("timeout"),
            )
        return job

    def _interrupt(self, job: CurrentJob) -> str | None:
        if job.kill.is_set():
            return "kill-job"
        if self.stopping.is_set():
            return self._stop_reason or "pilot stopping"
        return None

    def run_job(self, spec: dict[str, Any]) -> str:
        """Run one claimed job and spool what must be reported; returns its end state.

        The state is what the server will hear: ``finished``, ``failed``, ``timeout``,
        ``released``, or ``dropped`` (job no longer ours, or killed by ``kill-job``:
        nothing more is reported).
        """
        self.jobs_done += 1
        try:
            return self._run_job(spec)
        finally:
            self.idle_since = time.monotonic()

    def _run_job(self, spec: dict[str, Any]) -> str:
        job_id = int(spec["id"])
        name = str(spec.get("payload") or "")
        jobdir = self.home / "jobs" / f"job-{job_id}-a{spec.get('attempt', 1)}"
        if find_payload(name) is None:
            known = ", ".join(sorted(registered_payloads())) or "none"
            message = (
                f"payload {name!r} is not registered on this pilot's node "
                f"(entry-point group {GROUP} has: {known}); it was not run"
            )
            log.error("job %d: %s", job_id, message)
            self._owe(outcome.failed(job_id, "", UNKNOWN_PAYLOAD_CODE, message, keep=False), spec)
            return "failed"
        if self.stopping.is_set():
            return self._release(job_id, "", "pilot stopping before the job started", spec)
        try:
            self.transport.report(job_id, {"state": "running", **outcome.attempt_of(spec)})
        except (Conflict, Forbidden, NotFound) as exc:
            log.warning("job %d is no longer ours, not running it: %s", job_id, exc)
            return "dropped"
        log.info("job %d: reported running", job_id)
        spec = self.conditions.localise(spec, jobdir)  # job.json names local copies
        try:
            spec = transfer.prepare_inputs(spec, jobdir)  # replica choice, remote parents
        except OSError as exc:  # storage errors are OSErrors: a parent output cannot be had
            self._owe(outcome.failed(job_id, str(jobdir), -1, f"input staging: {exc}"), spec)
            return "failed"
        current = CurrentJob(job_id, time.monotonic(), jobdir)
        with self._lock:
            self._current = current
        timeout = float(spec.get("timeout") or 0) or self.config.default_timeout
        early = Release(self.transport, spec, jobdir)  # outputs handed over before the end
        try:
            ran = run_payload(
                spec,
                jobdir,
                timeout,
                self.config.kill_grace,
                lambda: self._interrupt(current),
                warm=self.warm,
                watch=early.check,
            )
        except OSError as exc:
            message = f"the pilot could not start the payload: {exc}"
            log.error("job %d: %s", job_id, message)
            self._owe(outcome.failed(job_id, str(jobdir), -1, message), spec)
            return "failed"
        finally:
            early.join()  # its published outputs are read with the result
            with self._lock:
                self._current = None
        return self._spool_outcome(spec, jobdir, ran, timeout)

    def _owe(self, entry: Entry, spec: dict[str, Any]) -> None:
        """Spool what is owed for a job, stamped with its attempt."""
        self.spool.save(outcome.stamped(entry, spec))

    def _release(self, job_id: int, jobdir: str, why: str, spec: dict[str, Any]) -> str:
        self._owe(outcome.released(job_id, jobdir, why), spec)
        log.info("job %d: handing it back (%s)", job_id, why)
        return "released"

    def _spool_outcome(
        self, spec: dict[str, Any], jobdir: Path, ran: Outcome, timeout: float
    ) -> str:
        job_id = int(spec["id"])
        if ran.ended == "interrupted":
            if ran.reason == "kill-job":
                log.info("job %d: killed on the server's request; not reporting it", job_id)
                shutil.rmtree(jobdir, ignore_errors=True)
                return "dropped"
            return self._release(job_id, str(jobdir), f"pilot stopping: {ran.reason}", spec)
        entry = outcome.of_outcome(spec, jobdir, ran, timeout)
        self._owe(entry, spec)
        return str(entry.actions[-1]["body"]["state"])

    def _send(self, job_id: int, action: dict[str, Any]) -> None:
        op = action["op"]
        if op == "report":
            body = action["body"]
            ask = self._claim_with(body)
            answer = self.transport.report(job_id, {**body, "claim": ask} if ask else body)
            nxt = answer.get("next") if ask and isinstance(answer, dict) else None
            if isinstance(nxt, dict) and "id" in nxt:
                self._next = nxt  # report-and-claim: claim_one hands it out
        else:
            send.send_upload(self.transport, job_id, action)

    def _claim_with(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """What to ask with a ``finished`` report: the next job, unless this pilot is about
        to stop or already holds one (report-and-claim, see p3s.api.pilot_views)."""
        if body.get("state") != "finished" or self._next is not None or self.stop_reason():
            return None
        if self.pilot_id is None or self.stopping.is_set():
            return None
        left = self.time_left()
        return {"time_left": round(max(0.0, left), 1) if left is not None else None}

    def flush_spool(self) -> int:
        """Send everything the spool holds; returns how many entries were settled.

        Raises :class:`~pilot.errors.Unreachable` when the server stays unreachable past
        the transport's give-up time; what was not sent stays in the spool.
        """
        settled = 0
        for entry in self.spool.entries():
            spent: dict[str, list[float]] = {}  # op -> [count, seconds sending, seconds saving]
            saved = time.monotonic()
            while entry.actions:
                action = entry.actions[0]
                t0 = time.perf_counter()
                took = spent.setdefault(action["op"], [0, 0.0, 0.0])
                n = send.products_ahead(entry.actions) or 1  # products go in batches
                try:
                    if action["op"] == "product":
                        send.send_products(self.transport, entry.job, entry.actions[:n])
                    else:
                        self._send(entry.job, action)
                except (Conflict, Forbidden, NotFound) as exc:
                    log.warning("job %d is no longer ours, dropping it: %s", entry.job, exc)
                    entry.actions.clear()
                    break
                except ClientError as exc:
                    log.error(
                        "server refused %s for job %d, skipping it: %s",
                        action["op"],
                        entry.job,
                        exc,
                    )
                del entry.actions[:n]
                t1 = time.perf_counter()
                # Progress is saved at most every SPOOL_CHECKPOINT seconds, not after every
                # action: each save rewrites (and fsyncs) the entry with all its metrics, and
                # was 2.2 s of a 22-product ADC+FFT job's 3.7 s of reporting. Every action
                # carries its key (a product, metrics or log sent twice is stored once; a
                # report repeats harmlessly), so a pilot killed between checkpoints resends
                # at most that much, and loses nothing.
                if entry.actions and time.monotonic() - saved >= SPOOL_CHECKPOINT:
                    self.spool.save(entry)
                    saved = time.monotonic()
                took[0] += n
                took[1] += t1 - t0
                took[2] += time.perf_counter() - t1
                if action["op"] == "report":
                    log.info(
                        "job %d: reported %s (%s)",
                        entry.job,
                        action["body"]["state"],
                        ", ".join(
                            f"{op} {count}x {sending:.3f} s + spool {saving:.3f} s"
                            for op, (count, sending, saving) in spent.items()
                        ),
                    )
            self.spool.remove(entry)
            self._tidy(entry)
            settled += 1
        return settled

    def _tidy(self, entry: Entry) -> None:
        """Remove a settled job's work dir, or keep it (failed jobs, a bounded number)."""
        if not entry.jobdir:
            return
        jobdir = Path(entry.jobdir)
        if not entry.keep:
            shutil.rmtree(jobdir, ignore_errors=True)
            return
        self._kept.append(jobdir)
        while len(self._kept) > self.config.keep_failed:
            old = self._kept.popleft()
            shutil.rmtree(old, ignore_errors=True)
            log.info("removed the work dir of an older failed job: %s", old)

    # -- the loop -----------------------------------------------------------------------

    def step(self) -> bool:
        """One unit of the loop: deliver what is owed, else claim and run one job.

        Returns whether a job was run. Raises Unreachable when the server is gone.
        """
        self.flush_spool()
        if self.stop_reason():
            return False
        job = self.claim_one()
        if job is None:
            return False
        if "id" not in job:
            log.error("the server sent a job without an id, ignoring it: %r", job)
            return False
        self.run_job(job)
        return True

    def run(self) -> int:
        """Validate, register, loop until a reason to stop; returns the exit code."""
        problems = check_environment(self.config) if self.config.validate else []
        for problem in problems:
            log.error("environment check failed: %s", problem)
        if self.config.validate and not problems:
            log.info("environment checks passed")
        try:
            self.register()
        except Forbidden as exc:
            log.error("the server refused this pilot (is the token a pilot token?): %s", exc)
            return EXIT_REFUSED
        except ClientError as exc:
            log.error("registration refused: %s", exc)
            return EXIT_REFUSED
        except Unreachable as exc:
            log.error("cannot register, server unreachable: %s", exc)
            return EXIT_UNREACHABLE
        if problems:
            self.say_goodbye("environment validation failed: " + "; ".join(problems), ok=False)
            self._cleanup()
            return EXIT_INVALID_ENV
        self.start_heartbeat()
        # Idle time counts from when the pilot can claim: validation and registration on a
        # loaded node (imports of the payload stack) are not idleness.
        self.idle_since = time.monotonic()
        if self.warm is not None:
            self.warm.start()  # imports in the background while the first claim waits
        try:
            return self._loop()
        finally:
            if self.warm is not None:
                self.warm.close()
            if self.heartbeat is not None:
                self.heartbeat.stop()
            self._cleanup()

    def _loop(self) -> int:
        while True:
            try:
                self.step()
            except Unreachable as exc:
                log.error(
                    "server unreachable, exiting with %d report(s) left in %s: %s",
                    len(self.spool),
                    self.spool.directory,
                    exc,
                )
                return EXIT_UNREACHABLE
            except ClientError as exc:
                log.error("the server refused this pilot's request, exiting: %s", exc)
                return EXIT_REFUSED
            except Exception as exc:
                log.exception("pilot bug, exiting")
                self.say_goodbye(f"pilot crashed: {type(exc).__name__}: {exc}", ok=False)
                return EXIT_CRASH
            reason = self.stop_reason()
            if reason and not len(self.spool):
                self.say_goodbye(reason, ok=True)
                log.info("pilot exiting after %d job(s): %s", self.jobs_done, reason)
                return EXIT_OK

    def _cleanup(self) -> None:
        """Remove the pilot's home unless something in it still matters."""
        if self._home is None or len(self.spool):
            return
        shutil.rmtree(self.home / "spool", ignore_errors=True)
        jobs = self.home / "jobs"
        if jobs.exists() and any(jobs.iterdir()):
            return
        shutil.rmtree(self.home, ignore_errors=True)
