"""E-mails of invoices: each message is a row, written before its task is queued."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from billing_site.tenancy import TenantOwnedModel


class EmailStatus(models.TextChoices):
    PENDING = "pending", "Sending"
    SENT = "sent", "Accepted by the mail server"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Not sent: nothing is left to pay"


class InvoiceEmail(TenantOwnedModel):
    invoice = models.ForeignKey("invoices.Invoice", on_delete=models.CASCADE, related_name="emails")
    to = models.TextField(help_text="Addresses, one per line.")
    cc = models.TextField(blank=True, help_text="Addresses, one per line.")
    subject = models.CharField(max_length=250)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=EmailStatus.choices, default="pending")
    attempts = models.PositiveSmallIntegerField(default=0)
    message_id = models.CharField(max_length=250, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    reminder_days = models.SmallIntegerField(
        null=True,
        blank=True,
        help_text="A payment reminder: its days from the due date (empty: the invoice itself).",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A double click or two tabs never send one invoice twice at once.
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(status="pending"),
                name="one_pending_email_per_invoice",
            ),
            # Each reminder day reminds an invoice once, whatever became of the message.
            models.UniqueConstraint(
                fields=["invoice", "reminder_days"],
                condition=Q(reminder_days__isnull=False),
                name="one_reminder_per_invoice_and_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} -> {self.to}"

    @property
    def is_reminder(self) -> bool:
        return self.reminder_days is not None

    @property
    def recipients(self) -> list[str]:
        return [line for line in self.to.split() if line]

    @property
    def copies(self) -> list[str]:
        return [line for line in self.cc.split() if line]
