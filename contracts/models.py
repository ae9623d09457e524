"""Contracts, catalog, rate rules, tickets and time.

The rules these rows obey are in DESIGN.md (Contract types, Due/locked/partial, Rates,
Approval, Time). Services (``contracts/services.py``) validate and write them; the
database guards what must never break: end after start, one running timer per
technician, a time entry logged from a session at most once, an item billed by at most
one invoice line (``invoice_line`` is one column, claimed only while NULL).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import PurePath

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from billing_site.money import validate_currency_code
from billing_site.tenancy import TenantOwnedModel
from billing_site.timeutils import validate_date_range

from .choices import (
    CYCLE_MONTHS,
    UNPOSTED_STATES,
    BillingCycle,
    ChargeKind,
    ContractStatus,
    ContractType,
    QuantityMode,
    RoundingScope,
    TicketStatus,
    TimeEntrySource,
    TimeEntryState,
)

UNIT_PRICE = {"max_digits": 18, "decimal_places": 4}
HOURS = {"max_digits": 10, "decimal_places": 2}
QUANTITY = {"max_digits": 14, "decimal_places": 4}
AMOUNT = {"max_digits": 18, "decimal_places": 3}


class BudgetKind(models.TextChoices):
    NONE = "none", "No budget"
    HOURS = "hours", "Hours"
    MONEY = "money", "Money"


def budget_fields() -> tuple[models.Field, models.Field, models.Field]:
    """(kind, amount, warning threshold) of a budget: the same columns on contracts and
    tickets. Hours are worked time; money is in the budget's currency (``budget_currency``)."""
    return (
        models.CharField(
            "budget", max_length=5, choices=BudgetKind.choices, default=BudgetKind.NONE
        ),
        models.DecimalField(
            "budget amount",
            **AMOUNT,
            null=True,
            blank=True,
            help_text="Hours, or an amount in the currency; empty when there is no budget.",
        ),
        models.PositiveSmallIntegerField(
            "warn at (%)",
            default=80,
            validators=[MinValueValidator(1), MaxValueValidator(100)],
            help_text="Warn when this share of the budget is used.",
        ),
    )


def budget_constraints(prefix: str) -> list[models.CheckConstraint]:
    """A budget has a kind and an amount above zero, or neither; the threshold is 1-100 %."""
    return [
        models.CheckConstraint(
            condition=Q(budget_kind=BudgetKind.NONE, budget_amount__isnull=True)
            # NULL > 0 is unknown, which a check lets pass: the amount is required too.
            | Q(
                budget_kind__in=[BudgetKind.HOURS, BudgetKind.MONEY],
                budget_amount__isnull=False,
                budget_amount__gt=0,
            ),
            name=f"{prefix}_budget_amount",
        ),
        models.CheckConstraint(
            condition=Q(budget_warn_percent__gte=1, budget_warn_percent__lte=100),
            name=f"{prefix}_budget_warn_percent",
        ),
    ]


class Budgeted:
    """What contracts and tickets share about their budget (see ``contracts.budgets``)."""

    @property
    def has_budget(self) -> bool:
        return self.budget_kind != BudgetKind.NONE


class ServiceType(TenantOwnedModel):
    """Kind of work (remote support, on-site, project work); sets the default billable flag."""

    name = models.CharField(max_length=120)
    description = models.CharField(max_length=240, blank=True)
    default_billable = models.BooleanField(default=True)
    is_active = models.BooleanField("active", default=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="servicetype_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Team(TenantOwnedModel):
    """A group of technicians; rate rules may be scoped to a team."""

    name = models.CharField(max_length=120)
    description = models.CharField(max_length=240, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="TeamMember", related_name="teams", blank=True
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="team_unique_name")]

    def __str__(self) -> str:
        return self.name


class TeamMember(TenantOwnedModel):
    """A technician in a team (tenant-owned, so the link is scoped like everything else)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )

    class Meta:
        ordering = ["team", "user"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "team", "user"], name="teammember_unique"),
        ]
        indexes = [models.Index(fields=["tenant", "user"], name="teammember_tenant_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class Product(TenantOwnedModel):
    """A catalog item (product or service) sold on recurring contracts and invoices.

    ``unit_price`` is in the tenant's currency; a contract in another currency must
    override it on its product line.
    """

    sku = models.CharField("SKU", max_length=60)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    unit = models.CharField(max_length=20, default="each", help_text="each, device, month, …")
    unit_price = models.DecimalField(
        **UNIT_PRICE, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))]
    )
    taxable = models.BooleanField("taxable by default", default=True)
    income_account_code = models.CharField(
        max_length=60, blank=True, help_text="Income account in your accounting system (exports)."
    )
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sku", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sku"], name="product_unique_sku"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="product_price_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} · {self.name}"


class Contract(Budgeted, TenantOwnedModel):
    """What a customer buys and how it is billed.

    ``customer`` is the end client the work is for; ``billing_organization`` is who is
    invoiced (the customer itself, or a partner). Periods follow ``billing_cycle`` from
    ``anchor_day`` (see ``contracts.pricing.periods``). Amounts are in ``currency``.
    """

    customer = models.ForeignKey(
        "billing_site.Organization", on_delete=models.PROTECT, related_name="contracts"
    )
    billing_organization = models.ForeignKey(
        "billing_site.Organization", on_delete=models.PROTECT, related_name="billed_contracts"
    )
    name = models.CharField(max_length=200)
    contract_type = models.CharField(
        "type", max_length=12, choices=ContractType.choices, default=ContractType.HOURLY
    )
    status = models.CharField(
        max_length=10, choices=ContractStatus.choices, default=ContractStatus.ACTIVE
    )
    start_date = models.DateField(validators=[validate_date_range])
    end_date = models.DateField(null=True, blank=True, validators=[validate_date_range])
    billing_cycle = models.CharField(
        max_length=10, choices=BillingCycle.choices, default=BillingCycle.MONTHLY
    )
    anchor_day = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text="Day periods start on; 29–31 mean the month's last day in shorter months.",
    )
    currency = models.CharField(max_length=3, validators=[validate_currency_code])
    taxable = models.BooleanField(default=True)
    tax_rate = models.DecimalField(
        max_digits=7,
        decimal_places=4,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="Percent, e.g. 20.0000",
    )
    rounding_increment_minutes = models.PositiveSmallIntegerField(
        default=0, help_text="Round billable time up to this many minutes (0: no rounding)."
    )
    rounding_minimum_minutes = models.PositiveSmallIntegerField(
        default=0, help_text="Bill at least this many minutes per rounded unit (0: none)."
    )
    rounding_scope = models.CharField(
        max_length=12, choices=RoundingScope.choices, default=RoundingScope.ENTRY
    )
    # Retainer: the fee covers included_hours each period; beyond them, overage_rate.
    retainer_fee = models.DecimalField(**UNIT_PRICE, null=True, blank=True)
    included_hours = models.DecimalField(**HOURS, null=True, blank=True)
    # Retainer and block hours.
    overage_rate = models.DecimalField(**UNIT_PRICE, null=True, blank=True)
    # Block hours: the size and price of a block (each purchase is a BlockPurchase row).
    block_hours = models.DecimalField(**HOURS, null=True, blank=True)
    block_price = models.DecimalField(**UNIT_PRICE, null=True, blank=True)
    budget_kind, budget_amount, budget_warn_percent = budget_fields()
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["customer__name", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "customer", "name"], name="contract_unique_name_per_customer"
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="contract_end_after_start",
            ),
            models.CheckConstraint(
                condition=Q(anchor_day__gte=1, anchor_day__lte=31), name="contract_anchor_day"
            ),
            models.CheckConstraint(
                condition=Q(tax_rate__gte=0, tax_rate__lte=100), name="contract_tax_rate"
            ),
            models.CheckConstraint(
                condition=~Q(contract_type="retainer")
                | Q(
                    retainer_fee__gte=0,
                    included_hours__gte=0,
                    overage_rate__gte=0,
                ),
                name="contract_retainer_terms",
            ),
            models.CheckConstraint(
                condition=~Q(contract_type="block_hours")
                | Q(block_hours__gt=0, block_price__gte=0, overage_rate__gte=0),
                name="contract_block_terms",
            ),
            *budget_constraints("contract"),
        ]
        indexes = [
            models.Index(fields=["tenant", "customer"], name="contract_tenant_customer"),
            models.Index(fields=["tenant", "billing_organization"], name="contract_tenant_billto"),
            models.Index(fields=["tenant", "status"], name="contract_tenant_status"),
        ]

    def __str__(self) -> str:
        return f"{self.customer} · {self.name}" if self.customer_id else self.name

    @property
    def cycle_months(self) -> int:
        return CYCLE_MONTHS[BillingCycle(self.billing_cycle)]

    @property
    def is_partner_billed(self) -> bool:
        return self.billing_organization_id != self.customer_id

    @property
    def budget_currency(self) -> str:
        return self.currency


class ContractProductLine(TenantOwnedModel):
    """A product billed every period on a recurring contract.

    Quantity is fixed, or per device: the number of the customer's active hosts when
    the period is priced. ``unit_price`` overrides the catalog price (required when the
    contract's currency is not the tenant's).
    """

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="product_lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="contract_lines")
    quantity_mode = models.CharField(
        max_length=12, choices=QuantityMode.choices, default=QuantityMode.FIXED
    )
    quantity = models.DecimalField(
        **QUANTITY, default=Decimal("1"), help_text="Used when the quantity is fixed."
    )
    unit_price = models.DecimalField(
        **UNIT_PRICE, null=True, blank=True, help_text="Leave empty to use the catalog price."
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["contract", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "contract", "product"], name="productline_unique_product"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="productline_qty_nonneg"),
            models.CheckConstraint(
                condition=Q(unit_price__isnull=True) | Q(unit_price__gte=0),
                name="productline_price_nonneg",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} on {self.contract_id}"


class BlockPurchase(TenantOwnedModel):
    """A block of prepaid hours bought on a block-hours contract (the first one and top-ups).

    Invoiced once, from ``purchased_on`` on; ``invoice_line`` is the line that billed it.
    """

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="block_purchases")
    purchased_on = models.DateField(validators=[validate_date_range])
    hours = models.DecimalField(**HOURS)
    price = models.DecimalField(**UNIT_PRICE)
    note = models.CharField(max_length=200, blank=True)
    invoice_line = models.ForeignKey(
        "invoices.InvoiceLine",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="block_purchases",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["contract", "purchased_on", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(hours__gt=0), name="blockpurchase_hours_positive"),
            models.CheckConstraint(condition=Q(price__gte=0), name="blockpurchase_price_nonneg"),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "contract", "purchased_on"], name="block_tenant_contract"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.hours} h on {self.purchased_on}"


class PeriodCharge(TenantOwnedModel):
    """A periodic fee of a contract, for one period, once it is billed.

    One row per (contract, period, retainer fee | product line); ``invoice_line`` is the
    line that bills it. The unique constraints make "a fee for a period is billed at
    most once" a database fact; releasing (draft deleted, invoice voided) sets
    ``invoice_line`` back to NULL.
    """

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="charges")
    kind = models.CharField(max_length=14, choices=ChargeKind.choices)
    product_line = models.ForeignKey(
        ContractProductLine,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="charges",
    )
    period_start = models.DateField()
    period_end = models.DateField()
    quantity = models.DecimalField(**QUANTITY, default=Decimal("1"))
    unit_price = models.DecimalField(**UNIT_PRICE, default=Decimal("0"))
    amount = models.DecimalField(**AMOUNT, default=Decimal("0"))
    invoice_line = models.ForeignKey(
        "invoices.InvoiceLine",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="period_charges",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["contract", "period_start", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "contract", "kind", "period_start"],
                condition=Q(product_line__isnull=True),
                name="charge_unique_fee_period",
            ),
            models.UniqueConstraint(
                fields=["tenant", "contract", "product_line", "period_start"],
                condition=Q(product_line__isnull=False),
                name="charge_unique_line_period",
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")), name="charge_period_order"
            ),
            models.CheckConstraint(
                condition=(Q(kind="product") & Q(product_line__isnull=False))
                | (~Q(kind="product") & Q(product_line__isnull=True)),
                name="charge_product_has_line",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "invoice_line"], name="charge_tenant_line"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.period_start}–{self.period_end}"


class RateRule(TenantOwnedModel):
    """An hourly rate with optional scopes; the most specific matching rule wins.

    A rule matches an item when every scope it names matches the item and its currency
    is the item's contract currency. Specificity compares, in order, contract,
    organization, technician, team, service type (see ``contracts.pricing``).
    """

    rate = models.DecimalField(**UNIT_PRICE)
    currency = models.CharField(max_length=3, validators=[validate_currency_code])
    contract = models.ForeignKey(
        Contract, on_delete=models.CASCADE, null=True, blank=True, related_name="rate_rules"
    )
    organization = models.ForeignKey(
        "billing_site.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rate_rules",
        help_text="The customer the work is for (the contract's customer, the host's owner).",
    )
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rate_rules",
    )
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="rate_rules"
    )
    service_type = models.ForeignKey(
        ServiceType, on_delete=models.CASCADE, null=True, blank=True, related_name="rate_rules"
    )
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["currency", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(rate__gte=0), name="raterule_rate_nonneg"),
            # Exact duplicates are refused by the database too (NULL scopes compare equal here).
            models.UniqueConstraint(
                "tenant",
                "currency",
                Coalesce("contract", Value(0)),
                Coalesce("organization", Value(0)),
                Coalesce("technician", Value(0)),
                Coalesce("team", Value(0)),
                Coalesce("service_type", Value(0)),
                name="raterule_unique_scopes",
            ),
        ]

    def __str__(self) -> str:
        # The rate as every page prints money: in the current tenant's locale.
        from billing_site.money import format_unit_price
        from billing_site.tenancy import get_current_tenant

        locale = getattr(get_current_tenant(), "locale", "") or "en_US"
        rate = format_unit_price(self.rate, self.currency, locale)
        return f"{self.label}: {rate}/h" if self.description else f"{rate}/h ({self.scope_label})"

    SCOPES = ("contract", "organization", "technician", "team", "service_type")

    @property
    def scope_key(self) -> tuple[bool, ...]:
        """Which scopes the rule names, in precedence order (compared lexicographically)."""
        return tuple(getattr(self, f"{name}_id") is not None for name in self.SCOPES)

    @property
    def scope_label(self) -> str:
        parts = []
        for name in self.SCOPES:
            if getattr(self, f"{name}_id") is not None:
                parts.append(f"{name.replace('_', ' ')} {getattr(self, name)}")
        return ", ".join(parts) or "any work"

    @property
    def label(self) -> str:
        """The rule as named to users (messages, links): its description, else its scopes."""
        return self.description or self.scope_label


class Ticket(Budgeted, TenantOwnedModel):
    """A customer's service request. ``number`` is gapless per tenant.

    A money budget is in the ticket's contract's currency (the currency its work is priced
    in), or the organization's when the ticket has no contract.
    """

    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    organization = models.ForeignKey(
        "billing_site.Organization", on_delete=models.PROTECT, related_name="tickets"
    )
    contract = models.ForeignKey(
        Contract, on_delete=models.PROTECT, null=True, blank=True, related_name="tickets"
    )
    contact = models.ForeignKey(
        "billing_site.Contact",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
    )
    status = models.CharField(max_length=12, choices=TicketStatus.choices, default=TicketStatus.NEW)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        verbose_name="assigned resource",
    )
    due_date = models.DateField(null=True, blank=True, validators=[validate_date_range])
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    budget_kind, budget_amount, budget_warn_percent = budget_fields()

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="ticket_unique_number"),
            *budget_constraints("ticket"),
        ]
        indexes = [
            models.Index(fields=["tenant", "organization"], name="ticket_tenant_org"),
            models.Index(fields=["tenant", "contract"], name="ticket_tenant_contract"),
            models.Index(fields=["tenant", "status"], name="ticket_tenant_status"),
            models.Index(fields=["tenant", "created_at"], name="ticket_tenant_created"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"

    @property
    def reference(self) -> str:
        return f"#{self.number}"

    @property
    def budget_currency(self) -> str:
        return self.contract.currency if self.contract_id else self.organization.currency


def attachment_path(instance: TicketAttachment, filename: str) -> str:
    # A random folder: names cannot collide or be guessed; the original name is kept for display.
    safe = PurePath(filename).name[-120:] or "file"
    return f"ticket-attachments/{instance.tenant_id}/{uuid.uuid4().hex}/{safe}"


class TicketAttachment(TenantOwnedModel):
    """A file on a ticket, stored through Django's default storage, served by a scoped view."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    time_entry = models.ForeignKey(
        "TimeEntry",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="attachments",
        help_text="The work item the file belongs to, if any.",
    )
    file = models.FileField(upload_to=attachment_path, max_length=300)
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=120, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ticket", "uploaded_at", "id"]
        indexes = [models.Index(fields=["tenant", "ticket"], name="attachment_tenant_ticket")]

    def __str__(self) -> str:
        return self.name


class TimeEntry(TenantOwnedModel):
    """Work by a technician on a ticket or directly on a contract.

    ``worked_seconds`` is the raw time (never rewritten); the billed (rounded) time is
    computed by ``contracts.pricing`` and frozen into ``billed_seconds`` and
    ``included_seconds`` when an invoice line claims the entry. Life: submitted ->
    approved -> posted; only posted entries are billed; a posted entry is frozen.
    ``work_date`` is the day the work was done, in the tenant's time zone; it decides
    the billing period.
    """

    ticket = models.ForeignKey(
        Ticket, on_delete=models.PROTECT, null=True, blank=True, related_name="time_entries"
    )
    contract = models.ForeignKey(
        Contract,
        on_delete=models.PROTECT,
        related_name="time_entries",
        db_index=False,  # te_contract_ticket and te_contract_unbilled lead with it
    )
    # Time entries carry few single-column indexes: a batch run rewrites every billed
    # entry (invoice line, billed and included time), and each index costs as much again
    # (see docs/decisions/0006). Tenant-scoped reads use the composite indexes below.
    tenant = models.ForeignKey(
        "billing_site.Tenant",
        on_delete=models.CASCADE,
        related_name="+",
        editable=False,
        db_index=False,  # every composite index starts with it
    )
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="time_entries",
        db_index=False,  # te_tech_day
    )
    service_type = models.ForeignKey(
        ServiceType,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="time_entries",
        db_index=False,  # read through the entry; a service type is rarely deleted
    )
    started_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_range])
    ended_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_range])
    work_date = models.DateField(validators=[validate_date_range])
    worked_seconds = models.PositiveIntegerField(default=0)
    billable = models.BooleanField(default=True)
    summary_note = models.TextField(
        blank=True, help_text="What was done. May be shown to the customer."
    )
    internal_note = models.TextField(
        blank=True, help_text="For staff only; never shown to customers."
    )
    state = models.CharField(
        max_length=10, choices=TimeEntryState.choices, default=TimeEntryState.SUBMITTED
    )
    source = models.CharField(
        max_length=10, choices=TimeEntrySource.choices, default=TimeEntrySource.MANUAL
    )
    remote_session = models.OneToOneField(
        "support_sessions.RemoteSession",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="time_entry",
    )
    invoice_line = models.ForeignKey(
        "invoices.InvoiceLine",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="time_entries",
    )
    billed_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Rounded time counted when billed (frozen)."
    )
    included_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Part covered by included hours or a block (frozen)."
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # an audit field: never searched
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # an audit field: never searched
    )
    posted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-work_date", "-started_at", "-id"]
        verbose_name_plural = "time entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True)
                | Q(started_at__isnull=True)
                | Q(ended_at__gt=F("started_at")),
                name="timeentry_end_after_start",
            ),
            # One running timer per technician.
            models.UniqueConstraint(
                fields=["tenant", "technician"],
                condition=Q(started_at__isnull=False, ended_at__isnull=True),
                name="timeentry_one_running_timer",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=False)
                | Q(started_at__isnull=True)
                | Q(state="submitted"),
                name="timeentry_running_is_submitted",
            ),
            models.CheckConstraint(
                condition=Q(invoice_line__isnull=True) | Q(state="posted"),
                name="timeentry_billed_is_posted",
            ),
        ]
        indexes = [
            # A batch's unbilled work per contract. Contract ids are unique across tenants:
            # no tenant column needed in front. Unbilled entries only: a run's claim then
            # adds nothing to this index (see docs/decisions/0006).
            models.Index(
                fields=["contract", "state", "work_date"],
                condition=Q(invoice_line__isnull=True),
                name="te_contract_unbilled",
            ),
            # Every entry of a contract, and per ticket: portal end-client tickets read
            # visibility and posted hours from the index alone. Contract first (ids are
            # unique across tenants; the tenant is included for the scoped filter): it
            # is also what finds a contract's entries when a contract is deleted.
            models.Index(
                fields=["contract", "ticket"],
                include=["tenant", "state", "billable", "worked_seconds"],
                name="te_contract_ticket",
            ),
            models.Index(fields=["tenant", "technician", "work_date"], name="te_tech_day"),
            # Entries waiting for approval or posting, by day (approvals, the dashboard, a
            # batch's unposted counts). Posted entries are nearly all of them, so the index
            # leaves them out: posting and a run's claim then add nothing to it.
            models.Index(
                fields=["tenant", "state", "work_date"],
                condition=Q(state__in=UNPOSTED_STATES),
                name="te_tenant_unposted_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.technician} {self.work_date} {self.worked_seconds}s"

    @property
    def is_running(self) -> bool:
        return self.started_at is not None and self.ended_at is None

    @property
    def is_posted(self) -> bool:
        return self.state == TimeEntryState.POSTED

    @property
    def is_billed(self) -> bool:
        return self.invoice_line_id is not None
