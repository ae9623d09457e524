"""Batch engine rules: selection, details, run, delete, consolidate, generate, billed once."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection

from billing_site.billables import claim_items
from billing_site.tenancy import tenant_context
from contracts.choices import BillingState
from contracts.models import PeriodCharge, TimeEntry
from invoices.batches import selectors as batch_selectors
from invoices.batches import services as batch_services
from invoices.batches.models import BatchInvoice, BatchStatus, InvoiceBatch
from invoices.models import Invoice, InvoiceStatus

from .batch_factories import AS_OF, build_world

D = Decimal


@pytest.fixture
def world(tenant_a):
    return build_world(tenant_a)


@pytest.fixture
def world_b(tenant_b):
    return build_world(tenant_b)


def new_batch(name="March 2026", as_of=AS_OF):
    return batch_services.batch_create(name=name, as_of=as_of)


def eur(preview):
    return next(c for c in preview.details.currencies if c.currency == "EUR")


def exclude(batch, contract, key=""):
    batch_services.batch_selection_set(batch=batch, contract=contract, include=False, item_key=key)


def test_preview_states_balances_and_details(in_tenant_a, world, world_b):
    batch = new_batch()
    preview = batch_selectors.batch_preview(batch)
    rows = {row.contract.name: row for row in preview.rows}
    assert set(rows) == {
        "ACME support",
        "Bistro retainer",
        "Dupont via Helios",
        "Studio Verde managed",
        "Helios US desk",
        "Harbor support",
    }  # tenant B's look-alike contracts are not there
    assert rows["ACME support"].state == BillingState.PARTIAL
    assert rows["ACME support"].total_balance == D("400.00")
    assert rows["ACME support"].selected_balance == D("200.00")
    assert rows["Harbor support"].state == BillingState.LOCKED
    assert rows["Harbor support"].selected_balance == D("0.00")
    assert rows["Bistro retainer"].state == BillingState.SELECTABLE
    assert rows["Bistro retainer"].selected_balance == D("1180.00")  # Feb + Mar fee + overage
    assert rows["Studio Verde managed"].selected_balance == D("90.00")
    details = preview.details
    assert details.invoices_to_create == 5
    assert details.unbilled_tickets == 5
    assert details.worked_seconds == int(D("12.5") * 3600)  # non-billable is not billed
    assert eur(preview).billable == D("1770.00")
    assert eur(preview).tax_rows == {D("10"): D("118.00"), D("20"): D("40.00")}
    assert eur(preview).tax == D("158.00")
    assert eur(preview).total == D("1928.00")
    usd = next(c for c in details.currencies if c.currency == "USD")
    assert (usd.billable, usd.tax, usd.total) == (D("80.00"), D("0.00"), D("80.00"))


def test_selection_changes_the_details(in_tenant_a, world):
    batch = new_batch()
    exclude(batch, world.bistro, "retainer_fee:2026-03-01")
    exclude(batch, world.dupont)
    exclude(batch, world.acme, f"time:{world.entries['acme2'].pk}")
    preview = batch_selectors.batch_preview(batch)
    assert preview.row(world.bistro.pk).selected_balance == D("680.00")
    assert preview.row(world.dupont.pk).selected_balance == D("0.00")
    assert preview.row(world.acme.pk).selected_balance == D("150.00")
    assert preview.details.invoices_to_create == 4
    assert eur(preview).billable == D("920.00")  # 150 + 680 + 90
    assert eur(preview).tax == D("98.00")  # 30.00 + 68.00
    batch_services.batch_selection_set(
        batch=batch, contract=world.acme, include=True, item_key=f"time:{world.entries['acme2'].pk}"
    )
    assert eur(batch_selectors.batch_preview(batch)).billable == D("970.00")


def test_waiting_items_cannot_be_included(in_tenant_a, world):
    batch = new_batch()
    with pytest.raises(ValidationError) as error:
        batch_services.batch_selection_set(
            batch=batch,
            contract=world.acme,
            include=True,
            item_key=f"time:{world.entries['acme_march'].pk}",
        )
    assert "not due" in str(error.value)


def test_retainer_period_is_680_before_tax(in_tenant_a, world):
    batch = new_batch()
    for contract in (world.acme, world.dupont, world.verde, world.contracts["helios_us"]):
        exclude(batch, contract)
    exclude(batch, world.bistro, "retainer_fee:2026-03-01")
    (invoice,) = batch_services.batch_run(batch=batch)
    invoice.refresh_from_db()
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        D("680.000"),
        D("68.000"),
        D("748.000"),
    )
    lines = list(invoice.lines.order_by("position"))
    assert [(ln.kind, ln.quantity, ln.unit_price, ln.amount) for ln in lines] == [
        ("fee", D("1.0000"), D("500.0000"), D("500.000")),
        ("overage", D("1.5000"), D("120.0000"), D("180.000")),
    ]
    assert lines[1].worked_seconds == lines[1].billed_seconds == int(6.5 * 3600)
    assert "5 h 00 min from included hours (no extra charge)" in lines[1].words.explanation
    assert lines[1].group_label == "Bistro retainer · #103 POS network"
    assert all(ln.taxable and ln.tax_rate == D("10.0000") for ln in lines)
    first, second = (TimeEntry.objects.get(pk=world.entries[k].pk) for k in ("bistro1", "bistro2"))
    assert (first.invoice_line_id, first.included_seconds) == (lines[1].pk, 4 * 3600)
    assert (second.included_seconds, second.billed_seconds) == (3600, 9000)
    assert TimeEntry.objects.get(pk=world.entries["bistro_free"].pk).invoice_line_id is None
    charge = PeriodCharge.objects.get(contract=world.bistro)
    assert (charge.period_start, charge.invoice_line_id, charge.amount) == (
        dt.date(2026, 2, 1),
        lines[0].pk,
        D("500.000"),
    )


def test_run_creates_one_draft_per_contract_in_its_currency(in_tenant_a, world):
    batch = new_batch()
    invoices = batch_services.batch_run(batch=batch)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.RUN
    by_contract = {inv.lines.first().group_label.split(" · ")[0]: inv for inv in invoices}
    assert len(invoices) == 5
    acme = Invoice.objects.get(pk=by_contract["ACME support"].pk)
    assert (acme.status, acme.number, acme.currency) == (InvoiceStatus.DRAFT, None, "EUR")
    assert (acme.subtotal, acme.tax_total, acme.total) == (D("200.000"), D("40.000"), D("240.000"))
    assert [(ln.group_label, ln.quantity, ln.amount) for ln in acme.lines.order_by("position")] == [
        ("ACME support · #101 Printer offline", D("1.5000"), D("150.000")),
        ("ACME support · #102 VPN setup", D("0.5000"), D("50.000")),
    ]
    dupont = Invoice.objects.get(pk=by_contract["Dupont via Helios"].pk)
    assert dupont.bill_to_name == "Helios IT Partners"
    assert (dupont.subtotal, dupont.tax_total) == (D("300.000"), D("0.000"))
    us = Invoice.objects.get(pk=by_contract["Helios US desk"].pk)
    assert (us.currency, us.total) == ("USD", D("80.000"))
    verde = Invoice.objects.get(pk=by_contract["Studio Verde managed"].pk).lines.get()
    assert (verde.sku, verde.quantity, verde.amount) == ("MSP-DEV", D("2.0000"), D("90.000"))
    # Billed once: nothing is due any more; the March ACME entry still waits.
    after = batch_selectors.batch_preview(new_batch("Again"))
    assert after.details.invoices_to_create == 0
    assert TimeEntry.objects.get(pk=world.entries["acme_march"].pk).invoice_line_id is None


def test_rerun_and_double_generate_create_nothing_new(in_tenant_a, world):
    batch = new_batch()
    batch_services.batch_run(batch=batch)
    count = Invoice.objects.count()
    with pytest.raises(ValidationError, match="already been run"):
        batch_services.batch_run(batch=batch)
    batch_services.batch_generate(batch=batch)
    with pytest.raises(ValidationError, match="already generated"):
        batch_services.batch_generate(batch=batch)
    assert Invoice.objects.count() == count
    assert not Invoice.objects.filter(status=InvoiceStatus.DRAFT).exists()
    # A second batch over the same dates finds nothing left to bill.
    with pytest.raises(ValidationError, match="Nothing is selected"):
        batch_services.batch_run(batch=new_batch("Second"))


def test_deleting_a_draft_releases_its_items(in_tenant_a, world):
    batch = new_batch()
    invoices = batch_services.batch_run(batch=batch)
    bistro = next(i for i in invoices if i.lines.filter(kind="fee").exists())
    released = batch_services.batch_invoice_delete(batch=batch, invoice=bistro)
    assert released == 4  # two time entries, two fees
    assert not Invoice.objects.filter(pk=bistro.pk).exists()
    entry = TimeEntry.objects.get(pk=world.entries["bistro2"].pk)
    assert (entry.invoice_line_id, entry.billed_seconds, entry.included_seconds) == (
        None,
        None,
        None,
    )
    assert not PeriodCharge.objects.filter(
        invoice_line__isnull=False, contract=world.bistro
    ).exists()
    preview = batch_selectors.batch_preview(new_batch("Leftovers"))
    assert preview.row(world.bistro.pk).selected_balance == D("1180.00")
    assert BatchInvoice.objects.filter(batch=batch).count() == 4
    # The released fee rows are reused, never duplicated.
    batch_services.batch_run(batch=InvoiceBatch.objects.get(name="Leftovers"))
    assert PeriodCharge.objects.filter(contract=world.bistro).count() == 2


def test_consolidated_gives_one_invoice_per_billing_org_and_currency(in_tenant_a, world):
    batch = new_batch()
    batch_services.batch_run(batch=batch)
    invoices = batch_services.batch_generate(batch=batch, consolidate=True)
    assert len(invoices) == 4
    helios = [i for i in invoices if i.bill_to_name == "Helios IT Partners"]
    assert sorted((i.currency, i.total) for i in helios) == [
        ("EUR", D("390.000")),
        ("USD", D("80.000")),
    ]
    eur_invoice = next(i for i in helios if i.currency == "EUR")
    labels = [ln.group_label for ln in eur_invoice.lines.order_by("position")]
    assert labels == ["Dupont via Helios · #104 Mail migration", "Studio Verde managed"]
    assert BatchInvoice.objects.filter(batch=batch).count() == 4


def test_generate_numbers_gapless_in_stable_order(in_tenant_a, world):
    batch = new_batch()
    batch_services.batch_run(batch=batch)
    invoices = batch_services.batch_generate(batch=batch)
    assert [i.bill_to_name for i in invoices] == sorted(i.bill_to_name for i in invoices)
    numbers = [i.number for i in invoices]
    assert numbers == [f"INV-2026-{n:05d}" for n in range(1, 6)]
    assert all(i.status == InvoiceStatus.FINAL for i in invoices)


def test_tax_only_on_taxable_contracts_per_rate(in_tenant_a, world):
    batch = new_batch()
    batch_services.batch_run(batch=batch)
    invoices = {i.bill_to_name + i.currency: i for i in batch_selectors.batch_invoices(batch)}
    assert invoices["ACMEEUR"].tax_total == D("40.000")
    assert invoices["Bistro LumièreEUR"].tax_total == D("118.000")  # 10 % of 1180.00
    assert invoices["Helios IT PartnersUSD"].tax_total == D("0.000")


def test_claims_are_compare_and_set(in_tenant_a, world):
    """The run's claim only takes rows still unbilled, so a stale plan claims fewer rows
    than planned and the run refuses as a whole (the race test shows it across threads)."""
    batch = new_batch()
    exclude(batch, world.bistro)
    (acme, *_rest) = batch_services.batch_run(batch=batch)
    line = acme.lines.first()
    billed, waiting = world.entries["acme1"].pk, world.entries["acme_march"].pk
    billed_by = TimeEntry.objects.get(pk=billed).invoice_line_id
    assert billed_by is not None
    rows = {pk: {"invoice_line_id": line.pk} for pk in (billed, waiting)}
    assert claim_items(TimeEntry, rows) == 1  # acme1 is billed already
    assert TimeEntry.objects.get(pk=billed).invoice_line_id == billed_by  # untouched
    assert TimeEntry.objects.get(pk=waiting).invoice_line_id == line.pk


def test_query_count_does_not_grow_with_contracts(
    in_tenant_a, world, django_assert_max_num_queries
):
    batch = new_batch()
    with django_assert_max_num_queries(40) as small:
        batch_selectors.batch_preview(batch)
    for _ in range(3):
        build_world_more(in_tenant_a)
    with django_assert_max_num_queries(40) as large:
        preview = batch_selectors.batch_preview(batch)
    assert len(preview.rows) == 24
    assert len(large.captured_queries) == len(small.captured_queries)
    with django_assert_max_num_queries(60) as run:
        batch_services.batch_run(batch=batch)
    assert len(run.captured_queries) <= 60


def build_world_more(tenant):
    """Another set of the world's contracts under new customer names."""
    from billing_site.testing.factories import OrganizationFactory
    from tests.contracts.factories import ContractFactory, TicketFactory

    from .batch_factories import posted

    org = OrganizationFactory(tenant=tenant, currency="EUR")
    for index in range(6):
        contract = ContractFactory(
            tenant=tenant, customer=org, start_date=dt.date(2026, 1, 1), name=f"Extra {index}"
        )
        ticket = TicketFactory(tenant=tenant, organization=org, contract=contract)
        posted(ticket, dt.date(2026, 2, 5), "1")


def test_tenant_b_sees_nothing(in_tenant_a, world, world_b, tenant_b):
    batch = new_batch()
    batch_services.batch_run(batch=batch)
    with tenant_context(tenant_b):
        assert not InvoiceBatch.objects.exists()
        assert not BatchInvoice.objects.exists()
        preview = batch_selectors.batch_preview(new_batch("B"))
        assert preview.details.invoices_to_create == 5  # B's own world, untouched by A's run


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_racing_bill_each_item_once(tenant_a):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks and two connections")
    with tenant_context(tenant_a):
        world = build_world(tenant_a)
        first, second = new_batch("One"), new_batch("Two")
    barrier = threading.Barrier(2)
    results = []

    def run(batch):
        try:
            with tenant_context(tenant_a):
                barrier.wait()
                results.append(len(batch_services.batch_run(batch=batch)))
        except ValidationError as exc:
            results.append(str(exc))
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(b,)) for b in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with tenant_context(tenant_a):
        billed = TimeEntry.objects.filter(invoice_line__isnull=False)
        assert billed.count() == 6  # every due billable entry, once
        assert billed.values("id").distinct().count() == 6
        assert PeriodCharge.objects.filter(invoice_line__isnull=False).count() == 3
        assert Invoice.objects.count() == 5  # one winner's drafts; the loser wrote nothing
        assert sorted(map(str, results)).count("5") == 1
        assert world.acme.pk


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_generation_numbers_unique_and_gapless(tenant_a):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks and two connections")
    with tenant_context(tenant_a):
        world = build_world(tenant_a)
        first = new_batch("One")
        for contract in (world.acme, world.bistro):
            exclude(first, contract)
        second = new_batch("Two")
        for contract in (world.dupont, world.verde, world.contracts["helios_us"]):
            exclude(second, contract)
        batch_services.batch_run(batch=first)
        batch_services.batch_run(batch=second)
    barrier = threading.Barrier(2)
    errors = []

    def generate(batch):
        try:
            with tenant_context(tenant_a):
                barrier.wait()
                batch_services.batch_generate(batch=batch)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=generate, args=(b,)) for b in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with tenant_context(tenant_a):
        numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:05d}" for n in range(1, 6)]


def test_item_texts_are_read_once_for_every_contract(in_tenant_a, world, django_assert_num_queries):
    # Every contract's items, priced up front (as the API lists them).
    preview = batch_selectors.batch_preview(new_batch(), itemized=True)
    # The figures need no text: ticket labels and technician names are read with two
    # queries when the first item is shown, however many contracts are expanded.
    with django_assert_num_queries(2):
        items = [item_row.item for row in preview.rows for item_row in row.items]
    acme = [i for i in items if i.kind == "time" and i.contract_id == world.acme.pk]
    ticket = world.entries["acme1"].ticket
    technician = world.entries["acme1"].technician
    name = technician.get_full_name() or technician.username
    assert all(i.description.startswith("#") for i in acme)
    assert any(
        i.description.startswith(f"{ticket.reference} {ticket.title} · {name}, ") for i in acme
    )


def test_run_refuses_time_without_a_rate_and_writes_nothing(in_tenant_a, world):
    from tests.contracts.factories import ContractFactory, TicketFactory

    from .batch_factories import posted

    pounds = ContractFactory(
        tenant=in_tenant_a,
        customer=world.acme.customer,
        name="ACME UK desk",
        currency="GBP",
        start_date=dt.date(2026, 1, 1),
    )
    entry = posted(
        TicketFactory(tenant=in_tenant_a, organization=pounds.customer, contract=pounds),
        dt.date(2026, 2, 10),
        "2",
    )
    batch = new_batch()
    row = batch_selectors.batch_preview(batch).row(pounds.pk)
    assert row.problems and "add a rate rule in GBP" in row.problems[0]
    with pytest.raises(ValidationError) as error:
        batch_services.batch_run(batch=batch)
    assert "add a rate rule in GBP" in str(error.value)
    assert not Invoice.objects.exists()
    entry.refresh_from_db()
    assert entry.invoice_line_id is None
    assert InvoiceBatch.objects.get(pk=batch.pk).status == BatchStatus.DRAFT


def test_run_bills_exactly_what_the_preview_showed(in_tenant_a, world):
    batch = new_batch()
    exclude(batch, world.acme, f"time:{world.entries['acme2'].pk}")  # one contract item by item
    preview = batch_selectors.batch_preview(batch)
    planned = sorted(
        (line.description, line.quantity, line.amount, len(line.entries))
        for invoice in preview.invoices
        for line in invoice.lines
    )
    drafts = batch_services.batch_run(batch=batch)
    billed = sorted(
        (line.description, line.quantity, line.amount, line.time_entries.count())
        for invoice in drafts
        for line in invoice.lines.all()
    )
    assert billed == planned
    assert sum(c.total for c in preview.details.currencies) == sum(
        invoice.total for invoice in Invoice.objects.all()
    )


def test_a_lines_entries_come_in_a_stable_order(in_tenant_a, world):
    from .batch_factories import posted

    # A third February entry on the Bistro ticket, created last but worked first.
    early = posted(world.entries["bistro1"].ticket, dt.date(2026, 2, 1), "1")
    batch = new_batch()

    def bistro_time_line():
        row = batch_selectors.batch_preview(batch).row(world.bistro.pk)
        (line,) = [line for line in row.lines if line.kind == "overage"]
        return [p.entry_id for p in line.entries]

    # By period, then entry id — the same whether the contract's figures come from its
    # priced columns or, once an item is excluded, item by item.
    expected = [world.entries["bistro1"].pk, world.entries["bistro2"].pk, early.pk]
    assert bistro_time_line() == expected
    exclude(batch, world.bistro, "retainer_fee:2026-03-01")
    assert bistro_time_line() == expected
