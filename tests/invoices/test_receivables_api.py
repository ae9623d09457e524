"""Receivables API: the overview's summary and aging, and a customer's statement.

The world (tenant A, EUR unless said, today 2026-03-20):

- Harbor: H1 12.5 h × 96.40 at 20 % + 3 × 68.05 untaxed = 1,650.15, issued 2026-02-16,
  due 2026-04-15, paid 1,000.00 (partially paid, 650.15 not yet due); H2 200.00 issued
  2025-12-01, due 2025-12-31 (overdue, 79 days: 61–90).
- Dupont: D1 250.00 issued 2026-02-01, due 2026-03-10, paid 50.00 on 2026-03-12 and
  credited 100.00 today (overdue 100.00, 10 days: 0–30); D2 480.00 issued 2026-02-01,
  credited in full today; D3 99.99 issued 2025-10-01, paid in full 2026-01-05; D4 USD
  300.00 issued 2025-11-10, due 2025-12-10 (overdue, 100 days: 90+).
- Bistro: B1 120.00 issued 2026-03-05, due 2026-04-04 (awaiting payment).
- No organization, billed to "Walk-in Client": W1 75.00 issued 2026-01-10, due
  2026-02-09 (overdue, 39 days: 31–60).
- Not receivables: a draft and a void invoice of Harbor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from invoices import services
from invoices.models import CreditDisposition, Invoice, InvoiceLine, InvoiceStatus

from .factories import InvoiceFactory, PaymentFactory

pytestmark = pytest.mark.django_db

SUMMARY = "/api/v1/receivables/summary/"
AGING = "/api/v1/receivables/aging/"
STATEMENT = "/api/v1/receivables/statement/"
UNKNOWN_CHOICE = "Select a valid choice. That choice is not one of the available choices."


def issue(tenant, organization, lines, *, issued, due, currency=None, bill_to_name=None):
    """A final invoice of ``lines`` (description, quantity, unit price, tax %)."""
    extra = {"currency": currency} if currency else {}
    if bill_to_name:
        extra["bill_to_name"] = bill_to_name
    draft = InvoiceFactory(tenant=tenant, organization=organization, draft=True, **extra)
    for description, quantity, unit_price, tax_rate in lines:
        services.invoice_line_add(
            invoice=draft,
            description=description,
            quantity=quantity,
            unit_price=unit_price,
            taxable=tax_rate != "0",
            tax_rate=tax_rate,
        )
    services.invoice_update_draft(invoice=draft, issue_date=issued, due_date=due)
    return services.invoice_finalize(invoice=draft)


def fee(tenant, organization, amount, *, issued, due, **kwargs):
    return issue(
        tenant, organization, [("Fee", "1", amount, "0")], issued=issued, due=due, **kwargs
    )


def pay(invoice, amount, received_on, reference=""):
    return services.payment_record(
        invoice=invoice,
        amount=amount,
        received_on=received_on,
        method="bank_transfer",
        reference=reference,
    )


def credit(invoice, quantity=None):
    """A credit note of ``quantity`` of the invoice's one line (all of it when None)."""
    lines = None
    if quantity is not None:
        line = InvoiceLine.objects.get(invoice=invoice)
        lines = [(line.pk, quantity)]
    return services.credit_note_create(
        invoice=invoice,
        reason="Goodwill",
        credit_disposition=CreditDisposition.WRITE_OFF,
        lines=lines,
    )


@dataclass
class World:
    harbor: object
    dupont: object
    bistro: object
    h1: Invoice
    h2: Invoice
    d1: Invoice
    d2: Invoice
    d3: Invoice
    d4: Invoice
    b1: Invoice
    w1: Invoice
    d1_note: Invoice
    d2_note: Invoice


def build_world(tenant) -> World:
    def customer(name):
        return OrganizationFactory(tenant=tenant, name=name, currency="EUR")

    harbor, dupont, bistro = customer("Harbor"), customer("Dupont"), customer("Bistro")
    h1 = issue(
        tenant,
        harbor,
        [("Support", "12.5", "96.40", "20"), ("Backup licence", "3", "68.05", "0")],
        issued=dt.date(2026, 2, 16),
        due=dt.date(2026, 4, 15),
    )
    pay(h1, "1000.00", dt.date(2026, 3, 15))
    h2 = fee(tenant, harbor, "200.00", issued=dt.date(2025, 12, 1), due=dt.date(2025, 12, 31))
    d3 = fee(tenant, dupont, "99.99", issued=dt.date(2025, 10, 1), due=dt.date(2025, 11, 15))
    pay(d3, "99.99", dt.date(2026, 1, 5), reference="TRX-7")
    d4 = fee(
        tenant,
        dupont,
        "300.00",
        issued=dt.date(2025, 11, 10),
        due=dt.date(2025, 12, 10),
        currency="USD",
    )
    d1 = fee(tenant, dupont, "250.00", issued=dt.date(2026, 2, 1), due=dt.date(2026, 3, 10))
    d2 = fee(tenant, dupont, "480.00", issued=dt.date(2026, 2, 1), due=dt.date(2026, 3, 10))
    pay(d1, "50.00", dt.date(2026, 3, 12))
    d1_note = credit(d1, "0.4")  # 100.00
    d2_note = credit(d2)
    b1 = fee(tenant, bistro, "120.00", issued=dt.date(2026, 3, 5), due=dt.date(2026, 4, 4))
    w1 = fee(
        tenant,
        None,
        "75.00",
        issued=dt.date(2026, 1, 10),
        due=dt.date(2026, 2, 9),
        bill_to_name="Walk-in Client",
    )
    InvoiceFactory(tenant=tenant, organization=harbor, draft=True, total=Decimal("999"))
    InvoiceFactory(
        tenant=tenant,
        organization=harbor,
        status=InvoiceStatus.VOID,
        issue_date=dt.date(2026, 3, 1),
        due_date=dt.date(2026, 3, 2),
        total=Decimal("888"),
    )
    return World(harbor, dupont, bistro, h1, h2, d1, d2, d3, d4, b1, w1, d1_note, d2_note)


@pytest.fixture
def world(in_tenant_a):
    return build_world(in_tenant_a)


@pytest.fixture
def other_world(tenant_b):
    """Tenant B's own customer with an open DKK invoice: never seen by tenant A."""
    with tenant_context(tenant_b):
        secret = OrganizationFactory(tenant=tenant_b, name="Bravo secret", currency="DKK")
        fee(tenant_b, secret, "987.65", issued=dt.date(2026, 1, 1), due=dt.date(2026, 1, 31))
    return secret


@pytest.fixture
def api(admin_a, api_as):
    return api_as(admin_a)


def get(client, url, params=None, status=200):
    response = client.get(url, params or {})
    assert response.status_code == status, response.json()
    return response.json()


def state_table(block) -> dict[str, tuple]:
    return {row["state"]: (row["count"], row["invoiced"], row["open"]) for row in block["states"]}


# --- Summary ---------------------------------------------------------------------------


def test_summary_per_currency_and_state(world, other_world, api):
    body = get(api, SUMMARY)
    assert (body["as_of"], body["issued_from"], body["issued_to"]) == ("2026-03-20", None, None)
    assert [block["currency"] for block in body["currencies"]] == ["EUR", "USD"]
    eur, usd = body["currencies"]
    assert [row["state"] for row in eur["states"]] == [
        "awaiting",
        "partially_paid",
        "overdue",
        "paid",
        "credited",
    ]
    assert eur["states"][4]["label"] == "Settled by credit notes"
    assert state_table(eur) == {
        "awaiting": (1, "120.00", "120.00"),
        "partially_paid": (1, "1650.15", "650.15"),
        "overdue": (3, "525.00", "375.00"),  # H2 200 + D1 250 (100 open) + W1 75
        "paid": (1, "99.99", "0.00"),
        "credited": (1, "480.00", "0.00"),
    }
    assert (eur["count"], eur["invoiced"], eur["open"]) == (7, "2875.14", "1145.15")
    assert state_table(usd)["overdue"] == (1, "300.00", "300.00")
    assert state_table(usd)["awaiting"] == (0, "0.00", "0.00")
    assert (usd["count"], usd["invoiced"], usd["open"]) == (1, "300.00", "300.00")


def test_summary_of_invoices_issued_in_a_period(world, other_world, api):
    body = get(api, SUMMARY, {"issued_from": "2026-02-01", "issued_to": "2026-02-28"})
    assert (body["issued_from"], body["issued_to"]) == ("2026-02-01", "2026-02-28")
    (eur,) = body["currencies"]  # the USD invoice was issued before
    assert state_table(eur) == {
        "awaiting": (0, "0.00", "0.00"),
        "partially_paid": (1, "1650.15", "650.15"),
        "overdue": (1, "250.00", "100.00"),
        "paid": (0, "0.00", "0.00"),
        "credited": (1, "480.00", "0.00"),
    }
    assert (eur["count"], eur["invoiced"], eur["open"]) == (3, "2380.15", "750.15")
    assert get(api, SUMMARY, {"issued_from": "2026-03-21"})["currencies"] == []


def test_amounts_have_their_currencys_minor_unit(in_tenant_a, api):
    for currency, total in (("JPY", "2593.000"), ("KWD", "2.592")):
        InvoiceFactory(
            tenant=in_tenant_a,
            currency=currency,
            total=Decimal(total),
            subtotal=Decimal(total),
            due_date=dt.date(2026, 4, 30),
        )
    summary = {block["currency"]: block["open"] for block in get(api, SUMMARY)["currencies"]}
    assert summary == {"JPY": "2593", "KWD": "2.592"}
    aging = {row["currency"]: row["buckets"]["current"] for row in get(api, AGING)["results"]}
    assert aging == {"JPY": "2593", "KWD": "2.592"}


# --- Aging -----------------------------------------------------------------------------


def test_aging_per_customer_and_bucket(world, other_world, api):
    body = get(api, AGING)
    assert body["as_of"] == "2026-03-20"
    assert body["buckets"] == [
        {"key": "current", "label": "Not yet due"},
        {"key": "days_0_30", "label": "0–30 days"},
        {"key": "days_31_60", "label": "31–60 days"},
        {"key": "days_61_90", "label": "61–90 days"},
        {"key": "days_over_90", "label": "90+ days"},
    ]
    assert (body["count"], body["next"], body["previous"]) == (5, None, None)

    def amounts(current="0.00", d30="0.00", d60="0.00", d90="0.00", over="0.00"):
        return {
            "current": current,
            "days_0_30": d30,
            "days_31_60": d60,
            "days_61_90": d90,
            "days_over_90": over,
        }

    # The most overdue first (whatever the currency), then by name.
    assert body["results"] == [
        {
            "organization": world.dupont.pk,
            "customer": "Dupont",
            "currency": "USD",
            "open_invoices": 1,
            "buckets": amounts(over="300.00"),
            "overdue": "300.00",
            "total": "300.00",
        },
        {
            "organization": world.harbor.pk,
            "customer": "Harbor",
            "currency": "EUR",
            "open_invoices": 2,
            "buckets": amounts(current="650.15", d90="200.00"),
            "overdue": "200.00",
            "total": "850.15",
        },
        {
            "organization": world.dupont.pk,
            "customer": "Dupont",
            "currency": "EUR",
            "open_invoices": 1,
            "buckets": amounts(d30="100.00"),
            "overdue": "100.00",
            "total": "100.00",
        },
        {
            "organization": None,
            "customer": "Walk-in Client",
            "currency": "EUR",
            "open_invoices": 1,
            "buckets": amounts(d60="75.00"),
            "overdue": "75.00",
            "total": "75.00",
        },
        {
            "organization": world.bistro.pk,
            "customer": "Bistro",
            "currency": "EUR",
            "open_invoices": 1,
            "buckets": amounts(current="120.00"),
            "overdue": "0.00",
            "total": "120.00",
        },
    ]
    # Per currency, never added across currencies; EUR agrees with the summary's open.
    assert body["totals"] == [
        {
            "currency": "EUR",
            "buckets": amounts("770.15", "100.00", "75.00", "200.00"),
            "total": "1145.15",
        },
        {"currency": "USD", "buckets": amounts(over="300.00"), "total": "300.00"},
    ]


def test_aging_of_one_customer(world, other_world, api):
    body = get(api, AGING, {"organization": world.dupont.pk})
    assert [(row["customer"], row["currency"], row["total"]) for row in body["results"]] == [
        ("Dupont", "USD", "300.00"),
        ("Dupont", "EUR", "100.00"),
    ]
    assert [(row["currency"], row["total"]) for row in body["totals"]] == [
        ("EUR", "100.00"),
        ("USD", "300.00"),
    ]


def test_aging_is_paged_and_its_totals_cover_every_page(world, other_world, api):
    first = get(api, AGING, {"page_size": 2})
    assert first["count"] == 5
    assert [row["customer"] for row in first["results"]] == ["Dupont", "Harbor"]
    assert first["previous"] is None
    assert "page=2" in first["next"] and "page_size=2" in first["next"]
    last = get(api, AGING, {"page_size": 2, "page": 3})
    assert [row["customer"] for row in last["results"]] == ["Bistro"]
    assert last["next"] is None and "page_size=2" in last["previous"]
    assert first["totals"] == last["totals"] == get(api, AGING)["totals"]
    assert get(api, AGING, {"page": 4, "page_size": 2}, status=404)


# --- Statement -------------------------------------------------------------------------


def test_statement_of_a_period(world, other_world, api):
    body = get(
        api,
        STATEMENT,
        {"organization": world.dupont.pk, "date_from": "2026-01-01", "date_to": "2026-03-31"},
    )
    assert body["organization"] == {"id": world.dupont.pk, "name": "Dupont"}
    assert (body["date_from"], body["date_to"]) == ("2026-01-01", "2026-03-31")
    eur, usd = body["currencies"]

    def entry(date, kind, reference, detail, charge, credit, balance, invoice, due=None):
        return {
            "date": date,
            "kind": kind,
            "reference": reference,
            "detail": detail,
            "due_date": due,
            "charge": charge,
            "credit": credit,
            "balance": balance,
            "invoice": invoice.pk,
        }

    d1, d2, d3 = world.d1, world.d2, world.d3
    n1, n2 = world.d1_note, world.d2_note
    due = "2026-03-10"
    assert (eur["currency"], eur["opening"]) == ("EUR", "99.99")  # D3, issued in October
    # Date, kind, reference, detail, charge, credit, running balance, document.
    assert eur["entries"] == [
        entry("2026-01-05", "payment", "Payment", f"for {d3.number} · TRX-7", "0.00", "99.99",
              "0.00", d3),
        entry("2026-02-01", "invoice", d1.number, "", "250.00", "0.00", "250.00", d1, due),
        entry("2026-02-01", "invoice", d2.number, "", "480.00", "0.00", "730.00", d2, due),
        entry("2026-03-12", "payment", "Payment", f"for {d1.number}", "0.00", "50.00",
              "680.00", d1),
        entry("2026-03-20", "credit_note", n1.number, f"credits {d1.number}", "0.00", "100.00",
              "580.00", n1),
        entry("2026-03-20", "credit_note", n2.number, f"credits {d2.number}", "0.00", "480.00",
              "100.00", n2),
    ]  # fmt: skip
    # The closing balance is what the aging shows Dupont owes in EUR.
    assert (eur["closing"], eur["invoiced"], eur["paid"], eur["credited"]) == (
        "100.00",
        "730.00",
        "149.99",
        "580.00",
    )
    assert usd == {
        "currency": "USD",
        "opening": "300.00",
        "entries": [],
        "closing": "300.00",
        "invoiced": "0.00",
        "paid": "0.00",
        "credited": "0.00",
    }


def test_statement_period_defaults_to_the_last_twelve_months(world, api):
    body = get(api, STATEMENT, {"organization": world.dupont.pk})
    assert (body["date_from"], body["date_to"]) == ("2025-04-01", "2026-03-20")
    eur = body["currencies"][0]
    assert (eur["opening"], eur["closing"], eur["invoiced"]) == ("0.00", "100.00", "829.99")
    # Only the end given, before the default start: the period is that one day.
    body = get(api, STATEMENT, {"organization": world.dupont.pk, "date_to": "2025-01-31"})
    assert (body["date_from"], body["date_to"]) == ("2025-01-31", "2025-01-31")
    assert body["currencies"] == []
    # Only the start given, after today: the period is today.
    body = get(api, STATEMENT, {"organization": world.dupont.pk, "date_from": "2026-06-01"})
    assert (body["date_from"], body["date_to"]) == ("2026-03-20", "2026-03-20")
    eur = body["currencies"][0]
    assert (eur["opening"], eur["closing"]) == ("680.00", "100.00")


def test_statement_of_a_customer_without_invoices(in_tenant_a, api):
    quiet = OrganizationFactory(tenant=in_tenant_a, name="Quiet")
    body = get(api, STATEMENT, {"organization": quiet.pk})
    assert body["organization"] == {"id": quiet.pk, "name": "Quiet"}
    assert body["currencies"] == []


# --- Validation, roles, tenants ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params", "errors"),
    [
        (SUMMARY, {"issued_from": "yesterday"}, {"issued_from": ["Enter a valid date."]}),
        (
            SUMMARY,
            {"issued_from": "2026-03-01", "issued_to": "2026-02-01"},
            {"issued_to": ["The end is before the start."]},
        ),
        (
            SUMMARY,
            {"issued_to": "1999-12-31"},
            {"issued_to": ["Dates must be between 2000-01-01 and 2099-12-31."]},
        ),
        (AGING, {"organization": "abc"}, {"organization": [UNKNOWN_CHOICE]}),
        (AGING, {"organization": "999999999"}, {"organization": [UNKNOWN_CHOICE]}),
        (STATEMENT, {}, {"organization": ["This field is required."]}),
        (STATEMENT, {"organization": "2.5"}, {"organization": [UNKNOWN_CHOICE]}),
        (
            STATEMENT,
            {"organization": "{dupont}", "date_from": "2026-03-01", "date_to": "2026-02-01"},
            {"date_to": ["The end is before the start."]},
        ),
        (
            STATEMENT,
            {"organization": "{dupont}", "date_from": "31/02/2026"},
            {"date_from": ["Enter a valid date."]},
        ),
    ],
)
def test_bad_queries_are_400_naming_the_field(world, api, url, params, errors):
    params = {name: value.format(dupont=world.dupont.pk) for name, value in params.items()}
    assert get(api, url, params, status=400) == errors


def test_another_tenants_customer_is_answered_as_an_unknown_one(world, other_world, api):
    for url in (AGING, STATEMENT):
        foreign = get(api, url, {"organization": other_world.pk}, status=400)
        unknown = get(api, url, {"organization": 999999999}, status=400)
        assert foreign == unknown == {"organization": [UNKNOWN_CHOICE]}


def test_tenant_b_cannot_read_tenant_as_figures(world, other_world, staff_b, api_as):
    bravo = api_as(staff_b.user(Role.OWNER))
    body = get(bravo, STATEMENT, {"organization": world.dupont.pk}, status=400)
    assert body == {"organization": [UNKNOWN_CHOICE]}
    (dkk,) = get(bravo, SUMMARY)["currencies"]
    assert (dkk["currency"], dkk["open"]) == ("DKK", "987.65")
    aging = get(bravo, AGING)
    assert [(row["customer"], row["total"]) for row in aging["results"]] == [
        ("Bravo secret", "987.65")
    ]
    assert get(bravo, AGING, {"organization": world.dupont.pk}, status=400)


def test_roles(world, staff_a, api_as):
    params = {SUMMARY: {}, AGING: {}, STATEMENT: {"organization": world.dupont.pk}}
    technician = api_as(staff_a.user(Role.TECHNICIAN))
    for url, query in params.items():
        assert technician.get(url, query).status_code == 403, url
    for role in (Role.ACCOUNTANT, Role.OWNER, Role.BILLING_ADMIN):
        client = api_as(staff_a.user(role))
        for url, query in params.items():
            assert client.get(url, query).status_code == 200, (role, url)


def test_invoices_show_the_day_they_were_marked_overdue(world, api):
    Invoice.objects.filter(pk=world.h2.pk).update(marked_overdue_on=dt.date(2026, 1, 1))
    rows = {row["id"]: row for row in get(api, "/api/v1/invoices/")["results"]}
    assert rows[world.h2.pk]["marked_overdue_on"] == "2026-01-01"
    assert rows[world.b1.pk]["marked_overdue_on"] is None
    detail = get(api, f"/api/v1/invoices/{world.h2.pk}/")
    assert detail["marked_overdue_on"] == "2026-01-01"


# --- Queries ---------------------------------------------------------------------------


def add_customers(tenant, count: int, statement_customer) -> None:
    """``count`` customers with an overdue invoice each, and ``count`` invoices with a
    payment each for ``statement_customer``."""
    for _ in range(count):
        InvoiceFactory(tenant=tenant, due_date=dt.date(2026, 1, 31), total=Decimal("10"))
        invoice = InvoiceFactory(
            tenant=tenant, organization=statement_customer, total=Decimal("10")
        )
        PaymentFactory(tenant=tenant, invoice=invoice, amount=Decimal("1"))


def test_query_counts_do_not_grow_with_rows(in_tenant_a, api):
    customer = OrganizationFactory(tenant=in_tenant_a, name="Busy")
    calls = [
        (SUMMARY, {}),
        (AGING, {}),
        (STATEMENT, {"organization": customer.pk, "date_from": "2026-01-01"}),
    ]

    def counts() -> list[int]:
        found = []
        for url, params in calls:
            with CaptureQueriesContext(connection) as queries:
                get(api, url, params)
            found.append(len(queries))
        return found

    add_customers(in_tenant_a, 4, customer)
    counts()  # warm-up: the first request of a client reads more than the others
    few = counts()
    add_customers(in_tenant_a, 8, customer)
    many = counts()
    assert get(api, AGING)["count"] == 13  # and Busy itself
    assert len(get(api, STATEMENT, calls[2][1])["currencies"][0]["entries"]) == 24
    assert many == few
