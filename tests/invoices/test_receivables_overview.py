"""The receivables overview: invoices by state, aging, and a customer's statement.

The world (tenant A, Europe/Paris, today 20 Mar 2026; untaxed lines):

EUR
- Atlas Dental
  - a5 800.00 issued 2025-12-01, due 2025-12-31; paid 500.00 on 2025-12-20 and
    300.00 on 2026-01-15: paid.
  - a2 4 × 100.00 = 400.00 issued 2026-01-09, due 2026-02-08 (40 days late); paid
    150.00 on 2026-02-20, credited 1 × 100.00 on 2026-02-25: overdue, 150.00 open.
  - a3 300.00 issued 2026-02-01, due 2026-03-25; paid 100.00 on 2026-03-05:
    partially paid, 200.00 open, not yet due.
  - a1 1,000.00 issued 2026-03-01, due 2026-03-31: awaiting payment.
- Brick Lane Bakery
  - b1 600.00 due 2026-03-10 (10 days late); b2 900.00 due 2025-11-20 (120 days);
    b3 350.00 paid in full.
- Cobalt Law
  - c1 750.00 due 2026-01-04 (75 days); c3 2 × 110.00 due 2026-02-04 (44 days),
    credited 110.00; c2 500.00 credited in full today.
USD
- Atlas Dental: a4 $500.00 issued 2025-11-01, due 2025-12-01 (109 days).
- Delta Shipping: d1 $2,000.00 due 2026-03-30; d2 $1,200.00 due 2026-01-19 (60 days),
  paid $200.00.
Not receivables: a draft and a void invoice of Atlas Dental.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from invoices import selectors as invoice_selectors
from invoices import services
from invoices.models import CreditDisposition, Invoice, InvoiceLine, InvoiceStatus
from invoices.receivables import selectors

from .factories import InvoiceFactory

pytestmark = pytest.mark.django_db
D = Decimal
TODAY = dt.date(2026, 3, 20)
PDF_CHECK = Path("/tmp/statement_check")
WRITE_OFF = CreditDisposition.WRITE_OFF
STATES = ["awaiting", "partially_paid", "overdue", "paid", "credited"]
BUCKETS = ["current", "days_0_30", "days_31_60", "days_61_90", "days_over_90"]


def customer(tenant, name, currency="EUR", **fields):
    return OrganizationFactory(
        tenant=tenant,
        name=name,
        currency=currency,
        street="12 Quay Road",
        postcode="69002",
        city="Lyon",
        **fields,
    )


def issue(organization, unit_price, *, issued, due, quantity="1", currency="EUR"):
    """A final invoice (marked sent) of one untaxed line."""
    draft = InvoiceFactory(
        tenant=organization.tenant, organization=organization, draft=True, currency=currency
    )
    services.invoice_line_add(
        invoice=draft, description="Managed services", quantity=quantity, unit_price=unit_price
    )
    services.invoice_update_draft(invoice=draft, issue_date=issued, due_date=due)
    invoice = services.invoice_finalize(invoice=draft)
    services.invoice_mark_sent(invoice=invoice)
    return Invoice.objects.get(pk=invoice.pk)


def pay(invoice, amount, on):
    return services.payment_record(
        invoice=invoice, amount=amount, received_on=on, method="bank_transfer", reference=""
    )


def credit(invoice, quantity=None, *, on=None, traveller=None):
    """A credit note of ``quantity`` of the invoice's first line (None: all of it), issued
    on ``on`` (the clock is moved there for it and back to today)."""
    if on is not None:
        traveller.move_to(dt.datetime(on.year, on.month, on.day, 11, tzinfo=dt.UTC), tick=False)
    line = InvoiceLine.objects.filter(invoice=invoice).order_by("position").first()
    note = services.credit_note_create(
        invoice=invoice,
        reason="Goodwill",
        credit_disposition=WRITE_OFF,
        lines=None if quantity is None else [(line.pk, quantity)],
    )
    if on is not None:
        traveller.move_to(dt.datetime(2026, 3, 20, 11, tzinfo=dt.UTC), tick=False)
    return note


def build_world(tenant, traveller) -> SimpleNamespace:
    w = SimpleNamespace()
    w.atlas = customer(tenant, "Atlas Dental")
    w.brick = customer(tenant, "Brick Lane Bakery")
    w.cobalt = customer(tenant, "Cobalt Law")
    w.delta = customer(tenant, "Delta Shipping", "USD")
    d = dt.date

    w.a5 = issue(w.atlas, "800.00", issued=d(2025, 12, 1), due=d(2025, 12, 31))
    pay(w.a5, "500.00", d(2025, 12, 20))
    pay(w.a5, "300.00", d(2026, 1, 15))
    w.a2 = issue(w.atlas, "100.00", quantity="4", issued=d(2026, 1, 9), due=d(2026, 2, 8))
    pay(w.a2, "150.00", d(2026, 2, 20))
    w.a2_note = credit(w.a2, "1", on=d(2026, 2, 25), traveller=traveller)
    w.a3 = issue(w.atlas, "300.00", issued=d(2026, 2, 1), due=d(2026, 3, 25))
    pay(w.a3, "100.00", d(2026, 3, 5))
    w.a1 = issue(w.atlas, "1000.00", issued=d(2026, 3, 1), due=d(2026, 3, 31))
    w.a4 = issue(w.atlas, "500.00", issued=d(2025, 11, 1), due=d(2025, 12, 1), currency="USD")

    w.b1 = issue(w.brick, "600.00", issued=d(2026, 2, 8), due=d(2026, 3, 10))
    w.b2 = issue(w.brick, "900.00", issued=d(2025, 10, 21), due=d(2025, 11, 20))
    w.b3 = issue(w.brick, "350.00", issued=d(2026, 2, 1), due=d(2026, 3, 3))
    pay(w.b3, "350.00", d(2026, 3, 2))

    w.c1 = issue(w.cobalt, "750.00", issued=d(2025, 12, 5), due=d(2026, 1, 4))
    w.c3 = issue(w.cobalt, "110.00", quantity="2", issued=d(2026, 1, 5), due=d(2026, 2, 4))
    credit(w.c3, "1")
    w.c2 = issue(w.cobalt, "500.00", issued=d(2026, 2, 15), due=d(2026, 3, 17))
    credit(w.c2)

    w.d1 = issue(w.delta, "2000.00", issued=d(2026, 2, 28), due=d(2026, 3, 30), currency="USD")
    w.d2 = issue(w.delta, "1200.00", issued=d(2025, 12, 20), due=d(2026, 1, 19), currency="USD")
    pay(w.d2, "200.00", d(2026, 2, 1))

    # Never receivables: a draft and a void invoice.
    draft = InvoiceFactory(tenant=tenant, organization=w.atlas, draft=True)
    services.invoice_line_add(invoice=draft, description="Draft", quantity="1", unit_price="77.00")
    void = issue(w.atlas, "66.00", issued=d(2026, 1, 20), due=d(2026, 2, 19))
    services.invoice_void(invoice=void, reason="Duplicate")
    return w


@pytest.fixture
def world(in_tenant_a, frozen_now):
    return build_world(in_tenant_a, frozen_now)


@pytest.fixture
def other_tenant(tenant_b):
    """Tenant B's own overdue customer: never seen by tenant A."""
    with tenant_context(tenant_b):
        secret = customer(tenant_b, "Bravo Secret Client", "DKK")
        issue(secret, "987.65", issued=dt.date(2026, 1, 2), due=dt.date(2026, 2, 1), currency="DKK")
    return tenant_b


@pytest.fixture
def admin(admin_a, client_as):
    return client_as(admin_a)


def summary_table(summary) -> dict:
    return {
        block.currency: {row.state: (row.count, row.invoiced, row.open) for row in block.rows}
        | {"total": (block.invoiced, block.open)}
        for block in summary
    }


def aging_table(aging) -> list:
    return [
        (row.customer, row.currency, row.count, [row.buckets[name] for name in BUCKETS], row.total)
        for row in aging.rows
    ]


def text_of(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- Summary ---------------------------------------------------------------------------


def test_invoices_by_state_per_currency(world, other_tenant):
    assert selectors.receivables_summary() == selectors.receivables_summary(today=TODAY)
    assert summary_table(selectors.receivables_summary(today=TODAY)) == {
        "EUR": {
            "awaiting": (1, D("1000.00"), D("1000.00")),  # a1
            "partially_paid": (1, D("300.00"), D("200.00")),  # a3
            # a2 (partly paid and credited), b1, b2, c1, c3 (partly credited)
            "overdue": (5, D("2870.00"), D("2510.00")),
            "paid": (2, D("1150.00"), D("0")),  # a5, b3
            "credited": (1, D("500.00"), D("0")),  # c2
            "total": (D("5820.00"), D("3710.00")),
        },
        "USD": {
            "awaiting": (1, D("2000.00"), D("2000.00")),  # d1
            "partially_paid": (0, D("0"), D("0")),
            "overdue": (2, D("1700.00"), D("1500.00")),  # a4, d2 (partly paid)
            "paid": (0, D("0"), D("0")),
            "credited": (0, D("0"), D("0")),
            "total": (D("3700.00"), D("3500.00")),
        },
    }
    summary = selectors.receivables_summary(today=TODAY)
    assert [row.state for row in summary[0].rows] == STATES
    assert [(row.label, row.filter) for row in summary[0].rows] == [
        ("Awaiting payment", "receivable-awaiting"),
        ("Partially paid", "receivable-partially_paid"),
        ("Overdue", "receivable-overdue"),
        ("Paid", "receivable-paid"),
        ("Settled by credit notes", "receivable-credited"),
    ]
    # Each row's link lists exactly the invoices the row counts (both currencies).
    for index, state in enumerate(STATES):
        counted = sum(currency.rows[index].count for currency in summary)
        listed = invoice_selectors.invoice_list(status=summary[0].rows[index].filter)
        assert listed.count() == counted, state
    # Issued in February and March only: a3, a1, b1, b3, c2, d1.
    february_on = summary_table(
        selectors.receivables_summary(
            today=TODAY, issued_from=dt.date(2026, 2, 1), issued_to=dt.date(2026, 3, 31)
        )
    )
    assert february_on["EUR"] == {
        "awaiting": (1, D("1000.00"), D("1000.00")),
        "partially_paid": (1, D("300.00"), D("200.00")),
        "overdue": (1, D("600.00"), D("600.00")),
        "paid": (1, D("350.00"), D("0")),
        "credited": (1, D("500.00"), D("0")),
        "total": (D("2750.00"), D("1800.00")),
    }
    assert february_on["USD"]["total"] == (D("2000.00"), D("2000.00"))
    # Twelve days later a1 and a3 are overdue too (a3 only partly paid).
    later = summary_table(selectors.receivables_summary(today=dt.date(2026, 4, 1)))["EUR"]
    assert (later["awaiting"], later["partially_paid"], later["overdue"]) == (
        (0, D("0"), D("0")),
        (0, D("0"), D("0")),
        (7, D("4170.00"), D("3710.00")),
    )


def test_overdue_and_due_soon(world, other_tenant):
    assert selectors.overdue_and_due_soon(today=TODAY) == {
        "EUR": {
            "overdue_count": 5,
            "overdue": D("2510.00"),
            "due_soon_count": 1,  # a3, due 25 March
            "due_soon": D("200.00"),
        },
        "USD": {
            "overdue_count": 2,
            "overdue": D("1500.00"),
            "due_soon_count": 0,  # d1 is due on the 30th, ten days out
            "due_soon": D("0"),
        },
    }


# --- Aging -----------------------------------------------------------------------------


def test_aging_per_customer_and_currency(world, other_tenant):
    aging = selectors.receivables_aging(today=TODAY)
    assert aging.as_of == TODAY
    # Most overdue first; one row per customer and currency, never added across them.
    assert aging_table(aging) == [
        (
            "Brick Lane Bakery",
            "EUR",
            2,
            [D("0"), D("600.00"), D("0"), D("0"), D("900.00")],
            D("1500.00"),
        ),
        (
            "Delta Shipping",
            "USD",
            2,
            [D("2000.00"), D("0"), D("1000.00"), D("0"), D("0")],
            D("3000.00"),
        ),
        ("Cobalt Law", "EUR", 2, [D("0"), D("0"), D("110.00"), D("750.00"), D("0")], D("860.00")),
        ("Atlas Dental", "USD", 1, [D("0"), D("0"), D("0"), D("0"), D("500.00")], D("500.00")),
        (
            "Atlas Dental",
            "EUR",
            3,
            [D("1200.00"), D("0"), D("150.00"), D("0"), D("0")],
            D("1350.00"),
        ),
    ]
    assert [row.overdue for row in aging.rows] == [
        D("1500.00"),
        D("1000.00"),
        D("860.00"),
        D("500.00"),
        D("150.00"),
    ]
    assert [row.organization_id for row in aging.rows] == [
        world.brick.pk,
        world.delta.pk,
        world.cobalt.pk,
        world.atlas.pk,
        world.atlas.pk,
    ]
    assert aging.total_rows == [
        ("EUR", [D("1200.00"), D("600.00"), D("260.00"), D("750.00"), D("900.00")], D("3710.00")),
        ("USD", [D("2000.00"), D("0"), D("1000.00"), D("0"), D("500.00")], D("3500.00")),
    ]
    # The totals are the summary's open balances.
    assert [
        (block.currency, block.open) for block in selectors.receivables_summary(today=TODAY)
    ] == [
        ("EUR", D("3710.00")),
        ("USD", D("3500.00")),
    ]
    only_atlas = selectors.receivables_aging(today=TODAY, organization=world.atlas)
    assert [(row.currency, row.total) for row in only_atlas.rows] == [
        ("USD", D("500.00")),
        ("EUR", D("1350.00")),
    ]


def test_aging_bucket_edges(in_tenant_a):
    """Days past the due date: due today (0) or later is not yet due (overdue starts the
    day after); then 1–30 ("0–30"), 31–60, 61–90 and over 90."""
    organization = customer(in_tenant_a, "Edge Case GmbH")
    late_by = {-1: "1", 0: "2", 1: "4", 30: "8", 31: "16", 60: "32", 61: "64", 90: "128", 91: "256"}
    for days, amount in late_by.items():
        InvoiceFactory(
            tenant=in_tenant_a,
            organization=organization,
            status=InvoiceStatus.SENT,
            issue_date=dt.date(2025, 11, 1),
            due_date=TODAY - dt.timedelta(days=days),
            subtotal=D(amount),
            total=D(amount),
        )
    (row,) = selectors.receivables_aging(today=TODAY).rows
    assert row.buckets == {
        "current": D("3"),  # -1, 0
        "days_0_30": D("12"),  # 1, 30
        "days_31_60": D("48"),  # 31, 60
        "days_61_90": D("192"),  # 61, 90
        "days_over_90": D("256"),  # 91
    }
    assert (row.count, row.total) == (9, D("511"))
    # A day later every invoice is one day later: 30 → 31, 60 → 61, 90 → 91.
    (row,) = selectors.receivables_aging(today=TODAY + dt.timedelta(days=1)).rows
    assert row.buckets == {
        "current": D("1"),  # -1 → 0
        "days_0_30": D("6"),  # 0 → 1, 1 → 2
        "days_31_60": D("24"),  # 30 → 31, 31 → 32
        "days_61_90": D("96"),  # 60 → 61, 61 → 62
        "days_over_90": D("384"),  # 90 → 91, 91 → 92
    }


# --- Statement -------------------------------------------------------------------------


def test_statement_from_an_opening_balance(world, other_tenant):
    statement = selectors.customer_statement(
        organization=world.atlas, date_from=dt.date(2026, 1, 1), date_to=TODAY
    )
    eur, usd = statement.currencies
    assert (eur.currency, eur.opening, eur.closing) == ("EUR", D("300.00"), D("1350.00"))
    assert (eur.invoiced, eur.paid, eur.credited) == (D("1700.00"), D("550.00"), D("100.00"))
    assert [
        (entry.date, entry.kind, entry.reference, entry.charge, entry.credit, entry.balance)
        for entry in eur.entries
    ] == [
        (dt.date(2026, 1, 9), "invoice", world.a2.number, D("400.00"), D("0"), D("700.00")),
        (dt.date(2026, 1, 15), "payment", "Payment", D("0"), D("300.00"), D("400.00")),
        (dt.date(2026, 2, 1), "invoice", world.a3.number, D("300.00"), D("0"), D("700.00")),
        (dt.date(2026, 2, 20), "payment", "Payment", D("0"), D("150.00"), D("550.00")),
        (
            dt.date(2026, 2, 25),
            "credit_note",
            world.a2_note.number,
            D("0"),
            D("100.00"),
            D("450.00"),
        ),
        (dt.date(2026, 3, 1), "invoice", world.a1.number, D("1000.00"), D("0"), D("1450.00")),
        (dt.date(2026, 3, 5), "payment", "Payment", D("0"), D("100.00"), D("1350.00")),
    ]
    assert [(entry.detail, entry.due_date) for entry in eur.entries] == [
        ("", dt.date(2026, 2, 8)),
        (f"for {world.a5.number}", None),
        ("", dt.date(2026, 3, 25)),
        (f"for {world.a2.number}", None),
        (f"credits {world.a2.number}", None),
        ("", dt.date(2026, 3, 31)),
        (f"for {world.a3.number}", None),
    ]
    # The closing balance is what the aging shows as open for the customer.
    assert (usd.currency, usd.opening, usd.entries, usd.closing) == (
        "USD",
        D("500.00"),
        [],
        D("500.00"),
    )
    # A period that ends earlier closes earlier; one that starts later opens at that
    # running balance.
    early = selectors.customer_statement(
        organization=world.atlas, date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 2, 20)
    ).currencies[0]
    assert (early.closing, len(early.entries)) == (D("550.00"), 4)
    late = selectors.customer_statement(
        organization=world.atlas, date_from=dt.date(2026, 2, 21), date_to=TODAY
    ).currencies[0]
    assert (late.opening, late.closing, len(late.entries)) == (D("550.00"), D("1350.00"), 3)
    assert selectors.default_statement_period(TODAY) == (dt.date(2025, 4, 1), TODAY)


def test_the_statement_page_and_its_pdf(world, other_tenant, admin):
    url = reverse("invoices:statement", args=[world.atlas.pk])
    page = admin.get(url, {"date_from": "2026-01-01", "date_to": "2026-03-20"})
    assert page.status_code == 200
    text = text_of(page.content.decode())
    assert "Opening balance on 1 Jan 2026 €300.00" in text
    assert "Closing balance on 20 Mar 2026 €1,350.00" in text
    assert f"{world.a2_note.number} Credit note credits {world.a2.number} €100.00 €450.00" in text
    assert page.context["statement"] == selectors.customer_statement(
        organization=world.atlas, date_from=dt.date(2026, 1, 1), date_to=TODAY
    )
    assert "Closing balance on 20 Mar 2026 $500.00" in text
    assert "987.65" not in text

    pdf = admin.get(
        reverse("invoices:statement-pdf", args=[world.atlas.pk]),
        {"date_from": "2026-01-01", "date_to": "2026-03-20"},
    )
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == (
        f'attachment; filename="statement-{world.atlas.company_number}-2026-03-20.pdf"'
    )
    shutil.rmtree(PDF_CHECK, ignore_errors=True)
    PDF_CHECK.mkdir(parents=True)
    (PDF_CHECK / "statement.pdf").write_bytes(pdf.content)
    text = subprocess.run(
        ["pdftotext", "-layout", str(PDF_CHECK / "statement.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    text = text.replace("\u202f", " ").replace("\xa0", " ")
    assert "Atlas Dental" in text
    assert "Statement" in text and "Jan 1, 2026 – Mar 20, 2026" in text
    # The balance boxes (labels in capitals) read in the sections' currency order.
    assert re.search(r"BALANCE EUR ON MAR 20, 2026\s+BALANCE USD ON MAR 20, 2026", text)
    assert re.search(r"€1,350\.00\s+\$500\.00", text)
    # Written-out dates fit their column: the document never runs into them.
    assert re.search(r"Feb 20, 2026 +Payment +for " + world.a2.number, text)
    assert re.search(r"Feb 25, 2026 +" + world.a2_note.number, text)
    assert re.search(r"Closing balance\s+€1,350\.00", text)
    assert re.search(r"Closing balance\s+\$500\.00", text)
    assert world.a2_note.number in text
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            str(PDF_CHECK / "statement.pdf"),
            str(PDF_CHECK / "page"),
        ],
        check=True,
    )
    assert sorted(p.name for p in PDF_CHECK.glob("page*.png"))


# --- Pages -----------------------------------------------------------------------------


def test_the_overview_page(world, other_tenant, admin):
    page = admin.get(reverse("invoices:receivables"))
    assert page.status_code == 200
    assert summary_table(page.context["summary"]) == summary_table(
        selectors.receivables_summary(today=TODAY)
    )
    assert aging_table(page.context["aging"]) == aging_table(
        selectors.receivables_aging(today=TODAY)
    )
    text = text_of(page.content.decode())
    assert "Overdue 5 €2,870.00 €2,510.00" in text
    assert "Total €5,820.00 €3,710.00" in text
    assert "Total EUR €1,200.00 €600.00 €260.00 €750.00 €900.00 €3,710.00" in text
    assert "Total USD $2,000.00 $0.00 $1,000.00 $0.00 $500.00 $3,500.00" in text
    assert "Brick Lane Bakery 2 open invoices EUR — €600.00 — — €900.00 €1,500.00" in text
    assert "Bravo" not in text and "987.65" not in text
    content = page.content.decode()
    assert reverse("invoices:statement", args=[world.brick.pk]) in content

    # Filtered: issued from February, and the aging of one customer.
    filtered = admin.get(
        reverse("invoices:receivables"),
        {"issued_from": "2026-02-01", "organization": world.delta.pk},
    )
    assert summary_table(filtered.context["summary"])["EUR"]["total"] == (
        D("2750.00"),
        D("1800.00"),
    )
    assert [(row.customer, row.total) for row in filtered.context["aging"].rows] == [
        ("Delta Shipping", D("3000.00"))
    ]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"issued_from": "2026-02-30"}, "issued_from", "Enter a valid date."),
        ({"issued_to": "not a date"}, "issued_to", "Enter a valid date."),
        (
            {"issued_from": "2026-03-01", "issued_to": "2026-02-01"},
            "issued_to",
            "The end is before the start.",
        ),
        ({"organization": "999999"}, "organization", None),
    ],
)
def test_filters_not_understood_show_no_figures(world, admin, query, field, message):
    page = admin.get(reverse("invoices:receivables"), query)
    assert page.status_code == 200
    form = page.context["form"]
    assert list(form.errors) == [field]
    if message:
        assert form.errors[field] == [message]
    assert page.context["summary"] is None and page.context["aging"] is None
    text = text_of(page.content.decode())
    assert "Some filters were not understood, so nothing is shown" in text
    assert "€" not in text and "$" not in text
    assert "Invoices by state" not in text and "Aging" not in text


def test_another_tenant_sees_none_of_it(world, staff_b, client_as):
    client = client_as(staff_b.user(Role.BILLING_ADMIN))
    page = client.get(reverse("invoices:receivables"))
    assert page.status_code == 200
    assert page.context["summary"] == [] and page.context["aging"].rows == []
    text = text_of(page.content.decode())
    for name in ("Atlas Dental", "Brick Lane", "Cobalt Law", "Delta Shipping"):
        assert name not in text
    assert "3,710.00" not in text and "3,500.00" not in text
    assert "No invoice has been issued." in text and "Nothing is owed." in text
    for name in ("invoices:statement", "invoices:statement-pdf"):
        assert client.get(reverse(name, args=[world.atlas.pk])).status_code == 404, name
    # Tenant A's customer is not a choice of tenant B's filter.
    filtered = client.get(reverse("invoices:receivables"), {"organization": world.atlas.pk})
    assert list(filtered.context["form"].errors) == ["organization"]
    assert filtered.context["aging"] is None
    assert "Atlas Dental" not in text_of(filtered.content.decode())


def test_a_customer_without_an_organization_is_aged_by_its_bill_to_name(in_tenant_a, admin):
    for total in ("40.00", "2.50"):
        InvoiceFactory(
            tenant=in_tenant_a,
            organization=None,
            bill_to_name="Walk-in Client",
            status=InvoiceStatus.SENT,
            due_date=TODAY - dt.timedelta(days=5),
            subtotal=D(total),
            total=D(total),
        )
    (row,) = selectors.receivables_aging(today=TODAY).rows
    assert (row.organization_id, row.customer, row.count, row.total) == (
        None,
        "Walk-in Client",
        2,
        D("42.50"),
    )
    assert row.buckets["days_0_30"] == D("42.50")
    text = text_of(admin.get(reverse("invoices:receivables")).content.decode())
    assert "Walk-in Client 2 open invoices EUR — €42.50 — — — €42.50" in text


# --- Queries ---------------------------------------------------------------------------


def test_queries_do_not_grow_with_the_rows(in_tenant_a, frozen_now, admin):
    atlas = customer(in_tenant_a, "Atlas Dental")
    added = {"count": 0}

    def more(count):
        for _ in range(count):
            n = added["count"] = added["count"] + 1
            other = customer(in_tenant_a, f"Customer {n:03d}", "USD" if n % 2 else "EUR")
            issue(
                other,
                "120.00",
                issued=dt.date(2026, 1, 2),
                due=dt.date(2026, 1, 2) + dt.timedelta(days=10 * n),
                currency=other.currency,
            )
            invoice = issue(atlas, "100.00", quantity="2", issued=dt.date(2026, 2, n), due=TODAY)
            pay(invoice, "50.00", dt.date(2026, 3, 1))
            credit(invoice, "1")

    def count(call) -> int:
        with CaptureQueriesContext(connection) as captured:
            call()
        return len(captured.captured_queries)

    statement_url = reverse("invoices:statement", args=[atlas.pk])
    pdf_url = reverse("invoices:statement-pdf", args=[atlas.pk])
    period = {"date_from": "2026-01-01", "date_to": "2026-03-20"}
    reads = {
        "summary": lambda: selectors.receivables_summary(today=TODAY),
        "aging": lambda: selectors.receivables_aging(today=TODAY),
        "statement": lambda: selectors.customer_statement(
            organization=atlas, date_from=dt.date(2026, 2, 3), date_to=TODAY
        ),
        "overview page": lambda: admin.get(reverse("invoices:receivables")),
        "statement page": lambda: admin.get(statement_url, period),
        "statement pdf": lambda: admin.get(pdf_url, period),
    }
    more(3)
    few = {name: count(read) for name, read in reads.items()}
    assert (few["summary"], few["aging"], few["statement"]) == (1, 1, 3)
    more(6)
    assert {name: count(read) for name, read in reads.items()} == few
    # The rows did grow: 9 customers with one invoice each, and Atlas's 9.
    assert len(selectors.receivables_aging(today=TODAY).rows) == 10
    statement = selectors.customer_statement(
        organization=atlas, date_from=dt.date(2026, 2, 3), date_to=TODAY
    )
    assert (
        len(statement.currencies[0].entries) == 7 + 9 + 9
    )  # invoices from 3 Feb, payments, credit notes
