"""Time journeys in the browser: a timesheet saved with an error then fixed (values kept,
the cell marked, totals while typing), and the approvals queue (select all, approve with
the count and totals shown, post after a confirmation)."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from contracts.choices import TimeEntryState
from contracts.models import TimeEntry
from tests.contracts.factories import ContractFactory, TicketFactory, TimeEntryFactory

from .conftest import login, shot

pytestmark = pytest.mark.django_db(transaction=True)


def ticket_of(tenant):
    """Ticket #12 "Printer jam" of ACME on an hourly contract rounding each entry up to
    15 min, at the tenant's default 100 €/h."""
    with tenant_context(tenant):
        acme = OrganizationFactory(tenant=tenant, name="ACME", currency="EUR")
        contract = ContractFactory(
            tenant=tenant, customer=acme, name="ACME support", rounding_increment_minutes=15
        )
        return TicketFactory(
            tenant=tenant, organization=acme, contract=contract, number=12, title="Printer jam"
        )


def test_timesheet_with_an_error_then_a_fix(page, tenant_a, staff_user):
    ticket = ticket_of(tenant_a)
    tech = staff_user(Role.TECHNICIAN)
    login(page, tech)
    page.goto("/contracts/timesheet/")
    row = page.locator("[data-timesheet-row]").first
    row.get_by_label("Ticket, row 1").select_option(label="#12 Printer jam (ACME)")
    row.get_by_label("Billing, row 1").select_option("Billable")
    monday, tuesday = row.locator("input[data-day='0']"), row.locator("input[data-day='1']")
    monday.fill("1.5")
    # Totals follow the typing, before anything is sent.
    expect(row.locator("[data-row-total]")).to_have_text("1 h 30 min")
    expect(page.locator("[data-week-total]")).to_have_text("1 h 30 min")
    tuesday.fill("abc")
    expect(tuesday).to_have_attribute("aria-invalid", "true")

    page.get_by_role("button", name="Save week").click()
    expect(page.locator(".messages")).to_contain_text("Nothing was saved")
    row = page.locator("[data-timesheet-row]").first
    monday, tuesday = row.locator("input[data-day='0']"), row.locator("input[data-day='1']")
    # Every value kept, the cell and its row marked, the message next to the cell.
    expect(monday).to_have_value("1.5")
    expect(tuesday).to_have_value("abc")
    expect(row.get_by_label("Ticket, row 1")).to_have_value(str(ticket.pk))
    expect(tuesday).to_have_attribute("aria-invalid", "true")
    expect(row).to_have_class("row-error")
    expect(row.locator("td.has-error .errorlist")).to_have_text(
        "“abc” is not a number of hours (use 1.5 or 1:30)."
    )
    with tenant_context(tenant_a):
        assert not TimeEntry.objects.exists()

    tuesday.fill("0:45")
    expect(page.locator("[data-week-total]")).to_have_text("2 h 15 min")
    page.get_by_role("button", name="Save week").click()
    expect(page.locator(".messages")).to_contain_text("Timesheet saved (2 day(s) changed).")
    saved = page.locator("[data-timesheet-row]").first
    expect(saved).to_contain_text("#12 Printer jam")
    expect(saved.locator("input[data-day='0']")).to_have_value("1:30")
    expect(saved.locator("input[data-day='1']")).to_have_value("0:45")
    expect(saved.locator("[data-row-total]")).to_have_text("2 h 15 min")
    expect(page.locator("[data-week-total]")).to_have_text("2 h 15 min")
    expect(page.locator("tr.row-error")).to_have_count(0)
    with tenant_context(tenant_a):
        assert sorted(TimeEntry.objects.values_list("worked_seconds", flat=True)) == [2700, 5400]
    shot(page, "time-timesheet-fixed")


def test_approvals_select_all_approve_then_post_with_confirmation(page, tenant_a, staff_user):
    ticket = ticket_of(tenant_a)
    tech = staff_user(Role.TECHNICIAN)
    with tenant_context(tenant_a):
        # 1 h, 20 min (billed 30 min) and 10 min (billed 15 min): 1 h 45 min at 100 €/h.
        for day, seconds in ((2, 3600), (3, 1200), (4, 600)):
            TimeEntryFactory(
                tenant=tenant_a,
                ticket=ticket,
                technician=tech,
                work_date=dt.date(2026, 2, day),
                worked_seconds=seconds,
            )
    login(page, staff_user(Role.BILLING_ADMIN))
    page.goto("/contracts/approvals/")
    expect(page.locator("#queue-totals")).to_contain_text("3 entries · 1 h 30 min · €175.00")

    # The first "Select all" used to reload the table and lose the ticks.
    page.get_by_label("Select all").check()
    boxes = page.locator("input[name=ids]")
    expect(boxes).to_have_count(3)
    for n in range(3):
        expect(boxes.nth(n)).to_be_checked()
    expect(page.locator("#selection-totals")).to_have_text(
        "Selected: 3 entries · 1 h 30 min · €175.00"
    )
    page.get_by_role("button", name="Approve selected").click()
    expect(page.locator("#approval-table .messages")).to_have_text(
        "3 entries approved: 1 h 30 min worked, €175.00."
    )
    with tenant_context(tenant_a):
        assert TimeEntry.objects.filter(state=TimeEntryState.APPROVED).count() == 3

    page.get_by_label("State").select_option("Approved")
    expect(page.locator("#queue-totals")).to_contain_text("3 entries")
    page.get_by_label("Select all").check()
    expect(page.locator("#selection-totals")).to_contain_text("Selected: 3 entries")
    page.get_by_role("button", name="Post selected…").click()
    confirm = page.locator("#post-confirm")
    expect(confirm.get_by_role("heading")).to_have_text("Post 3 entries?")
    expect(confirm).to_contain_text("3 entries · 1 h 30 min · €175.00 will be frozen")
    expect(confirm).to_contain_text("#12 Printer jam (ACME), 1 h")
    with tenant_context(tenant_a):
        assert not TimeEntry.objects.filter(state=TimeEntryState.POSTED).exists()
    confirm.get_by_role("button", name="Post 3 entries").click()
    expect(page.locator("#approval-table .messages")).to_have_text(
        "3 entries posted: 1 h 30 min worked, €175.00."
    )
    expect(page.locator("#approval-table")).to_contain_text("Nothing here: all caught up.")
    with tenant_context(tenant_a):
        assert TimeEntry.objects.filter(state=TimeEntryState.POSTED).count() == 3
    shot(page, "time-approvals-posted")
