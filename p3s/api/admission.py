"""A bound on the requests one server process works on at once (``P3S_ACTIVE_REQUESTS``).

gunicorn gives each process many threads (``P3S_THREADS``) because a long-polling claim holds
one while it waits. But threads that all compute at once share one GIL: every request then
takes as long as all of them together (server-side latency was mostly this queueing). Here
a request takes one of ``P3S_ACTIVE_REQUESTS`` slots for its work and waits for one, in
arrival order, when all are taken; a long poll gives its slot back while it waits
(:func:`idle`), so the threads stay a budget for waiting and the slots one for working.
A request holds its slot for all of its database transactions, so a lock holder never
waits for a slot. A request with a body over ``BIG_BODY`` bytes (an upload, a log) is not
bounded: it mostly waits for its bytes, and a slow one must not hold a slot meanwhile.
0 (the default) turns the bound off: measured in ``make bench``, 4 slots lowered the claim's
latency but cost throughput and server CPU per job (docs/configuration.md).
"""

from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager

from django.conf import settings


class Slots:
    """A semaphore that hands a freed slot to the longest waiter (no barging: a request
    arriving just as a slot frees does not take it from one that has waited)."""

    def __init__(self, size: int):
        self._free = size
        self._lock = threading.Lock()
        self._waiters: deque[threading.Event] = deque()

    def acquire(self) -> None:
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # set by release(), which passed its slot on to this waiter

    def release(self) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._free += 1


_lock = threading.Lock()
_slots: Slots | None = None
_size = 0
_held = threading.local()
BIG_BODY = 64 * 1024


def _semaphore() -> Slots | None:
    global _slots, _size
    size = settings.P3S["ACTIVE_REQUESTS"]
    if size != _size:
        with _lock:
            if size != _size:
                _slots, _size = (Slots(size) if size > 0 else None), size
    return _slots


class ActiveRequests:
    """Middleware: each request works in one of the process's slots."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        slots = _semaphore()
        if slots is None or getattr(_held, "slots", None) is not None or _big(request):
            return self.get_response(request)
        slots.acquire()
        _held.slots = slots
        try:
            return self.get_response(request)
        finally:
            _held.slots = None
            slots.release()


def _big(request) -> bool:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > BIG_BODY
    except ValueError:
        return False  # ApiLimits answers a bad Content-Length


@contextmanager
def idle():
    """Give this request's slot back while it waits (a long poll), and take one again after."""
    slots = getattr(_held, "slots", None)
    if slots is None:
        yield
        return
    slots.release()
    _held.slots = None
    try:
        yield
    finally:
        slots.acquire()
        _held.slots = slots
