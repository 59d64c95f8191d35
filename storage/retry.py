"""Retry with exponential back-off for transient storage errors."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from storage.errors import Transient

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Policy:
    """How often and how patiently to retry.

    ``attempts`` tries in all; the n-th wait is ``min(cap, base * 2**n)`` seconds, scaled by a
    random factor in [0.5, 1] so that many readers do not hammer a recovering server together.
    """

    attempts: int = 4
    base: float = 0.2
    cap: float = 5.0

    def delay(self, n: int) -> float:
        return min(self.cap, self.base * 2**n) * random.uniform(0.5, 1.0)  # noqa: S311


DEFAULT = Policy()
NONE = Policy(attempts=1)


def call(
    fn: Callable[[], T], what: str, policy: Policy = DEFAULT, counter: list | None = None
) -> T:
    """``fn()``, retried on :class:`Transient` per ``policy``; other errors pass at once.

    ``counter``, when given, is a one-element list whose value is raised by one per retry.
    """
    for n in range(policy.attempts):
        try:
            return fn()
        except Transient as exc:
            if n + 1 >= policy.attempts:
                raise
            wait = policy.delay(n)
            log.warning(
                "%s: %s; retry %d of %d in %.2f s", what, exc, n + 1, policy.attempts - 1, wait
            )
            if counter is not None:
                counter[0] += 1
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
