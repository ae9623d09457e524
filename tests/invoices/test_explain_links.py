"""Explain is linked from every time entry, session and invoice line where they are shown
(to the roles that may read it), and explains an invoice line by the items it bills."""

from __future__ import annotations

import pytest
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from contracts.models import TimeEntryState
from invoices import services
from invoices.models import InvoiceLine
from tests.contracts.factories import TicketFactory, TimeEntryFactory, bill_entries

from .factories import InvoiceFactory, InvoiceLineFactory

pytestmark = pytest.mark.django_db
EXPLAIN = reverse("contracts:rate-rule-explain")


def explain(kind, pk) -> str:
    return f'href="{EXPLAIN}?{kind}={pk}"'


def get(client, name, *args, **params) -> str:
    response = client.get(reverse(name, args=args), params)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def billed(tenant_a, tenant_b):
    """A draft with a time line of two entries and a fee line; a ticket with its work."""
    with tenant_context(tenant_a):
        ticket = TicketFactory(tenant=tenant_a, title="Server down")
        entries = [
            TimeEntryFactory(tenant=tenant_a, ticket=ticket, state=TimeEntryState.POSTED)
            for _ in range(2)
        ]
        waiting = TimeEntryFactory(tenant=tenant_a, ticket=ticket)
        invoice = InvoiceFactory(tenant=tenant_a, organization=ticket.organization, draft=True)
        time_line = InvoiceLineFactory(
            tenant=tenant_a, invoice=invoice, kind="time", description="Support"
        )
        fee = InvoiceLineFactory(tenant=tenant_a, invoice=invoice, description="Setup fee")
        assert bill_entries(time_line, entries) == 2
    return {
        "ticket": ticket,
        "entries": entries,
        "waiting": waiting,
        "invoice": invoice,
        "time_line": time_line,
        "fee": fee,
    }


def test_invoice_lines_and_their_entries_link_explain(client_as, staff_a, billed):
    page = get(
        client_as(staff_a.user(Role.ACCOUNTANT)), "invoices:invoice-detail", billed["invoice"].pk
    )
    assert explain("invoice_line", billed["time_line"].pk) in page
    assert explain("invoice_line", billed["fee"].pk) in page
    for entry in billed["entries"]:
        assert explain("time_entry", entry.pk) in page


def test_ticket_work_and_approvals_link_explain_for_billing_readers(client_as, staff_a, billed):
    ticket = billed["ticket"]
    admin = client_as(staff_a.user(Role.BILLING_ADMIN))
    work = get(admin, "contracts:ticket-detail", ticket.pk)
    for entry in [*billed["entries"], billed["waiting"]]:
        assert explain("time_entry", entry.pk) in work
    assert explain("time_entry", billed["waiting"].pk) in get(admin, "contracts:approvals")
    # A technician cannot open Explain (it shows rates): no link is offered.
    technician = client_as(staff_a.user(Role.TECHNICIAN))
    assert EXPLAIN not in get(technician, "contracts:ticket-detail", ticket.pk)


def test_the_sessions_to_invoice_link_explain(client_as, staff_a, acme, acme_b):
    page = get(
        client_as(staff_a.user(Role.BILLING_ADMIN)),
        "invoices:session-invoice-new",
        scope="group",
        id=acme.group.pk,
    )
    for session in (acme.jane_updates, acme.jane_backup, acme.joseph_printer):
        assert explain("session", session.pk) in page


def test_explain_an_invoice_line_by_the_items_it_bills(client_as, staff_a, acme, billed, tenant_b):
    client = client_as(staff_a.user(Role.ACCOUNTANT))
    two = get(client, "contracts:rate-rule-explain", invoice_line=billed["time_line"].pk)
    assert "Invoice line" in two and "Support" in two and "It bills 2 items" in two
    for entry in billed["entries"]:
        assert explain("time_entry", entry.pk).replace("&", "&amp;") in two
    fee = get(client, "contracts:rate-rule-explain", invoice_line=billed["fee"].pk)
    assert "Setup fee" in fee and "no rate rule applies" in fee

    # A session invoice's line bills one session: it is explained at once.
    with tenant_context(acme.tenant):
        invoice = services.session_invoice_create(scope="session", object_id=acme.jane_updates.pk)
        line = InvoiceLine.objects.get(invoice=invoice)
    one = get(client, "contracts:rate-rule-explain", invoice_line=line.pk)
    assert "It bills one item" in one and f"Session {acme.jane_updates.pk}" in one

    with tenant_context(tenant_b):
        theirs = InvoiceLineFactory(tenant=tenant_b)
    other = get(client, "contracts:rate-rule-explain", invoice_line=theirs.pk)
    assert (
        "No such time entry, session or invoice line." in other and "Invoice line</h2>" not in other
    )
