"""Connections to accounting systems, the mapping ledger and the delivery log.

A connection is one tenant's grant to one company in QuickBooks Online or one
organisation in Xero. The mapping ledger pairs our records (organizations, SKUs, tax
rates, income accounts) with the other system's; the same rows name the accounts and
tax rates in the IIF and Xero CSV files, so exports are configured without a connection.
Every push and sync is a delivery row, recorded before its task is queued; a database
constraint makes a push of one invoice by one connection happen once.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from billing_site.tenancy import TenantOwnedModel
from invoices.models import AMOUNT


class Provider(models.TextChoices):
    QUICKBOOKS = "quickbooks", "QuickBooks Online"
    XERO = "xero", "Xero"
    CONNECTWISE = "connectwise", "ConnectWise PSA"


# The accounting systems (OAuth, invoices pushed on finalisation, payments read back);
# ConnectWise PSA is reached with API keys and receives billing per customer and month.
ACCOUNTING_PROVIDERS = (Provider.QUICKBOOKS, Provider.XERO)


class ConnectionStatus(models.TextChoices):
    AUTHORIZING = "authorizing", "Waiting for consent"
    CHOOSE_TENANT = "choose_tenant", "Choose the organisation"
    ACTIVE = "active", "Connected"
    BROKEN = "broken", "Needs reconnecting"
    DISCONNECTED = "disconnected", "Disconnected"


LIVE_STATUSES = (
    ConnectionStatus.AUTHORIZING,
    ConnectionStatus.CHOOSE_TENANT,
    ConnectionStatus.ACTIVE,
    ConnectionStatus.BROKEN,
)


class Connection(TenantOwnedModel):
    provider = models.CharField(max_length=20, choices=Provider.choices)
    status = models.CharField(
        max_length=20, choices=ConnectionStatus.choices, default=ConnectionStatus.AUTHORIZING
    )
    # QuickBooks' realmId, Xero's tenantId or ConnectWise's company id, and its name there.
    external_id = models.CharField(max_length=64, blank=True)
    external_name = models.CharField(max_length=200, blank=True)
    # ConnectWise PSA: the site (host), the codebase its companyinfo names ("v4_6_release/"),
    # and the API member's keys as Fernet ciphertext (integrations.core.crypto).
    site = models.CharField(max_length=255, blank=True)
    codebase = models.CharField(max_length=60, blank=True)
    api_public_key = models.TextField(blank=True)
    api_private_key = models.TextField(blank=True)
    # Tokens are Fernet ciphertext (integrations.core.crypto), never plain text.
    access_token = models.TextField(blank=True)
    refresh_token = models.TextField(blank=True)
    access_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    token_version = models.PositiveIntegerField(default=0, help_text="Bumped on every rotation.")
    # Hash of the OAuth ``state`` sent to the provider; the callback must bring it back.
    oauth_state = models.CharField(max_length=64, blank=True)
    oauth_redirect_uri = models.URLField(max_length=500, blank=True)
    # Xero organisations offered by /connections, while the owner chooses one.
    tenant_choices = models.JSONField(default=list, blank=True)
    auto_export = models.BooleanField(
        default=True, help_text="Push invoices when they are finalised (batch or single)."
    )
    # When finalised invoices are sent: at once, or on day N of every month (tenant's zone);
    # ConnectWise: monthly on day N, or off (only "Send now").
    schedule = models.CharField(
        max_length=12,
        choices=[
            ("on_finalise", "When invoices are finalised"),
            ("monthly", "Monthly, on a day"),
            ("off", "Only when sent by hand"),
        ],
        default="on_finalise",
    )
    schedule_day = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text="1–31; 29, 30 or 31 in a shorter month means its last day.",
    )
    sync_cursor = models.DateTimeField(
        null=True, blank=True, help_text="Payments changed since then are read on the next sync."
    )
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    broken_at = models.DateTimeField(null=True, blank=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    connected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["provider", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "provider"],
                condition=~Q(status="disconnected"),
                name="one_live_connection_per_provider",
            ),
            models.CheckConstraint(
                condition=Q(schedule_day__isnull=True)
                | Q(schedule_day__gte=1, schedule_day__lte=31),
                name="connection_schedule_day_1_31",
            ),
        ]

    def __str__(self) -> str:
        name = f" ({self.external_name})" if self.external_name else ""
        return f"{self.get_provider_display()}{name}"

    @property
    def is_active(self) -> bool:
        return self.status == ConnectionStatus.ACTIVE


class CustomerSchedule(TenantOwnedModel):
    """One customer's schedule on one connection: the connection's, its own day, or off."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(
        "billing_site.Organization", on_delete=models.CASCADE, related_name="+"
    )
    mode = models.CharField(
        max_length=8,
        choices=[("global", "Use the global settings"), ("custom", "Own day"), ("off", "Off")],
        default="global",
    )
    day = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(31)]
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "organization"], name="one_schedule_per_customer"
            ),
            models.CheckConstraint(
                condition=Q(day__isnull=True) | Q(day__gte=1, day__lte=31),
                name="customer_schedule_day_1_31",
            ),
        ]


class MappingKind(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    ITEM = "item", "Product (SKU)"
    TAX_RATE = "tax_rate", "Tax rate"
    INCOME_ACCOUNT = "income_account", "Income account"
    ACCOUNT = "account", "Default account"
    AGREEMENT = "agreement", "Agreement (customer and product)"


class MappingOrigin(models.TextChoices):
    MANUAL = "manual", "Set by hand"
    MATCHED = "matched", "Matched by name"
    CREATED = "created", "Created on first push"


class Mapping(TenantOwnedModel):
    """One of our records paired with the other system's.

    ``local_key``: an organization's id, a SKU ("" for lines without one), a tax rate
    ("20", or "exempt" for untaxed lines), a product's income account code, or the role
    of a default account ("receivable", "income", "sales_tax", "tax_agency").
    ``external_id`` is what the API takes (QuickBooks Id, Xero ContactID / code / TaxType);
    ``external_name`` is what a file import takes (IIF account name, Xero tax rate name).
    """

    system = models.CharField(max_length=20, choices=Provider.choices)
    kind = models.CharField(max_length=20, choices=MappingKind.choices)
    local_key = models.CharField(max_length=100, blank=True)
    external_id = models.CharField(max_length=100, blank=True)
    external_name = models.CharField(max_length=200, blank=True)
    origin = models.CharField(
        max_length=10, choices=MappingOrigin.choices, default=MappingOrigin.MANUAL
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["system", "kind", "local_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "system", "kind", "local_key"], name="one_mapping_per_record"
            )
        ]

    def __str__(self) -> str:
        return f"{self.system} {self.kind} {self.local_key!r} -> {self.external_id or self.external_name}"


class DeliveryAction(models.TextChoices):
    PUSH = "push", "Push"
    VOID = "void", "Void"
    SYNC = "sync", "Payment sync"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Sending"
    DONE = "done", "Delivered"
    FAILED = "failed", "Failed"


class Delivery(TenantOwnedModel):
    """One push of an invoice (or its void, or one payment sync) to one connection, or
    one customer's billing for one month (``organization``, ``period_start``) to a PSA."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="deliveries")
    action = models.CharField(max_length=10, choices=DeliveryAction.choices)
    invoice = models.ForeignKey(
        "invoices.Invoice",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    # A PSA push: the customer and the month (its first day) whose billing is sent.
    organization = models.ForeignKey(
        "billing_site.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    period_start = models.DateField(null=True, blank=True)
    # A push the owner asks for again after it was delivered (e.g. deleted over there).
    revision = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # While running: until when this attempt holds the delivery (a worker killed mid-push
    # leaves it running; once the lease is over another attempt may take it).
    lease_until = models.DateTimeField(null=True, blank=True)
    # When its task was last sent to the broker; the sweep sends it again only after
    # ``INTEGRATIONS_REQUEUE_AFTER`` (the task was lost, or its worker died).
    queued_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    external_id = models.CharField(max_length=64, blank=True)
    external_number = models.CharField(max_length=64, blank=True)
    our_total = models.DecimalField(**AMOUNT, null=True, blank=True)
    their_total = models.DecimalField(**AMOUNT, null=True, blank=True)
    their_status = models.CharField(max_length=30, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "invoice", "action", "revision"],
                condition=Q(invoice__isnull=False),
                name="one_delivery_per_invoice_action",
            ),
            models.UniqueConstraint(
                fields=["connection", "organization", "period_start", "action"],
                condition=Q(period_start__isnull=False),
                name="one_delivery_per_customer_period",
            ),
            models.CheckConstraint(
                condition=Q(period_start__isnull=True) | Q(organization__isnull=False),
                name="delivery_period_has_customer",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.get_action_display()} #{self.pk}"

    @property
    def idempotency_key(self) -> str:
        """The same on every attempt of this delivery (QuickBooks ``requestid`` ≤ 50 chars,
        Xero ``Idempotency-Key`` ≤ 128)."""
        if self.period_start is not None:
            return (
                f"msp-{self.tenant_id}-{self.connection_id}-org{self.organization_id}-"
                f"{self.period_start:%Y-%m}-{self.action}"
            )
        return f"msp-{self.tenant_id}-{self.connection_id}-{self.invoice_id}-{self.action}-{self.revision}"

    @property
    def drift(self) -> Decimal | None:
        """Their total minus ours, when they answered with a different one."""
        if self.our_total is None or self.their_total is None:
            return None
        difference = self.their_total - self.our_total
        return difference or None


class AttemptOutcome(models.TextChoices):
    STARTED = "started", "Started"
    OK = "ok", "Delivered"
    RETRY = "retry", "Will retry"
    FAILED = "failed", "Failed"


class DeliveryAttempt(TenantOwnedModel):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=10, choices=AttemptOutcome.choices, default=AttemptOutcome.STARTED
    )
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="one_row_per_attempt")
        ]


class SyncedPayment(TenantOwnedModel):
    """A payment read from the other system, so that it is recorded here once."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=120)
    # Kept (null) when the payment is removed here, so a later sync does not bring it back.
    payment = models.OneToOneField(
        "invoices.Payment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "external_id"], name="one_payment_per_external_id"
            )
        ]
