"""The claim: give the first eligible waiting job to a pilot, atomically.

One statement (prepared once per PostgreSQL session) picks the first waiting row of the
pilot's queues by (priority desc, data timestamp desc, id), skipping rows other claimers
hold (PostgreSQL ``FOR UPDATE SKIP LOCKED``), marks it dispatched, records its event, makes
the pilot busy and returns the job with its file: a claim is one round trip. The
``job_claim_order`` partial index (jobs.models) matches the WHERE and ORDER BY. On SQLite
the transaction takes the write lock at BEGIN (IMMEDIATE mode, see settings), which
serialises claimers: the same pick, no SKIP LOCKED needed, and the event and the pilot
written by the ORM in the same transaction. Nothing else changes queue state behind this
module's back.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from p3s.jobs import rows
from p3s.jobs.models import Job, JobEvent
from p3s.jobs.states import JobState

_PICK = """
    SELECT j.id FROM jobs_job j
    JOIN dags_stagesettings s ON s.id = j.settings_id
    WHERE j.state = 'waiting' AND j.queue IN ({queues}) AND NOT s.paused
      AND (%(time_left)s IS NULL OR s.timeout <= %(time_left)s)
      AND EXISTS (SELECT 1 FROM pilots_pilot p WHERE p.id = %(pilot)s AND p.state IN ('idle', 'busy'))
    ORDER BY j.priority DESC, j.data_ts DESC, j.id
    LIMIT 1
"""


# PostgreSQL: the whole claim is one statement, prepared once per connection (planning
# costs ten times the execution): pick and mark the job, record its event, make the pilot
# busy, and return the job and its file (the job spec needs both), so a claim is one round
# trip. $1 pilot id, $2 now, $3 time left (NULL: any), $4 queues, $5 timeout grace, $6 actor.
# The first column says whether the pilot was still live (idle or busy) under its row lock:
# when it is not (it said goodbye meanwhile), the caller rolls the claim back.
def prepare_postgres() -> str:
    """The PREPARE statement of the claim (the benchmarks run it too)."""
    from p3s.dags.models import DataFile

    return f"""
    PREPARE p3s_claim(bigint, timestamptz, float8, text[], float8, text) AS
    WITH picked AS (
        SELECT j.id FROM jobs_job j
        JOIN dags_stagesettings s ON s.id = j.settings_id
        WHERE j.state = 'waiting' AND j.queue = ANY($4) AND NOT s.paused
          AND ($3 IS NULL OR s.timeout <= $3)
          AND EXISTS (SELECT 1 FROM pilots_pilot p WHERE p.id = $1 AND p.state IN ('idle', 'busy'))
        ORDER BY j.priority DESC, j.data_ts DESC, j.id
        LIMIT 1
        FOR UPDATE OF j SKIP LOCKED),
    claimed AS (
        UPDATE jobs_job AS j
        SET state = 'dispatched', pilot_id = $1, dispatched_at = $2, updated = $2,
            timeout = s.timeout, event_fraction = s.event_fraction,
            deadline = $2 + make_interval(secs => s.timeout + $5)
        FROM picked, dags_stagesettings s
        WHERE j.id = picked.id AND s.id = j.settings_id
        RETURNING j.*),
    event AS (
        INSERT INTO jobs_jobevent (job_id, at, from_state, to_state, actor, reason, attempt)
        SELECT id, $2, 'waiting', 'dispatched', $6, '', attempt FROM claimed),
    busy AS (
        UPDATE pilots_pilot AS p SET job_id = claimed.id, state = 'busy', last_seen = $2
        FROM claimed WHERE p.id = $1 AND p.state IN ('idle', 'busy')
        RETURNING p.id)
    SELECT EXISTS (SELECT 1 FROM busy), {rows.columns(Job, "c")}, {rows.columns(DataFile, "f")}
    FROM claimed c
    JOIN dags_dagrun r ON r.id = c.dagrun_id
    JOIN dags_datafile f ON f.id = r.file_id
"""


EXECUTE_POSTGRES = "EXECUTE p3s_claim(%s, %s, %s, %s, %s, %s)"


def ensure_prepared(cur) -> None:
    """PREPARE the claim on this database session unless it already is."""
    rows.ensure_prepared(cur, "p3s_claim", prepare_postgres)


def _job_of_row(row) -> Job:
    """The claimed job, its DAG run (id and file only) and its file, from the claim's row."""
    from p3s.dags.models import DagRun, DataFile

    n = len(Job._meta.concrete_fields)
    job = rows.from_row(Job, row[:n])
    datafile = rows.from_row(DataFile, row[n:])
    run = DagRun.from_db(connection.alias, ["id", "file_id"], [job.dagrun_id, datafile.pk])
    run.file = datafile
    job.dagrun = run
    return job


_CLAIM_SQLITE = """
    UPDATE jobs_job
    SET state = 'dispatched', pilot_id = %(pilot)s, dispatched_at = %(now)s, updated = %(now)s,
        timeout = (SELECT s.timeout FROM dags_stagesettings s WHERE s.id = jobs_job.settings_id),
        event_fraction = (SELECT s.event_fraction FROM dags_stagesettings s WHERE s.id = jobs_job.settings_id)
    WHERE id = ({pick})
    RETURNING id, attempt
"""


def claim_next(
    pilot_id: int, queues: list[str], time_left: float | None = None, actor: str = ""
) -> Job | None:
    """Dispatch the next job of ``queues`` to the pilot, or return None when there is none.

    ``time_left``: seconds the pilot has left; jobs whose stage timeout exceeds it are skipped.
    """
    if not queues:
        return None
    grace = settings.P3S["TIMEOUT_GRACE"]
    actor = actor or f"pilot:{pilot_id}"
    with transaction.atomic():
        # Taken inside the transaction: on SQLite, after BEGIN IMMEDIATE got the write lock, so
        # a job is never stamped as dispatched before the commit that made it claimable.
        now = timezone.now()
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                ensure_prepared(cur)
                cur.execute(
                    EXECUTE_POSTGRES, [pilot_id, now, time_left, list(queues), grace, actor]
                )
                row = cur.fetchone()
            if row is None:
                return None
            if not row[0]:  # the pilot said goodbye (or was declared lost) while this ran
                transaction.set_rollback(True)
                return None
            return _job_of_row(row[1:])
        return _claim_sqlite(pilot_id, queues, time_left, actor, now, grace)


def _claim_sqlite(pilot_id, queues, time_left, actor, now, grace) -> Job | None:
    """The claim on SQLite (in claim_next's transaction, which holds the write lock)."""
    params: dict[str, object] = {"pilot": pilot_id, "now": now, "time_left": time_left}
    names = []
    for i, queue in enumerate(queues):
        params[f"q{i}"] = queue
        names.append(f"%(q{i})s")
    with connection.cursor() as cur:
        cur.execute(_CLAIM_SQLITE.format(pick=_PICK.format(queues=", ".join(names))), params)
        row = cur.fetchone()
    if row is None:
        return None
    job_id, attempt = row
    job = Job.objects.select_related("dagrun__file").get(pk=job_id)
    job.deadline = now + timedelta(seconds=job.timeout + grace)
    Job.objects.filter(pk=job_id).update(deadline=job.deadline)
    JobEvent.objects.create(
        job_id=job_id,
        from_state=JobState.WAITING,
        to_state=JobState.DISPATCHED,
        actor=actor,
        attempt=attempt,
    )
    from p3s.pilots.models import Pilot, PilotState

    # A pilot that said goodbye (or was declared lost) while this claim ran gets nothing:
    # the row lock on the pilot orders this against pilots.services.say_goodbye.
    live = Pilot.objects.filter(pk=pilot_id, state__in=[PilotState.IDLE, PilotState.BUSY])
    if not live.update(job_id=job_id, state=PilotState.BUSY, last_seen=now):
        transaction.set_rollback(True)
        return None
    return job
