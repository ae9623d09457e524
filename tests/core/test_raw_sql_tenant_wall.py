"""Every raw statement of the application runs behind the row-level wall.

The application's raw SQL, and what each must do for a tenant that is not the one
whose rows it names:

- ``billing_site.billables.claim_items`` (``UPDATE … FROM unnest``): the claim of every
  billable kind — time entries, period fees, block purchases (batch runs), remote
  sessions (session invoices) — claims 0 rows; the items stay unbilled.
- ``billing_site.pgarrays.insert_rows`` / ``insert_instances`` (``INSERT … SELECT FROM
  unnest``, a batch run's invoices, lines and batch links): refused, nothing written; a
  row of one's own pointing at the other tenant's row is refused too.
- ``invoices.services._write_finals`` (the finalisation's ``UPDATE … FROM unnest``) and
  ``invoices_finalize`` around it: 0 rows finalised, refused, no number taken.
- ``contracts.pricing.database.summarize_unbilled_time`` (the pricing accelerator, the
  batch figures' sums): sums nothing.
- ``batch_run`` / ``batch_generate``, the operations these statements serve: refused,
  nothing written.
- Statements sent with ``executemany`` or through a server-side cursor (``.iterator()``:
  the portal's exports) take the tenant apart from the statement, also outside a
  transaction.
- Not raw, but set-wise all the same: the receivables aging, the revenue report and the
  streamed session import (ORM aggregates and ``bulk_create``) sum and write nothing.

The other raw statements read no tenant's rows: ``SELECT 1`` of the health checks, the
``ANALYZE`` after bulk writes (``dbstats``) and the policies' own DDL (``rls``).

Each runs as the application role (``DB_APP_ROLE``), once with tenant B set, and once
with the code running for tenant A while the database is told tenant B — an application
bug that the wall alone must stop, since most of these statements filter on the
tenant themselves. A control run with tenant A set sees and changes A's rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from billing_site.billables import billable_kinds, claim_items
from billing_site.models import TenantSequence
from billing_site.pgarrays import insert_instances, insert_rows
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from contracts.choices import TimeEntryState
from contracts.models import TimeEntry
from invoices.batches import services as batch_services
from invoices.batches.models import BatchInvoice, BatchStatus, InvoiceBatch
from invoices.models import Invoice, InvoiceLine, InvoiceStatus
from invoices.services import _write_finals, invoices_finalize
from tests.contracts.factories import (
    BlockPurchaseFactory,
    ContractFactory,
    PeriodChargeFactory,
    TicketFactory,
    TimeEntryFactory,
    technician,
)
from tests.core.test_row_level_security import (  # noqa: F401 (fixture)
    as_app_role,
    raw,
    set_constraints_now,
)
from tests.invoices.batch_factories import AS_OF, build_world
from tests.invoices.factories import InvoiceFactory, InvoiceLineFactory
from tests.sessions.factories import RemoteSessionFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def needs_postgres():
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("the row-level security tests must run on PostgreSQL in CI")
        pytest.skip("row-level security is PostgreSQL's; SQLite has no second wall")


_TENANT_SETTING = re.compile(r"set_config\('app\.tenant_id', '\d*', true\)")


@contextlib.contextmanager
def database_told(tenant):
    """The database is told ``tenant`` whatever tenant the code runs for: each
    statement's tenant setting (``rls.bind_tenant``) is rewritten on its way out."""
    told = f"set_config('app.tenant_id', '{tenant.pk}', true)"

    def retell(execute, sql, params, many, context):
        return execute(_TENANT_SETTING.sub(told, sql, count=1), params, many, context)

    with connection.execute_wrapper(retell):
        yield


WRONG = ["tenant B set", "code for A, database told B"]


@pytest.fixture(params=WRONG)
def wrong_tenant(request, tenant_a, tenant_b, as_app_role):  # noqa: F811
    """As the application role, with the wrong tenant in the database."""

    @contextlib.contextmanager
    def block():
        with as_app_role():
            if request.param == WRONG[0]:
                with tenant_context(tenant_b):
                    yield
            else:
                with tenant_context(tenant_a), database_told(tenant_b):
                    yield

    return block


@pytest.fixture
def right_tenant(tenant_a, as_app_role):  # noqa: F811
    """The control: as the application role, with tenant A set."""

    @contextlib.contextmanager
    def block():
        with as_app_role(), tenant_context(tenant_a):
            yield

    return block


def test_the_database_is_told_the_other_tenant(tenant_a, tenant_b, as_app_role):  # noqa: F811
    """The second wrong mode is what it says: the code runs for A, the database sees B."""
    with tenant_context(tenant_a):
        invoice = InvoiceFactory(tenant=tenant_a)
    with as_app_role(), tenant_context(tenant_a):
        assert list(Invoice.objects.values_list("pk", flat=True)) == [invoice.pk]
        with database_told(tenant_b):
            assert raw("SELECT current_setting('app.tenant_id')") == [(str(tenant_b.pk),)]
            assert not Invoice.objects.exists()


# ------------------------------------------------------------------ claims

UNBILLED_ITEM = {
    "contracts.TimeEntry": lambda tenant: TimeEntryFactory(
        tenant=tenant, state=TimeEntryState.POSTED, billable=True
    ),
    "contracts.PeriodCharge": lambda tenant: PeriodChargeFactory(tenant=tenant),
    "contracts.BlockPurchase": lambda tenant: BlockPurchaseFactory(tenant=tenant),
    "support_sessions.RemoteSession": lambda tenant: RemoteSessionFactory(tenant=tenant),
}


def test_every_billable_kind_has_a_claim_test():
    assert set(UNBILLED_ITEM) == {kind.label for kind in billable_kinds()}


@pytest.mark.parametrize("label", sorted(UNBILLED_ITEM))
def test_a_claim_takes_nothing_of_another_tenant(label, tenant_a, wrong_tenant, right_tenant):
    with tenant_context(tenant_a):
        item = UNBILLED_ITEM[label](tenant_a)
        line = InvoiceLineFactory(tenant=tenant_a, invoice=InvoiceFactory(tenant=tenant_a))
    model = type(item)
    claim = {item.pk: {"invoice_line_id": line.pk}}

    with wrong_tenant():
        assert claim_items(model, claim) == 0
    assert model.all_tenants.get(pk=item.pk).invoice_line_id is None

    with right_tenant():
        assert claim_items(model, claim) == 1
    assert model.all_tenants.get(pk=item.pk).invoice_line_id == line.pk


# ------------------------------------------------------------------ set-wise inserts


def line_row(tenant, invoice, position=1):
    return {
        "tenant_id": tenant.pk,
        "invoice_id": invoice.pk,
        "position": position,
        "description": "Support, February",
        "quantity": Decimal("1.5000"),
        "unit_price": Decimal("100.0000"),
        "amount": Decimal("150.000"),
    }


def test_a_set_wise_insert_writes_nothing_for_another_tenant(tenant_a, wrong_tenant, right_tenant):
    with tenant_context(tenant_a):
        draft = InvoiceFactory(tenant=tenant_a, draft=True)
    invoice_row = {"tenant_id": tenant_a.pk, "currency": "EUR", "notes": "Planted"}

    with wrong_tenant():
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            insert_rows(InvoiceLine, [line_row(tenant_a, draft)])
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            insert_instances(Invoice, [invoice_row])
    assert not InvoiceLine.all_tenants.filter(invoice_id=draft.pk).exists()
    assert not Invoice.all_tenants.filter(notes="Planted").exists()

    with right_tenant():
        (line_id,) = insert_rows(InvoiceLine, [line_row(tenant_a, draft)])
        (made,) = insert_instances(Invoice, [invoice_row])
    assert InvoiceLine.all_tenants.get(pk=line_id).invoice_id == draft.pk
    assert Invoice.all_tenants.get(pk=made.pk).tenant_id == tenant_a.pk


def test_a_set_wise_insert_cannot_point_at_another_tenants_row(
    tenant_a,
    tenant_b,
    as_app_role,  # noqa: F811
):
    """A row of B's own, written while B is set, still cannot hang off A's invoice."""
    with tenant_context(tenant_a):
        theirs = InvoiceFactory(tenant=tenant_a, draft=True)
    set_constraints_now()
    with (
        as_app_role(),
        tenant_context(tenant_b),
        pytest.raises(DatabaseError, match="tenant wall"),
        transaction.atomic(),
    ):
        insert_rows(InvoiceLine, [line_row(tenant_b, theirs)])
    assert not InvoiceLine.all_tenants.filter(invoice_id=theirs.pk).exists()


# ------------------------------------------------------------------ finalisation


def counters(tenant) -> dict[str, int]:
    return dict(TenantSequence.all_tenants.filter(tenant=tenant).values_list("key", "last_value"))


def test_finalisation_finalises_and_numbers_nothing_of_another_tenant(
    tenant_a, wrong_tenant, right_tenant
):
    with tenant_context(tenant_a):
        draft = InvoiceFactory(tenant=tenant_a, draft=True)
        InvoiceLineFactory(tenant=tenant_a, invoice=draft)
    numbers_before = counters(tenant_a)
    # The finalisation's own statement, given the values it would write.
    planned = Invoice.all_tenants.get(pk=draft.pk)
    planned.number, planned.issue_date, planned.due_date = "PLANTED-1", AS_OF, AS_OF
    planned.subtotal = planned.total = Decimal("100.000")
    planned.tax_total = Decimal("0.000")

    with wrong_tenant():
        with pytest.raises(ValidationError, match="Invoice not found"), transaction.atomic():
            invoices_finalize(invoices=[draft])
        with pytest.raises(ValidationError, match="finalised meanwhile"), transaction.atomic():
            _write_finals([planned], timezone.now())
    stored = Invoice.all_tenants.get(pk=draft.pk)
    assert (stored.status, stored.number, stored.finalized_at) == (InvoiceStatus.DRAFT, None, None)
    assert counters(tenant_a) == numbers_before

    with right_tenant():
        (final,) = invoices_finalize(invoices=[draft])
    stored = Invoice.all_tenants.get(pk=draft.pk)
    assert stored.status == InvoiceStatus.FINAL
    assert stored.number == final.number and final.number.endswith("-00001")
    assert sum(counters(tenant_a).values()) == sum(numbers_before.values()) + 1


# ------------------------------------------------------------------ pricing accelerator


def test_the_pricing_accelerator_sums_nothing_of_another_tenant(
    tenant_a, wrong_tenant, right_tenant
):
    from contracts.pricing.database import summarize_unbilled_time
    from contracts.pricing.rates import load_rate_book

    with tenant_context(tenant_a):
        contract = ContractFactory(tenant=tenant_a, customer=OrganizationFactory(tenant=tenant_a))
        TimeEntryFactory(
            tenant=tenant_a,
            ticket=TicketFactory(tenant=tenant_a, contract=contract),
            contract=contract,
            technician=technician(tenant_a, "t"),
            worked_seconds=5400,
            billable=True,
            state=TimeEntryState.POSTED,
        )
        book = load_rate_book()
    as_of = dt.date(2030, 1, 1)

    with wrong_tenant():
        wrong = summarize_unbilled_time({contract.pk: contract}, as_of, book)
    with right_tenant():
        right = summarize_unbilled_time({contract.pk: contract}, as_of, book)
    assert right[contract.pk].count == 1 and right[contract.pk].any_due
    assert sum(group.worked for group in right[contract.pk].due_groups.values()) == 5400
    # The statement had A's contract to price, and found none of its entries.
    assert set(wrong) == {contract.pk}
    summary = wrong[contract.pk]
    assert (summary.count, summary.amount, summary.due_groups) == (0, 0, {})


# ------------------------------------------------------------------ batch operations


def test_a_batch_runs_and_generates_nothing_of_another_tenant(tenant_a, wrong_tenant, right_tenant):
    """The operations the set-wise statements serve, end to end."""
    with tenant_context(tenant_a):
        build_world(tenant_a)
        batch = batch_services.batch_create(name="March 2026", as_of=AS_OF)
    unbilled = TimeEntry.all_tenants.filter(tenant=tenant_a, invoice_line__isnull=True).count()

    with (
        wrong_tenant(),
        pytest.raises(ValidationError, match="already been run"),
        transaction.atomic(),
    ):
        batch_services.batch_run(batch=batch)
    assert InvoiceBatch.all_tenants.get(pk=batch.pk).status == BatchStatus.DRAFT
    assert not Invoice.all_tenants.filter(tenant=tenant_a).exists()
    assert not BatchInvoice.all_tenants.exists()
    assert (
        TimeEntry.all_tenants.filter(tenant=tenant_a, invoice_line__isnull=True).count() == unbilled
    )

    with right_tenant():
        drafts = batch_services.batch_run(batch=InvoiceBatch.objects.get(pk=batch.pk))
    assert len(drafts) == BatchInvoice.all_tenants.filter(batch=batch).count() == 5
    assert TimeEntry.all_tenants.filter(tenant=tenant_a, invoice_line__isnull=True).count() < (
        unbilled
    )

    # Refused: for the wrong tenant the batch is not there to generate.
    with (
        wrong_tenant(),
        pytest.raises((ValidationError, InvoiceBatch.DoesNotExist)),
        transaction.atomic(),
    ):
        batch_services.batch_generate(batch=batch)
    assert set(Invoice.all_tenants.filter(tenant=tenant_a).values_list("status", flat=True)) == {
        InvoiceStatus.DRAFT
    }

    with right_tenant():
        finals = batch_services.batch_generate(batch=InvoiceBatch.objects.get(pk=batch.pk))
    assert len(finals) == 5
    assert set(Invoice.all_tenants.filter(tenant=tenant_a).values_list("status", flat=True)) == {
        InvoiceStatus.FINAL
    }


# ------------------------------------------------------------------ sums in the ORM
# Receivables, reports and the session bulk import write no SQL of their own; their
# aggregates and bulk writes are the ORM's, behind the same wall.


def test_receivables_and_revenue_sum_nothing_of_another_tenant(
    tenant_a, wrong_tenant, right_tenant
):
    from invoices.receivables.selectors import receivables_aging
    from reports.selectors import revenue_by_month

    with tenant_context(tenant_a):
        InvoiceFactory(tenant=tenant_a, total=Decimal("123.450"), subtotal=Decimal("123.450"))
    today, months = dt.date(2026, 6, 1), {"date_from": AS_OF, "date_to": dt.date(2026, 3, 31)}

    with wrong_tenant():
        aging = receivables_aging(today=today)
        revenue = revenue_by_month(**months)
    assert (aging.rows, aging.totals) == ([], {})
    assert sum(row.invoices for row in revenue.totals) == 0

    with right_tenant():
        aging = receivables_aging(today=today)
        revenue = revenue_by_month(**months)
    assert [(row.currency, row.total, row.count) for row in aging.rows] == [
        ("EUR", Decimal("123.45"), 1)
    ]
    assert [(row.currency, row.invoices, row.invoiced_gross) for row in revenue.totals] == [
        ("EUR", 1, Decimal("123.45"))
    ]


def test_the_session_bulk_import_writes_nothing_for_another_tenant(
    tenant_a, staff_a, wrong_tenant, right_tenant
):
    from benchmarks.management.commands.bench_import import generate_csv, host_names
    from billing_site.roles import Role
    from billing_site.tenancy import get_current_tenant
    from sessions import bulk_import
    from sessions.models import ImportStatus, RemoteSession, SessionImport

    tech = staff_a.user(Role.TECHNICIAN)
    with tenant_context(tenant_a):
        staged = SessionImport.objects.create(
            tenant=tenant_a,
            uploaded_by=tech,
            filename="big.csv",
            content=generate_csv(40, technician=tech.username),
            time_zone="UTC",
            create_hosts=host_names(),
        )

    # The task is handed the tenant it runs for: refused, A's file is not there.
    with wrong_tenant(), pytest.raises(SessionImport.DoesNotExist):
        bulk_import.run(tenant=get_current_tenant(), import_id=staged.pk, actor_id=tech.pk)
    assert SessionImport.all_tenants.get(pk=staged.pk).status == ImportStatus.PENDING
    assert not RemoteSession.all_tenants.exists()

    with right_tenant():
        progress = bulk_import.run(tenant=tenant_a, import_id=staged.pk, actor_id=tech.pk)
    assert progress.state == bulk_import.DONE, progress.message
    assert RemoteSession.all_tenants.filter(tenant=tenant_a).count() == 40


# ------------------------------------------------------------------ executemany, server-side cursors


def executemany_notes(invoice, notes: str) -> int:
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE invoices_invoice SET notes = %s WHERE id = %s", [(notes, invoice.pk)]
        )
        return cursor.rowcount


def streamed_ids(model) -> list[int]:
    """Read through a server-side cursor, as ``.iterator()`` does on PostgreSQL."""
    return [obj.pk for obj in model.all_tenants.order_by("pk").iterator(chunk_size=10)]


def test_statements_sent_apart_from_their_setting_see_only_the_tenant(
    tenant_a,
    tenant_b,
    as_app_role,  # noqa: F811
):
    with tenant_context(tenant_a):
        invoice = InvoiceFactory(tenant=tenant_a)
    with as_app_role(), tenant_context(tenant_b):
        assert executemany_notes(invoice, "changed") == 0
        assert streamed_ids(Invoice) == []
    assert Invoice.all_tenants.get(pk=invoice.pk).notes != "changed"
    with as_app_role(), tenant_context(tenant_a):
        assert streamed_ids(Invoice) == [invoice.pk]
        assert executemany_notes(invoice, "changed") == 1
    assert Invoice.all_tenants.get(pk=invoice.pk).notes == "changed"


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_too(tenant_a, tenant_b, as_app_role):  # noqa: F811
    """In autocommit (the application's default) each statement is its own transaction,
    so the setting must travel in the same one as the statement."""
    with tenant_context(tenant_a):
        invoice = InvoiceFactory(tenant=tenant_a)
    assert connection.get_autocommit()
    with as_app_role(), tenant_context(tenant_b):
        assert executemany_notes(invoice, "changed") == 0
        assert streamed_ids(Invoice) == []
    with as_app_role(), tenant_context(tenant_a):
        assert streamed_ids(Invoice) == [invoice.pk]
        assert executemany_notes(invoice, "changed") == 1
    assert Invoice.all_tenants.get(pk=invoice.pk).notes == "changed"
    # Nothing of the explicit transaction is left open.
    assert connection.connection.get_transaction_status() == 0  # psycopg2: idle
