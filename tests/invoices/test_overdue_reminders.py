"""Overdue marks and payment reminders: the daily receivables run, day by day.

The clock is frozen and moved a day at a time; each reminder goes through the real
delivery path (the e-mail task, eager in tests) to an SMTP server on loopback.

Due dates from payment terms at finalisation (the tenant's default, the customer's and
the draft's own terms) are covered in tests/invoices/test_services.py and
tests/core/test_payment_terms.py.

Figures (tenant A, EUR, reminder days -3, 7, 14): "Harbor Logistics" is invoiced
1,250.00 on 11 Mar 2026, due 10 Apr 2026. Reminders are due on 7, 17 and 24 April;
the invoice is overdue from 11 April.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest

from billing_site import services as core_services
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from invoices import services
from invoices.emails.models import EmailStatus, InvoiceEmail
from invoices.models import CreditDisposition, Invoice, InvoiceStatus
from invoices.receivables.services import receivables_daily
from invoices.selectors import tenant_today
from invoices.tasks import receivables_daily_task

from .factories import InvoiceFactory

pytestmark = pytest.mark.django_db
D = Decimal
UTC = dt.UTC
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
ISSUED = dt.date(2026, 3, 11)
DUE = dt.date(2026, 4, 10)

SUBJECT = "Reminder: {number} {when}"
BODY = (
    "Dear {customer},\n\ninvoice {number} of {amount_due}, due on {due_date}, {when}.\n\n"
    "Kind regards,\n{company}"
)


@pytest.fixture
def reminding(in_tenant_a):
    """Tenant A (Europe/Paris) reminding at -3, 7 and 14 days with its own wording."""
    return core_services.tenant_update(
        tenant=in_tenant_a,
        reminder_offsets="-3, 7, 14",
        reminder_email_subject=SUBJECT,
        reminder_email_body=BODY,
    )


def at(traveller, day: dt.date, hour: int = 7, zone=PARIS) -> None:
    """Move the frozen clock to ``hour`` o'clock on ``day`` in ``zone``."""
    traveller.move_to(dt.datetime.combine(day, dt.time(hour), tzinfo=zone), tick=False)


def customer(tenant, name, address="ap@harbor.example", **fields):
    return OrganizationFactory(
        tenant=tenant, name=name, billing_contact_email=address, currency="EUR", **fields
    )


def issue(organization, amount="1250.00", *, due=DUE, issued=ISSUED, sent=True) -> Invoice:
    """An invoice of one untaxed line, finalised (and marked sent unless ``sent=False``)."""
    draft = InvoiceFactory(tenant=organization.tenant, organization=organization, draft=True)
    services.invoice_line_add(
        invoice=draft, description="Managed services", quantity="1", unit_price=amount
    )
    services.invoice_update_draft(invoice=draft, issue_date=issued, due_date=due)
    invoice = services.invoice_finalize(invoice=draft)
    if sent:
        services.invoice_mark_sent(invoice=invoice)
    return Invoice.objects.get(pk=invoice.pk)


def run(capture) -> dict[str, int]:
    """One daily run, its reminders handed to the mail server."""
    with capture(execute=True):
        return receivables_daily()


def marked(invoice) -> dt.date | None:
    return Invoice.objects.get(pk=invoice.pk).marked_overdue_on


def reminder_rows(invoice) -> list[tuple[int, str]]:
    return list(
        InvoiceEmail.objects.filter(invoice=invoice)
        .order_by("reminder_days")
        .values_list("reminder_days", "status")
    )


def days(first: dt.date, last: dt.date):
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


# --- Overdue marks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "last_moment_due", "first_moment_overdue"),
    [
        # UTC+13 (daylight time): midnight of 21 March there is 11:00 UTC on the 20th.
        (
            "Pacific/Auckland",
            dt.datetime(2026, 3, 20, 10, 59, 59, tzinfo=UTC),
            dt.datetime(2026, 3, 20, 11, 0, tzinfo=UTC),
        ),
        # UTC−7 (daylight time): in UTC it has been 21 March for seven hours already.
        (
            "America/Los_Angeles",
            dt.datetime(2026, 3, 21, 6, 59, 59, tzinfo=UTC),
            dt.datetime(2026, 3, 21, 7, 0, tzinfo=UTC),
        ),
    ],
)
def test_overdue_from_the_day_after_the_due_date_in_the_tenants_zone(
    tenant_a,
    tenant_b,
    frozen_now,
    django_capture_on_commit_callbacks,
    zone,
    last_moment_due,
    first_moment_overdue,
):
    core_services.tenant_update(tenant=tenant_a, time_zone=zone)
    with tenant_context(tenant_b):  # long overdue, and never touched by tenant A's run
        elsewhere = issue(
            customer(tenant_b, "Bravo Client"), due=dt.date(2026, 3, 1), issued=dt.date(2026, 2, 1)
        )
    with tenant_context(tenant_a):
        # Final, not sent: overdue all the same (no reminder is ever sent for it).
        invoice = issue(
            customer(tenant_a, "Kiwi Freight"),
            "300.00",
            due=dt.date(2026, 3, 20),
            issued=dt.date(2026, 3, 1),
            sent=False,
        )
        frozen_now.move_to(last_moment_due, tick=False)
        assert tenant_today() == dt.date(2026, 3, 20)
        assert run(django_capture_on_commit_callbacks) == {
            "marked_overdue": 0,
            "cleared_overdue": 0,
            "reminders": 0,
            "reminders_without_address": 0,
        }
        assert marked(invoice) is None
        assert Invoice.objects.get(pk=invoice.pk).is_overdue is False

        frozen_now.move_to(first_moment_overdue, tick=False)
        assert tenant_today() == dt.date(2026, 3, 21)
        assert run(django_capture_on_commit_callbacks)["marked_overdue"] == 1
        assert marked(invoice) == dt.date(2026, 3, 21)
        assert Invoice.objects.get(pk=invoice.pk).is_overdue is True
        # Again the same day, and the next: the mark keeps its first day.
        assert run(django_capture_on_commit_callbacks)["marked_overdue"] == 0
        frozen_now.move_to(first_moment_overdue + dt.timedelta(days=1), tick=False)
        assert run(django_capture_on_commit_callbacks)["marked_overdue"] == 0
        assert marked(invoice) == dt.date(2026, 3, 21)
        assert not InvoiceEmail.objects.exists()
    with tenant_context(tenant_b):
        assert marked(elsewhere) is None


def _pay_in_full(invoice, day):
    services.payment_record(
        invoice=invoice, amount="1250.00", received_on=day, method="bank_transfer"
    )


def _credit_in_full(invoice, day):
    services.credit_note_create(
        invoice=invoice, reason="Waived", credit_disposition=CreditDisposition.WRITE_OFF
    )


def _void(invoice, day):
    services.invoice_void(invoice=invoice, reason="Billed to the wrong customer")


@pytest.mark.parametrize(
    "settle", [_pay_in_full, _credit_in_full, _void], ids=["paid", "credited", "void"]
)
def test_settling_clears_the_mark_at_once_and_stops_the_reminders(
    mailbox, reminding, frozen_now, django_capture_on_commit_callbacks, settle
):
    invoice = issue(customer(reminding, "Harbor Logistics"))
    for day in days(dt.date(2026, 4, 5), dt.date(2026, 4, 11)):
        at(frozen_now, day)
        run(django_capture_on_commit_callbacks)
    assert marked(invoice) == dt.date(2026, 4, 11)
    assert reminder_rows(invoice) == [(-3, EmailStatus.SENT)]
    assert len(mailbox.messages) == 1

    at(frozen_now, dt.date(2026, 4, 12))
    settle(invoice, dt.date(2026, 4, 12))
    # Cleared by the payment, the credit note or the void itself, not by the next run.
    assert marked(invoice) is None
    assert Invoice.objects.get(pk=invoice.pk).balance_due == D("0")
    for day in days(dt.date(2026, 4, 12), dt.date(2026, 5, 10)):
        at(frozen_now, day)
        result = run(django_capture_on_commit_callbacks)
        assert (result["marked_overdue"], result["reminders"]) == (0, 0), day
    assert marked(invoice) is None
    assert reminder_rows(invoice) == [(-3, EmailStatus.SENT)]
    assert len(mailbox.messages) == 1


def test_a_partial_payment_keeps_the_mark_and_removing_a_payment_brings_it_back(
    reminding, frozen_now, django_capture_on_commit_callbacks
):
    invoice = issue(customer(reminding, "Harbor Logistics"))
    at(frozen_now, dt.date(2026, 4, 11))
    assert run(django_capture_on_commit_callbacks)["marked_overdue"] == 1
    at(frozen_now, dt.date(2026, 4, 13))
    services.payment_record(
        invoice=invoice, amount="1000.00", received_on=dt.date(2026, 4, 13), method="bank_transfer"
    )
    assert marked(invoice) == dt.date(2026, 4, 11)
    rest = services.payment_record(
        invoice=invoice, amount="250.00", received_on=dt.date(2026, 4, 13), method="bank_transfer"
    )
    assert marked(invoice) is None
    at(frozen_now, dt.date(2026, 4, 15))
    services.payment_delete(payment=rest)  # recorded by mistake: 250.00 is owed again
    assert marked(invoice) == dt.date(2026, 4, 15)
    assert Invoice.objects.get(pk=invoice.pk).balance_due == D("250.00")


# --- Reminders -------------------------------------------------------------------------


def test_one_reminder_on_each_reminder_day_over_a_month_of_daily_runs(
    mailbox, reminding, frozen_now, django_capture_on_commit_callbacks
):
    invoice = issue(customer(reminding, "Harbor Logistics"))
    other = issue(
        customer(reminding, "Dune Bakery", "ap@dune.example"), "80.00", due=dt.date(2026, 5, 20)
    )
    received: dict[dt.date, list] = {}
    for day in days(dt.date(2026, 3, 12), dt.date(2026, 5, 12)):
        at(frozen_now, day)
        before = len(mailbox.messages)
        first = run(django_capture_on_commit_callbacks)
        again = run(django_capture_on_commit_callbacks)  # a second run the same day
        assert again == {
            "marked_overdue": 0,
            "cleared_overdue": 0,
            "reminders": 0,
            "reminders_without_address": 0,
        }, day
        if mailbox.messages[before:]:
            received[day] = mailbox.messages[before:]
            assert first["reminders"] == len(received[day]), day
        if day == dt.date(2026, 4, 12):
            services.payment_record(
                invoice=invoice, amount="250.00", received_on=day, method="bank_transfer"
            )
        if day == dt.date(2026, 4, 11):
            assert first["marked_overdue"] == 1
            assert marked(invoice) == day and marked(other) is None

    number = invoice.number
    expected = {
        dt.date(2026, 4, 7): ("is due on April 10, 2026", "€1,250.00"),
        dt.date(2026, 4, 17): ("was due on April 10, 2026 (7 days ago)", "€1,000.00"),
        dt.date(2026, 4, 24): ("was due on April 10, 2026 (14 days ago)", "€1,000.00"),
    }
    assert sorted(received) == [dt.date(2026, 4, 7), dt.date(2026, 4, 17), dt.date(2026, 4, 24)]
    for day, messages in received.items():
        when, amount = expected[day]
        ((recipients, message),) = messages
        assert recipients == ["ap@harbor.example"]
        assert message["To"] == "ap@harbor.example"
        assert message["Subject"] == f"Reminder: {number} {when}"
        assert message.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip("\n") == (
            f"Dear Harbor Logistics,\n\ninvoice {number} of {amount}, due on April 10, 2026, "
            f"{when}.\n\nKind regards,\nAlpha IT SARL"
        )
        (attachment,) = list(message.iter_attachments())
        assert attachment.get_filename() == f"{number}.pdf"
    rows = InvoiceEmail.objects.filter(invoice=invoice).order_by("reminder_days")
    assert [
        (row.reminder_days, row.status, row.created_at.astimezone(PARIS).date()) for row in rows
    ] == [
        (-3, EmailStatus.SENT, dt.date(2026, 4, 7)),
        (7, EmailStatus.SENT, dt.date(2026, 4, 17)),
        (14, EmailStatus.SENT, dt.date(2026, 4, 24)),
    ]
    # Dune Bakery is due 20 May: its first reminder day, 17 May, is after the runs.
    assert not InvoiceEmail.objects.filter(invoice=other).exists()
    final = Invoice.objects.get(pk=invoice.pk)
    assert (final.status, final.balance_due, final.marked_overdue_on) == (
        InvoiceStatus.PARTIALLY_PAID,
        D("1000.00"),
        dt.date(2026, 4, 11),
    )


def test_a_payment_between_queueing_and_delivery_cancels_the_reminder(
    mailbox, reminding, frozen_now, django_capture_on_commit_callbacks
):
    invoice = issue(customer(reminding, "Harbor Logistics"))
    at(frozen_now, dt.date(2026, 4, 17))
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert receivables_daily()["reminders"] == 1
    assert reminder_rows(invoice) == [(7, EmailStatus.PENDING)]
    _pay_in_full(invoice, dt.date(2026, 4, 17))
    with django_capture_on_commit_callbacks(execute=True):
        for callback in queued:
            callback()
    assert reminder_rows(invoice) == [(7, EmailStatus.CANCELLED)]
    assert mailbox.messages == []
    # Day 7 counts as done: nothing at the next runs either.
    for day in days(dt.date(2026, 4, 17), dt.date(2026, 4, 30)):
        at(frozen_now, day)
        assert run(django_capture_on_commit_callbacks)["reminders"] == 0
    assert mailbox.messages == []


def test_no_reminder_for_a_customer_with_reminders_off_nor_an_invoice_never_sent(
    mailbox, reminding, frozen_now, django_capture_on_commit_callbacks
):
    quiet = issue(customer(reminding, "Quiet Ltd", "ap@quiet.example", reminders_enabled=False))
    unsent = issue(customer(reminding, "Unsent Ltd", "ap@unsent.example"), sent=False)
    assert unsent.status == InvoiceStatus.FINAL
    for day in days(dt.date(2026, 4, 1), dt.date(2026, 5, 1)):
        at(frozen_now, day)
        assert run(django_capture_on_commit_callbacks)["reminders"] == 0, day
    assert mailbox.messages == []
    assert not InvoiceEmail.objects.exists()
    # Both are overdue all the same.
    assert marked(quiet) == marked(unsent) == dt.date(2026, 4, 11)


def test_a_missed_run_sends_only_the_latest_reminder_day_reached(
    mailbox, reminding, frozen_now, django_capture_on_commit_callbacks
):
    invoice = issue(customer(reminding, "Harbor Logistics"))
    at(frozen_now, dt.date(2026, 4, 1))
    assert run(django_capture_on_commit_callbacks)["reminders"] == 0
    # No run for 19 days: -3 and 7 were both reached meanwhile; only 7 goes out.
    at(frozen_now, dt.date(2026, 4, 20))
    result = run(django_capture_on_commit_callbacks)
    assert (result["marked_overdue"], result["reminders"]) == (1, 1)
    assert marked(invoice) == dt.date(2026, 4, 20)
    ((_, message),) = mailbox.messages
    assert (
        message["Subject"] == f"Reminder: {invoice.number} was due on April 10, 2026 (10 days ago)"
    )
    assert run(django_capture_on_commit_callbacks)["reminders"] == 0
    for day in days(dt.date(2026, 4, 21), dt.date(2026, 4, 30)):
        at(frozen_now, day)
        run(django_capture_on_commit_callbacks)
    assert [m["Subject"] for _, m in mailbox.messages] == [
        f"Reminder: {invoice.number} was due on April 10, 2026 (10 days ago)",
        f"Reminder: {invoice.number} was due on April 10, 2026 (14 days ago)",
    ]
    assert reminder_rows(invoice) == [(7, EmailStatus.SENT), (14, EmailStatus.SENT)]


def test_a_customer_without_an_address_gets_a_failed_reminder_and_no_message(
    mailbox, reminding, frozen_now, django_capture_on_commit_callbacks
):
    invoice = issue(customer(reminding, "Silent SARL", ""))
    at(frozen_now, dt.date(2026, 4, 7))
    assert run(django_capture_on_commit_callbacks) == {
        "marked_overdue": 0,
        "cleared_overdue": 0,
        "reminders": 0,
        "reminders_without_address": 1,
    }
    row = InvoiceEmail.objects.get(invoice=invoice)
    assert (row.reminder_days, row.status, row.to) == (-3, EmailStatus.FAILED, "")
    assert row.error == "Silent SARL has no billing e-mail address: the reminder was not sent."
    assert mailbox.messages == []
    # Not tried again the same day nor the next; the next reminder day tries again.
    assert run(django_capture_on_commit_callbacks)["reminders_without_address"] == 0
    at(frozen_now, dt.date(2026, 4, 8))
    assert run(django_capture_on_commit_callbacks)["reminders_without_address"] == 0
    at(frozen_now, dt.date(2026, 4, 17))
    assert run(django_capture_on_commit_callbacks)["reminders_without_address"] == 1
    assert reminder_rows(invoice) == [(-3, EmailStatus.FAILED), (7, EmailStatus.FAILED)]
    assert mailbox.messages == []


def test_the_task_runs_each_tenant_in_its_own_zone_with_its_own_reminder_days(
    mailbox, tenant_a, tenant_b, frozen_now, django_capture_on_commit_callbacks
):
    core_services.tenant_update(
        tenant=tenant_a, time_zone="Pacific/Auckland", reminder_offsets="7, 14"
    )
    core_services.tenant_update(
        tenant=tenant_b,
        time_zone="America/Los_Angeles",
        reminder_offsets="1",
        invoice_prefix="BRV-",
    )
    due = dt.date(2026, 3, 20)
    with tenant_context(tenant_a):
        alpha = issue(
            customer(tenant_a, "Kiwi Freight", "ap@kiwi.example"),
            due=due,
            issued=dt.date(2026, 3, 1),
        )
    with tenant_context(tenant_b):
        bravo = issue(
            customer(tenant_b, "Surf Shop", "ap@surf.example"), due=due, issued=dt.date(2026, 3, 1)
        )

    def task_at(moment: dt.datetime) -> dict[str, int]:
        frozen_now.move_to(moment, tick=False)
        with django_capture_on_commit_callbacks(execute=True):
            return receivables_daily_task.delay().get()

    def subjects() -> list[str]:
        return [message["Subject"] for _, message in mailbox.messages]

    # 11:30 UTC on 21 March: 00:30 on the 22nd in Auckland (day 2 after the due date),
    # 04:30 on the 21st in Los Angeles (day 1: tenant B's reminder day).
    assert task_at(dt.datetime(2026, 3, 21, 11, 30, tzinfo=UTC)) == {
        "tenants": 2,
        "marked_overdue": 2,
        "cleared_overdue": 0,
        "reminders": 1,
        "reminders_without_address": 0,
    }
    with tenant_context(tenant_a):
        assert marked(alpha) == dt.date(2026, 3, 22)
        assert not InvoiceEmail.objects.exists()
    with tenant_context(tenant_b):
        assert marked(bravo) == dt.date(2026, 3, 21)
        assert reminder_rows(bravo) == [(1, EmailStatus.SENT)]
    assert subjects() == [f"Reminder: invoice {bravo.number} was due on March 20, 2026 (1 day ago)"]
    assert bravo.number.startswith("BRV-")

    # 10:59 UTC on 26 March is 23:59 on the 26th in Auckland (day 6): nothing yet.
    assert task_at(dt.datetime(2026, 3, 26, 10, 59, tzinfo=UTC))["reminders"] == 0
    # A minute later it is the 27th there, day 7: tenant A's first reminder.
    assert task_at(dt.datetime(2026, 3, 26, 11, 0, tzinfo=UTC))["reminders"] == 1
    assert subjects()[1:] == [
        f"Reminder: invoice {alpha.number} was due on March 20, 2026 (7 days ago)"
    ]
    assert mailbox.messages[1][0] == ["ap@kiwi.example"]
    with tenant_context(tenant_a):
        assert reminder_rows(alpha) == [(7, EmailStatus.SENT)]
    with tenant_context(tenant_b):
        assert reminder_rows(bravo) == [(1, EmailStatus.SENT)]
