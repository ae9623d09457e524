"""The daily receivables run: overdue marks and payment reminders.

Overdue is one rule (``Invoice.is_overdue_on``; ``selectors.overdue_receivables`` in
SQL): an issued invoice past its due date, in the tenant's calendar, with a balance left.
The run writes ``marked_overdue_on`` where the rule holds and clears it where it no
longer does; a payment, a credit note or a void clears it at once (``overdue_refresh``
with the invoices it touched), so a paid invoice is never shown overdue until the next
run.

A reminder goes out on each of the tenant's reminder days (days from the due date),
once per invoice and day (a database constraint), only for an invoice the customer has
(sent or partially paid) with a balance left, and never for a customer whose reminders
are off. A run that missed days sends only the latest day reached, never a series of
stale ones; the message is checked again when it is handed to the mail server, so a
payment in between stops it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Max, OuterRef, Q, Subquery
from django.utils import timezone

from billing_site.mail_templates import REMINDER
from billing_site.models import Tenant
from billing_site.tenancy import require_current_tenant

from ..document import document_date
from ..emails.models import EmailStatus, InvoiceEmail
from ..emails.services import email_drafts, enqueue_emails
from ..models import Invoice, InvoiceKind, InvoiceStatus
from ..parties import document_locale
from ..selectors import overdue_receivables, tenant_today, with_balance

# Only an invoice the customer has is reminded of (one merely final was never sent).
REMINDED_STATUSES = (InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID)


@dataclass(frozen=True)
class OverdueRefresh:
    marked: int
    cleared: int


@dataclass(frozen=True)
class RemindersQueued:
    queued: list[InvoiceEmail]
    without_address: list[InvoiceEmail]


@transaction.atomic
def overdue_refresh(
    *, today: dt.date | None = None, invoice_ids: Iterable[int] | None = None
) -> OverdueRefresh:
    """Mark what is overdue today and clear what no longer is (two UPDATEs), for every
    invoice of the tenant or only ``invoice_ids``."""
    today = today or tenant_today()
    scope = Invoice.objects.filter(kind=InvoiceKind.INVOICE)
    if invoice_ids is not None:
        scope = scope.filter(pk__in=list(invoice_ids))
    overdue_ids = overdue_receivables(scope, today=today).values("pk")
    marked = scope.filter(pk__in=overdue_ids, marked_overdue_on__isnull=True).update(
        marked_overdue_on=today
    )
    cleared = (
        scope.filter(marked_overdue_on__isnull=False)
        .exclude(pk__in=overdue_ids)
        .update(marked_overdue_on=None)
    )
    return OverdueRefresh(marked=marked, cleared=cleared)


def _when(invoice: Invoice, today: dt.date) -> str:
    # The date as the invoice e-mail and the PDF write it, in the document's locale.
    due = document_date(invoice.due_date, document_locale(invoice.organization, invoice.locale))
    late = (today - invoice.due_date).days
    if late < 0:
        return f"is due on {due}"
    if late == 0:
        return f"is due today, {due}"
    return f"was due on {due} ({late} day{'s' if late != 1 else ''} ago)"


def reminder_candidates(*, today: dt.date) -> list[tuple[Invoice, int]]:
    """Each invoice to remind today with the reminder day it is at (one query)."""
    days = require_current_tenant().reminder_days
    if not days:
        return []
    last_reminded = (
        InvoiceEmail.objects.filter(invoice=OuterRef("pk"), reminder_days__isnull=False)
        .order_by()
        .values("invoice")
        .annotate(last=Max("reminder_days"))
        .values("last")
    )
    invoices = (
        with_balance(Invoice.objects.select_related("organization"))
        .filter(
            kind=InvoiceKind.INVOICE,
            status__in=REMINDED_STATUSES,
            balance__gt=0,
            due_date__isnull=False,
            # The earliest reminder day reached by today.
            due_date__lte=today - dt.timedelta(days=days[0]),
        )
        .filter(Q(organization__isnull=True) | Q(organization__reminders_enabled=True))
        .annotate(last_reminded=Subquery(last_reminded))
        .order_by("due_date", "pk")
    )
    chosen = []
    for invoice in invoices:
        reached = [day for day in days if invoice.due_date + dt.timedelta(days=day) <= today]
        day = reached[-1]
        if invoice.last_reminded is None or day > invoice.last_reminded:
            chosen.append((invoice, day))
    return chosen


@transaction.atomic
def reminders_queue(
    *, today: dt.date | None = None, base_url: str | None = None
) -> RemindersQueued:
    """Write today's reminders and queue them after commit. A reminder already written
    for an invoice and day, or an invoice with a message being sent, is skipped by the
    database (the run may race another run or a "Send")."""
    today = today or tenant_today()
    # One run at a time per tenant: a second run waits, then finds today's rows written.
    Tenant.objects.select_for_update().filter(pk=require_current_tenant().pk).first()
    started = timezone.now()
    candidates = reminder_candidates(today=today)
    if not candidates:
        return RemindersQueued(queued=[], without_address=[])
    base_url = settings.SITE_URL if base_url is None else base_url
    drafts = email_drafts(
        invoices=[invoice for invoice, _ in candidates],
        base_url=base_url,
        template=REMINDER,
        extra=lambda invoice: {"when": _when(invoice, today)},
    )
    rows = []
    for invoice, day in candidates:
        draft = drafts[invoice.pk]
        row = InvoiceEmail(
            tenant_id=invoice.tenant_id,
            invoice=invoice,
            to="\n".join(draft.to),
            cc="\n".join(draft.cc),
            subject=draft.subject,
            body=draft.body,
            reminder_days=day,
        )
        if not draft.to:
            row.status = EmailStatus.FAILED
            row.error = (
                f"{invoice.bill_to_name} has no billing e-mail address: the reminder was not sent."
            )
        rows.append(row)
    # An invoice whose message is being sent right now is skipped (its pending row
    # conflicts); it is reminded at the next run.
    InvoiceEmail.objects.bulk_create(rows, ignore_conflicts=True)
    written = list(
        InvoiceEmail.objects.filter(
            invoice_id__in=[invoice.pk for invoice, _ in candidates],
            reminder_days__isnull=False,
            created_at__gte=started,
        ).order_by("pk")
    )
    queued = [email for email in written if email.status == EmailStatus.PENDING]
    enqueue_emails(queued)
    return RemindersQueued(
        queued=queued,
        without_address=[email for email in written if email.status == EmailStatus.FAILED],
    )


def receivables_daily(*, today: dt.date | None = None) -> dict[str, int]:
    """The tenant's daily run: overdue marks, then reminders (each its own transaction,
    so a reminder problem never undoes the marks)."""
    today = today or tenant_today()
    refresh = overdue_refresh(today=today)
    reminders = reminders_queue(today=today)
    return {
        "marked_overdue": refresh.marked,
        "cleared_overdue": refresh.cleared,
        "reminders": len(reminders.queued),
        "reminders_without_address": len(reminders.without_address),
    }
