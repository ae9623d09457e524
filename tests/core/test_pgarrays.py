"""Set-wise inserts: every value comes back as written, in row order, on any database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing_site.pgarrays import insert_instances, insert_rows, quoted_array_literal
from invoices.models import Invoice, InvoiceLine
from tests.invoices.factories import InvoiceFactory

pytestmark = pytest.mark.django_db

AWKWARD = [
    'quote " and backslash \\ and braces {a,b}',
    "NULL",
    "",
    "comma, space  and\nnew line\ttab",
    "Café – 10 € · 日本",
    "trailing backslash \\",
]


def test_rows_come_back_as_written_in_order(in_tenant_a, tenant_a):
    invoice = InvoiceFactory(tenant=tenant_a, draft=True)
    started = dt.datetime(2026, 3, 4, 8, 30, 15, tzinfo=dt.UTC)
    rows = [
        {
            "tenant_id": tenant_a.pk,
            "invoice_id": invoice.pk,
            "position": index + 1,
            "description": text,
            "quantity": Decimal("1.2345") * (index + 1),
            "unit_price": Decimal("-0.0001") if index == 1 else Decimal("120"),
            "amount": Decimal("1E+2") if index == 2 else Decimal("12.345"),
            "taxable": index % 2 == 0,
            "started_at": started if index == 0 else None,
            "worked_seconds": None if index == 3 else index * 60,
            # A JSON column: the awkward text inside a document, and an empty one.
            "facts": {} if index == 1 else {"text": text, "n": [index, None, True]},
        }
        for index, text in enumerate(AWKWARD)
    ]
    ids = insert_rows(InvoiceLine, rows)

    assert len(ids) == len(rows) == len(set(ids))
    stored = InvoiceLine.objects.in_bulk(ids)
    for pk, row in zip(ids, rows, strict=True):
        line = stored[pk]
        for name, value in row.items():
            assert getattr(line, name) == value, (name, value)
        # Fields left out get their model default.
        assert (line.kind, line.sku, line.tax_rate, line.explanation) == (  # defaults
            InvoiceLine._meta.get_field("kind").get_default(),
            "",
            Decimal("0"),
            "",
        )


def test_no_rows_insert_nothing(in_tenant_a):
    assert insert_rows(InvoiceLine, []) == []


def test_array_literal_quotes_text_and_keeps_null_apart():
    assert quoted_array_literal(["NULL", None, 'a"b', "c\\d", True, 3, Decimal("1.50")]) == (
        '{"NULL",NULL,"a\\"b","c\\\\d",t,3,"1.50"}'
    )
    assert quoted_array_literal([dt.date(2026, 3, 1)]) == "{2026-03-01}"


def test_columns_of_one_type_read_as_the_mixed_form():
    """A column whose values share one type takes a shortcut; it must spell every value
    as the general form does (text quoted and escaped, NULL apart, numbers and dates bare
    or quoted alike for PostgreSQL)."""
    at = dt.datetime(2026, 3, 4, 8, 30, 15, tzinfo=dt.UTC)
    assert quoted_array_literal(['a"b', None, "c\\d", "NULL"]) == '{"a\\"b",NULL,"c\\\\d","NULL"}'
    assert quoted_array_literal([Decimal("1.50"), Decimal("1E+2")]) == "{1.50,1E+2}"
    assert quoted_array_literal([Decimal("1.50"), None]) == '{"1.50",NULL}'
    assert quoted_array_literal([3, 4]) == "{3,4}"
    assert quoted_array_literal([at, at]) == "{2026-03-04T08:30:15+00:00,2026-03-04T08:30:15+00:00}"
    assert (
        quoted_array_literal([{"t": 'x"y'}, None, {}]) == '{"{\\"t\\":\\"x\\\\\\"y\\"}",NULL,"{}"}'
    )
    assert quoted_array_literal([True, False]) == "{t,f}"
    assert quoted_array_literal(n for n in [1, 2]) == "{1,2}"


def test_instances_hold_what_the_table_holds(in_tenant_a, tenant_a):
    """``insert_instances`` returns saved instances, in row order, whose values (the
    creation stamp filled in included) are the stored ones."""
    rows = [
        {"tenant_id": tenant_a.pk, "currency": "EUR", "notes": text, "total": Decimal(n)}
        for n, text in enumerate(AWKWARD, start=1)
    ]
    made = insert_instances(Invoice, rows)
    assert [invoice.notes for invoice in made] == AWKWARD
    assert all(i.pk and not i._state.adding and i.created_at for i in made)
    stored = Invoice.objects.in_bulk([invoice.pk for invoice in made])
    for invoice in made:
        again = stored[invoice.pk]
        assert (again.notes, again.total, again.created_at, again.status) == (
            invoice.notes,
            invoice.total,
            invoice.created_at,
            invoice.status,
        )
