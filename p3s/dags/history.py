"""A template's history: who changed what (old and new values), the text they sent (YAML
comments kept), rollback to any version in one action, and reprocessing with the current
version.

Every :func:`p3s.dags.flow.apply_spec` records one :class:`TemplateChange` (the hook is
:func:`record`) holding the whole template after the change, so a version's *tunables* as they
were when it was current are known too: :func:`rollback` restores graph and tunables.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max

from p3s.dags import diff, spec
from p3s.dags.models import (
    DagRun,
    DagTemplate,
    DagVersion,
    DataFile,
    TemplateChange,
    TemplateEvent,
)
from p3s.exceptions import InvalidDag


def record(
    template: DagTemplate,
    before: dict[str, Any] | None,
    after: spec.DagSpec,
    actor: str,
    source: str,
    action: str = "edit",
) -> TemplateChange | None:
    """Record a change (nothing when neither the template nor its text changed)."""
    doc = after.to_dict()
    listed = diff.changes(before, doc)
    last = template.changes.order_by("-id").first()
    if not listed and last is not None and last.source == source:
        return None
    return TemplateChange.objects.create(
        template=template,
        actor=actor,
        action=action if before is not None else "create",
        version=template.current_version,
        changes=_jsonable(listed),
        spec=_jsonable(doc),
        source=source,
    )


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def snapshot(version: DagVersion) -> tuple[dict[str, Any], str]:
    """The template (graph and tunables) as it stood when ``version`` was last current, and
    the text it was made from."""
    change = version.changes.order_by("-id").first()
    if change is not None:
        return change.spec, change.source
    from p3s.dags import flow

    if version.source:
        try:
            dag = spec.load(version.source)
            return dag.to_dict(), version.source
        except InvalidDag:
            pass
    # Made before the history existed: the version's graph with today's tunables.
    current = flow.spec_of(version.template)
    current.graph = {s: version.graph["stages"][s] for s in version.graph["order"]}
    current.order = list(version.graph["order"])
    current.tunables = {
        s: current.tunables.get(s) or _default_tunables(current, s) for s in current.order
    }
    return current.to_dict(), spec.dump_yaml(current)


def _default_tunables(dag: spec.DagSpec, stage: str) -> dict[str, Any]:
    return {k: spec.DEFAULTS.get(k, 0) for k in spec.TUNABLE_KEYS} | {"priority": 0}


def current_source(template: DagTemplate) -> str:
    """The text of the template as it stands: the last text sent, comments and layout kept,
    when it still describes the template exactly (else the normalised YAML)."""
    from p3s.dags import flow

    now = flow.spec_of(template)
    last = template.changes.order_by("-id").first()
    texts = [last.source] if last is not None else []
    if template.current_version and template.current_version.source:
        texts.append(template.current_version.source)
    for text in texts:
        try:
            if _jsonable(spec.load(text).to_dict()) == _jsonable(now.to_dict()):
                return text
        except InvalidDag:
            continue
    return spec.dump_yaml(now)


def rollback(template: DagTemplate, number: int, actor: str) -> TemplateChange:
    """Make version ``number`` current again with the tunables it had: one action, recorded.

    No new version is made: running DAG runs keep theirs, new ones use the restored one.
    """
    from p3s.dags import flow

    with transaction.atomic():
        template = DagTemplate.objects.select_for_update().get(pk=template.pk)
        try:
            version = template.versions.get(number=number)
        except DagVersion.DoesNotExist:
            raise InvalidDag(f"the template {template.name!r} has no version {number}") from None
        doc, source = snapshot(version)
        doc = {**doc, "name": template.name}
        flow.apply_spec(
            spec.validate(doc), actor=actor, source=source, action="rollback", version=version
        )
        TemplateEvent.objects.create(
            template=template,
            actor=actor,
            action="rollback",
            detail=f"rolled back to version {number}",
        )
        return template.changes.order_by("-id").first()


def reprocess(
    template: DagTemplate, files: list[DataFile], actor: str, why: str = ""
) -> list[DagRun]:
    """Start a new DAG run of ``template`` on each file with its current version, recorded.

    The new runs have the next generation number (the run the file's arrival started is
    generation 0) and are exempt from the prompt policy's max_age (their data are old on
    purpose).
    """
    from p3s.dags import flow

    if template.current_version_id is None:
        raise InvalidDag(f"the template {template.name!r} has no version yet")
    runs = []
    with transaction.atomic():
        template = DagTemplate.objects.select_for_update().get(pk=template.pk)
        last = dict(
            DagRun.objects.filter(template=template, file__in=files)
            .values("file_id")
            .annotate(g=Max("generation"))
            .values_list("file_id", "g")
        )
        for datafile in files:
            runs.append(
                flow.start_dagrun(
                    template, datafile, actor, generation=last.get(datafile.pk, -1) + 1
                )
            )
        names = ", ".join(f.name for f in files[:20]) + (" ..." if len(files) > 20 else "")
        TemplateEvent.objects.create(
            template=template,
            actor=actor,
            action="reprocess",
            detail=(
                f"{len(files)} file(s) with version {template.current_version.number}: "
                f"{names}; DAG runs {', '.join(f'#{r.pk}' for r in runs[:20])}"
                + (f"; why: {why}" if why else "")
            ),
        )
    return runs
