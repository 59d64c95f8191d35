"""Dry run: what a template (a saved version or an edit not saved yet) would do with a file.

Reads only: it lists the jobs the DAG run would create, in creation order, with payload,
arguments, queue, priority, timeout, inputs and the prescale decision (the same deterministic
choice :func:`p3s.dags.flow.prescale_selects` makes), and which stages would never start
because a parent was prescaled out. It writes nothing (a test checks the row counts).
"""

from __future__ import annotations

import fnmatch
from typing import Any

from p3s.dags import payload_io, spec
from p3s.dags.models import DagTemplate, DagVersion, DataFile


def dry_run(dag: spec.DagSpec, datafile: DataFile) -> dict[str, Any]:
    """The jobs ``dag`` would create for ``datafile``, as the flow would create them."""
    from p3s.dags.flow import prescale_selects

    matches = datafile.stream == dag.stream and (
        not dag.pattern or fnmatch.fnmatch(datafile.name, dag.pattern)
    )
    jobs: list[dict[str, Any]] = []
    fate: dict[str, str] = {}
    for stage in dag.order:
        node, tun = dag.graph[stage], dag.tunables[stage]
        blocked = [p for p in node["parents"] if fate[p] != "runs"]
        if blocked:
            fate[stage] = "never created"
            jobs.append(
                {
                    "stage": stage,
                    "payload": node["payload"],
                    "created": False,
                    "why": "parent(s) "
                    + ", ".join(f"{p} ({fate[p]})" for p in blocked)
                    + " would not finish",
                }
            )
            continue
        selected = prescale_selects(dag.name, stage, datafile.url, tun["prescale"])
        fate[stage] = "runs" if selected else "prescaled out"
        io = payload_io.DECLARED.get(node["payload"])
        jobs.append(
            {
                "stage": stage,
                "payload": node["payload"],
                "created": True,
                "state": "waiting" if selected else "dropped",
                "prescale": tun["prescale"],
                "prescale_decision": (
                    "selected" if selected else f"prescaled out (prescale {tun['prescale']:g})"
                ),
                "args": list(node["args"]),
                "queue": node["queue"],
                "priority": tun["priority"],
                "timeout": tun["timeout"],
                "max_attempts": tun["max_attempts"],
                "event_fraction": tun["event_fraction"],
                "inputs": [datafile.url] + [f"<outputs of {p}>" for p in node["parents"]],
                "parents": list(node["parents"]),
                "produces": [payload_io.kind_name(k) for k in io.produces] if io else [],
                "why": "",
            }
        )
    return {
        "template": dag.name,
        "file": {
            "id": datafile.pk,
            "name": datafile.name,
            "url": datafile.url,
            "stream": datafile.stream,
            "run": datafile.run,
            "subrun": datafile.subrun,
        },
        "trigger_matches": matches,
        "trigger": (
            f"the trigger (stream {dag.stream}"
            + (f", pattern {dag.pattern}" if dag.pattern else "")
            + (
                ") matches this file"
                if matches
                else ") does not match this file: a new file like "
                "it would start no DAG run of this template"
            )
        ),
        "jobs": jobs,
        "would_run": sum(1 for j in jobs if j.get("state") == "waiting"),
        "prescaled_out": sum(1 for j in jobs if j.get("state") == "dropped"),
        "never_created": sum(1 for j in jobs if not j["created"]),
    }


def spec_for(
    template: DagTemplate, number: int | None = None, text: str | None = None
) -> spec.DagSpec:
    """The spec to dry-run: an edit (``text``), a version (graph and the tunables it had), or
    the template as it stands."""
    from p3s.dags import flow, history

    if text is not None:
        return spec.load(text)
    if number is None or number == template.current_version.number:
        return flow.spec_of(template)
    try:
        version = template.versions.get(number=number)
    except DagVersion.DoesNotExist:
        from p3s.exceptions import InvalidDag

        raise InvalidDag(f"the template {template.name!r} has no version {number}") from None
    return spec.validate({**history.snapshot(version)[0], "name": template.name})


def recent_files(template: DagTemplate, limit: int = 20) -> list[DataFile]:
    """Files to choose from: the newest of the template's stream."""
    return list(DataFile.objects.filter(stream=template.trigger_stream).order_by("-id")[:limit])
