"""How the pilot talks to the p3s server.

:class:`Transport` is the whole surface the pilot logic uses, one method per API call.
:class:`HttpTransport` makes each call once over HTTP with ``requests``; :class:`Retrying`
wraps any transport and retries the calls that failed for a reason that may go away (no
answer, 5xx, 429) with exponential back-off and jitter, until a total time has passed.
:class:`pilot.fake.FakeServer` is the in-memory transport the tests use.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import random
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol, TypeVar

import requests

from pilot import __version__
from pilot.errors import ClientError, Conflict, Forbidden, NotFound, ServerFault, Unreachable

log = logging.getLogger(__name__)

T = TypeVar("T")


class Transport(Protocol):
    """The server as the pilot sees it. Every method raises a :class:`~pilot.errors.TransportError`
    subclass when the call did not succeed."""

    def register(self, info: dict[str, Any]) -> dict[str, Any]:
        """``POST pilots/``: returns ``{"id", "heartbeat_interval", "state"}``."""
        ...

    def heartbeat(
        self,
        pilot_id: int,
        job_id: int | None,
        progress: dict[str, Any],
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """``POST pilots/{id}/heartbeat/``: returns ``{"command", "heartbeat_interval"}``.
        ``timeout``: seconds the call may wait to connect and for each read of the answer
        (a server that accepts and never answers cannot hold the beat longer)."""
        ...

    def claim(self, pilot_id: int, wait: float, time_left: float | None) -> dict[str, Any] | None:
        """``POST pilots/{id}/claim/``: the job, or None when there is none (204)."""
        ...

    def report(self, job_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """``POST jobs/{id}/report/``: returns the job."""
        ...

    def release_outputs(
        self, job_id: int, outputs: list[str], attempt: int | None = None
    ) -> dict[str, Any]:
        """``POST jobs/{id}/outputs/``: the running job's final data outputs, so that its
        children start before it ends (early outputs); returns ``{"children": [...]}``."""
        ...

    def upload_product(
        self,
        job_id: int,
        path: Path,
        kind: str,
        title: str,
        labels: dict[str, Any],
        key: str = "",
        attempt: int | None = None,
    ) -> None:
        """``POST jobs/{id}/products/`` (multipart). ``key`` makes a retry harmless (the
        server stores one product per key); ``attempt`` fences out a job's older attempts."""
        ...

    def upload_products(
        self, job_id: int, items: list[dict[str, Any]], attempt: int | None = None
    ) -> None:
        """``POST jobs/{id}/products/batch/``: several products in one request, stored all or
        none. ``items``: ``{path, kind, title, labels, key}`` each (the spool's actions)."""
        ...

    def post_metrics(
        self,
        job_id: int,
        metrics: list[dict[str, Any]],
        key: str = "",
        attempt: int | None = None,
    ) -> None:
        """``POST jobs/{id}/metrics/``, with the same ``key`` and ``attempt`` as uploads."""
        ...

    def upload_log(
        self, job_id: int, path: Path, cut: int, key: str = "", attempt: int | None = None
    ) -> None:
        """``POST jobs/{id}/log/`` (multipart): the job's whole log, gzip-compressed, with the
        bytes the pilot cut from its middle; ``key`` and ``attempt`` as for products."""
        ...

    def exit(self, pilot_id: int, reason: str, ok: bool) -> None:
        """``POST pilots/{id}/exit/``: the pilot says goodbye."""
        ...


# -- HTTP -----------------------------------------------------------------------------------

RETRYABLE_4XX = {408, 425, 429}
# Answers that mean "not now" (a proxy without its backend, a server without its database):
# retried until the give-up time however often they repeat.
TRANSIENT_5XX = {502, 503, 504}
# The same other 5xx this many times in a row is a deterministic fault: stop retrying.
SAME_FAULT_TRIES = 3
#: Seconds an early release of outputs may be retried (Retrying.release_outputs).
RELEASE_BUDGET = 10.0


def _detail(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason or ""
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])
    return json.dumps(data)[:200]


def raise_for_status(response: requests.Response, what: str) -> None:
    """Translate an HTTP error status into the matching :mod:`pilot.errors` exception."""
    status = response.status_code
    if status < 400:
        return
    message = f"{what}: HTTP {status}: {_detail(response)}"
    if status >= 500 or status in RETRYABLE_4XX:
        error = Unreachable(message, status)
        error.answered = True
        raise error
    if status == 409:
        raise Conflict(message)
    if status in (401, 403):
        raise Forbidden(message, status)
    if status == 404:
        raise NotFound(message)
    raise ClientError(message, status)


def _fencing(key: str, attempt: int | None) -> dict[str, Any]:
    """The idempotency key and attempt fields of an upload (left out when not given)."""
    out: dict[str, Any] = {"key": key} if key else {}
    if attempt is not None:
        out["attempt"] = attempt
    return out


class HttpTransport:
    """One HTTP request per call, on a ``requests.Session`` per thread.

    Parameters
    ----------
    server : str
        Base URL of the server (``https://p3s.example.org``); ``/api/v1/`` is appended.
    token : str
        API token of role ``pilot``.
    connect_timeout, read_timeout : float
        Seconds to wait for the connection and for an answer. A claim's read timeout is
        its long-poll ``wait`` plus ``read_timeout``, since the server holds that request.
    """

    def __init__(
        self,
        server: str,
        token: str,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.base = server.rstrip("/") + "/api/v1/"
        self.token = token
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._local = threading.local()
        self.pilot_key: str | None = None  # from registration: proves which pilot is calling

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["Authorization"] = f"Token {self.token}"
            session.headers["User-Agent"] = f"p3s-pilot/{__version__}"
            self._local.session = session
        return session

    def _post(
        self,
        path: str,
        what: str,
        read_timeout: float | None = None,
        connect_timeout: float | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        url = self.base + path
        timeout = (connect_timeout or self.connect_timeout, read_timeout or self.read_timeout)
        if self.pilot_key:
            kwargs["headers"] = {"X-P3S-Pilot-Key": self.pilot_key, **kwargs.get("headers", {})}
        try:
            response = self.session.post(url, timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            raise Unreachable(f"{what}: no answer from {url}: {exc}") from exc
        raise_for_status(response, what)
        return response

    @staticmethod
    def _json(response: requests.Response, what: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as exc:
            raise Unreachable(f"{what}: the server answered something that is not JSON") from exc
        if not isinstance(data, dict):
            raise Unreachable(f"{what}: the server answered {type(data).__name__}, not an object")
        return data

    def register(self, info: dict[str, Any]) -> dict[str, Any]:
        what = "register"
        data = self._json(self._post("pilots/", what, json=info), what)
        self.pilot_key = data.get("key") or None
        return data

    def heartbeat(
        self,
        pilot_id: int,
        job_id: int | None,
        progress: dict[str, Any],
        timeout: float | None = None,
    ) -> dict[str, Any]:
        what = f"heartbeat of pilot {pilot_id}"
        body = {"job": job_id, "progress": progress}
        limits: dict[str, float] = {}
        if timeout is not None:  # its own short limits, never longer than the usual ones
            limits = {
                "connect_timeout": min(timeout, self.connect_timeout),
                "read_timeout": min(timeout, self.read_timeout),
            }
        response = self._post(f"pilots/{pilot_id}/heartbeat/", what, json=body, **limits)
        return self._json(response, what)

    def claim(self, pilot_id: int, wait: float, time_left: float | None) -> dict[str, Any] | None:
        what = f"claim by pilot {pilot_id}"
        body = {"wait": wait, "time_left": time_left}
        response = self._post(
            f"pilots/{pilot_id}/claim/", what, read_timeout=wait + self.read_timeout, json=body
        )
        if response.status_code == 204 or not response.content:
            return None
        return self._json(response, what)

    def report(self, job_id: int, body: dict[str, Any]) -> dict[str, Any]:
        what = f"report {body.get('state')} for job {job_id}"
        response = self._post(f"jobs/{job_id}/report/", what, json=body)
        return self._json(response, what) if response.content else {}

    def release_outputs(
        self, job_id: int, outputs: list[str], attempt: int | None = None
    ) -> dict[str, Any]:
        what = f"release of {len(outputs)} output(s) of job {job_id}"
        body = {"outputs": outputs, **_fencing("", attempt)}
        return self._json(self._post(f"jobs/{job_id}/outputs/", what, json=body), what)

    def upload_product(
        self,
        job_id: int,
        path: Path,
        kind: str,
        title: str,
        labels: dict[str, Any],
        key: str = "",
        attempt: int | None = None,
    ) -> None:
        what = f"upload of product {path.name} for job {job_id}"
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data: dict[str, Any] = {"kind": kind, "title": title, "labels": json.dumps(labels)}
        data |= _fencing(key, attempt)
        with open(path, "rb") as fh:
            files = {"file": (path.name, fh, mime)}
            self._post(f"jobs/{job_id}/products/", what, data=data, files=files)

    def upload_products(
        self, job_id: int, items: list[dict[str, Any]], attempt: int | None = None
    ) -> None:
        what = f"upload of {len(items)} products for job {job_id}"
        meta = [
            {"kind": i["kind"], "title": i["title"], "labels": i["labels"], "key": i.get("key", "")}
            for i in items
        ]
        data: dict[str, Any] = {"items": json.dumps(meta)} | _fencing("", attempt)
        with ExitStack() as stack:
            files = {}
            for n, item in enumerate(items):
                path = Path(item["path"])
                mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                files[f"file{n}"] = (path.name, stack.enter_context(open(path, "rb")), mime)
            self._post(f"jobs/{job_id}/products/batch/", what, data=data, files=files)

    def post_metrics(
        self,
        job_id: int,
        metrics: list[dict[str, Any]],
        key: str = "",
        attempt: int | None = None,
    ) -> None:
        what = f"metrics for job {job_id}"
        body = {"metrics": metrics, **_fencing(key, attempt)}
        self._post(f"jobs/{job_id}/metrics/", what, json=body)

    def upload_log(
        self, job_id: int, path: Path, cut: int, key: str = "", attempt: int | None = None
    ) -> None:
        what = f"upload of the log of job {job_id}"
        data: dict[str, Any] = {"cut": str(cut), **_fencing(key, attempt)}
        with open(path, "rb") as fh:
            files = {"file": (path.name, fh, "application/gzip")}
            self._post(f"jobs/{job_id}/log/", what, data=data, files=files)

    def exit(self, pilot_id: int, reason: str, ok: bool) -> None:
        what = f"exit of pilot {pilot_id}"
        self._post(f"pilots/{pilot_id}/exit/", what, json={"reason": reason, "ok": ok})


# -- retries --------------------------------------------------------------------------------


class Backoff:
    """Exponential back-off with jitter: ``base * 2**n`` capped at ``cap``, times 0.5-1."""

    def __init__(self, base: float = 1.0, cap: float = 60.0) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return delay * random.uniform(0.5, 1.0)


class Retrying:
    """A :class:`Transport` that retries another one while the server is unreachable.

    Calls that fail with :class:`~pilot.errors.Unreachable` are retried with back-off until
    ``give_up`` seconds have passed since the first try, then the last error is raised.
    4xx answers are never retried. Heartbeats are not retried here (the next beat is the
    retry). The wait between tries ends early when ``cancel`` is set (the pilot is stopping),
    except for ``exit``, which still gets a short budget of its own.
    """

    def __init__(
        self,
        inner: Transport,
        give_up: float = 600.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        cancel: threading.Event | None = None,
        exit_budget: float = 20.0,
    ) -> None:
        self.inner = inner
        self.give_up = give_up
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.cancel = cancel or threading.Event()
        self.exit_budget = exit_budget

    def _retry(
        self,
        what: str,
        call: Callable[[], T],
        budget: float | None = None,
        cancellable: bool = True,
    ) -> T:
        budget = self.give_up if budget is None else budget
        deadline = time.monotonic() + budget
        backoff = Backoff(self.backoff_base, self.backoff_cap)
        last_fault, repeats = "", 0
        while True:
            try:
                return call()
            except Unreachable as exc:
                status = exc.status or 0
                if exc.answered and status >= 500 and status not in TRANSIENT_5XX:
                    repeats = repeats + 1 if str(exc) == last_fault else 1
                    last_fault = str(exc)
                    if repeats >= SAME_FAULT_TRIES:
                        log.error(
                            "%s: the same answer %d times, not retrying: %s", what, repeats, exc
                        )
                        raise ServerFault(str(exc), exc.status) from exc
                else:
                    last_fault, repeats = "", 0
                left = deadline - time.monotonic()
                if left <= 0:
                    log.error("giving up on %s after %.0f s: %s", what, budget, exc)
                    raise
                delay = min(backoff.next_delay(), left)
                log.warning("%s; retrying in %.1f s", exc, delay)
                if cancellable:
                    if self.cancel.wait(delay):
                        raise Unreachable(f"{what}: abandoned, the pilot is stopping") from exc
                else:
                    time.sleep(delay)

    def register(self, info: dict[str, Any]) -> dict[str, Any]:
        return self._retry("register", lambda: self.inner.register(info))

    def heartbeat(
        self,
        pilot_id: int,
        job_id: int | None,
        progress: dict[str, Any],
        timeout: float | None = None,
    ) -> dict[str, Any]:
        return self.inner.heartbeat(pilot_id, job_id, progress, timeout)

    def claim(self, pilot_id: int, wait: float, time_left: float | None) -> dict[str, Any] | None:
        return self._retry("claim", lambda: self.inner.claim(pilot_id, wait, time_left))

    def report(self, job_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return self._retry(f"report of job {job_id}", lambda: self.inner.report(job_id, body))

    def release_outputs(
        self, job_id: int, outputs: list[str], attempt: int | None = None
    ) -> dict[str, Any]:
        # A short budget: an early release is worth only its earliness; when it does not
        # get through, the job's finished report makes the children as before.
        return self._retry(
            f"release of the outputs of job {job_id}",
            lambda: self.inner.release_outputs(job_id, outputs, attempt),
            budget=min(RELEASE_BUDGET, self.give_up),
        )

    def upload_product(
        self,
        job_id: int,
        path: Path,
        kind: str,
        title: str,
        labels: dict[str, Any],
        key: str = "",
        attempt: int | None = None,
    ) -> None:
        # Every try carries the same key: a retry after a lost answer stores nothing twice.
        self._retry(
            f"product upload for job {job_id}",
            lambda: self.inner.upload_product(job_id, path, kind, title, labels, key, attempt),
        )

    def upload_products(
        self, job_id: int, items: list[dict[str, Any]], attempt: int | None = None
    ) -> None:
        self._retry(  # each item carries its key: a batch sent twice is stored once
            f"upload of {len(items)} products for job {job_id}",
            lambda: self.inner.upload_products(job_id, items, attempt),
        )

    def post_metrics(
        self,
        job_id: int,
        metrics: list[dict[str, Any]],
        key: str = "",
        attempt: int | None = None,
    ) -> None:
        self._retry(
            f"metrics of job {job_id}",
            lambda: self.inner.post_metrics(job_id, metrics, key, attempt),
        )

    def upload_log(
        self, job_id: int, path: Path, cut: int, key: str = "", attempt: int | None = None
    ) -> None:
        self._retry(
            f"log upload for job {job_id}",
            lambda: self.inner.upload_log(job_id, path, cut, key, attempt),
        )

    def exit(self, pilot_id: int, reason: str, ok: bool) -> None:
        self._retry(
            "exit",
            lambda: self.inner.exit(pilot_id, reason, ok),
            budget=min(self.exit_budget, self.give_up),
            cancellable=False,
        )
