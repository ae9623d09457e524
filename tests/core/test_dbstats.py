"""Large writes refresh the planner's statistics once they commit (PostgreSQL)."""

from __future__ import annotations

import pytest
from django.db import connection

from billing_site.dbstats import BULK_ROWS, analyze_after_commit
from invoices.models import InvoiceLine
from tests.invoices.factories import InvoiceFactory, InvoiceLineFactory

pytestmark = pytest.mark.django_db


def planner_rows(table: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


def test_large_write_analyzes_its_tables_after_commit(
    in_tenant_a, tenant_a, django_capture_on_commit_callbacks
):
    invoice = InvoiceFactory(tenant=tenant_a, draft=True)
    InvoiceLineFactory.create_batch(3, tenant=tenant_a, invoice=invoice)

    with django_capture_on_commit_callbacks(execute=True) as small:
        analyze_after_commit([InvoiceLine], rows=BULK_ROWS - 1)
    assert small == []

    with django_capture_on_commit_callbacks(execute=False) as large:
        analyze_after_commit([InvoiceLine, InvoiceLine], rows=BULK_ROWS)
    if connection.vendor != "postgresql":
        assert large == []  # other databases plan without sampled statistics
        return
    assert len(large) == 1  # one callback, each table once
    table = InvoiceLine._meta.db_table
    before = planner_rows(table)
    large[0]()
    # ANALYZE ran in this (test) transaction, so it counted the lines made above.
    assert before != 3
    assert planner_rows(table) == InvoiceLine.all_tenants.count() == 3
