"""Each report's figures on the built world, to the cent and the second (conftest.World)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from contracts.selectors import contract_billing_state
from reports import selectors
from tests.contracts.factories import ContractFactory, TicketFactory, technician
from tests.invoices.factories import InvoiceFactory, InvoiceLineFactory

from .conftest import TODAY, entry

pytestmark = pytest.mark.django_db
D = Decimal
SPRING = {"date_from": dt.date(2026, 2, 1), "date_to": dt.date(2026, 5, 31)}


def figures(row) -> tuple:
    return (row.worked_seconds, row.billable_seconds, row.non_billable_seconds, row.billed_seconds)


# --------------------------------------------------------------------- team work


def test_team_work_per_month_and_technician(in_a):
    report = selectors.team_work(**SPRING)
    rows = {(row.month.month, row.name): figures(row) for row in report.technicians}
    assert rows == {
        # February: billed by the batch (rounded time as frozen on the entries).
        (2, "Theo Martin"): (5400, 5400, 0, 5400),
        (2, "Tara Dubois"): (28800, 25200, 3600, 25200),
        (2, "Una Leroy"): (7200, 7200, 0, 3600),  # 1 h on ACME posted after the batch
        (3, "Theo Martin"): (1800, 1800, 0, 0),
        (4, "Tara Dubois"): (3900, 3900, 0, 0),
        (4, "Una Leroy"): (7200, 7200, 0, 0),
        # Theo's submitted hour is worked time too.
        (5, "Theo Martin"): (4320, 4320, 0, 0),
        (5, "Tara Dubois"): (23400, 21600, 1800, 0),
        (5, "Una Leroy"): (3600, 3600, 0, 0),
    }
    assert figures(report.total) == (85620, 80220, 5400, 34200)
    assert [(row.name, figures(row)) for row in report.by_technician] == [
        ("Tara Dubois", (56100, 50700, 5400, 25200)),
        ("Theo Martin", (11520, 11520, 0, 5400)),
        ("Una Leroy", (18000, 18000, 0, 3600)),
    ]


def test_team_work_per_team(in_a):
    report = selectors.team_work(**SPRING)
    rows = [(row.month.month, row.name, figures(row)) for row in report.teams]
    assert rows == [
        (2, "Desk", (34200, 30600, 3600, 30600)),
        (2, "Field", (28800, 25200, 3600, 25200)),
        (2, "No team", (7200, 7200, 0, 3600)),
        (3, "Desk", (1800, 1800, 0, 0)),
        (4, "Desk", (3900, 3900, 0, 0)),
        (4, "Field", (3900, 3900, 0, 0)),
        (4, "No team", (7200, 7200, 0, 0)),
        (5, "Desk", (27720, 25920, 1800, 0)),
        (5, "Field", (23400, 21600, 1800, 0)),
        (5, "No team", (3600, 3600, 0, 0)),
    ]


def test_team_work_filters(in_a):
    field = selectors.team_work(**SPRING, team_id=in_a.teams["field"].pk)
    assert {row.name for row in field.technicians} == {"Tara Dubois"}
    assert {row.name for row in field.teams} == {"Field"}
    theo = selectors.team_work(**SPRING, technician_id=in_a.techs["theo"].pk)
    assert figures(theo.total) == (11520, 11520, 0, 5400)
    april = selectors.team_work(date_from=dt.date(2026, 4, 1), date_to=dt.date(2026, 4, 30))
    assert figures(april.total) == (11100, 11100, 0, 0)


def test_time_on_a_draft_invoice_is_not_billed(in_a):
    """Billed means on an issued invoice: a draft's line claims the entry (it leaves the
    unbilled work) but bills nothing yet."""
    draft_line = InvoiceLineFactory(
        tenant=in_a.tenant, invoice=InvoiceFactory(tenant=in_a.tenant, draft=True)
    )
    claimed = in_a.contracts["acme"].time_entries.get(work_date=dt.date(2026, 3, 15))
    claimed.invoice_line, claimed.billed_seconds = draft_line, 1800
    claimed.save()
    march = selectors.team_work(date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31))
    assert figures(march.total) == (1800, 1800, 0, 0)
    acme = next(r for r in selectors.unbilled_work().customers if r.customer == "ACME")
    assert [b.amount for b in acme.buckets] == [D("25.00"), D("125.00"), D("0.00"), D("100.00")]


# ------------------------------------------------------------------ unbilled work


def amounts(row) -> list[Decimal]:
    return [bucket.amount for bucket in row.buckets]


def test_unbilled_work_by_age_and_customer(in_a):
    report = selectors.unbilled_work()
    assert report.today == TODAY
    rows = {(row.customer, row.currency): row for row in report.customers}
    assert list(rows) == [
        ("ACME", "EUR"),
        ("Bistro Lumière", "EUR"),
        ("Helios IT Partners", "USD"),
        ("Thames Ltd", "GBP"),
    ]
    # ACME rounds to 15 minutes at the tenant's 100.00/h: 12 min -> 0.25 h (2 days old),
    # 65 min -> 1.25 h (40 days), 0.5 h (66 days), 1 h (94 days).
    acme = rows[("ACME", "EUR")]
    assert amounts(acme) == [D("25.00"), D("125.00"), D("50.00"), D("100.00")]
    assert [b.entries for b in acme.buckets] == [1, 1, 1, 1]
    assert (acme.total.entries, acme.total.worked_seconds, acme.total.amount) == (
        4,
        10020,
        D("300.00"),
    )
    # The retainer's 6 h in May: 5 h included (billed by the fee), 1 h at 120.00.
    assert amounts(rows[("Bistro Lumière", "EUR")]) == [D("120.00"), D("0"), D("0"), D("0")]
    assert amounts(rows[("Helios IT Partners", "USD")]) == [D("0"), D("160.00"), D("0"), D("0")]
    thames = rows[("Thames Ltd", "GBP")]
    assert (thames.total.amount, thames.total.entries, thames.unpriced_entries) == (D("0"), 1, 1)


def test_unbilled_work_per_currency_is_never_mixed(in_a):
    totals = {row.currency: row for row in selectors.unbilled_work().currencies}
    assert list(totals) == ["EUR", "GBP", "USD"]
    assert amounts(totals["EUR"]) == [D("145.00"), D("125.00"), D("50.00"), D("100.00")]
    assert totals["EUR"].total.amount == D("420.00")
    assert totals["EUR"].total.entries == 5
    assert totals["USD"].total.amount == D("160.00")
    assert totals["GBP"].unpriced_entries == 1
    assert [str(row.total.amount) for row in selectors.unbilled_work_summary()] == [
        "420.00",
        "0.00",
        "160.00",
    ]


def test_unbilled_work_filters(in_a):
    only_usd = selectors.unbilled_work(currency="USD")
    assert [row.customer for row in only_usd.customers] == ["Helios IT Partners"]
    bistro = selectors.unbilled_work(customer_id=in_a.customers["Bistro Lumière"].pk)
    assert [row.total.amount for row in bistro.currencies] == [D("120.00")]


def test_ages_follow_the_tenants_calendar(in_a, traveller):
    # 22:30 UTC on 19 May is already 20 May in Paris, the day ages count from.
    traveller.move_to(dt.datetime(2026, 5, 19, 22, 30, tzinfo=dt.UTC))
    report = selectors.unbilled_work()
    assert report.today == TODAY
    assert [b.entries for b in report.customers[0].buckets] == [1, 1, 1, 1]
    # On 15 June ACME's entries are 28, 66, 92 and 120 days old.
    traveller.move_to(dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC))
    acme = selectors.unbilled_work().customers[0]
    assert acme.customer == "ACME"
    assert [b.entries for b in acme.buckets] == [1, 0, 1, 2]
    assert amounts(acme) == [D("25.00"), D("0.00"), D("125.00"), D("150.00")]


def test_an_unbilled_line_is_rounded_once_as_the_batch_bills_it(tenant_a, traveller):
    """Two 20-minute entries of one ticket are one invoice line: 0.6667 h × 100.00 =
    66.67 (not 2 × 33.33). The older bucket holds what the older entry bills alone
    (33.33); the newer one what adding the other brings (33.34): together 66.67, the
    batch's own figure for the contract."""
    with tenant_context(tenant_a):
        customer = OrganizationFactory(tenant=tenant_a, name="Odd Minutes", currency="EUR")
        contract = ContractFactory(
            tenant=tenant_a, customer=customer, start_date=dt.date(2026, 1, 1)
        )
        ticket = TicketFactory(tenant=tenant_a, organization=customer, contract=contract)
        tech = technician(tenant_a)
        entry(ticket, tech, dt.date(2026, 3, 10), 1200)  # 71 days
        entry(ticket, tech, dt.date(2026, 4, 25), 1200)  # 25 days
        row = selectors.unbilled_work().customers[0]
        assert amounts(row) == [D("33.34"), D("0.00"), D("33.33"), D("0.00")]
        assert row.total.amount == D("66.67")
        batch = contract_billing_state([contract], dt.date(2026, 6, 1))[contract.pk]
        assert batch.due_amount == row.total.amount


# ------------------------------------------------------------------------ revenue


def money(row) -> tuple:
    return (row.invoiced_net, row.credited_net, row.net, row.tax, row.gross)


def test_revenue_per_month_and_currency(in_a):
    report = selectors.revenue_by_month(date_from=dt.date(2026, 1, 1), date_to=TODAY)
    assert [m.month for m in report.months] == [1, 2, 3, 4, 5]
    eur = {row.month.month: row for row in report.rows_of("EUR")}
    # March: the batch's three EUR invoices (240.00 + 1,848.00 + 270.00).
    assert (eur[3].invoices, eur[3].credit_notes) == (3, 0)
    assert money(eur[3]) == (D("2150.00"), D("0.00"), D("2150.00"), D("208.00"), D("2358.00"))
    # April: the ACME credit note (200.00 + 40.00 tax) takes revenue below zero.
    assert (eur[4].invoices, eur[4].credit_notes) == (0, 1)
    assert money(eur[4]) == (D("0.00"), D("200.00"), D("-200.00"), D("-40.00"), D("-240.00"))
    # May: a draft and a void invoice, which count nothing.
    assert money(eur[5]) == (D("0.00"),) * 5
    assert money(eur[1]) == money(eur[2]) == (D("0.00"),) * 5
    usd = {row.month.month: row for row in report.rows_of("USD")}
    assert money(usd[3]) == (D("80.00"), D("0.00"), D("80.00"), D("0.00"), D("80.00"))
    totals = {row.currency: row for row in report.totals}
    assert list(totals) == ["EUR", "USD"]
    assert money(totals["EUR"]) == (
        D("2150.00"),
        D("200.00"),
        D("1950.00"),
        D("168.00"),
        D("2118.00"),
    )
    assert (totals["EUR"].invoices, totals["EUR"].credit_notes) == (3, 1)


def test_revenue_filters(in_a):
    march = selectors.revenue_by_month(
        date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31), currency="USD"
    )
    assert [(row.currency, row.net) for row in march.rows] == [("USD", D("80.00"))]
    quiet = selectors.revenue_by_month(date_from=dt.date(2025, 1, 1), date_to=dt.date(2025, 2, 28))
    # Nothing issued: the tenant's currency at zero for each month.
    assert [(row.month, row.currency, row.gross) for row in quiet.rows] == [
        (dt.date(2025, 1, 1), "EUR", D("0.00")),
        (dt.date(2025, 2, 1), "EUR", D("0.00")),
    ]


def test_a_credit_note_stored_negative_counts_at_face_value(in_a):
    InvoiceFactory(
        tenant=in_a.tenant,
        kind="credit_note",
        credit_disposition="write_off",
        number="CN-OLD-1",
        issue_date=dt.date(2026, 5, 2),
        subtotal=D("-50.000"),
        total=D("-60.000"),
    )
    may = selectors.revenue_by_month(date_from=dt.date(2026, 5, 1), date_to=TODAY).rows_of("EUR")
    assert money(may[0]) == (D("0.00"), D("50.00"), D("-50.00"), D("-10.00"), D("-60.00"))


# --------------------------------------------------------------- expected revenue


def expected(row) -> tuple:
    return (row.retainer_fees, row.recurring, row.unbilled_work, row.total)


def test_expected_revenue_of_open_contracts(in_a):
    """Bistro's fee (500.00) and Verde's products (2 × 45.00) are billed to March: April's
    fees are due and unbilled (now), then May, June, July; the suspended retainer accrues
    nothing. Now also holds the unbilled work (420.00 EUR, 160.00 USD)."""
    report = selectors.expected_revenue()
    assert report.months == [dt.date(2026, 5, 1), dt.date(2026, 6, 1), dt.date(2026, 7, 1)]
    assert report.currencies == ["EUR", "GBP", "USD"]
    eur = report.rows_of("EUR")
    assert [row.label for row in eur] == ["Unbilled now", "May 2026", "Jun 2026", "Jul 2026"]
    assert [expected(row) for row in eur] == [
        (D("500.00"), D("90.00"), D("420.00"), D("1010.00")),
        (D("500.00"), D("90.00"), D("0.00"), D("590.00")),
        (D("500.00"), D("90.00"), D("0.00"), D("590.00")),
        (D("500.00"), D("90.00"), D("0.00"), D("590.00")),
    ]
    totals = {row.currency: row for row in report.totals}
    assert expected(totals["EUR"]) == (D("2000.00"), D("360.00"), D("420.00"), D("2780.00"))
    assert expected(totals["USD"]) == (D("0.00"), D("0.00"), D("160.00"), D("160.00"))
    assert report.unpriced_items == 0
    assert report.contracts == 2  # Bistro and Verde (the suspended one is not open)


def test_expected_revenue_horizon_and_filters(in_a):
    one = selectors.expected_revenue(months=1, currency="EUR")
    assert [expected(row) for row in one.rows] == [
        (D("500.00"), D("90.00"), D("420.00"), D("1010.00")),
        (D("500.00"), D("90.00"), D("0.00"), D("590.00")),
    ]
    verde = selectors.expected_revenue(customer_id=in_a.customers["Studio Verde"].pk)
    assert [row.total for row in verde.rows] == [D("90.00")] * 4


def test_expected_fees_follow_what_gets_billed(in_a, traveller):
    """Once a batch bills April and May, those fees are no longer expected."""
    from invoices.batches import services as batch_services

    batch = batch_services.batch_create(name="May", as_of=dt.date(2026, 5, 1))
    batch_services.batch_selection_set(
        batch=batch, contract=in_a.contracts["thames"], include=False
    )
    batch_services.batch_run(batch=batch)
    batch_services.batch_generate(batch=batch)
    eur = selectors.expected_revenue().rows_of("EUR")
    # What the batch billed (April's time, the fees to May) left; May's own time waits.
    assert [expected(row) for row in eur][:2] == [
        (D("0.00"), D("0.00"), D("145.00"), D("145.00")),
        (D("0.00"), D("0.00"), D("0.00"), D("0.00")),
    ]
