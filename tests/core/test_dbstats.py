"""Large writes refresh the planner's statistics once they commit (PostgreSQL)."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connection

from billing_site.dbstats import BULK_ROWS, analyze_after_commit
from invoices.models import InvoiceLine
from tests.core.test_row_level_security import as_app_role  # noqa: F401 (fixture)
from tests.invoices.factories import InvoiceFactory, InvoiceLineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def app_role(request):
    """The application role (no table owned), on PostgreSQL only."""
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("the application role's tests must run on PostgreSQL in CI")
        pytest.skip("planner statistics and table owners are PostgreSQL's")
    return request.getfixturevalue("as_app_role")


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


def test_the_application_role_refreshes_statistics_of_tables_it_does_not_own(
    in_tenant_a, tenant_a, django_capture_on_commit_callbacks, app_role
):
    invoice = InvoiceFactory(tenant=tenant_a, draft=True)
    InvoiceLineFactory.create_batch(4, tenant=tenant_a, invoice=invoice)
    table = InvoiceLine._meta.db_table
    with django_capture_on_commit_callbacks(execute=False) as large:
        analyze_after_commit([InvoiceLine], rows=BULK_ROWS)
    with app_role():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == settings.DB_APP_ROLE
        # A plain ANALYZE by a non-owner is skipped with a warning: the sample stays old.
        with connection.cursor() as cursor:
            cursor.execute(f'ANALYZE "{table}"')
        assert planner_rows(table) != 4
        large[0]()
    assert planner_rows(table) == 4
