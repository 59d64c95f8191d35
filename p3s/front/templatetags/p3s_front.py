"""Small template filters of the operator pages: ages in words and numbers that may be missing."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def seconds(value) -> str:
    """A duration in seconds as people read it: "42 s", "5.2 min", "3.1 h", "2.0 d"; "–": none."""
    if value is None or value == "":
        return "–"
    s = float(value)
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


@register.filter
def age(when: datetime | None) -> str:
    """How long ago a time was, as :func:`seconds` writes it."""
    if when is None:
        return "–"
    return seconds(max(0.0, (timezone.now() - when).total_seconds()))


@register.filter
def num(value, digits: int = 3) -> str:
    """A number to ``digits`` significant figures; "–" when missing."""
    if value is None or value == "":
        return "–"
    return f"{float(value):.{int(digits)}g}"


@register.filter
def labels_text(labels: dict | None) -> str:
    """Element labels in one line: "apa=1 plane=u femb=3"."""
    return " ".join(f"{k}={v}" for k, v in (labels or {}).items())


@register.filter
def get_item(mapping: dict | None, key):
    """``mapping[key]`` in a template (None when missing)."""
    return (mapping or {}).get(key)


@register.filter
def iso(value) -> str:
    """An ISO 8601 time string to the second, as "2026-12-01 21:41:23" (UTC as given)."""
    return str(value or "")[:19].replace("T", " ")
