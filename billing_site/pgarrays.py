"""PostgreSQL array parameters for set-wise statements (``unnest`` of parallel arrays).

A Python list becomes ``ARRAY[v1, v2, …]`` in the statement, which PostgreSQL parses
element by element: at a few hundred thousand values that alone takes seconds. One text
literal (``'{v1,v2,…}'``) cast to the array type parses several times faster.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone


def array_literal(values: Iterable) -> str:
    """``values`` as an array literal: numbers, dates, Decimals and plain words (no
    quoting is needed for any of them); None becomes NULL."""
    return "{" + ",".join("NULL" if value is None else str(value) for value in values) + "}"


_JSON = DjangoJSONEncoder(separators=(",", ":"))


def _text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _quoted(value) -> str:
    """One element of an array literal, quoted where the value could need it."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):  # a JSON column's value
        return _text(_JSON.encode(value))
    return _text(str(value))  # text, and Decimals (their exponent form is valid numeric input)


# Whole columns of one type, converted without asking each value its type: an insert of
# tens of thousands of rows spent more time here than in the statement.
_PLAIN = {int: str, float: str, Decimal: str, dt.date: dt.date.isoformat}
_PLAIN[dt.datetime] = dt.datetime.isoformat


def quoted_array_literal(values: Iterable) -> str:
    """``values`` as an array literal with every text element quoted and escaped."""
    values = values if isinstance(values, list) else list(values)
    kinds = set(map(type, values))
    nullable = type(None) in kinds
    kinds.discard(type(None))
    kind = kinds.pop() if len(kinds) == 1 else None
    if kind in _PLAIN and not nullable:
        return "{" + ",".join(map(_PLAIN[kind], values)) + "}"
    if kind is str:
        return "{" + ",".join("NULL" if v is None else _text(v) for v in values) + "}"
    if kind is dict:
        encode = _JSON.encode
        return "{" + ",".join("NULL" if v is None else _text(encode(v)) for v in values) + "}"
    return "{" + ",".join(_quoted(value) for value in values) + "}"


def insert_rows(model, rows: Sequence[dict]) -> list[int]:
    """Insert ``rows`` (dicts keyed by attribute name, such as ``invoice_id``; the same
    keys in every row) into ``model``'s table; returns the new primary keys in row order.
    Fields a row leaves out get their default (``auto_now`` ones: now), as ``save`` does.

    Why: ``bulk_create`` prepares every value of every row through its field in Python,
    which for tens of thousands of rows costs more than the insert itself. On PostgreSQL
    this sends one array literal per column and inserts them in one statement
    (``unnest … WITH ORDINALITY``: inserted and returned in row order). Values must be
    ready for the database: Decimals already rounded to the field's places, datetimes
    aware. Elsewhere it is ``bulk_create``.
    """
    if not rows:
        return []
    if connection.vendor != "postgresql":
        created = model.objects.bulk_create([model(**row) for row in rows], batch_size=1000)
        return [obj.pk for obj in created]
    meta = model._meta
    given = list(rows[0])
    by_attname = {field.attname: field for field in meta.concrete_fields}
    now = timezone.now()
    stamped = _stamped_fields(model)
    defaults = {
        field.attname: now if field.attname in stamped else field.get_default()
        for field in meta.concrete_fields
        if field.attname not in given and field is not meta.pk
    }
    columns = [by_attname[name] for name in [*given, *defaults]]
    quoted = ", ".join(f'"{column.column}"' for column in columns)
    casts = ", ".join(f"%s::{column.db_type(connection)}[]" for column in columns)
    # Identifiers come from the model; values are parameters.
    sql = (
        f'INSERT INTO "{meta.db_table}" ({quoted}) '  # noqa: S608
        f"SELECT {quoted} FROM unnest({casts}) WITH ORDINALITY AS v({quoted}, ordinality) "
        f'ORDER BY ordinality RETURNING "{meta.pk.column}"'
    )
    arrays = [quoted_array_literal(row[name] for row in rows) for name in given]
    arrays += [quoted_array_literal([value] * len(rows)) for value in defaults.values()]
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return [pk for (pk,) in cursor.fetchall()]


def _stamped_fields(model) -> set[str]:
    """Attribute names of ``model``'s ``auto_now`` / ``auto_now_add`` fields."""
    return {
        field.attname
        for field in model._meta.concrete_fields
        if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False)
    }


def insert_instances(model, rows: Sequence[dict]) -> list:
    """``insert_rows``, returning saved instances of ``model`` (as ``bulk_create`` does)
    built from the rows: a row's ``auto_now`` fields left out are set to now first, so
    the instances hold what the table holds. Elsewhere than on PostgreSQL it is
    ``bulk_create``."""
    if connection.vendor != "postgresql":
        return model.objects.bulk_create([model(**row) for row in rows], batch_size=1000)
    now = timezone.now()
    stamped = _stamped_fields(model)
    rows = [{**dict.fromkeys(stamped, now), **row} for row in rows]
    instances = []
    for pk, row in zip(insert_rows(model, rows), rows, strict=True):
        instance = model(pk=pk, **row)
        instance._state.adding = False
        instance._state.db = connection.alias
        instances.append(instance)
    return instances
