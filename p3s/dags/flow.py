"""The DAG logic: files start DAG runs, finished jobs make their children claimable.

Everything here runs inside the caller's transaction; the DAG run row is locked while its
jobs are created or its state is settled, so two parents finishing at once start a join
exactly once.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from p3s.bus import outbox
from p3s.dags import announce_sql, matching, overload, split
from p3s.dags.models import DagRun, DagRunState, DagTemplate, DagVersion, DataFile, StageSettings
from p3s.dags.spec import DagSpec
from p3s.jobs import transitions
from p3s.jobs.models import Job
from p3s.jobs.states import LIVE, ON_PILOT, JobState

PRESCALED = "prescaled"


@dataclass
class Announcement:
    file: DataFile
    created: bool
    dagruns: list[DagRun]


def announce_file(fields: dict[str, Any], actor: str) -> Announcement:
    """Record a data file and start one DAG run per enabled template whose trigger matches.

    The same URL again returns the existing record and starts nothing.
    """
    if fields.get("data_ts_end") is None:  # one clock: the range from the file when cheap
        fields = {**fields, "data_ts_end": matching.derive_end(fields["url"])}
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql" and django_settings.P3S["LEAN_ANNOUNCE"]:
                datafile = DataFile(**fields)
                matched = announce_sql.templates(datafile)
                if announce_sql.applies(matched):
                    return _written(announce_sql.write(datafile, matched, actor))
            datafile = DataFile.objects.create(**fields)
            runs = [
                start_dagrun(template, datafile, actor) for template in matching_templates(datafile)
            ]
            matching.on_file_announced(datafile)  # held stages this file completes
            return Announcement(datafile, True, runs)
    except IntegrityError:
        existing = DataFile.objects.filter(url=fields["url"]).first()
        if existing is None:
            raise
        return Announcement(existing, False, list(existing.dagruns.all()))


def _written(w: announce_sql.Written) -> Announcement:
    """What flow's ORM path does after the writes: settle runs that ended at once, release
    the held jobs this file completes."""
    for run in w.runs:
        if not any(state in LIVE for state, _ in w.states[run.pk]):
            settle_dagrun(run, w.states[run.pk])
    if w.match_waits:
        matching.on_file_announced(w.file)
    return Announcement(w.file, True, w.runs)


def matching_templates(datafile: DataFile) -> list[DagTemplate]:
    templates = DagTemplate.objects.filter(
        enabled=True, trigger_stream=datafile.stream, current_version__isnull=False
    ).select_related("current_version")
    return [
        t
        for t in templates
        if not t.trigger_pattern or fnmatch.fnmatch(datafile.name, t.trigger_pattern)
    ]


def start_dagrun(
    template: DagTemplate, datafile: DataFile, actor: str, generation: int = 0
) -> DagRun:
    version = template.current_version
    run = DagRun.objects.create(
        template=template,
        version=version,
        file=datafile,
        data_ts=datafile.data_ts,
        generation=generation,
    )
    run.file = datafile
    settings = {s.stage: s for s in template.stage_settings.all()}
    stages = version.graph["stages"]
    made = [
        job
        for stage in version.graph["order"]
        if not stages[stage]["parents"]
        for job in _create_job(run, stage, stages[stage], settings[stage], {}, actor)
    ]
    settle_dagrun(run, [(job.state, job.drop_reason) for job in made])  # its only jobs
    return run


def prescale_selects(template: str, stage: str, file_url: str, fraction: float) -> bool:
    """Deterministic choice of a fraction of files: the same file always gets the same answer."""
    if fraction >= 1.0:
        return True
    if fraction <= 0.0:
        return False
    digest = hashlib.sha256(f"{template}/{stage}/{file_url}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def stage_jobs(
    template: str,
    stage: str,
    node: dict[str, Any],
    st: StageSettings,
    url: str,
    parents: dict[str, list[str]],
) -> list[tuple[dict[str, Any], str]]:
    """The fields of a stage's new jobs on the file at ``url`` (one, or one per part when it
    is split: p3s.dags.split; one dropped when prescale or overload drops it), each with its
    creation event's reason. Both ways of writing them use it (and announce_sql)."""
    drop = overload.prescale_drop(template, stage, url, st)
    inputs = [url] + [u for urls in parents.values() for u in urls]
    return [
        (
            dict(
                stage=stage,
                part=part,
                payload=node["payload"],
                args=list(node["args"]) + split.part_args(part),
                queue=node["queue"],
                priority=st.priority,
                state=JobState.DROPPED if drop else JobState.WAITING,
                drop_reason=drop[0] if drop else "",
                inputs=inputs,
                parents=parents,
                event_fraction=st.event_fraction,
                ended_at=timezone.now() if drop else None,
            ),
            drop[1] if drop else "",
        )
        for part in (split.parts(st.split) if not drop else [""])
    ]


def _create_job(
    run: DagRun,
    stage: str,
    node: dict[str, Any],
    st: StageSettings,
    parents: dict[str, list[str]],
    actor: str,
) -> list[Job]:
    """The stage's job, or its parts when it is split (p3s.dags.split)."""
    made = []
    for fields, reason in stage_jobs(run.template.name, stage, node, st, run.file.url, parents):
        job = transitions.create(
            actor=actor, reason=reason, dagrun=run, settings=st, data_ts=run.data_ts, **fields
        )
        if job.state == JobState.WAITING and node.get("match"):  # wait for the other streams'
            matching.hold(job, node["match"], run.file, actor)  # files (matching.py)
        made.append(job)
    return made


def on_job_finished(job: Job, actor: str) -> list[Job]:
    """Create the children whose parents are all ready; settle the run. Returns them.

    A parent is ready when it has finished, or when its current attempt released its
    outputs early (:func:`p3s.jobs.actions.release_outputs`: the payload wrote its data
    outputs and goes on making its plots). So this runs for both, on the pilots' hot path:
    the run row is locked, the graph and the job states are read as plain values, and
    settings and file are loaded only when a child is created. A child is made once: a
    parent that finishes after releasing finds its children there already.
    """
    # The run's row lock and its version's graph in one query (versions never change).
    run = (
        DagRun.objects.select_for_update(of=("self",))
        .select_related("version")
        .only("id", "state", "ended", "template_id", "file_id", "version__graph")
        .get(pk=job.dagrun_id)
    )
    graph = run.version.graph
    jobs = list(
        Job.objects.filter(dagrun_id=run.pk).values_list(
            "stage", "part", "state", "outputs", "drop_reason", "released_at"
        )
    )
    rows = split.join_rows([_as_joined(*j) for j in jobs])  # a stage: when all its parts are
    ready = [
        child
        for child in graph["order"]
        if job.stage in graph["stages"][child]["parents"]
        and child not in rows
        and all(
            rows.get(p, ("",))[0] == JobState.FINISHED for p in graph["stages"][child]["parents"]
        )
    ]
    created = []
    if ready:
        run = DagRun.objects.select_related("template", "file").get(pk=run.pk)
        settings = {s.stage: s for s in run.template.stage_settings.all()}
        for child in ready:
            node = graph["stages"][child]
            outputs = {p: list(rows[p][1]) for p in node["parents"]}
            for made in _create_job(run, child, node, settings[child], outputs, actor):
                created.append(made)
                jobs.append((child, made.part, made.state, [], made.drop_reason, None))
    settle_dagrun(run, [(state, reason) for _, _, state, _, reason, _ in jobs])
    return created


def _as_joined(stage, part, state, outputs, reason, released_at):
    """A job's row as the join sees it: a job still on its pilot whose outputs were
    released counts as finished for its children."""
    if released_at is not None and state in ON_PILOT:
        state = JobState.FINISHED
    return stage, part, state, outputs, reason


def settle_dagrun(run: DagRun, states: list[tuple[str, str]] | None = None) -> str:
    """Recompute a run's state from its jobs (it may reopen when a job is retried).

    ``states``: (state, drop_reason) of every job of the run, when the caller has them.
    """
    if states is None:
        states = list(run.jobs.values_list("state", "drop_reason"))
    if any(s in LIVE for s, _ in states):
        new = DagRunState.RUNNING
    elif any(s == JobState.FAILED for s, _ in states):
        new = DagRunState.FAILED
    elif any(s == JobState.CANCELLED for s, _ in states):
        new = DagRunState.CANCELLED
    elif any(
        s == JobState.TIMEOUT or (s == JobState.DROPPED and r != PRESCALED) for s, r in states
    ):
        new = DagRunState.PARTIAL
    else:
        new = DagRunState.SUCCEEDED
    if new != run.state:
        ended = None if new == DagRunState.RUNNING else timezone.now()
        DagRun.objects.filter(pk=run.pk).update(state=new, ended=ended)
        run.state, run.ended = new, ended
        if ended is not None:  # the message bus (off by default): same transaction
            outbox.emit(
                "dagrun.finished",
                {
                    "dagrun": run.pk,
                    "state": new,
                    "template_id": run.template_id,
                    "file_id": run.file_id,
                },
            )
    return new


def settle_dagrun_of(job: Job) -> str:
    run = DagRun.objects.select_for_update().get(pk=job.dagrun_id)
    return settle_dagrun(run)


# -- templates --------------------------------------------------------------------------


@dataclass
class Applied:
    template: DagTemplate
    created: bool
    new_version: bool


def apply_spec(
    spec: DagSpec,
    actor: str,
    source: str = "",
    *,
    action: str = "edit",
    version: DagVersion | None = None,
) -> Applied:
    """Create or update a template: a changed graph makes a new version; tunables change live.

    Priority changes also apply to the stage's waiting jobs, running DAG runs included.
    ``version``: make this existing version current instead (a rollback). Every change is
    recorded in the history (p3s.dags.history) with ``action``.
    """
    from p3s.dags import history

    with transaction.atomic():
        template, created = DagTemplate.objects.select_for_update().get_or_create(
            name=spec.name, defaults={"trigger_stream": spec.stream}
        )
        before = None if created or not template.current_version_id else spec_of(template)
        template.description = spec.description
        template.enabled = spec.enabled
        template.trigger_stream = spec.stream
        template.trigger_pattern = spec.pattern
        template.max_age = spec.max_age
        template.max_waiting = spec.max_waiting
        template.adaptive_prescale = spec.adaptive
        graph = graph_of(spec)
        current = template.current_version
        new_version = current is None or current.graph["stages"] != graph["stages"]
        if version is not None:
            template.current_version, new_version = version, False
        elif new_version:
            number = 1 + max(template.versions.values_list("number", flat=True), default=0)
            template.save()
            template.current_version = DagVersion.objects.create(
                template=template, number=number, graph=graph, source=source, created_by=actor
            )
        template.save()
        for stage in spec.order:
            tun = spec.tunables[stage]
            st, made = StageSettings.objects.get_or_create(
                template=template, stage=stage, defaults=tun
            )
            if not made:
                old_priority = st.priority
                for key, value in tun.items():
                    setattr(st, key, value)
                st.save()
                if st.priority != old_priority:
                    Job.objects.filter(settings=st, state=JobState.WAITING).update(
                        priority=st.priority
                    )
        history.record(template, before and before.to_dict(), spec, actor, source, action)
        return Applied(template, created, new_version)


def graph_of(spec: DagSpec) -> dict[str, Any]:
    """The versioned part of a spec. JSONB does not keep key order, hence the explicit order."""
    return {"order": list(spec.order), "stages": {s: spec.graph[s] for s in spec.order}}


def spec_of(template: DagTemplate) -> DagSpec:
    """The template as it stands now: current graph plus live tunables."""
    order = template.current_version.graph["order"]
    graph = {s: template.current_version.graph["stages"][s] for s in order}
    settings = {s.stage: s for s in template.stage_settings.all()}
    tunables = {
        s: {
            "priority": settings[s].priority,
            "timeout": settings[s].timeout,
            "max_attempts": settings[s].max_attempts,
            "prescale": settings[s].prescale,
            "event_fraction": settings[s].event_fraction,
            "split": settings[s].split,
        }
        for s in graph
    }
    return DagSpec(
        name=template.name,
        description=template.description,
        enabled=template.enabled,
        stream=template.trigger_stream,
        pattern=template.trigger_pattern,
        max_age=template.max_age,
        max_waiting=template.max_waiting,
        graph=graph,
        tunables=tunables,
        order=list(order),
        adaptive=template.adaptive_prescale or {},
    )
