"""The staging switch rules (p3s.staging.rules): when new work leaves the primary, when it
comes back, and that a primary answering one probe in two never gets it back (no flapping)."""

from __future__ import annotations

from p3s.staging.rules import FALLBACK, PRIMARY, AreaState, decide


def run(sequence, fallback_ok=True, down_after=1, up_after=3):
    """Feed probe results of the primary (True: answered) through the rules as the sweeper
    does; returns where new work went after each probe."""
    in_use, good, bad, where = PRIMARY, 0, 0, []
    for ok in sequence:
        good, bad = (good + 1, 0) if ok else (0, bad + 1)
        primary = AreaState(ok, good, bad, "" if ok else "connection refused")
        fallback = AreaState(fallback_ok, 1 if fallback_ok else 0, 0 if fallback_ok else 1)
        switch = decide(in_use, primary, fallback, down_after, up_after)
        if switch is not None:
            in_use = switch.to
        where.append(in_use)
    return where


def test_a_primary_that_does_not_answer_sends_new_work_to_the_fallback_with_the_reason():
    switch = decide(PRIMARY, AreaState(False, 0, 1, "connection refused"), AreaState(True, 4, 0))
    assert switch is not None and switch.to == FALLBACK
    assert "the primary failed 1 probe in a row: connection refused" == switch.reason


def test_the_primary_gets_work_back_only_after_n_good_probes_in_a_row():
    assert run([False, True, True, True, True], up_after=3) == [
        FALLBACK,
        FALLBACK,
        FALLBACK,
        PRIMARY,
        PRIMARY,
    ]
    switch = decide(FALLBACK, AreaState(True, 3, 0), AreaState(True, 9, 0), up_after=3)
    assert switch is not None and switch.reason == "the primary answered 3 probes in a row"


def test_a_flapping_primary_never_gets_work_back():
    where = run([False, True, False, True, True, False, True, True, False] * 3, up_after=3)
    assert where[0] == FALLBACK and set(where) == {FALLBACK}


def test_down_after_waits_for_that_many_failures_before_leaving_the_primary():
    assert run([False, True, False, False, False], down_after=3) == [
        PRIMARY,
        PRIMARY,
        PRIMARY,
        PRIMARY,
        FALLBACK,
    ]


def test_with_the_fallback_down_too_new_work_stays_on_the_primary():
    assert run([False, False, False], fallback_ok=False) == [PRIMARY] * 3
    # a fallback never probed yet is not a place to go either
    assert decide(PRIMARY, AreaState(False, 0, 5), AreaState(None)) is None


def test_a_failing_fallback_sends_work_back_to_an_answering_primary_at_once():
    switch = decide(FALLBACK, AreaState(True, 1, 0), AreaState(False, 0, 1, "no space"), up_after=3)
    assert switch is not None and switch.to == PRIMARY and "no space" in switch.reason
    # ... but not to a primary that is still down
    assert decide(FALLBACK, AreaState(False, 0, 7), AreaState(False, 0, 1)) is None


def test_without_a_fallback_new_work_is_on_the_primary():
    assert decide(PRIMARY, AreaState(False, 0, 9), None) is None
    switch = decide(FALLBACK, AreaState(True, 1, 0), None)
    assert switch is not None and switch.to == PRIMARY
