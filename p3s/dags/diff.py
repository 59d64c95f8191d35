"""What differs between two states of a template: the graph (stages, edges, payload, args,
queue) and the tunables, as a list of ``{what, old, new}`` that people read.

The inputs are ``DagSpec.to_dict()`` documents (a version's snapshot in
:mod:`p3s.dags.history`, or an edit not saved yet).
"""

from __future__ import annotations

from typing import Any

from p3s.dags.spec import GRAPH_KEYS, TUNABLE_KEYS

TOP = ("description", "enabled", "trigger", "policy")


def changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, Any]]:
    """Every difference from ``old`` to ``new`` (``old`` None: the template was created)."""
    if old is None:
        return [{"what": "template created", "old": None, "new": new.get("name")}]
    out: list[dict[str, Any]] = []
    for key in TOP:
        if old.get(key) != new.get(key):
            out.append({"what": key, "old": old.get(key), "new": new.get(key)})
    a, b = old.get("stages", {}), new.get("stages", {})
    for stage in b:
        if stage not in a:
            out.append({"what": f"stage {stage} added", "old": None, "new": b[stage]})
    for stage in a:
        if stage not in b:
            out.append({"what": f"stage {stage} removed", "old": a[stage], "new": None})
    for stage in b:
        if stage not in a:
            continue
        for key in (*GRAPH_KEYS, *TUNABLE_KEYS):
            if a[stage].get(key) != b[stage].get(key):
                out.append(
                    {
                        "what": f"stage {stage} {key}",
                        "old": a[stage].get(key),
                        "new": b[stage].get(key),
                        "kind": "graph" if key in GRAPH_KEYS else "tunable",
                    }
                )
    return out


def edges(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p, s) for s, node in doc.get("stages", {}).items() for p in node.get("parents", [])}


def compare(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A diff for pages and the API: stages and edges added and removed, changed values."""
    a, b = old.get("stages", {}), new.get("stages", {})
    listed = changes(old, new)
    return {
        "stages_added": [s for s in b if s not in a],
        "stages_removed": [s for s in a if s not in b],
        "edges_added": sorted(f"{p}->{s}" for p, s in edges(new) - edges(old)),
        "edges_removed": sorted(f"{p}->{s}" for p, s in edges(old) - edges(new)),
        "graph_changed": any(
            c.get("kind") == "graph" or "added" in c["what"] or "removed" in c["what"]
            for c in listed
        ),
        "changes": [c for c in listed if not c["what"].endswith((" added", " removed"))],
    }
