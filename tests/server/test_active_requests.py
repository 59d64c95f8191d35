"""The bound on requests a server process works on at once (p3s.api.admission): requests
beyond it wait for a slot, a long poll gives its slot back while it waits, big bodies are
not bounded, and 0 turns the bound off."""

from __future__ import annotations

import threading
import time

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from p3s.api import admission


@pytest.fixture
def slots(settings):
    def make(n: int):
        settings.P3S = {**settings.P3S, "ACTIVE_REQUESTS": n}
        return admission._semaphore()

    return make


def run_together(middleware, requests: list, hold: float = 0.2) -> int:
    """Run the requests in threads; the most that worked at the same time."""
    busy, most, lock = [0], [0], threading.Lock()

    def view(request):
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(hold)
        with lock:
            busy[0] -= 1
        return HttpResponse("ok")

    mw = middleware(view)
    threads = [threading.Thread(target=mw, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return most[0]


def test_requests_beyond_the_bound_wait_for_a_slot(slots):
    slots(2)
    requests = [RequestFactory().post("/api/v1/x/", {}) for _ in range(6)]
    assert run_together(admission.ActiveRequests, requests) == 2


def test_zero_turns_the_bound_off(slots):
    assert slots(0) is None
    requests = [RequestFactory().post("/api/v1/x/", {}) for _ in range(4)]
    assert run_together(admission.ActiveRequests, requests) == 4


def test_a_request_with_a_big_body_is_not_bounded(slots):
    slots(1)
    big = "x" * (admission.BIG_BODY + 1)
    requests = [RequestFactory().post("/api/v1/x/", big, content_type="text/plain")] * 3
    assert run_together(admission.ActiveRequests, requests) == 3


def test_a_long_poll_gives_its_slot_back_while_it_waits(slots):
    slots(1)
    waiting, other_ran = threading.Event(), threading.Event()

    def poll(request):
        with admission.idle():  # what the claim's long poll does
            waiting.set()
            assert other_ran.wait(5), "another request could not work while this one waited"
        return HttpResponse("polled")

    def quick(request):
        other_ran.set()
        return HttpResponse("quick")

    poller = threading.Thread(
        target=admission.ActiveRequests(poll), args=(RequestFactory().post("/p/"),)
    )
    poller.start()
    assert waiting.wait(5)
    assert admission.ActiveRequests(quick)(RequestFactory().post("/q/")).content == b"quick"
    poller.join(5)
    assert not poller.is_alive()


def test_a_freed_slot_goes_to_the_longest_waiter():
    slots = admission.Slots(1)
    slots.acquire()
    order: list[int] = []

    def wait(i: int) -> None:
        slots.acquire()
        order.append(i)
        slots.release()

    threads = []
    for i in range(3):
        threads.append(threading.Thread(target=wait, args=(i,)))
        threads[-1].start()
        time.sleep(0.05)  # they queue in this order
    slots.release()
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2]
