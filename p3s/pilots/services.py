"""Pilot life: register, heartbeat, say goodbye. The sweeper declares the silent ones lost."""

from __future__ import annotations

import functools
import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from p3s.accounts.models import ApiToken, hash_key
from p3s.exceptions import NotYours
from p3s.jobs import rows
from p3s.pilots.models import Pilot, PilotState


def register(token: ApiToken, info: dict[str, Any]) -> tuple[Pilot, str]:
    """A new pilot and its key (shown once; the pilot sends it with every pilot call)."""
    key = secrets.token_urlsafe(24)
    pilot = Pilot.objects.create(
        token=token,
        key_hash=hash_key(key),
        heartbeat_interval=settings.P3S["HEARTBEAT_INTERVAL"],
        last_seen=timezone.now(),
        **info,
    )
    return pilot, key


MAX_ID = 2**63 - 1  # a bigint primary key


def authenticate(
    pilot_id: int, token: ApiToken, key: str | None, beat_job: int | None = None
) -> Pilot:
    """The pilot record behind a request, if the token and the pilot key both match.

    The same query reads whether the token was revoked since it was cached
    (:mod:`p3s.accounts.token_cache`): a revoked token is refused here, at once. For a
    heartbeat about job ``beat_job`` it also reads whether that job is still this pilot's
    (``pilot.owns_beat_job``), so a busy pilot's beat costs one read and one write."""
    pilots = Pilot.objects.annotate(token_revoked=F("token__revoked"))
    if beat_job is not None and 0 < beat_job <= MAX_ID:
        from p3s.jobs.models import Job
        from p3s.jobs.states import ON_PILOT

        mine = Job.objects.filter(pk=beat_job, pilot_id=OuterRef("pk"), state__in=ON_PILOT)
        pilots = pilots.annotate(owns_beat_job=Exists(mine))
    try:
        pilot = pilots.get(pk=pilot_id)
        pilot.beat_job = beat_job if hasattr(pilot, "owns_beat_job") else None
    except Pilot.DoesNotExist:
        raise NotYours(f"no pilot {pilot_id}: register first") from None
    if pilot.token_id != token.pk or not key or pilot.key_hash != hash_key(key):
        raise NotYours(f"pilot {pilot_id} is not yours: send its X-P3S-Pilot-Key")
    _refuse_revoked(pilot, token)
    return pilot


def _refuse_revoked(pilot: Pilot, token: ApiToken) -> None:
    if getattr(pilot, "token_revoked", False):
        raise AuthenticationFailed(f"token {token.prefix}... was revoked")


@functools.cache
def _by_key_sql() -> str:
    # The newest pilot of this key and token (a key is drawn at random: there is one), and
    # whether the token was revoked since it was cached.
    return (
        f"SELECT {rows.columns(Pilot, 'p')}, t.revoked"
        f" FROM {Pilot._meta.db_table} p JOIN {ApiToken._meta.db_table} t ON t.id = p.token_id"
        " WHERE p.key_hash = %s AND p.token_id = %s ORDER BY p.id DESC LIMIT 1"
    )


def by_key(token: ApiToken, key: str | None) -> Pilot:
    """The caller's pilot, found by its key (the job calls: reports, products, metrics).

    Every pilot call makes this read: it is written by hand (:mod:`p3s.jobs.rows`), and reads
    the token's revocation in the same round trip."""
    if not key:
        raise NotYours("send the X-P3S-Pilot-Key header you got at registration")
    row = rows.fetch_one(_by_key_sql(), [hash_key(key), token.pk])
    if row is None:
        raise NotYours("unknown pilot key for this token")
    pilot = rows.from_row(Pilot, row[:-1])
    pilot.token_revoked = bool(row[-1])
    _refuse_revoked(pilot, token)
    return pilot


GONE = (PilotState.LOST, PilotState.EXITED, PilotState.INVALID)


def beat_command(state: str, job_id: int | None, owned: bool) -> str:
    """What a beat is answered: exit for a pilot declared lost (its job was re-queued) or
    gone, kill-job when the job it beats about is no longer its own (cancelled, or handed
    to another pilot), else continue."""
    if state in GONE:
        return "exit"
    if job_id is not None and not owned:
        return "kill-job"
    return "continue"


def heartbeat(pilot: Pilot, job_id: int | None, progress: dict[str, Any] | None) -> str:
    """Note that the pilot lives; answer with a command: continue, kill-job or exit.

    ``pilot`` is the row ``authenticate`` just read (with ``owns_beat_job`` when it was asked
    about this job); one UPDATE records the beat.
    """
    from p3s.jobs.models import Job
    from p3s.jobs.states import ON_PILOT

    owned = True
    if job_id is not None and pilot.state not in GONE:
        if getattr(pilot, "beat_job", None) == job_id:
            owned = bool(pilot.owns_beat_job)  # read with the pilot row
        else:
            owned = Job.objects.filter(pk=job_id, pilot_id=pilot.pk, state__in=ON_PILOT).exists()
    command = beat_command(pilot.state, job_id, owned)
    update: dict[str, Any] = {"last_seen": timezone.now()}
    if progress is not None:
        update["resources"] = {**pilot.resources, "progress": progress}
    Pilot.objects.filter(pk=pilot.pk).update(**update)
    return command


def touch(pilot: Pilot) -> None:
    Pilot.objects.filter(pk=pilot.pk).update(last_seen=timezone.now())


def say_goodbye(pilot: Pilot, reason: str, ok: bool) -> Pilot:
    with transaction.atomic():
        pilot = Pilot.objects.select_for_update().get(pk=pilot.pk)
        pilot.state = PilotState.EXITED if ok else PilotState.INVALID
        pilot.exit_reason = reason[:2000]
        pilot.last_seen = timezone.now()
        pilot.save(update_fields=["state", "exit_reason", "last_seen"])
        if pilot.job_id:
            from p3s.jobs.actions import requeue_lost
            from p3s.jobs.models import Job
            from p3s.jobs.states import ON_PILOT

            job = (
                Job.objects.select_for_update()
                .filter(pk=pilot.job_id, state__in=ON_PILOT, pilot=pilot)
                .first()
            )
            if job is not None:
                requeue_lost(job, f"pilot:{pilot.pk}", f"pilot {pilot.pk} exited: {reason}")
    return pilot
