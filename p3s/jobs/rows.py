"""Model instances from hand-written SQL, for the few reads on the pilots' hot path.

Building a query with the ORM costs more Python than the round trip it makes (a py-spy
profile of gunicorn under the dispatch bench: the one-row SELECT of a pilot spent more time
compiling than waiting for PostgreSQL; docs/architecture.md, "The pilot hot path"). The
statements here are written once; the rows come back as model instances exactly as the ORM
would make them (each column through the field's database converters), so the callers see no
difference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


# (id of the DB-API connection, its backend pid, statement name) for every statement this
# process has PREPAREd: a prepared statement lives as long as its database session.
_prepared: set[tuple[int, int, str]] = set()


def ensure_prepared(cur, name: str, prepare: Callable[[], str]) -> None:
    """PREPARE statement ``name`` (``prepare()`` gives the PREPARE text) on this PostgreSQL
    session unless it already is. Planning a hot statement once per session instead of once
    per call saves more than the statement costs to run (docs/architecture.md)."""
    raw = connection.connection
    key = (id(raw), raw.get_backend_pid(), name)
    if key not in _prepared:
        cur.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [name])
        if cur.fetchone() is None:
            cur.execute(prepare())
        _prepared.add(key)
