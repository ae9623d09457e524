"""Invoices: the one invoice model of the product, its lines, payments.

Life: draft (editable, no number) -> final (numbered, immutable, PDF) -> sent ->
partially paid / paid; void. Overdue is derived (past due date, balance left).
An invoice's balance is total − payments − credits applied (see ``balance_of``); a
credit note is never a receivable.
Amounts are stored with 3 decimal places so 0-, 2- and 3-decimal currencies all
fit; every stored amount is already rounded to its currency's minor unit.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q, Sum
from django.db.models.functions import Abs
from django.utils import timezone
from django.utils.functional import cached_property

from billing_site.line_text import LineWords, line_words
from billing_site.models import validate_country
from billing_site.money import validate_currency_code
from billing_site.tenancy import TenantOwnedModel, require_current_tenant
from billing_site.timeutils import validate_date_range

AMOUNT = {"max_digits": 18, "decimal_places": 3}
UNIT_PRICE = {"max_digits": 18, "decimal_places": 4}
QUANTITY = {"max_digits": 14, "decimal_places": 4}


class InvoiceKind(models.TextChoices):
    INVOICE = "invoice", "Invoice"
    CREDIT_NOTE = "credit_note", "Credit note"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    FINAL = "final", "Final"
    SENT = "sent", "Sent"
    PARTIALLY_PAID = "partially_paid", "Partially paid"
    PAID = "paid", "Paid"
    VOID = "void", "Void"


class CreditDisposition(models.TextChoices):
    """What a credit note does with the items (time, sessions, fees, blocks) of the lines
    it credits in full: chosen by the user for each credit note."""

    RELEASE = "release", "Release the items to be billed again"
    WRITE_OFF = "write_off", "Write the items off (they stay billed)"


# Issued: numbered and not void. Only an issued invoice is a receivable, and only an
# issued credit note credits anything (a void one credits nothing).
NOT_ISSUED = (InvoiceStatus.DRAFT, InvoiceStatus.VOID)
ISSUED_CREDIT_NOTE = Q(kind=InvoiceKind.CREDIT_NOTE) & ~Q(status__in=NOT_ISSUED)
RECEIVABLE = Q(kind=InvoiceKind.INVOICE) & ~Q(status__in=NOT_ISSUED)


def balance_of(*, total: Decimal, amount_paid: Decimal, credited: Decimal) -> Decimal:
    """The balance of a receivable: total − payments − credits applied, never below zero.

    The one arithmetic of the balance: ``Invoice.balance_due`` applies it to one invoice
    and ``invoices.selectors.with_balance`` writes the same in SQL for a queryset.
    """
    return max(total - amount_paid - credited, Decimal("0"))


class InvoiceSource(models.TextChoices):
    SESSIONS = "sessions", "Session log"
    BATCH = "batch", "Invoice batch"
    MANUAL = "manual", "Manual"


class SourceScope(models.TextChoices):
    """What a session invoice was generated from (the seed's three flows)."""

    SESSION = "session", "One session"
    HOST = "host", "All sessions of a host"
    GROUP = "group", "All hosts of a group"


class PdfStatus(models.TextChoices):
    NONE = "none", "Not rendered"
    PENDING = "pending", "Rendering"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Invoice(TenantOwnedModel):
    """An invoice or credit note. Seller and bill-to details are copied onto it,
    so a finalised invoice never changes when the tenant or customer does."""

    kind = models.CharField(max_length=12, choices=InvoiceKind.choices, default=InvoiceKind.INVOICE)
    status = models.CharField(
        max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    source = models.CharField(
        max_length=10, choices=InvoiceSource.choices, default=InvoiceSource.MANUAL
    )
    number = models.CharField(max_length=40, null=True, blank=True)
    organization = models.ForeignKey(
        "billing_site.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invoices",
        help_text="The billed organization, when the bill-to is a customer of the tenant.",
    )
    credited_invoice = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="credit_notes"
    )
    currency = models.CharField(max_length=3, validators=[validate_currency_code])
    locale = models.CharField(
        max_length=16,
        default="en_US",
        help_text="Formats money and dates on this invoice (copied from the tenant).",
    )
    # Where a session invoice came from, kept for the detail page and re-generation.
    source_scope = models.CharField(max_length=10, choices=SourceScope.choices, blank=True)
    source_object_id = models.PositiveBigIntegerField(null=True, blank=True)
    source_label = models.CharField(
        max_length=200, blank=True, help_text="Name of the session's host, the host or the group."
    )
    # Seller block, pre-filled from the tenant, editable per invoice while draft.
    # Each party is a snapshot (``invoices.parties``): a structured address (street lines,
    # city, postcode, region, ISO country code) and its contacts, as on the day it was made.
    seller_name = models.CharField(max_length=200)
    seller_street = models.TextField(blank=True, help_text="Street lines, one per line.")
    seller_city = models.CharField(max_length=100, blank=True)
    seller_postcode = models.CharField(max_length=20, blank=True)
    seller_region = models.CharField(max_length=100, blank=True)
    seller_country = models.CharField(max_length=2, blank=True, validators=[validate_country])
    seller_tax_id = models.CharField(max_length=60, blank=True)
    seller_email = models.EmailField(blank=True)
    seller_phone = models.CharField(max_length=40, blank=True)
    # Bill-to block.
    bill_to_name = models.CharField(max_length=200)
    bill_to_street = models.TextField(blank=True, help_text="Street lines, one per line.")
    bill_to_city = models.CharField(max_length=100, blank=True)
    bill_to_postcode = models.CharField(max_length=20, blank=True)
    bill_to_region = models.CharField(max_length=100, blank=True)
    bill_to_country = models.CharField(max_length=2, blank=True, validators=[validate_country])
    bill_to_email = models.EmailField(blank=True)
    bill_to_tax_id = models.CharField(max_length=60, blank=True)
    bill_to_phone = models.CharField(max_length=40, blank=True)
    issue_date = models.DateField(null=True, blank=True, validators=[validate_date_range])
    due_date = models.DateField(null=True, blank=True, validators=[validate_date_range])
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    payment_terms_days = models.PositiveIntegerField(default=30)
    payment_instructions = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    subtotal = models.DecimalField(**AMOUNT, default=Decimal("0"))
    tax_total = models.DecimalField(**AMOUNT, default=Decimal("0"))
    total = models.DecimalField(**AMOUNT, default=Decimal("0"))
    amount_paid = models.DecimalField(**AMOUNT, default=Decimal("0"))
    # Written by the daily receivables run (``receivables.services.overdue_refresh``) and
    # cleared as soon as nothing is left to pay; ``is_overdue_on`` is the rule it applies.
    marked_overdue_on = models.DateField(
        null=True,
        blank=True,
        help_text="The day (tenant's calendar) the invoice was found past due with a balance.",
    )
    pdf = models.FileField(upload_to="invoices/%Y/%m/", blank=True)
    pdf_status = models.CharField(max_length=10, choices=PdfStatus.choices, default=PdfStatus.NONE)
    pdf_error = models.TextField(blank=True)
    # The PDF's durable to-do record (``services.invoice_pdf_render``): a render writes its
    # file only for the version it read, so a payment or "sent" never discards it while a
    # void or "render again" does; the periodic sweep re-queues what waits too long.
    pdf_version = models.PositiveIntegerField(
        default=0, help_text="Bumped each time a new PDF is asked for (finalise, void, render)."
    )
    pdf_pending_since = models.DateTimeField(
        null=True, blank=True, help_text="When the PDF became pending (UTC); empty otherwise."
    )
    pdf_queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When its render task was last queued (UTC)."
    )
    pdf_attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Renders started for the current version (a cap stops a loop)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    credit_disposition = models.CharField(
        max_length=10,
        choices=CreditDisposition.choices,
        blank=True,
        help_text=(
            "Credit notes: whether the items of the lines credited in full were released "
            "to be billed again or written off (they stay billed by the credited line)."
        ),
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "number"],
                condition=Q(number__isnull=False),
                name="invoice_unique_number",
            ),
            models.CheckConstraint(
                condition=Q(status="draft", number__isnull=True)
                | (~Q(status="draft") & Q(number__isnull=False)),
                name="invoice_number_iff_final",
            ),
            # Every credit note says what happened to its items; an invoice says nothing.
            models.CheckConstraint(
                condition=Q(kind="invoice", credit_disposition="")
                | Q(kind="credit_note", credit_disposition__in=["release", "write_off"]),
                name="invoice_credit_disposition_iff_note",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status"], name="invoice_tenant_status"),
            models.Index(fields=["tenant", "organization"], name="invoice_tenant_org"),
            models.Index(fields=["tenant", "issue_date"], name="invoice_tenant_issue"),
            # The sweep's read: pending PDFs by when they were last queued.
            models.Index(
                fields=["tenant", "pdf_queued_at"],
                condition=Q(pdf_status="pending"),
                name="invoice_pdf_pending",
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"Draft #{self.pk}"

    @property
    def is_draft(self) -> bool:
        return self.status == InvoiceStatus.DRAFT

    @property
    def is_receivable(self) -> bool:
        """An issued invoice (numbered, not void): something a customer may owe. Drafts,
        void invoices and credit notes never are."""
        return self.kind == InvoiceKind.INVOICE and self.status not in NOT_ISSUED

    @property
    def credited_total(self) -> Decimal:
        """What issued credit notes took off this invoice (void ones count nothing).

        Read from the ``credited_amount`` annotation of ``selectors.with_balance`` when
        the invoice was loaded with it, so lists run no query per row; otherwise one
        query. A draft or a credit note has none, without a query.
        """
        if self.kind != InvoiceKind.INVOICE or self.status == InvoiceStatus.DRAFT:
            return Decimal("0")
        annotated = self.__dict__.get("credited_amount")
        if annotated is not None:
            return annotated
        amount = Invoice.objects.filter(ISSUED_CREDIT_NOTE, credited_invoice=self).aggregate(
            amount=Sum(Abs("total"))
        )["amount"]
        return amount or Decimal("0")

    @property
    def balance_due(self) -> Decimal:
        """What the customer still owes (``balance_of``); nothing for a credit note, a
        draft or a void invoice."""
        if not self.is_receivable:
            return Decimal("0")
        return balance_of(
            total=self.total, amount_paid=self.amount_paid, credited=self.credited_total
        )

    @property
    def is_credited(self) -> bool:
        """An unpaid receivable whose credit notes cover its total."""
        if not self.is_receivable or self.amount_paid:
            return False
        credited = self.credited_total
        return bool(credited) and credited >= self.total

    def is_overdue_on(self, today: dt.date) -> bool:
        """Past its due date with a balance left (a credit note never is)."""
        return self.due_date is not None and self.due_date < today and self.balance_due > 0

    @property
    def is_overdue(self) -> bool:
        """Overdue as of today in the current tenant's zone."""
        return self.is_overdue_on(timezone.localdate(timezone=require_current_tenant().zone))

    @property
    def credit_disposition_text(self) -> str:
        """What a credit note did with the items of the lines it credits in full."""
        if self.kind != InvoiceKind.CREDIT_NOTE:
            return ""
        if self.credit_disposition == CreditDisposition.RELEASE:
            return "Items released to be billed again."
        if self.credit_disposition == CreditDisposition.WRITE_OFF:
            credited = self.credited_invoice.number if self.credited_invoice_id else ""
            return f"Items written off (they stay billed by {credited or 'the invoice'})."
        return ""


class LineKind(models.TextChoices):
    SESSION = "session", "Remote session"
    TIME = "time", "Time"
    FEE = "fee", "Fee"
    PRODUCT = "product", "Product / service"
    OVERAGE = "overage", "Overage"
    BLOCK = "block", "Block hours"
    DISCOUNT = "discount", "Discount"
    ADJUSTMENT = "adjustment", "Adjustment"


class InvoiceLine(TenantOwnedModel):
    """One line: quantity × unit price = amount (rounded half-up to the currency).

    A line the product makes keeps ``facts``: what its words are made of (ticket,
    period, rounding, product, session, what a credit line credits), as plain JSON. Its
    description, explanation and heading are rendered from them and the line's figures
    when shown, in the invoice's locale (``words``, ``billing_site.line_text``). The
    text columns hold a person's words (a hand-made line, an edited description) and,
    for a generated line, its description and heading as first rendered (for search and
    lists); a line without facts shows them as stored.
    Billed items point at their line (``RemoteSession.invoice_line`` and the like).
    """

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=12, choices=LineKind.choices, default=LineKind.ADJUSTMENT)
    description = models.TextField()
    sku = models.CharField(max_length=60, blank=True)
    quantity = models.DecimalField(**QUANTITY, default=Decimal("1"))
    unit = models.CharField(max_length=20, blank=True, help_text="h, each, month, …")
    unit_price = models.DecimalField(**UNIT_PRICE, default=Decimal("0"))
    amount = models.DecimalField(**AMOUNT, default=Decimal("0"))
    taxable = models.BooleanField(default=False)
    tax_rate = models.DecimalField(
        max_digits=7, decimal_places=4, default=Decimal("0"), help_text="Percent, e.g. 20.0000"
    )
    # When the billed work happened (a session's start and end), printed on the invoice.
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    worked_seconds = models.PositiveIntegerField(null=True, blank=True)
    billed_seconds = models.PositiveIntegerField(null=True, blank=True)
    # The service period the line bills, in the tenant's calendar: a batch line's period,
    # a session's local day, a fee's period (EN 16931 BG-26). Empty on hand-made lines.
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    explanation = models.TextField(blank=True)
    facts = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    group_label = models.CharField(
        max_length=200,
        blank=True,
        help_text="Heading the line is printed under (contract, ticket).",
    )
    credited_line = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="credit_lines"
    )

    class Meta:
        ordering = ["invoice", "position", "id"]
        indexes = [models.Index(fields=["tenant", "invoice"], name="line_tenant_invoice")]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_start__isnull=True)
                | Q(period_end__isnull=True)
                | Q(period_end__gte=F("period_start")),
                name="line_period_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.description[:60]

    @cached_property
    def words(self) -> LineWords:
        """Description, explanation and heading in the invoice's locale."""
        invoice = self.invoice
        return line_words(self, currency=invoice.currency, locale=invoice.locale)


class PaymentMethod(models.TextChoices):
    BANK_TRANSFER = "bank_transfer", "Bank transfer"
    CARD = "card", "Card"
    DIRECT_DEBIT = "direct_debit", "Direct debit"
    CHEQUE = "cheque", "Cheque"
    CASH = "cash", "Cash"
    OTHER = "other", "Other"


class Payment(TenantOwnedModel):
    """Money received against a final invoice."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(**AMOUNT)
    received_on = models.DateField(validators=[validate_date_range])
    method = models.CharField(max_length=20, choices=PaymentMethod.choices)
    reference = models.CharField(max_length=120, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive")
        ]

    def __str__(self) -> str:
        return f"{self.amount} on {self.received_on}"


# Batch and e-mail models live in their own modules; importing them here registers them.
from .batches.models import (  # noqa: E402
    BatchExclusion,
    BatchInvoice,
    BatchStatus,
    InvoiceBatch,
)
from .emails.models import EmailStatus, InvoiceEmail  # noqa: E402

__all__ = [
    "BatchExclusion",
    "BatchInvoice",
    "BatchStatus",
    "CreditDisposition",
    "EmailStatus",
    "Invoice",
    "InvoiceBatch",
    "InvoiceEmail",
    "InvoiceKind",
    "InvoiceLine",
    "InvoiceSource",
    "InvoiceStatus",
    "LineKind",
    "Payment",
    "PaymentMethod",
    "PdfStatus",
    "SourceScope",
]
