"""The check catalogue's files: YAML beside the DAG templates, loaded without overwriting.

A file (``p3s/quality/defaults/*-checks.yaml``) has ``template`` and ``stream`` (defaults for
its entries), ``checks`` and ``alarm_rules`` lists. A check: ``name``, ``kind``, ``metric``,
optional ``scope``, ``labels``, ``warning: [low, high]``, ``error: [low, high]`` (null: no
bound), ``params``, ``description``, ``enabled``. An alarm rule: the fields of
:class:`p3s.dqm.models.AlarmRule`. Loading creates what is missing, by name; a check or rule
that exists is left as it is, so an expert's edit in the admin survives every reload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.db import transaction

from p3s.dqm.models import AlarmRule, Comparison, Severity
from p3s.exceptions import P3SError
from p3s.quality.models import Check, CheckKind

DEFAULTS = Path(__file__).resolve().parent / "defaults"
CHECK_KEYS = {"name", "kind", "metric", "scope", "labels", "warning", "error", "params",
              "description", "enabled", "template", "stream"}  # fmt: skip
RULE_KEYS = {"name", "metric", "labels", "comparison", "threshold", "severity", "description",
             "enabled", "webhook"}  # fmt: skip


class BadCatalogue(P3SError):
    """A checks file that cannot be loaded: the message names the file and the entry."""


@dataclass
class Loaded:
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def _bounds(entry: dict, key: str, where: str) -> tuple[float | None, float | None]:
    value = entry.get(key)
    if value is None:
        return None, None
    if not (isinstance(value, list) and len(value) == 2):
        raise BadCatalogue(f"{where}: {key} must be [low, high] (null for no bound)")
    try:
        return tuple(None if v is None else float(v) for v in value)  # type: ignore[return-value]
    except (TypeError, ValueError):
        raise BadCatalogue(f"{where}: {key} bounds must be numbers or null") from None


def _check(entry: dict, defaults: dict, where: str) -> Check:
    unknown = set(entry) - CHECK_KEYS
    if unknown:
        raise BadCatalogue(f"{where}: unknown keys {sorted(unknown)}")
    if entry.get("kind") not in CheckKind.values:
        raise BadCatalogue(f"{where}: kind must be one of {', '.join(CheckKind.values)}")
    wl, wh = _bounds(entry, "warning", where)
    el, eh = _bounds(entry, "error", where)
    return Check(
        name=str(entry["name"]),
        kind=entry["kind"],
        template=str(entry.get("template", defaults.get("template", "")) or ""),
        stream=str(entry.get("stream", defaults.get("stream", "tpc"))),
        metric=str(entry.get("metric") or ""),
        scope=list(entry.get("scope") or []),
        labels=dict(entry.get("labels") or {}),
        warning_low=wl,
        warning_high=wh,
        error_low=el,
        error_high=eh,
        params=dict(entry.get("params") or {}),
        description=str(entry.get("description", "")),
        enabled=bool(entry.get("enabled", True)),
    )


def _rule(entry: dict, where: str) -> AlarmRule:
    unknown = set(entry) - RULE_KEYS
    if unknown:
        raise BadCatalogue(f"{where}: unknown keys {sorted(unknown)}")
    if entry.get("comparison", "gt") not in Comparison.values:
        raise BadCatalogue(f"{where}: comparison must be one of {', '.join(Comparison.values)}")
    if entry.get("severity", "warning") not in Severity.values:
        raise BadCatalogue(f"{where}: severity must be one of {', '.join(Severity.values)}")
    try:
        threshold = float(entry["threshold"])
    except (KeyError, TypeError, ValueError):
        raise BadCatalogue(f"{where}: threshold must be a number") from None
    return AlarmRule(
        name=str(entry["name"]),
        metric=str(entry["metric"]),
        labels=dict(entry.get("labels") or {}),
        comparison=entry.get("comparison", "gt"),
        threshold=threshold,
        severity=entry.get("severity", "warning"),
        description=str(entry.get("description", "")),
        enabled=bool(entry.get("enabled", True)),
        webhook=str(entry.get("webhook", "")),
    )


def parse(path: Path) -> tuple[list[Check], list[AlarmRule]]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise BadCatalogue(f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise BadCatalogue(f"{path}: expected a mapping with checks and alarm_rules")
    checks, rules = [], []
    for i, entry in enumerate(doc.get("checks") or []):
        where = f"{path.name}: checks[{i}]"
        if not isinstance(entry, dict) or not entry.get("name"):
            raise BadCatalogue(f"{where}: each check needs a name")
        checks.append(_check(entry, doc, f"{where} ({entry['name']})"))
    for i, entry in enumerate(doc.get("alarm_rules") or []):
        where = f"{path.name}: alarm_rules[{i}]"
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("metric"):
            raise BadCatalogue(f"{where}: each alarm rule needs a name and a metric")
        rules.append(_rule(entry, f"{where} ({entry['name']})"))
    for c in checks:
        c.source = str(path.name)
    return checks, rules


def load_checks(paths: list[Path] | None = None) -> Loaded:
    """Create the checks and alarm rules of the files that do not exist yet (by name)."""
    paths = paths or sorted(DEFAULTS.glob("*.yaml"))
    parsed = [parse(p) for p in paths]  # every file valid before anything is written
    out = Loaded()
    with transaction.atomic():
        have_checks = set(Check.objects.values_list("name", flat=True))
        have_rules = set(AlarmRule.objects.values_list("name", flat=True))
        for checks, rules in parsed:
            for obj, have, label in [(c, have_checks, "check") for c in checks] + [
                (r, have_rules, "alarm rule") for r in rules
            ]:
                name = f"{label} {obj.name}"
                if obj.name in have:
                    out.kept.append(name)
                    continue
                obj.full_clean()
                obj.save()
                have.add(obj.name)
                out.created.append(name)
    return out


def no_checks_enabled() -> bool:
    """True when no check is enabled: the banner then says the detector is not being checked."""
    return not Check.objects.filter(enabled=True).exists()
