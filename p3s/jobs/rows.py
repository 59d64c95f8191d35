"""Model instances from hand-written SQL, for the few reads on the pilots' hot path.

Building a query with the ORM costs more Python than the round trip it makes (a py-spy
profile of gunicorn under the dispatch bench: the one-row SELECT of a pilot spent more time
compiling than waiting for PostgreSQL; docs/architecture.md, "The pilot hot path"). The
statements here are written once; the rows come back as model instances exactly as the ORM
would make them (each column through the field's database converters), so the callers see no
difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


def columns(model: type[Model], alias: str) -> str:
    """The model's concrete columns, qualified by ``alias``, in field order."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def from_row(model: type[M], values: Sequence[Any]) -> M:
    """A model instance from raw column values, converted as the ORM would convert them."""
    fields = model._meta.concrete_fields
    out = []
    for f, value in zip(fields, values, strict=True):
        col = f.get_col(model._meta.db_table)
        for conv in connection.ops.get_db_converters(col) + f.get_db_converters(connection):
            value = conv(value, col, connection)
        out.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], out)


def fetch_one(sql: str, params: Sequence[Any]) -> tuple | None:
    """The first row of ``sql``, or None."""
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()
