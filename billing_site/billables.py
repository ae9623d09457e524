"""What an invoice line can bill: one registry, one claim, one release.

Every billable model points at the line that billed it through a nullable
``invoice_line`` foreign key: one column, so an item is on at most one line (the
database keeps "billed once", decision record 0005). Each app registers its billable
models from its ``AppConfig.ready()`` with ``register``: the columns frozen when the
item is billed (cleared again on release, so the item is priced afresh) and the
conditions an item must still meet to be claimed (a time entry: posted and billable).

Items are claimed with a compare-and-set (``claim_items``: ``UPDATE … WHERE
invoice_line IS NULL``; the caller compares the count and refuses the whole operation if
anything was taken meanwhile) and released by setting the column back to NULL
(``release_items``) when a draft or one of its lines is deleted, an invoice is voided,
or a credit note releases what it credits (one that writes its items off leaves them
billed by the credited line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connection, models
from django.db.models import BigIntegerField, Case, Q, Value, When

from .pgarrays import array_literal
from .tenancy import require_current_tenant

CHUNK = 5000  # rows per CASE update off PostgreSQL


@dataclass(frozen=True)
class BillableKind:
    """A registered billable model: ``label`` is ``app_label.ModelName``."""

    label: str
    frozen: tuple[str, ...] = ()
    claimable: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> type[models.Model]:
        return apps.get_model(self.label)


_REGISTRY: dict[str, BillableKind] = {}


def register(label: str, *, frozen: tuple[str, ...] = (), claimable: dict | None = None) -> None:
    """Register a billable model (from its app's ``ready()``; registering twice is a no-op
    for the same terms)."""
    kind = BillableKind(label, tuple(frozen), dict(claimable or {}))
    known = _REGISTRY.get(label)
    if known is not None and known != kind:
        raise RuntimeError(f"{label} is already registered as billable with other terms")
    _REGISTRY[label] = kind


def billable_kinds() -> list[BillableKind]:
    return list(_REGISTRY.values())


def billable_models() -> list[type[models.Model]]:
    return [kind.model for kind in _REGISTRY.values()]


def _kind_of(model: type[models.Model]) -> BillableKind:
    try:
        return _REGISTRY[model._meta.label]
    except KeyError:
        raise RuntimeError(f"{model._meta.label} is not a registered billable model") from None


# Column types of the values a claim may write, for PostgreSQL's ``unnest``.
_SQL_TYPES = {
    "invoice_line_id": "bigint",
    "billed_seconds": "integer",
    "included_seconds": "integer",
    "quantity": "numeric",
    "unit_price": "numeric",
    "amount": "numeric",
    "updated_at": "timestamptz",
}


def claim_items(model: type[models.Model], rows: dict[int, dict[str, Any]]) -> int:
    """Compare-and-set ``rows`` ({id: {column: value}}, ``invoice_line_id`` among them) on
    a registered billable model, only where each row is still unbilled and claimable.
    Returns how many rows were claimed; the caller refuses the whole operation when that
    is not all of them (its transaction then writes nothing).

    PostgreSQL: one ``UPDATE … FROM unnest(arrays)`` whatever the number of rows;
    elsewhere CASE updates in chunks. Runs in the caller's transaction.
    """
    if not rows:
        return 0
    kind = _kind_of(model)
    tenant = require_current_tenant()
    columns = list(next(iter(rows.values())))
    if connection.vendor == "postgresql":
        table = model._meta.db_table
        ids = sorted(rows)  # in table order: the join reads the heap and index in sequence
        arrays = [array_literal(ids)] + [
            array_literal(rows[pk][col] for pk in ids) for col in columns
        ]
        unnest = ", ".join(
            f"%s::{'bigint' if i == 0 else _SQL_TYPES[col]}[]"
            for i, col in enumerate(["id", *columns])
        )
        names = ", ".join(["id", *columns])
        sets = ", ".join(f"{col} = v.{col}" for col in columns)
        conditions = "".join(
            f" AND t.{model._meta.get_field(name).column} = %s" for name in kind.claimable
        )
        # Identifiers come from the model and a fixed column list; values are parameters.
        sql = (
            f'UPDATE "{table}" AS t SET {sets} FROM unnest({unnest}) AS v({names}) '  # noqa: S608
            f"WHERE t.id = v.id AND t.tenant_id = %s AND t.invoice_line_id IS NULL{conditions}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*arrays, tenant.pk, *kind.claimable.values()])
            return cursor.rowcount
    claimed = 0
    ids = list(rows)
    output = {col: model._meta.get_field(col.removesuffix("_id")) for col in columns}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        updates = {
            col.removesuffix("_id") if col == "invoice_line_id" else col: Case(
                *[When(pk=pk, then=Value(rows[pk][col])) for pk in chunk],
                output_field=BigIntegerField() if col == "invoice_line_id" else output[col],
            )
            for col in columns
        }
        claimed += model.objects.filter(
            Q(**kind.claimable), pk__in=chunk, invoice_line__isnull=True
        ).update(**updates)
    return claimed


def release_items(*, lines: models.QuerySet) -> int:
    """Unbill every item billed by ``lines`` (a scoped InvoiceLine queryset), clearing the
    columns frozen at billing. Runs in the caller's transaction; returns how many."""
    released = 0
    for kind in _REGISTRY.values():
        cleared = dict.fromkeys(kind.frozen)
        released += kind.model.objects.filter(invoice_line__in=lines).update(
            invoice_line=None, **cleared
        )
    return released


def items_billed_count(*, lines: models.QuerySet) -> int:
    """How many items ``lines`` bill (shown before a line is deleted or credited)."""
    return sum(
        kind.model.objects.filter(invoice_line__in=lines).count() for kind in _REGISTRY.values()
    )


def items_billed_per_line(*, lines: models.QuerySet) -> dict[int, int]:
    """How many items each of ``lines`` bills, by line id (one query per billable model)."""
    counts: dict[int, int] = {}
    for kind in _REGISTRY.values():
        rows = (
            kind.model.objects.filter(invoice_line__in=lines)
            .order_by()
            .values("invoice_line")
            .annotate(count=models.Count("id"))
        )
        for row in rows:
            counts[row["invoice_line"]] = counts.get(row["invoice_line"], 0) + row["count"]
    return counts
