"""Sending invoices by e-mail (Django's e-mail framework, any backend through EMAIL_URL).

A send writes one ``InvoiceEmail`` row in its transaction and queues the message after
commit; the task hands it to the mail server with the invoice's PDF attached. The
invoice becomes *sent* only when the server accepted the message. A temporary refusal
(4xx, the server unreachable) is retried with backoff; a permanent one (5xx) fails at
once with the server's words. Each message keeps its recipients, subject, Message-ID and
result on the invoice.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import formataddr, make_msgid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing_site.mail_templates import INVOICE, MailTemplate, fill
from billing_site.money import format_money
from billing_site.tenancy import require_current_tenant

from ..document import document_date
from ..models import Invoice, InvoiceKind, InvoiceStatus
from ..parties import document_locale
from .models import EmailStatus, InvoiceEmail

SENDABLE = (
    InvoiceStatus.FINAL,
    InvoiceStatus.SENT,
    InvoiceStatus.PARTIALLY_PAID,
    InvoiceStatus.PAID,
)


class TryAgain(Exception):
    """The mail server could not take the message now."""


@dataclass(frozen=True)
class Draft:
    to: list[str]
    cc: list[str]
    subject: str
    body: str


def _addresses(value) -> list[str]:
    if isinstance(value, str):
        value = value.replace(",", "\n").replace(";", "\n").split()
    return [address.strip() for address in value or [] if address and address.strip()]


def _check_addresses(field: str, addresses: list[str], errors: dict) -> None:
    bad = []
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address)
    if bad:
        errors[field] = f"Not an e-mail address: {', '.join(bad)}."


def email_drafts(
    *,
    invoices: Sequence[Invoice],
    base_url: str = "",
    template: MailTemplate = INVOICE,
    extra: Callable[[Invoice], dict[str, str]] | None = None,
) -> dict[int, Draft]:
    """The message the tenant's ``template`` (the invoice's, or a reminder's) makes for
    each invoice, by id: to the billing contact, copies to the customer's other
    contacts, placeholders filled (``extra`` adds some of the template's own). A constant
    number of queries for any number of invoices (their contacts, their portal logins,
    the balances)."""
    from billing_site.models import Contact, Membership
    from billing_site.roles import Role

    from ..selectors import attach_credited

    tenant = require_current_tenant()
    invoices = list(invoices)
    attach_credited(invoices)
    org_ids = {invoice.organization_id for invoice in invoices if invoice.organization_id}
    contacts: dict[int, set[str]] = {}
    for org_id, address in (
        Contact.objects.filter(organization_id__in=org_ids)
        .exclude(email="")
        .values_list("organization_id", "email")
    ):
        contacts.setdefault(org_id, set()).add(address)
    logins: dict[int, set[str]] = {}
    for org_id, address in Membership.objects.filter(
        tenant=tenant, organization_id__in=org_ids, role=Role.PORTAL
    ).values_list("organization_id", "user__email"):
        logins.setdefault(org_id, set()).add(address)
    drafts = {}
    for invoice in invoices:
        organization = invoice.organization if invoice.organization_id else None
        to = _addresses(
            (organization.billing_contact_email if organization else "") or invoice.bill_to_email
        )
        cc = sorted(contacts.get(invoice.organization_id, set()) - set(to))
        portal = ""
        if base_url and set(to) & logins.get(invoice.organization_id, set()):
            portal = f"Your tickets and their hours: {base_url.rstrip('/')}/portal/"
        amount_due = invoice.balance_due if invoice.kind == InvoiceKind.INVOICE else invoice.total
        # Written like the PDF: the document's locale (the customer's, else the tenant's).
        locale = document_locale(organization, invoice.locale)
        values = {
            "number": invoice.number or "",
            "amount_due": format_money(amount_due, invoice.currency, locale),
            "due_date": document_date(invoice.due_date, locale),
            "payment_instructions": invoice.payment_instructions,
            "portal_link": portal,
            "customer": invoice.bill_to_name,
            "company": tenant.legal_name or tenant.name,
            **(extra(invoice) if extra else {}),
        }
        body = fill(getattr(tenant, template.body_field), values)
        # Lines a placeholder left empty are not kept as runs of blank lines.
        while "\n\n\n" in body:
            body = body.replace("\n\n\n", "\n\n")
        drafts[invoice.pk] = Draft(
            to=to, cc=cc, subject=fill(getattr(tenant, template.subject_field), values), body=body
        )
    return drafts


def email_draft(*, invoice: Invoice, base_url: str = "") -> Draft:
    """``email_drafts`` of one invoice."""
    return email_drafts(invoices=[invoice], base_url=base_url)[invoice.pk]


def _refusal(invoice: Invoice) -> str | None:
    if invoice.status == InvoiceStatus.DRAFT or not invoice.number:
        return "Finalise the draft before sending it."
    if invoice.status == InvoiceStatus.VOID:
        return f"{invoice.number} is void and is not sent."
    if invoice.status not in SENDABLE:
        return f"A {invoice.status} invoice is not sent."
    return None


def enqueue_emails(emails: Sequence[InvoiceEmail]) -> None:
    """Queue each message's task once the transaction that wrote it commits."""
    from ..tasks import invoice_email_send_task

    pairs = [(email.tenant_id, email.pk) for email in emails]

    def send():
        for tenant_id, email_id in pairs:
            invoice_email_send_task.delay(tenant_id, email_id)

    transaction.on_commit(send, robust=True)


@transaction.atomic
def invoice_email_send(
    *, invoice: Invoice, to, cc="", subject: str, body: str, created_by=None
) -> InvoiceEmail:
    """Queue one message of ``invoice`` (sent after commit). Errors name the field."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    errors: dict[str, str] = {}
    refusal = _refusal(invoice)
    if refusal:
        raise ValidationError({"invoice": refusal})
    to, cc = _addresses(to), _addresses(cc)
    if not to:
        errors["to"] = (
            f"{invoice.bill_to_name} has no billing e-mail address: add one to the customer "
            "or type the address here."
        )
    _check_addresses("to", to, errors)
    _check_addresses("cc", cc, errors)
    subject, body = (subject or "").strip(), (body or "").strip()
    if not subject:
        errors["subject"] = "The subject cannot be empty."
    elif len(subject) > 250 or "\n" in subject or "\r" in subject:
        errors["subject"] = "The subject is one line of at most 250 characters."
    if not body:
        errors["body"] = "The message cannot be empty."
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            email = InvoiceEmail.objects.create(
                tenant_id=invoice.tenant_id,
                invoice=invoice,
                to="\n".join(to),
                cc="\n".join(cc),
                subject=subject,
                body=body,
                created_by=created_by,
            )
    except IntegrityError as exc:
        raise ValidationError(
            {"invoice": f"An e-mail of {invoice.number} is being sent already."}
        ) from exc
    enqueue_emails([email])
    return email


def batch_invoices(batch) -> list[Invoice]:
    """A batch's invoices that can be e-mailed (numbered, not void), in number order."""
    return list(
        Invoice.objects.filter(batch_links__batch=batch)
        .exclude(status__in=(InvoiceStatus.DRAFT, InvoiceStatus.VOID))
        .select_related("organization")
        .order_by("number")
    )


@transaction.atomic
def invoices_email_send(
    *, invoices: Sequence[Invoice], base_url: str = "", created_by=None
) -> list[InvoiceEmail]:
    """Send each invoice to its billing contact with the tenant's template (a batch).
    All or nothing: an invoice that cannot be sent (no address, a draft, one being sent)
    refuses the whole send, naming it."""
    problems, rows = [], []
    pending = set(
        InvoiceEmail.objects.filter(invoice__in=invoices, status=EmailStatus.PENDING).values_list(
            "invoice_id", flat=True
        )
    )
    drafts = email_drafts(invoices=invoices, base_url=base_url)
    for invoice in invoices:
        refusal = _refusal(invoice)
        if refusal:
            problems.append(f"{invoice.number or 'a draft'}: {refusal}")
            continue
        if invoice.pk in pending:
            problems.append(f"{invoice.number}: an e-mail is being sent already.")
            continue
        draft = drafts[invoice.pk]
        if not draft.to:
            problems.append(
                f"{invoice.number}: {invoice.bill_to_name} has no billing e-mail address."
            )
            continue
        rows.append(
            InvoiceEmail(
                tenant_id=invoice.tenant_id,
                invoice=invoice,
                to="\n".join(draft.to),
                cc="\n".join(draft.cc),
                subject=draft.subject,
                body=draft.body,
                created_by=created_by,
            )
        )
    if not invoices:
        problems.append("There is no invoice to send.")
    if problems:
        raise ValidationError({"invoices": problems})
    emails = InvoiceEmail.objects.bulk_create(rows)
    enqueue_emails(emails)
    return emails


def _attachment(invoice: Invoice) -> bytes:
    """The invoice's stored PDF when it is ready, else rendered now (the same document)."""
    from ..models import PdfStatus
    from ..pdf import render_invoice_pdf

    if invoice.pdf_status == PdfStatus.READY and invoice.pdf:
        try:
            with invoice.pdf.open("rb") as handle:
                return handle.read()
        except OSError:
            pass
    return render_invoice_pdf(invoice)


def _still_owed(invoice: Invoice) -> bool:
    from ..receivables.services import REMINDED_STATUSES
    from ..selectors import attach_credited

    attach_credited([invoice])
    return invoice.status in REMINDED_STATUSES and invoice.balance_due > 0


def _domain() -> str:
    return settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"


def invoice_email_deliver(*, email_id: int) -> str:
    """Hand one queued message to the mail server (the task's body). Returns the status;
    raises TryAgain for a temporary refusal (the task retries)."""
    with transaction.atomic():
        email = InvoiceEmail.objects.select_for_update().filter(pk=email_id).first()
        if email is None or email.status != EmailStatus.PENDING:
            return email.status if email else "missing"
        invoice = Invoice.objects.select_for_update().get(pk=email.invoice_id)
        if email.is_reminder and not _still_owed(invoice):
            # Paid, credited or voided since the reminder was written: it never goes out.
            email.status = EmailStatus.CANCELLED
            email.save(update_fields=["status"])
            return EmailStatus.CANCELLED
        email.attempts += 1
        email.save(update_fields=["attempts"])
    tenant = require_current_tenant()
    message_id = make_msgid(domain=_domain())
    message = EmailMessage(
        subject=email.subject,
        body=email.body,
        from_email=formataddr((tenant.legal_name or tenant.name, settings.DEFAULT_FROM_EMAIL)),
        to=email.recipients,
        cc=email.copies,
        reply_to=[tenant.email] if tenant.email else None,
        headers={"Message-ID": message_id},
    )
    message.attach(f"{invoice.number}.pdf", _attachment(invoice), "application/pdf")
    try:
        with get_connection() as connection:
            connection.send_messages([message])
    except smtplib.SMTPRecipientsRefused as exc:
        words = "; ".join(
            f"{a}: {c} {m.decode(errors='replace')}" for a, (c, m) in exc.recipients.items()
        )
        if all(code >= 500 for code, _ in exc.recipients.values()):
            return _failed(email, f"The mail server refused the recipients ({words}).")
        raise TryAgain(words) from exc
    except smtplib.SMTPResponseException as exc:
        text = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
        if exc.smtp_code >= 500:
            return _failed(email, f"The mail server refused the message ({text}).")
        raise TryAgain(text) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise TryAgain(f"{exc.__class__.__name__}: {exc}") from exc
    now = timezone.now()
    with transaction.atomic():
        InvoiceEmail.objects.filter(pk=email.pk).update(
            status=EmailStatus.SENT, message_id=message_id, sent_at=now, error=""
        )
        # Delivered to the customer: a final invoice is sent now (paid ones stay paid).
        Invoice.objects.filter(
            pk=invoice.pk, kind=InvoiceKind.INVOICE, status=InvoiceStatus.FINAL
        ).update(status=InvoiceStatus.SENT)
    return EmailStatus.SENT


def _failed(email: InvoiceEmail, message: str) -> str:
    InvoiceEmail.objects.filter(pk=email.pk).update(status=EmailStatus.FAILED, error=message)
    return EmailStatus.FAILED


def invoice_email_give_up(*, email_id: int, error: str) -> None:
    """Retries are spent (or there is no worker to retry): the message failed."""
    InvoiceEmail.objects.filter(pk=email_id, status=EmailStatus.PENDING).update(
        status=EmailStatus.FAILED, error=error
    )
