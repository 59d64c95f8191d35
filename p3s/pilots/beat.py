"""A heartbeat in one round trip (PostgreSQL): the statement both beat paths use.

The beat is recorded only when the pilot's key matches, the pilot is the token's, the token
is a pilot token and is not revoked; the statement returns what the answer needs (the
pilot's state and interval, and whether the job the beat is about is still its own), so a
revocation or a cancelled job is seen on the very next beat.

The statement is prepared once per database session (planning it cost 0.27 ms, three
times its execution), and its commit does not wait for the WAL flush
(``synchronous_commit`` off for this one transaction). A beat only moves ``last_seen``
forward: if the database crashes, the beats of its last fraction of a second are lost
and the next beat replaces them, while the sweeper declares a pilot lost only after
``P3S_LOST_AFTER_BEATS`` intervals of silence (30 s by default). Every other write keeps
its flush, and PostgreSQL never lets an asynchronous commit be seen out of order with a
synchronous one.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.utils import timezone

from p3s.accounts.models import Role
from p3s.jobs import rows
from p3s.pilots.services import MAX_ID, beat_command


def _prepare() -> str:
    from p3s.jobs.states import ON_PILOT

    on_pilot = ", ".join(f"'{s}'" for s in ON_PILOT)
    return f"""
    PREPARE p3s_beat(bigint, text, text, timestamptz, bigint, jsonb) AS
    UPDATE pilots_pilot AS p SET last_seen = $4,
        resources = CASE WHEN $6 IS NULL THEN p.resources
            ELSE COALESCE(p.resources, '{{}}'::jsonb) || jsonb_build_object('progress', $6) END
    FROM accounts_apitoken t
    WHERE p.id = $1 AND p.key_hash = $3 AND t.id = p.token_id AND t.key_hash = $2
      AND t.role = '{Role.PILOT}' AND NOT t.revoked
    RETURNING p.state, p.heartbeat_interval,
        EXISTS (SELECT 1 FROM jobs_job j
                WHERE j.id = $5 AND j.pilot_id = p.id AND j.state IN ({on_pilot}))
"""


_EXECUTE = "EXECUTE p3s_beat(%s, %s, %s, %s, %s, %s)"
_NO_FLUSH = "SET LOCAL synchronous_commit TO off; "


def beat(
    pilot_id: int, token_hash: str, key_hash: str, job_id: int | None, progress: Any
) -> tuple[str, float] | None:
    """Record a beat: ``(command, heartbeat interval)``, command continue, kill-job or exit.

    None when this path cannot answer (SQLite, or a pilot that is not found, not this
    token's, of another key, or a token that is revoked or not a pilot's: nothing is
    written then); the caller takes the ordinary path, which says what was wrong."""
    if connection.vendor != "postgresql" or not 0 < pilot_id <= MAX_ID:
        return None
    if job_id is not None and not 0 < job_id <= MAX_ID:
        return None
    params = [
        pilot_id,
        token_hash,
        key_hash,
        timezone.now(),
        job_id,
        None if progress is None else json.dumps(progress),
    ]
    # Outside a transaction the two statements are one implicit transaction (one round
    # trip); inside one (a test's), the setting would outlive the beat: leave it alone.
    sql = _EXECUTE if connection.in_atomic_block else _NO_FLUSH + _EXECUTE
    with connection.cursor() as cur:
        rows.ensure_prepared(cur, "p3s_beat", _prepare)
        cur.execute(sql, params)
        row = cur.fetchone()
    if row is None:
        return None
    state, interval, owned = row
    return beat_command(state, job_id, owned), interval
