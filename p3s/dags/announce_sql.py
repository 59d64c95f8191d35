"""A file announcement in two statements on PostgreSQL: the server side of the wake-up.

An announced file gets a DAG run per matching template and the runs' first jobs, each with
its creation event, and the long-polling pilots are woken. Through the ORM that was seven
statements, each compiled in Python for every file; a profile of the announcement put most
of its time in that Python, not in PostgreSQL (docs/architecture.md, "The pilot hot path").
Here it is

1. one read of the stream's enabled templates with their current version and their stage
   settings (:func:`templates`, a statement prepared once per database session);
2. one statement that writes the file, its runs, their jobs and the jobs' events, sends the
   wake-up notice, and says whether a held job waits for a file of this stream
   (:func:`write`): the ORM's own compiled INSERTs, chained by data-modifying CTEs.

It runs in :func:`p3s.dags.flow.announce_file`'s transaction, and it decides what flow's
ORM path decides, from the same functions: the trigger pattern, the prescale and adaptive
drops (:func:`p3s.dags.overload.prescale_drop`), the split parts. What follows the writes
stays flow's and matching's: a held job this file completes (``on_file_announced``, only
when the statement saw one) and a run whose first jobs were all dropped (``settle_dagrun``
ends it and tells the bus). Flow's ORM path does the whole announcement on SQLite and when
a matched template's first stage waits for other streams (``matching.hold``).
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models.expressions import RawSQL
from django.db.models.sql import InsertQuery

from p3s.dags.matching_models import StreamMatch
from p3s.dags.models import DagRun, DagTemplate, DagVersion, DataFile, StageSettings
from p3s.jobs import rows, wakeup
from p3s.jobs.models import Job, JobEvent
from p3s.jobs.states import JobState


@dataclass
class Matched:
    """A template that matched the file, with its current version and stage settings.

    The template and version are partial instances (the template's id, name and pattern;
    the version's id, template, number and graph): enough for the runs, their answer and
    flow.settle_dagrun, not for anything else."""

    template: DagTemplate
    version: DagVersion
    settings: dict[str, StageSettings]


def _prepare_templates() -> str:
    t, v, s = (m._meta.db_table for m in (DagTemplate, DagVersion, StageSettings))
    return (
        "PREPARE p3s_templates(text) AS"
        f" SELECT t.id, t.name, t.trigger_pattern, v.id, v.number, v.graph::text,"
        f" {rows.columns(StageSettings, 's')}"
        f" FROM {t} t JOIN {v} v ON v.id = t.current_version_id"
        f" JOIN {s} s ON s.template_id = t.id"
        " WHERE t.enabled AND t.trigger_stream = $1 ORDER BY t.name, s.id"
    )


def templates(datafile: DataFile) -> list[Matched]:
    """The enabled templates whose trigger matches the file (as flow.matching_templates)."""
    with connection.cursor() as cur:
        rows.ensure_prepared(cur, "p3s_templates", _prepare_templates)
        cur.execute("EXECUTE p3s_templates(%s)", [datafile.stream])
        found = cur.fetchall()
    out: dict[int, Matched] = {}
    for tid, name, pattern, vid, number, graph, *st in found:
        if pattern and not fnmatch.fnmatch(datafile.name, pattern):
            continue
        if tid not in out:
            template = DagTemplate(id=tid, name=name, trigger_pattern=pattern)
            version = DagVersion(id=vid, template_id=tid, number=number, graph=json.loads(graph))
            out[tid] = Matched(template, version, {})
        settings = rows.from_row(StageSettings, st)
        out[tid].settings[settings.stage] = settings
    return list(out.values())


def roots(matched: Matched) -> list[tuple[str, dict[str, Any]]]:
    """The template's first stages (no parents), in the graph's order."""
    stages = matched.version.graph["stages"]
    return [(s, stages[s]) for s in matched.version.graph["order"] if not stages[s]["parents"]]


def applies(matched: list[Matched]) -> bool:
    """Whether :func:`write` can make these runs: no first stage waits for other streams."""
    return not any(node.get("match") for m in matched for _, node in roots(m))


def _insert(model, objs: list, fields: list | None = None) -> tuple[str, list]:
    """The ORM's own multi-row INSERT of ``objs`` (as transitions.create compiles one)."""
    fields = fields or [f for f in model._meta.local_concrete_fields if not f.primary_key]
    query = InsertQuery(model)
    query.insert_values(fields, objs)
    [(sql, params)] = query.get_compiler(connection=connection).as_sql()
    return sql, list(params)


def _jobs(run: DagRun, m: Matched, datafile: DataFile) -> list[tuple[Job, str]]:
    """The run's first jobs with their creation reasons, as flow._create_job makes them."""
    from p3s.dags.flow import stage_jobs

    this_run = RawSQL(f"SELECT id FROM r WHERE template_id = {int(run.template_id)}", [])
    return [
        (
            Job(dagrun_id=this_run, settings_id=st.pk, data_ts=datafile.data_ts, **fields),
            reason[:2000],  # as transitions.create cuts it
        )
        for stage, node in roots(m)
        for st in [m.settings[stage]]
        for fields, reason in stage_jobs(m.template.name, stage, node, st, datafile.url, {})
    ]


@dataclass
class Written:
    file: DataFile
    runs: list[DagRun]
    # (state, drop_reason) of each run's jobs, by run id, for flow.settle_dagrun
    states: dict[int, list[tuple[str, str]]]
    match_waits: bool  # a held job waits for a file of this stream: matching releases it


def write(datafile: DataFile, matched: list[Matched], actor: str) -> Written:
    """Write the file, its runs, their first jobs and events in one statement; wake pilots.

    ``datafile`` is unsaved; a file already there by URL raises IntegrityError (the caller's
    transaction is then rolled back, as for the ORM's INSERT)."""
    runs = [
        DagRun(
            template=m.template,
            version=m.version,
            file_id=RawSQL("SELECT id FROM f", []),
            data_ts=datafile.data_ts,
            generation=0,
        )
        for m in matched
    ]
    jobs = [
        (run, job, why)
        for run, m in zip(runs, matched, strict=True)
        for job, why in _jobs(run, m, datafile)
    ]
    file_sql, params = _insert(DataFile, [datafile])
    parts = [f"WITH f AS ({file_sql} RETURNING id)"]
    if runs:
        run_sql, run_params = _insert(DagRun, runs)
        parts.append(f"r AS ({run_sql} RETURNING id, template_id)")
        params += run_params
    waiting = any(job.state == JobState.WAITING for _, job, _ in jobs)
    if jobs:
        job_sql, job_params = _insert(Job, [job for _, job, _ in jobs])
        reasons = ", ".join(["(%s, %s, %s)"] * len(jobs))
        parts.append(f"j AS ({job_sql} RETURNING id, settings_id, part, state, attempt)")
        parts.append(
            f"e AS (INSERT INTO {JobEvent._meta.db_table}"
            " (job_id, at, from_state, to_state, actor, reason, attempt)"
            " SELECT j.id, %s, '', j.state, %s, m.reason, j.attempt"
            f" FROM j JOIN (VALUES {reasons}) AS m(settings_id, part, reason)"
            " ON m.settings_id = j.settings_id AND m.part = j.part)"
        )
        params += [*job_params, jobs[0][1].created, actor]
        params += [v for _, job, why in jobs for v in (job.settings_id, job.part, why)]
    sql = (
        ", ".join(parts)
        + " SELECT (SELECT id FROM f),"
        + (" (SELECT array_agg(ARRAY[id, template_id]) FROM r)," if runs else " NULL,")
        + f" EXISTS (SELECT 1 FROM {StreamMatch._meta.db_table} WHERE state = %s"
        " AND range_start <= %s AND range_end >= %s AND streams ? %s)"
        + (", pg_notify(%s, '')" if waiting else "")
    )
    params += [StreamMatch.WAITING, datafile.data_end, datafile.data_ts, datafile.stream]
    params += [wakeup.CHANNEL] if waiting else []
    with connection.cursor() as cur:
        cur.execute(sql, params)
        file_id, made, match_waits, *_ = cur.fetchone()
    if waiting:
        wakeup.notified_in_statement()
    datafile.pk = file_id
    _saved(datafile)
    by_template = {template_id: run_id for run_id, template_id in made or []}
    states: dict[int, list[tuple[str, str]]] = {}
    for run in runs:
        run.pk, run.file = by_template[run.template_id], datafile
        _saved(run)
        states[run.pk] = []
    for run, job, _ in jobs:
        states[run.pk].append((job.state, job.drop_reason))
    return Written(datafile, runs, states, bool(match_waits))


def _saved(obj) -> None:
    obj._state.adding = False
    obj._state.db = connection.alias
