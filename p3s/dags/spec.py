"""DAG template specs: parse YAML/JSON, validate, normalise.

A spec has template-level fields (name, description, enabled, trigger, policy), a graph
(per stage: payload, args, queue, parents) that is versioned, and per-stage tunables
(priority, timeout, max_attempts, prescale, event_fraction) that change live.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from p3s.dags import overload, split
from p3s.dags.payload_io import check_data, known_payloads
from p3s.exceptions import InvalidDag

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\Z")
GRAPH_KEYS = ("payload", "args", "queue", "parents")
TUNABLE_KEYS = ("priority", "timeout", "max_attempts", "prescale", "event_fraction", "split")
STAGE_KEYS = set(GRAPH_KEYS) | set(TUNABLE_KEYS) | {"match"}  # match: p3s.dags.matching
TOP_KEYS = {"name", "description", "enabled", "trigger", "policy", "stages"}
DEFAULTS = {
    "queue": "default",
    "timeout": 600.0,
    "max_attempts": 2,
    "prescale": 1.0,
    "event_fraction": 1.0,
    "split": "",
}
PRIORITY_STEP = 10


@dataclass
class DagSpec:
    name: str
    description: str
    enabled: bool
    stream: str
    pattern: str
    max_age: float | None
    max_waiting: int | None
    graph: dict[str, dict[str, Any]]
    tunables: dict[str, dict[str, Any]]
    order: list[str] = field(default_factory=list)
    adaptive: dict[str, Any] = field(default_factory=dict)  # p3s.dags.overload

    def roots(self) -> list[str]:
        return [s for s in self.order if not self.graph[s]["parents"]]

    def children(self, stage: str) -> list[str]:
        return [s for s in self.order if stage in self.graph[s]["parents"]]

    def to_dict(self) -> dict[str, Any]:
        stages = {s: {**self.graph[s], **self.tunables[s]} for s in self.order}
        policy: dict[str, Any] = {
            k: v
            for k, v in (("max_age", self.max_age), ("max_waiting", self.max_waiting))
            if v is not None
        }
        if self.adaptive:
            policy["adaptive_prescale"] = self.adaptive
        trigger = {"stream": self.stream}
        if self.pattern:
            trigger["pattern"] = self.pattern
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "enabled": self.enabled,
            "trigger": trigger,
            "stages": stages,
        }
        if policy:
            out["policy"] = policy
        return out


MAX_STAGES = 200
MAX_PARENTS = 50
MAX_ARGS = 100
MAX_ALIASES = 20
MAX_TEXT = 2000


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing more than MAX_ALIASES aliases (the "billion laughs")."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases = getattr(self, "aliases", 0) + 1
            if self.aliases > MAX_ALIASES:
                raise InvalidDag(f"the template uses more than {MAX_ALIASES} YAML aliases")
        return super().compose_node(parent, index)


def safe_yaml(text: str) -> Any:
    """YAML (a superset of JSON) with aliases, depth and size bounded and finite numbers."""
    from p3s.api.limits import check_document, excerpt

    loader = _BoundedLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise InvalidDag(f"not valid YAML/JSON: {excerpt(str(exc), 300)}") from None
    except RecursionError:
        raise InvalidDag("the template nests too deeply") from None
    finally:
        loader.dispose()
    return check_document(data, max_depth=16, max_items=20_000, error=InvalidDag)


def _text(where: str, value: Any, limit: int = MAX_TEXT) -> str:
    from p3s.api.limits import BAD_TEXT

    if not isinstance(value, str):
        raise InvalidDag(f"{where} must be a string")
    if len(value) > limit:
        raise InvalidDag(f"{where} is {len(value)} characters long; at most {limit}")
    found = BAD_TEXT.search(value)
    if found:
        raise InvalidDag(f"{where} contains a control character (U+{ord(found.group()):04X})")
    return value


def parse_text(text: str) -> dict[str, Any]:
    """YAML (a superset of JSON) to a dict, with a readable error."""
    data = safe_yaml(text)
    if not isinstance(data, dict):
        raise InvalidDag("a DAG template must be a mapping with name, trigger and stages")
    return data


def _number(
    where: str, value: Any, lo: float, hi: float, *, lo_open: bool = False, integer: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidDag(f"{where} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise InvalidDag(f"{where} must be a finite number, got {value!r}")
    if integer and int(value) != value:
        raise InvalidDag(f"{where} must be a whole number, got {value!r}")
    if value != value or (value <= lo if lo_open else value < lo) or value > hi:
        bracket = "(" if lo_open else "["
        raise InvalidDag(f"{where} = {value!r} is out of range {bracket}{lo}, {hi}]")
    return int(value) if integer else float(value)


def _args(where: str, value: Any) -> list[str]:
    """Args as a list of strings, or a mapping turned into --key value options."""
    if value is None:
        return []
    if isinstance(value, list):
        if not all(isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in value):
            raise InvalidDag(f"{where}.args must be a list of strings or a mapping")
        if len(value) > MAX_ARGS:
            raise InvalidDag(f"{where}.args: at most {MAX_ARGS} arguments")
        return [_text(f"{where}.args", str(a), 1000) for a in value]
    if isinstance(value, dict):
        out: list[str] = []
        for key, val in value.items():
            if not isinstance(key, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_-]*$", key):
                raise InvalidDag(f"{where}.args key {key!r} is not a valid option name")
            opt = "--" + key.replace("_", "-")
            if val is True:
                out.append(opt)
            elif val is False or val is None:
                continue
            elif isinstance(val, (str, int, float)):
                out += [opt, _text(f"{where}.args.{key}", str(val), 1000)]
            else:
                raise InvalidDag(f"{where}.args.{key} must be a string, number or boolean")
        return out
    raise InvalidDag(f"{where}.args must be a list of strings or a mapping")


def validate(data: dict[str, Any], payloads: set[str] | None = None) -> DagSpec:
    """Check a parsed template and return it normalised; InvalidDag says what is wrong."""
    payloads = known_payloads() if payloads is None else payloads
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise InvalidDag(
            f"unknown top-level keys: {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(TOP_KEYS))})"
        )
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidDag(
            f"name {name!r} must be lower-case letters, digits, '-' or '_' (at most 64)"
        )
    trigger = data.get("trigger")
    if (
        not isinstance(trigger, dict)
        or not isinstance(trigger.get("stream"), str)
        or not trigger["stream"]
    ):
        raise InvalidDag(
            "trigger must be a mapping with a stream, e.g. {stream: tpc, pattern: '*.h5'}"
        )
    if set(trigger) - {"stream", "pattern"}:
        raise InvalidDag(
            f"unknown trigger keys: {', '.join(sorted(set(trigger) - {'stream', 'pattern'}))}"
        )
    pattern = trigger.get("pattern") or ""
    if not isinstance(pattern, str):
        raise InvalidDag("trigger.pattern must be a string (fnmatch on the file name)")
    _text("trigger.pattern", pattern, 200)
    if not NAME_RE.match(trigger["stream"]):
        raise InvalidDag("trigger.stream must be a simple name (lower-case letters, digits, -_)")
    policy = data.get("policy") or {}
    if not isinstance(policy, dict) or set(policy) - {
        "max_age",
        "max_waiting",
        "adaptive_prescale",
    }:
        raise InvalidDag(
            "policy may only hold max_age (seconds), max_waiting (jobs per stage) and "
            "adaptive_prescale (p3s.dags.overload)"
        )
    max_age = (
        _number("policy.max_age", policy["max_age"], 0, 1e9, lo_open=True)
        if policy.get("max_age") is not None
        else None
    )
    max_waiting = (
        int(_number("policy.max_waiting", policy["max_waiting"], 1, 1e9, integer=True))
        if policy.get("max_waiting") is not None
        else None
    )
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidDag("enabled must be true or false")
    description = _text("description", data.get("description") or "")

    stages = data.get("stages")
    if not isinstance(stages, dict) or not stages:
        raise InvalidDag("stages must be a non-empty mapping of stage name -> stage")
    if len(stages) > MAX_STAGES:
        raise InvalidDag(f"the template has {len(stages)} stages; at most {MAX_STAGES}")
    graph: dict[str, dict[str, Any]] = {}
    raw_tunables: dict[str, dict[str, Any]] = {}
    for sname, stage in stages.items():
        where = f"stage {sname!r}"
        if not isinstance(sname, str) or not NAME_RE.match(sname):
            raise InvalidDag(f"{where}: stage names must be lower-case letters, digits, '-' or '_'")
        if not isinstance(stage, dict):
            raise InvalidDag(f"{where} must be a mapping with at least a payload")
        extra = set(stage) - STAGE_KEYS
        if extra:
            raise InvalidDag(
                f"{where}: unknown keys {', '.join(sorted(extra))} (allowed: {', '.join(sorted(STAGE_KEYS))})"
            )
        payload = stage.get("payload")
        if not isinstance(payload, str) or not payload:
            raise InvalidDag(f"{where} has no payload")
        if payload not in payloads:
            raise InvalidDag(
                f"{where}: unknown payload {payload!r} (installed: {', '.join(sorted(payloads)) or 'none'})"
            )
        parents = stage.get("parents") or []
        if isinstance(parents, str):
            parents = [parents]
        if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
            raise InvalidDag(f"{where}: parents must be a list of stage names")
        if len(parents) > MAX_PARENTS:
            raise InvalidDag(f"{where}: at most {MAX_PARENTS} parents")
        if len(set(parents)) != len(parents):
            raise InvalidDag(f"{where}: a parent is listed twice")
        queue = stage.get("queue", DEFAULTS["queue"])
        if not isinstance(queue, str) or not NAME_RE.match(queue):
            raise InvalidDag(f"{where}: queue {queue!r} must be a simple name")
        graph[sname] = {
            "payload": payload,
            "args": _args(where, stage.get("args")),
            "queue": queue,
            "parents": parents,
        }
        if stage.get("match") is not None:  # versioned with the graph; absent: no key at all
            from p3s.dags.matching import validate_spec

            graph[sname]["match"] = validate_spec(where, stage["match"], NAME_RE)
        raw_tunables[sname] = {
            "priority": stage.get("priority"),
            "timeout": _number(
                f"{where}.timeout",
                stage.get("timeout", DEFAULTS["timeout"]),
                0,
                7 * 86400,
                lo_open=True,
            ),
            "max_attempts": int(
                _number(
                    f"{where}.max_attempts",
                    stage.get("max_attempts", DEFAULTS["max_attempts"]),
                    1,
                    100,
                    integer=True,
                )
            ),
            "prescale": _number(
                f"{where}.prescale", stage.get("prescale", DEFAULTS["prescale"]), 0, 1
            ),
            "event_fraction": _number(
                f"{where}.event_fraction",
                stage.get("event_fraction", DEFAULTS["event_fraction"]),
                0,
                1,
                lo_open=True,
            ),
            "split": split.check(where, stage.get("split", DEFAULTS["split"])),
        }
    for sname, node in graph.items():
        for parent in node["parents"]:
            if parent not in graph:
                raise InvalidDag(f"stage {sname!r}: unknown parent {parent!r}")
            if parent == sname:
                raise InvalidDag(f"stage {sname!r} lists itself as a parent (a cycle)")
    order = _topological_order(graph)
    # Does every stage get the data it reads from its parents? (p3s.dags.payload_io)
    problems = check_data(graph, trigger["stream"])
    if problems:
        raise InvalidDag("; ".join(problems))
    depth: dict[str, int] = {}
    for sname in order:
        depth[sname] = 1 + max((depth[p] for p in graph[sname]["parents"]), default=0)
    tunables: dict[str, dict[str, Any]] = {}
    for sname in order:
        t = dict(raw_tunables[sname])
        if t["priority"] is None:
            t["priority"] = PRIORITY_STEP * depth[sname]
        else:
            t["priority"] = int(
                _number(f"stage {sname!r}.priority", t["priority"], -1e6, 1e6, integer=True)
            )
        tunables[sname] = t
    return DagSpec(
        name=name,
        description=description,
        enabled=enabled,
        stream=trigger["stream"],
        pattern=pattern,
        max_age=max_age,
        max_waiting=max_waiting,
        graph=graph,
        tunables=tunables,
        order=order,
        adaptive=overload.check(policy.get("adaptive_prescale"), set(graph)),
    )


def _topological_order(graph: dict[str, dict[str, Any]]) -> list[str]:
    """Kahn's algorithm, stable by declaration order; a cycle is named in the error."""
    remaining = {s: set(n["parents"]) for s, n in graph.items()}
    order: list[str] = []
    while remaining:
        ready = [s for s, parents in remaining.items() if not parents]
        if not ready:
            raise InvalidDag(
                f"the stages {', '.join(_find_cycle(graph, set(remaining)))} form a cycle"
            )
        for s in ready:
            order.append(s)
            del remaining[s]
        for parents in remaining.values():
            parents.difference_update(ready)
    return order


def _find_cycle(graph: dict[str, dict[str, Any]], nodes: set[str]) -> list[str]:
    start = sorted(nodes)[0]
    path: list[str] = []
    node = start
    while node not in path:
        path.append(node)
        node = next(p for p in graph[node]["parents"] if p in nodes)
    cycle = path[path.index(node) :]
    cycle.reverse()
    return cycle + [cycle[0]]


def load(text_or_data: str | dict[str, Any], payloads: set[str] | None = None) -> DagSpec:
    data = parse_text(text_or_data) if isinstance(text_or_data, str) else text_or_data
    return validate(data, payloads)


def dump_yaml(spec: DagSpec) -> str:
    return yaml.safe_dump(spec.to_dict(), sort_keys=False)


__all__ = ["DagSpec", "known_payloads", "load", "validate", "dump_yaml", "parse_text"]
