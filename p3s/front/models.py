"""Gallery layouts: a fixed grid of products, rows = APA, columns = plot type.

A plot type (a column) is ``kind/stage/family``: the product kind, the DAG stage that made it
(``*`` for any stage) and the title with its APA number taken out ("APA 3 noise RMS per plane"
is the family "noise RMS per plane"), see :mod:`p3s.front.layouts`. Shifter layouts hold a few
key plots, expert layouts more; the built-in "all" shows every plot type of the run. Experts save
layouts from the gallery page or here in the admin; operators pick one.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models

from p3s.dqm.models import ProductKind

MAX_COLUMNS = 40
MAX_APAS = 64
COLUMN_RE = re.compile(
    r"^(?P<kind>[a-z]+)/(?P<stage>\*|[A-Za-z0-9_.-]{1,64})/(?P<family>.{1,200})$"
)


class Audience(models.TextChoices):
    SHIFTER = "shifter", "shifter (a few key plots)"
    EXPERT = "expert", "expert (more plots)"


def check_columns(value) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError("columns must be a non-empty list of 'kind/stage/family' strings")
    if len(value) > MAX_COLUMNS:
        raise ValidationError(f"at most {MAX_COLUMNS} columns")
    for col in value:
        m = COLUMN_RE.match(col) if isinstance(col, str) else None
        if m is None:
            raise ValidationError(
                f"column {str(col)[:80]!r} is not 'kind/stage/family' (stage may be *)"
            )
        if m["kind"] not in ProductKind.values:
            raise ValidationError(
                f"column {col[:80]!r}: kind must be one of {', '.join(ProductKind.values)}"
            )
    if len(set(value)) != len(value):
        raise ValidationError("a column is listed twice")


def check_apas(value) -> None:
    if not isinstance(value, list) or len(value) > MAX_APAS:
        raise ValidationError(f"apas must be a list of at most {MAX_APAS} APA numbers")
    for apa in value:
        if not isinstance(apa, str) or not apa.isdigit():
            raise ValidationError(f"APA {str(apa)[:20]!r} is not a number (as a string, e.g. '3')")


class GalleryLayout(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.SHIFTER)
    description = models.CharField(max_length=300, blank=True)
    columns = models.JSONField(
        validators=[check_columns],
        help_text="plot types left to right, each 'kind/stage/family', e.g. "
        "'png/*/noise RMS per plane' (stage * = any stage)",
    )
    apas = models.JSONField(
        default=list,
        blank=True,
        validators=[check_apas],
        help_text='APAs (rows) top to bottom, e.g. ["1", "2"]; empty: every APA of the run',
    )
    updated_by = models.CharField(max_length=150, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["audience", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.audience})"
