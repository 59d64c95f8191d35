"""Which version of each condition is current, kept per server process: every claim asks.

A claim's job spec carries the conditions current for its run
(:func:`p3s.conditions.services.condition_urls`): that was one query per claim, on the
pilots' hot path. The validity of the versions (not their data) is small and changes only
when someone writes a version, so each server process keeps it and picks in Python. The copy
is dropped

- in the process that saves or deletes a :class:`Condition`, at once and again at commit
  (model signals, below);
- in every other server process when it hears of that commit: ``NOTIFY p3s_conditions`` on
  PostgreSQL, a datagram on the wake-up socket on SQLite, both read by the wake-up listener
  thread (:mod:`p3s.jobs.wakeup`);
- whenever that listener connects again (it may have missed a notice meanwhile).

Writes that bypass the model's signals are not seen: the data migration that loads the
shipped conditions (historical models send their own signals) runs before a server starts,
and nothing else writes the table by ``QuerySet.update`` or raw SQL; keep it so.

It is used only outside a transaction, while this process's listener is listening (otherwise
every claim reads the table, as before) and when ``P3S_CONDITIONS_CACHE`` is on. A process
ignores the notices of its own writes (it dropped its copy at their commit already). A claim
that another process makes in the instant between a version's commit and the notice reaching
it gets the version before: as if it had been made just before the commit. The job spec pins
the version either way.
"""

from __future__ import annotations

import threading
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from p3s.conditions.models import Condition

# name -> [(version, from run, to run, from time, to time)], newest version first
Validity = dict[str, list[tuple[int, int | None, int | None, datetime | None, datetime | None]]]

_lock = threading.Lock()
_validity: Validity | None = None
_generation = 0  # bumped by every forget: a load that raced a forget is not kept


def forget() -> None:
    """Drop this process's copy: the next claim reads the table again."""
    global _validity, _generation
    with _lock:
        _validity = None
        _generation += 1


def _usable() -> bool:
    if not settings.P3S["CONDITIONS_CACHE"]:
        return False
    from p3s.jobs import wakeup

    return wakeup.listening()


def _load() -> Validity:
    global _validity
    with _lock:
        if _validity is not None:
            return _validity
        generation = _generation
    fields = ("name", "version", "valid_from_run", "valid_to_run", "valid_from", "valid_to")
    validity: Validity = {}
    for name, *rest in Condition.objects.order_by("name", "-version").values_list(*fields):
        validity.setdefault(name, []).append(tuple(rest))  # type: ignore[arg-type]
    with _lock:
        if generation == _generation:
            _validity = validity
    return validity


def current_versions(run: int | None, at: datetime | None) -> dict[str, int] | None:
    """``{name: version}`` current for the run at data time ``at`` (default now), as
    :func:`p3s.conditions.services.current_versions` reads it; None when the copy cannot
    be trusted here (the caller reads the table)."""
    if connection.in_atomic_block or not _usable():
        return None  # (inside a transaction the table may hold that transaction's own writes)
    at = at or timezone.now()
    out: dict[str, int] = {}
    for name, versions in _load().items():
        for version, from_run, to_run, from_t, to_t in versions:
            if run is not None and (
                (from_run is not None and from_run > run) or (to_run is not None and to_run < run)
            ):
                continue
            if (from_t is not None and from_t > at) or (to_t is not None and to_t <= at):
                continue
            out[name] = version
            break
    return out


@receiver(post_save, sender=Condition, dispatch_uid="p3s-conditions-current-save")
@receiver(post_delete, sender=Condition, dispatch_uid="p3s-conditions-current-delete")
def _written(**_kwargs) -> None:
    from p3s.jobs import wakeup

    forget()
    transaction.on_commit(forget)
    wakeup.notify_conditions()
