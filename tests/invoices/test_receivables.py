"""Receivables: one balance (total − payments − credits applied) on the invoice page, the
invoice list and its filters, the dashboard and the API; credit notes are never
receivables; payments are capped at that balance and the status follows it.

Figures (EUR, tenant A, today 2026-03-20):

- INV "Harbor": 12.5 h support × 96.40 = 1,205.00 taxable at 20 % (241.00 tax) and
  3 backup licences × 68.05 = 204.15 untaxed: total 1,650.15, due 2026-04-15.
  Credited 2.5 h support (241.00 + 48.20 tax) and 1 licence (68.05): 357.25, leaving
  1,292.90; paid 1,000.00, leaving 292.90; paid 292.90, leaving 0.00.
- INV "Bistro": 1 × 480.00, due 2026-03-10, credited in full: not open, not overdue.
- INV "Dupont": 1 × 250.00, due 2026-03-10, credited 100.00: overdue 150.00.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from invoices import selectors, services
from invoices.models import (
    CreditDisposition,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    balance_of,
)

from .factories import InvoiceFactory

pytestmark = pytest.mark.django_db
D = Decimal
TODAY = dt.date(2026, 3, 20)
WRITE_OFF = CreditDisposition.WRITE_OFF


def issue(tenant, name, lines, *, due):
    """A final invoice of ``lines`` (description, quantity, unit price, tax %) for a new
    customer ``name``, issued 2026-02-16 and due on ``due``."""
    organization = OrganizationFactory(tenant=tenant, name=name, currency="EUR")
    draft = InvoiceFactory(tenant=tenant, organization=organization, draft=True)
    for description, quantity, unit_price, tax_rate in lines:
        services.invoice_line_add(
            invoice=draft,
            description=description,
            quantity=quantity,
            unit_price=unit_price,
            taxable=tax_rate != "0",
            tax_rate=tax_rate,
        )
    services.invoice_update_draft(invoice=draft, issue_date=dt.date(2026, 2, 16), due_date=due)
    return services.invoice_finalize(invoice=draft)


def credit(invoice, *quantities):
    """A credit note for ``quantities`` of the invoice's lines, in line order."""
    lines = InvoiceLine.objects.filter(invoice=invoice).order_by("position")
    return services.credit_note_create(
        invoice=invoice,
        reason="Goodwill",
        credit_disposition=WRITE_OFF,
        lines=[(line.pk, qty) for line, qty in zip(lines, quantities, strict=False) if qty],
    )


def pay(invoice, amount):
    return services.payment_record(
        invoice=invoice, amount=amount, received_on=TODAY, method="bank_transfer"
    )


def harbor(tenant):
    return issue(
        tenant,
        "Harbor Logistics",
        [("Support", "12.5", "96.40", "20"), ("Backup licence", "3", "68.05", "0")],
        due=dt.date(2026, 4, 15),
    )


@pytest.fixture
def other_tenant(tenant_b):
    """Tenant B's own credited and overdue invoices: never seen by tenant A."""
    with tenant_context(tenant_b):
        invoice = issue(
            tenant_b, "Bravo secret", [("Secret", "1", "987.65", "0")], due=dt.date(2026, 3, 1)
        )
        services.credit_note_create(
            invoice=invoice, reason="x", credit_disposition=WRITE_OFF, lines=None
        )
        issue(tenant_b, "Bravo open", [("Open", "1", "876.54", "0")], due=dt.date(2026, 3, 1))
    return tenant_b


@pytest.fixture
def admin_client(admin_a, client_as):
    return client_as(admin_a)


@pytest.fixture
def api(admin_a, api_as):
    return api_as(admin_a)


def list_row(content: str, number: str) -> list[str]:
    """The cells' text of the invoice list row whose number is ``number``."""
    for row in re.findall(r"<tr>(.*?)</tr>", content, flags=re.S):
        if f">{number}</a>" in row:
            cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
            return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]
    raise AssertionError(f"{number} is not listed")


def balance_everywhere(invoice, client, api) -> dict[str, str]:
    """The balance of ``invoice`` as each place shows it."""
    page = client.get(reverse("invoices:invoice-detail", args=[invoice.pk])).content.decode()
    shown = re.search(r'Balance due</div><div class="value">([^<]+)</div>', page).group(1)
    listed = list_row(client.get(reverse("invoices:invoice-list")).content.decode(), invoice.number)
    api_row = next(
        row for row in api.get("/api/v1/invoices/").json()["results"] if row["id"] == invoice.pk
    )
    detail = api.get(f"/api/v1/invoices/{invoice.pk}/").json()
    annotated = selectors.invoice_list().get(pk=invoice.pk)
    return {
        "page": shown,
        "list": listed[-1],
        "api list": api_row["balance_due"],
        "api detail": detail["balance_due"],
        "model": Invoice.objects.get(pk=invoice.pk).balance_due,
        "annotation": annotated.balance,
    }


def test_one_balance_after_a_partial_credit_and_payments(
    in_tenant_a, other_tenant, admin_client, api
):
    invoice = harbor(in_tenant_a)
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        D("1409.15"),
        D("241.00"),
        D("1650.15"),
    )
    note = credit(invoice, "2.5", "1")
    assert (note.subtotal, note.tax_total, note.total) == (D("309.05"), D("48.20"), D("357.25"))

    def expect(amount: str) -> dict[str, str]:
        shown = f"€{Decimal(amount):,.2f}"
        return {
            "page": shown,
            "list": shown,
            "api list": amount,
            "api detail": amount,
            "model": Decimal(amount),
            "annotation": Decimal(amount),
        }

    assert balance_everywhere(invoice, admin_client, api) == expect("1292.90")
    # The payment is capped at the balance after the credit, not at the total.
    with pytest.raises(ValidationError) as caught:
        pay(invoice, "1292.91")
    assert "more than the balance due (1292.90 EUR)" in caught.value.message_dict["amount"][0]
    pay(invoice, "1000.00")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PARTIALLY_PAID
    assert balance_everywhere(invoice, admin_client, api) == expect("292.90")
    with pytest.raises(ValidationError) as caught:
        pay(invoice, "292.91")
    assert "more than the balance due (292.90 EUR)" in caught.value.message_dict["amount"][0]
    pay(invoice, "292.90")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, D("1292.90"))
    assert balance_everywhere(invoice, admin_client, api) == expect("0.00")


def test_a_credit_note_is_never_a_receivable(in_tenant_a, other_tenant, admin_client, api):
    invoice = harbor(in_tenant_a)
    note = credit(invoice, "2.5", "1")
    note = Invoice.objects.get(pk=note.pk)
    assert note.due_date is None  # nothing falls due on a credit note
    assert (note.is_receivable, note.balance_due, note.is_overdue_on(dt.date(2027, 1, 1))) == (
        False,
        D("0"),
        False,
    )
    row = list_row(admin_client.get(reverse("invoices:invoice-list")).content.decode(), note.number)
    # Number (credit note for …), bill to, for, issued, due, status, total, balance.
    assert row[0] == f"{note.number} Credit note for {invoice.number}"
    assert (row[4], row[5], row[6], row[7]) == ("—", "Issued", "€357.25", "—")
    body = api.get(f"/api/v1/credit-notes/{note.pk}/").json()
    assert (body["balance_due"], body["due_date"], body["is_overdue"]) == ("0.00", None, False)
    page = admin_client.get(reverse("invoices:invoice-detail", args=[note.pk])).content.decode()
    assert "Nothing is payable on a credit note." in page
    assert "Balance due" not in page and "Overdue" not in page


def test_open_and_overdue_totals_leave_credit_notes_out(
    in_tenant_a, other_tenant, staff_a, client_as, admin_client, api
):
    open_one = harbor(in_tenant_a)  # 1,650.15, due 15 April
    bistro = issue(in_tenant_a, "Bistro", [("Fee", "1", "480.00", "0")], due=dt.date(2026, 3, 10))
    services.credit_note_create(
        invoice=bistro, reason="Waived", credit_disposition=WRITE_OFF, lines=None
    )
    dupont = issue(in_tenant_a, "Dupont", [("Fee", "2", "125.00", "0")], due=dt.date(2026, 3, 10))
    credit(dupont, "0.8")  # 100.00 of 250.00
    # A void credit note (kept from before) credits nothing.
    InvoiceFactory(
        tenant=in_tenant_a,
        kind=InvoiceKind.CREDIT_NOTE,
        status=InvoiceStatus.VOID,
        credited_invoice=dupont,
        organization=dupont.organization,
        total=D("50.00"),
        credit_disposition=CreditDisposition.RELEASE,
    )

    dashboard = client_as(staff_a.user(Role.ACCOUNTANT)).get(reverse("dashboard"))
    panel = next(p for p in dashboard.context["panels"] if p["title"] == "Invoices")
    assert [
        (row["currency"], row["open_count"], row["open_balance"])
        for row in panel["context"]["balances"]
    ] == [("EUR", 2, D("1800.15"))]
    morning = next(p for p in dashboard.context["panels"] if p["title"] == "This morning")
    overdue = dict(morning["context"]["receivables"])["EUR"]
    assert (overdue["overdue_count"], overdue["overdue"]) == (1, D("150.00"))
    content = dashboard.content.decode()
    assert "2 · €1,800.15" in content and "1 · €150.00" in content
    assert "987.65" not in content and "876.54" not in content

    bistro = Invoice.objects.get(pk=bistro.pk)
    assert (bistro.status, bistro.is_credited, bistro.balance_due) == (
        InvoiceStatus.FINAL,
        True,
        D("0"),
    )
    dupont = Invoice.objects.get(pk=dupont.pk)
    assert (dupont.credited_total, dupont.balance_due) == (D("100.00"), D("150.00"))

    def listed(status):
        page = admin_client.get(reverse("invoices:invoice-list"), {"status": status})
        return sorted(invoice.number for invoice in page.context["page_obj"])

    def from_api(status):
        rows = api.get("/api/v1/invoices/", {"status": status}).json()["results"]
        return sorted(row["number"] for row in rows)

    assert listed("overdue") == from_api("overdue") == [dupont.number]
    assert listed("open") == from_api("open") == sorted([open_one.number, dupont.number])
    badges = admin_client.get(reverse("invoices:invoice-list")).content.decode()
    assert list_row(badges, bistro.number)[5] == "Credited"
    assert list_row(badges, dupont.number)[5] == "Overdue"
    # Sorted by balance in the API: credit notes and the credited invoice owe nothing.
    rows = api.get("/api/v1/invoices/", {"ordering": "-balance"}).json()["results"]
    assert [(row["number"], row["balance_due"]) for row in rows[:3]] == [
        (open_one.number, "1650.15"),
        (dupont.number, "150.00"),
        (rows[2]["number"], "0.00"),
    ]
    assert {row["number"] for row in rows if row["is_overdue"]} == {dupont.number}


def test_set_and_instance_balances_agree(in_tenant_a, other_tenant):
    """Every kind of row: the annotation and the model property give the same figure."""
    paid_then_credited = issue(
        in_tenant_a, "Paid", [("Fee", "1", "300.00", "0")], due=dt.date(2026, 4, 1)
    )
    pay(paid_then_credited, "300.00")
    credit(paid_then_credited, "1")  # a refund is owed, not a negative balance
    partly = harbor(in_tenant_a)
    credit(partly, "1")
    pay(partly, "0.05")
    InvoiceFactory(tenant=in_tenant_a, draft=True, total=D("70.00"))
    InvoiceFactory(tenant=in_tenant_a, status=InvoiceStatus.VOID, total=D("80.00"))
    negative_note = InvoiceFactory(
        tenant=in_tenant_a,
        kind=InvoiceKind.CREDIT_NOTE,
        credited_invoice=partly,
        total=D("-10.00"),  # a credit note stored with a negative total credits 10.00
        credit_disposition=WRITE_OFF,
    )
    rows = list(selectors.invoice_list())
    assert len(rows) == 7
    for row in rows:
        fresh = Invoice.objects.get(pk=row.pk)  # no annotation: the property's own query
        assert row.balance == row.balance_due == fresh.balance_due, row
        assert row.credited_amount == row.credited_total == fresh.credited_total, row
    by_pk = {row.pk: row for row in rows}
    assert by_pk[paid_then_credited.pk].balance == 0
    # 1,650.15 − 96.40 − 19.28 tax − 10.00 (negative note) − 0.05 paid
    assert (
        by_pk[partly.pk].balance
        == D("1524.42")
        == balance_of(total=D("1650.15"), amount_paid=D("0.05"), credited=D("125.68"))
    )
    assert by_pk[negative_note.pk].balance == 0


def test_lists_run_no_query_per_row(
    in_tenant_a, other_tenant, admin_client, api, django_assert_num_queries
):
    def more(count):
        for _ in range(count):
            invoice = harbor(in_tenant_a)
            credit(invoice, "1")
            pay(invoice, "10.00")

    more(1)
    first = Invoice.objects.filter(kind=InvoiceKind.INVOICE).get()
    with django_assert_num_queries(1):
        rows = list(selectors.invoice_list())
        figures = [(row.balance_due, row.credited_total, row.is_overdue_on(TODAY)) for row in rows]
    assert sorted(figures) == [(D("0"), D("0"), False), (D("1524.47"), D("115.68"), False)]

    def count_queries(url, client):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured.captured_queries)

    pages = {
        "invoice page": (reverse("invoices:invoice-detail", args=[first.pk]), admin_client),
        "list": (reverse("invoices:invoice-list"), admin_client),
        "dashboard": (reverse("dashboard"), admin_client),
        "api": ("/api/v1/invoices/", api),
        "api credit notes": ("/api/v1/credit-notes/", api),
    }
    few = {name: count_queries(url, client) for name, (url, client) in pages.items()}
    more(4)
    credit(first, "1")  # the invoice page lists its credit notes
    credit(first, None, "1")
    for name, (url, client) in pages.items():
        with django_assert_num_queries(few[name]):
            assert client.get(url).status_code == 200, name
