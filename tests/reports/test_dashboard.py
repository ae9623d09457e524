"""The billing admin's morning figures on the dashboard, each linked to the list behind
it, on the reports' world (today 2026-05-20 in Paris; see ``conftest.World``).

Receivables: the batch's invoices were issued on 2 March and are unpaid, so Bistro
(1,848.00) and Verde (270.00) are overdue in EUR and Helios (80.00) in USD; ACME's is
credited in full. Added here: one EUR invoice due on 22 May (this week) and one due on
27 May (the eighth day: not this week).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from invoices.emails.models import EmailStatus, InvoiceEmail
from tests.invoices.factories import InvoiceFactory

from .conftest import TODAY

pytestmark = pytest.mark.django_db


def panel_of(content: str) -> str:
    start = content.index("<h2>This morning</h2>")
    return content[start : content.index("</section>", start)]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.fixture
def morning(world, tenant_a):
    with tenant_context(tenant_a):
        soon = InvoiceFactory(
            tenant=tenant_a, total=Decimal("50.00"), due_date=TODAY + dt.timedelta(days=2)
        )
        InvoiceFactory(
            tenant=tenant_a, total=Decimal("65.00"), due_date=TODAY + dt.timedelta(days=7)
        )
        for status in (EmailStatus.SENT, EmailStatus.FAILED):
            InvoiceEmail.objects.create(
                tenant=tenant_a,
                invoice=soon,
                to="a@example.com",
                subject="s",
                body="b",
                status=status,
            )
    return world


def test_the_morning_figures_are_right_and_link_to_their_lists(
    morning, tenant_a, staff_a, client_as
):
    content = client_as(staff_a.user(Role.BILLING_ADMIN)).get(reverse("dashboard")).content
    panel = panel_of(content.decode())
    text = text_of(panel)
    assert "Overdue (EUR) 2 · €2,118.00" in text
    assert "Overdue (USD) 1 · US$80.00" in text or "Overdue (USD) 1 · $80.00" in text
    assert "Due this week (EUR) 1 · €50.00" in text
    assert "Unbilled work (EUR)" in text and "€420.00" in text
    assert "Unbilled work (USD)" in text and "$160.00" in text
    # GBP time has no rate: shown as a warning, not as a figure of nothing.
    assert "Unbilled work (GBP)" in text and "without a rate" in text
    assert "Failed deliveries 1 e-mail" in text
    # Each figure leads to the list that holds it.
    for href in (
        "/invoices/?status=overdue",
        "/invoices/?status=due-soon",
        "/invoices/?status=email-failed",
        reverse("reports:unbilled-work"),
    ):
        assert f'href="{href}"' in panel, href


def test_the_lists_behind_the_figures_hold_what_the_figures_count(
    morning, tenant_a, staff_a, client_as
):
    client = client_as(staff_a.user(Role.BILLING_ADMIN))
    due_soon = client.get(reverse("invoices:invoice-list"), {"status": "due-soon"})
    assert due_soon.status_code == 200
    assert len(due_soon.context["page_obj"].object_list) == 1
    assert due_soon.context["page_obj"].object_list[0].total == Decimal("50.00")
    failed = client.get(reverse("invoices:invoice-list"), {"status": "email-failed"})
    assert [invoice.total for invoice in failed.context["page_obj"].object_list] == [
        Decimal("50.00")
    ]
    overdue = client.get(reverse("invoices:invoice-list"), {"status": "overdue"})
    assert sorted(i.balance for i in overdue.context["page_obj"].object_list) == [
        Decimal("80.00"),
        Decimal("270.00"),
        Decimal("1848.00"),
    ]


def test_an_email_sent_after_a_failure_clears_it(morning, tenant_a, staff_a, client_as):
    with tenant_context(tenant_a):
        failed = InvoiceEmail.objects.get(status=EmailStatus.FAILED)
        InvoiceEmail.objects.create(
            tenant=tenant_a,
            invoice=failed.invoice,
            to="a@example.com",
            subject="s",
            body="b",
            status=EmailStatus.SENT,
        )
    content = client_as(staff_a.user(Role.BILLING_ADMIN)).get(reverse("dashboard")).content
    assert "Failed deliveries None" in text_of(panel_of(content.decode()))


def test_a_technician_sees_no_morning_figures(morning, staff_a, client_as):
    content = client_as(staff_a.user(Role.TECHNICIAN)).get(reverse("dashboard")).content
    assert "This morning" not in content.decode()


def test_the_dashboard_costs_the_same_queries_with_more_invoices(
    morning, tenant_a, staff_a, client_as
):
    client = client_as(staff_a.user(Role.BILLING_ADMIN))
    client.get(reverse("dashboard"))
    with CaptureQueriesContext(connection) as before:
        client.get(reverse("dashboard"))
    with tenant_context(tenant_a):
        InvoiceFactory.create_batch(
            20, tenant=tenant_a, total=Decimal("10.00"), due_date=TODAY - dt.timedelta(days=3)
        )
    with CaptureQueriesContext(connection) as after:
        content = client.get(reverse("dashboard")).content.decode()
    assert len(after) == len(before)
    assert "Overdue (EUR) 22 · €2,318.00" in text_of(panel_of(content))
