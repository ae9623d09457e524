"""The second tenancy wall: PostgreSQL row-level security, with the application connected
as the role that owns no table (``DB_APP_ROLE``). Without a tenant nothing is read or
written, even through raw SQL; with tenant A set, B's rows do not exist; the route walk
passes with the wall on."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from billing_site import rls
from billing_site.models import Organization
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from invoices.models import Invoice
from tests.core.test_isolation import ROUTES, build_url, call, client_for
from tests.invoices.factories import InvoiceFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")


@pytest.fixture
def as_app_role():
    """Run a block as the application role (non-owner, no BYPASSRLS), as production does."""
    role = settings.DB_APP_ROLE
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [role])
        found = cursor.fetchone()
        if found is None:
            cursor.execute(f'CREATE ROLE "{role}" NOLOGIN')
        else:
            assert found == (False, False), "the application role must not bypass the wall"
        cursor.execute(
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"'
        )
        cursor.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')

    @contextlib.contextmanager
    def as_app():
        with connection.cursor() as cursor:
            cursor.execute(f'SET ROLE "{role}"')
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET ROLE")

    return as_app


@pytest.fixture
def two_tenants(tenant_a, tenant_b):
    with tenant_context(tenant_a):
        a = InvoiceFactory(tenant=tenant_a, total=Decimal("100.00"))
    with tenant_context(tenant_b):
        b = InvoiceFactory(tenant=tenant_b, total=Decimal("987.65"))
    return a, b


def raw(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


def test_every_tenant_owned_table_has_the_wall():
    tables = rls.tenant_tables()
    assert {
        "invoices_invoice",
        "billing_site_organization",
        "support_sessions_remotesession",
    } <= set(tables)
    rows = raw(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
        "EXISTS (SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname AND p.policyname = %s) "
        "FROM pg_class c WHERE c.relname = ANY(%s)",
        [rls.POLICY, tables],
    )
    assert sorted(rows) == [(table, True, True, True) for table in tables]


def test_without_a_tenant_nothing_is_read_or_written(two_tenants, as_app_role):
    assert raw("SELECT count(*) FROM invoices_invoice") == [(2,)]  # the owner sees both
    with as_app_role():
        assert Invoice.all_tenants.count() == 0
        assert raw("SELECT count(*) FROM invoices_invoice") == [(0,)]
        assert raw("UPDATE invoices_invoice SET notes = 'changed'") == 0
        assert raw("DELETE FROM billing_site_organization") == 0
    assert raw("SELECT count(*) FROM invoices_invoice WHERE notes = 'changed'") == [(0,)]


def test_with_tenant_a_set_b_does_not_exist(two_tenants, tenant_a, tenant_b, as_app_role):
    a, b = two_tenants
    with as_app_role(), tenant_context(tenant_a):
        assert raw("SELECT id, total FROM invoices_invoice") == [(a.pk, Decimal("100.000"))]
        assert not Invoice.all_tenants.filter(pk=b.pk).exists()
        assert raw("UPDATE invoices_invoice SET notes = 'x' WHERE id = %s", [b.pk]) == 0
        assert raw("DELETE FROM invoices_invoice WHERE id = %s", [b.pk]) == 0
        # A row cannot be written for another tenant either.
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Organization.all_tenants.create(tenant=tenant_b, name="Planted", currency="EUR")
        # ...and a row of A's cannot be moved to B.
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            raw("UPDATE invoices_invoice SET tenant_id = %s WHERE id = %s", [tenant_b.pk, a.pk])
    assert Invoice.all_tenants.get(pk=b.pk).notes != "x"


def test_a_compound_query_reads_its_tenants_rows(two_tenants, tenant_a, as_app_role):
    """Django writes a union of querysets with DISTINCT as "(SELECT …) UNION (SELECT …)":
    it is sent with the tenant like any other read (a batch's drafts are named by their
    contracts through such a union)."""
    a, _b = two_tenants
    with as_app_role(), tenant_context(tenant_a):
        parts = Invoice.objects.order_by().values_list("id").distinct()
        union = parts.union(Invoice.objects.order_by().values_list("id").distinct())
        assert str(union.query).startswith("(SELECT")
        assert list(union) == [(a.pk,)]


def test_cross_tenant_jobs_go_through_the_named_path(two_tenants, as_app_role):
    with as_app_role(), rls.cross_tenant():
        assert raw("SELECT count(*) FROM invoices_invoice") == [(2,)]
    with as_app_role():
        assert raw("SELECT count(*) FROM invoices_invoice") == [(0,)]


def test_the_database_pricing_reads_nothing_under_the_wrong_tenant(tenant_a, tenant_b, as_app_role):
    """The accelerator's raw statement runs under the same policy as the ORM."""
    from contracts.pricing.database import summarize_unbilled_time
    from contracts.pricing.rates import load_rate_book
    from tests.contracts.factories import (
        ContractFactory,
        TicketFactory,
        TimeEntryFactory,
        technician,
    )

    with tenant_context(tenant_a):
        contract = ContractFactory(tenant=tenant_a, customer=OrganizationFactory(tenant=tenant_a))
        ticket = TicketFactory(tenant=tenant_a, contract=contract)
        TimeEntryFactory(
            tenant=tenant_a,
            ticket=ticket,
            contract=contract,
            technician=technician(tenant_a, "t"),
            worked_seconds=3600,
            billable=True,
            state="posted",
        )
        import datetime as dt

        as_of = dt.date(2030, 1, 1)
        owner_view = summarize_unbilled_time({contract.pk: contract}, as_of, load_rate_book())
    with as_app_role(), tenant_context(tenant_b):
        wrong = summarize_unbilled_time({contract.pk: contract}, as_of, load_rate_book())
    with as_app_role(), tenant_context(tenant_a):
        right = summarize_unbilled_time({contract.pk: contract}, as_of, load_rate_book())
    assert owner_view[contract.pk].count == 1
    assert right == owner_view
    # Under tenant B, A's entries are not there for the statement to sum.
    assert all(summary.count == 0 for summary in wrong.values())


GET_ROUTES = [route for route in ROUTES if "GET" in route.methods]


@pytest.mark.parametrize("route", [r for r in GET_ROUTES if r.kwargs], ids=str)
def test_the_route_walk_passes_with_the_wall_on(
    route, tenant_a, tenant_b, staff_a, client_as, api_as, as_app_role
):
    """Another tenant's object is a 404 page, not an error, with the application role."""
    url = build_url(route, tenant_b, {})
    client = client_for(staff_a.user(Role.OWNER), route.is_api, client_as, api_as)
    with as_app_role():
        response = call(client, "GET", url, route.is_api)
    assert response.status_code == 404, (url, response.status_code)


@pytest.mark.parametrize("route", GET_ROUTES, ids=str)
def test_own_pages_answer_the_same_with_the_wall_on(
    route, tenant_a, staff_a, client_as, api_as, as_app_role
):
    """Every page and endpoint answers its own tenant exactly as without the wall: the
    tenant is set wherever data is read, so nothing goes missing or fails."""
    url = build_url(route, tenant_a, {})
    client = client_for(staff_a.user(Role.OWNER), route.is_api, client_as, api_as)
    without_wall = call(client, "GET", url, route.is_api)
    with as_app_role():
        with_wall = call(client, "GET", url, route.is_api)
    assert with_wall.status_code == without_wall.status_code, url
    if with_wall["Content-Type"].startswith("application/json") and with_wall.status_code == 200:
        assert with_wall.json() == without_wall.json(), url


def set_constraints_now():
    # The references are checked at commit; a test's transaction never commits.
    raw("SET CONSTRAINTS ALL IMMEDIATE")


def test_every_reference_between_tenant_tables_is_checked():
    references = rls.tenant_references()
    assert ("invoices_invoice", "organization_id", "billing_site_organization", "id") in references
    rows = raw(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE t.tgname LIKE 'same_tenant_%%'"
    )
    assert {(table, f"same_tenant_{column}"[:63]) for table, column, _, _ in references} <= set(
        rows
    )


def test_a_row_cannot_point_at_another_tenants_row(tenant_a, tenant_b):
    with tenant_context(tenant_a):
        invoice = InvoiceFactory(tenant=tenant_a)
    with tenant_context(tenant_b):
        theirs = OrganizationFactory(tenant=tenant_b)
    set_constraints_now()
    with pytest.raises(DatabaseError, match="tenant wall"), transaction.atomic():
        Invoice.all_tenants.filter(pk=invoice.pk).update(organization=theirs)
    with pytest.raises(DatabaseError, match="tenant wall"), transaction.atomic():
        raw(
            "UPDATE invoices_invoice SET organization_id = %s WHERE id = %s",
            [theirs.pk, invoice.pk],
        )
    # Pointing at its own tenant's row is fine.
    with tenant_context(tenant_a):
        own = OrganizationFactory(tenant=tenant_a)
    Invoice.all_tenants.filter(pk=invoice.pk).update(organization=own)
    assert Invoice.all_tenants.get(pk=invoice.pk).organization_id == own.pk
