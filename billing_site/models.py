"""Core models: tenants (MSPs), users and memberships, customers (organizations, contacts).

Organizations live in the core app because every other app (sessions, contracts,
invoices, portal) points at them; keeping them here keeps the dependency graph
one-directional.
"""

from __future__ import annotations

import zoneinfo
from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower

from .money import validate_currency_code
from .roles import Role
from .tenancy import TenantOwnedModel

TIME_ZONE_CHOICES = sorted((tz, tz) for tz in zoneinfo.available_timezones() if "/" in tz)

LANGUAGE_CHOICES = [
    ("en", "English"),
    ("fr", "French"),
    ("da", "Danish"),
    ("it", "Italian"),
    ("de", "German"),
]


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"'{value}' is not a known IANA time zone (e.g. Europe/Paris).")


# The largest id a (Big)AutoField column holds: a larger one names nothing, and
# SQLite cannot even bind it (OverflowError) in ``pk__in``.
MAX_ID = 2**63 - 1

TAX_RATE_PLACES = 4
_TAX_RATE_EXPONENT = Decimal(1).scaleb(-TAX_RATE_PLACES)
# Percent with four places, as on contracts and invoice lines (e.g. 20.0000, 7.6500).
TAX_RATE = {"max_digits": 7, "decimal_places": TAX_RATE_PLACES}


def validate_tax_rate(value) -> None:
    """A tax rate is a percentage from 0 to 100 with at most four decimal places."""
    if value is None:
        return
    rate = Decimal(value)
    if not rate.is_finite() or not Decimal("0") <= rate <= Decimal("100"):
        raise ValidationError(
            "The tax rate is a percentage between 0 and 100.", code="tax_rate_range"
        )
    if rate != rate.quantize(_TAX_RATE_EXPONENT):
        raise ValidationError(
            f"The tax rate has {TAX_RATE_PLACES} decimal places at most.", code="tax_rate_places"
        )


def validate_country(value: str) -> None:
    from babel import Locale

    if value and value.upper() not in Locale("en").territories:
        raise ValidationError(f"'{value}' is not an ISO 3166 country code (e.g. FR, DK, US).")


REMINDER_DAYS_MIN, REMINDER_DAYS_MAX, REMINDERS_MAX = -60, 365, 6


def parse_reminder_offsets(value: str) -> list[int]:
    """ "-3, 7, 14" -> [-3, 7, 14]: days from the due date, sorted, each once. Raises
    ValueError naming what cannot be read."""
    days = set()
    for part in (value or "").replace(";", ",").split(","):
        part = part.strip().replace("\u2212", "-")
        if not part:
            continue
        try:
            day = int(part)
        except ValueError as exc:
            raise ValueError(f"'{part}' is not a whole number of days") from exc
        if not REMINDER_DAYS_MIN <= day <= REMINDER_DAYS_MAX:
            raise ValueError(
                f"{day} is outside {REMINDER_DAYS_MIN} to {REMINDER_DAYS_MAX} days of the due date"
            )
        days.add(day)
    if len(days) > REMINDERS_MAX:
        raise ValueError(f"at most {REMINDERS_MAX} reminders")
    return sorted(days)


def validate_reminder_offsets(value: str) -> None:
    try:
        parse_reminder_offsets(value)
    except ValueError as exc:
        raise ValidationError(
            f"Reminder days: {exc}. Write days from the due date separated by commas, "
            "e.g. -3, 7, 14."
        ) from exc


class User(AbstractUser):
    """A login. Staff and portal users alike; what they reach comes from memberships."""

    class Meta:
        db_table = "auth_user_account"


class Tenant(models.Model):
    """An MSP. Owns every other row in the product through ``tenant_id``."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    country = models.CharField(max_length=2, blank=True, validators=[validate_country])
    currency = models.CharField(max_length=3, validators=[validate_currency_code])
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    locale = models.CharField(
        max_length=16, default="en_US", help_text="Formats money and dates (e.g. fr_FR, da_DK)."
    )
    legal_name = models.CharField(max_length=200, blank=True)
    street = models.TextField(blank=True, help_text="Street lines, one per line.")
    city = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    region = models.CharField(
        max_length=100, blank=True, help_text="State, province or county, if any."
    )
    tax_id = models.CharField("VAT / tax id", max_length=60, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    logo = models.ImageField(upload_to="tenant-logos/", blank=True)
    brand_color = models.CharField(
        max_length=7,
        default="#1f4e79",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a hex colour like #1f4e79.")],
    )
    invoice_prefix = models.CharField(max_length=20, default="INV-")
    credit_note_prefix = models.CharField(max_length=20, default="CN-")
    default_hourly_rate = models.DecimalField(
        max_digits=12, decimal_places=4, default=Decimal("0"), validators=[MinValueValidator(0)]
    )
    default_payment_terms_days = models.PositiveIntegerField(default=30)
    default_payment_instructions = models.TextField(blank=True)
    default_tax_rate = models.DecimalField(
        "default tax rate (%)",
        **TAX_RATE,
        default=Decimal("0"),
        validators=[validate_tax_rate],
        help_text="VAT / sales tax in percent, e.g. 21 or 7.65; a customer may override it.",
    )
    invoice_email_subject = models.CharField(
        max_length=200,
        default="Invoice {number} from {company}",
        help_text="Placeholders: {number} {amount_due} {due_date} {customer} {company}.",
    )
    invoice_email_body = models.TextField(
        default=(
            "Hello,\n\nplease find attached invoice {number} for {amount_due}, due on "
            "{due_date}.\n\n{payment_instructions}\n\n{portal_link}\n\nKind regards,\n{company}"
        ),
        help_text=(
            "Placeholders: {number} {amount_due} {due_date} {payment_instructions} "
            "{portal_link} {customer} {company}."
        ),
    )
    reminder_offsets = models.CharField(
        "reminder days",
        max_length=60,
        blank=True,
        default="-3, 7, 14",
        validators=[validate_reminder_offsets],
        help_text=(
            "Days from the due date when a reminder goes out, e.g. -3, 7, 14 (3 days "
            "before, 7 and 14 after). Empty: no reminders."
        ),
    )
    reminder_email_subject = models.CharField(
        max_length=200,
        default="Reminder: invoice {number} {when}",
        help_text="Placeholders: {number} {amount_due} {due_date} {when} {customer} {company}.",
    )
    reminder_email_body = models.TextField(
        default=(
            "Hello,\n\nthis is a reminder that invoice {number} {when}; {amount_due} is "
            "still open.\n\n{payment_instructions}\n\nIf you have paid it already, please "
            "disregard this message.\n\nKind regards,\n{company}"
        ),
        help_text=(
            "Placeholders: {number} {amount_due} {due_date} {when} {payment_instructions} "
            "{portal_link} {customer} {company}."
        ),
    )
    require_two_factor = models.BooleanField(
        "two-factor sign-in for owners and billing admins",
        default=False,
        help_text="Owners and billing admins must sign in with a code from an authenticator "
        "app; they set it up at their next sign-in.",
    )
    session_work_taxable = models.BooleanField(
        "session work is taxable",
        default=False,
        help_text="Session invoices add tax at the customer's rate (else the default rate); "
        "the invoice form can change it for one invoice.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(default_tax_rate__gte=0, default_tax_rate__lte=100),
                name="tenant_default_tax_rate",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    @property
    def company_name(self) -> str:
        return self.legal_name or self.name

    @property
    def reminder_days(self) -> list[int]:
        return parse_reminder_offsets(self.reminder_offsets)


class Membership(models.Model):
    """A user's role in one tenant. Portal users also name their organization."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    organization = models.ForeignKey(
        "billing_site.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="portal_memberships",
        help_text="Portal users only: the customer organization they belong to.",
    )
    contact = models.ForeignKey(
        "billing_site.Contact",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="portal_memberships",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user"),
            models.CheckConstraint(
                condition=(models.Q(role=Role.PORTAL) & models.Q(organization__isnull=False))
                | (~models.Q(role=Role.PORTAL) & models.Q(organization__isnull=True)),
                name="membership_portal_has_organization",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.get_role_display()})"

    @property
    def is_portal(self) -> bool:
        return self.role == Role.PORTAL

    @classmethod
    def for_user(cls, user, preferred_tenant_id=None) -> Membership | None:
        """The membership a request acts under: the chosen tenant, else the first one."""
        # Not the organization: it is a tenant-owned row, read once the tenant is set
        # (row-level security hides it before; billing_site/rls.py).
        memberships = cls.objects.select_related("tenant").filter(user=user)
        if preferred_tenant_id:
            chosen = memberships.filter(tenant_id=preferred_tenant_id).first()
            if chosen is not None:
                return chosen
        return memberships.order_by("id").first()


class Organization(TenantOwnedModel):
    """A customer company of the MSP: an end client, a partner, or both."""

    name = models.CharField(max_length=200)
    company_number = models.CharField(
        max_length=40,
        help_text="Unique customer id used in exports (Atera's company number).",
    )
    billing_contact_name = models.CharField(max_length=200, blank=True)
    billing_contact_email = models.EmailField(blank=True)
    street = models.TextField(blank=True, help_text="Street lines, one per line.")
    city = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    region = models.CharField(
        max_length=100, blank=True, help_text="State, province or county, if any."
    )
    country = models.CharField(max_length=2, blank=True, validators=[validate_country])
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    currency = models.CharField(max_length=3, validators=[validate_currency_code])
    language = models.CharField(max_length=5, choices=LANGUAGE_CHOICES, default="en")
    tax_id = models.CharField("VAT / tax id", max_length=60, blank=True)
    tax_rate = models.DecimalField(
        "tax rate (%)",
        **TAX_RATE,
        null=True,
        blank=True,
        validators=[validate_tax_rate],
        help_text="Empty: your default tax rate. E.g. 0 for a reverse-charge customer abroad.",
    )
    # Empty: the tenant's default terms and instructions (``selectors.organization_payment_terms``).
    payment_terms_days = models.PositiveSmallIntegerField(
        "payment terms (days)",
        null=True,
        blank=True,
        validators=[MaxValueValidator(365)],
        help_text="Days until an invoice is due; empty: your default terms.",
    )
    payment_instructions = models.TextField(
        blank=True, help_text="Printed on its invoices; empty: your default instructions."
    )
    reminders_enabled = models.BooleanField(
        "send payment reminders",
        default=True,
        help_text="Reminders of unpaid invoices at your reminder days; off: none are sent.",
    )
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "company_number"], name="organization_unique_company_number"
            ),
            models.CheckConstraint(
                condition=models.Q(tax_rate__isnull=True)
                | models.Q(tax_rate__gte=0, tax_rate__lte=100),
                name="organization_tax_rate",
            ),
        ]
        indexes = [
            models.Index("tenant", Lower("name"), name="organization_tenant_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Contact(TenantOwnedModel):
    """A person at a customer organization; may be given a portal login."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="contacts"
    )
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["tenant", "organization"], name="contact_tenant_org")]

    def __str__(self) -> str:
        return self.name


class TenantSequence(TenantOwnedModel):
    """A per-tenant counter row (invoice numbers, ticket numbers).

    Gapless: the next value is taken with a row lock inside the caller's
    transaction, so a rollback gives the number back (a database sequence would not).
    """

    key = models.CharField(max_length=60)
    last_value = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="tenant_sequence_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.last_value}"


class IdempotencyKey(TenantOwnedModel):
    """An ``Idempotency-Key`` a client sent with a request that creates money or sends
    something, and the answer it got: the same key with the same request replays that
    answer instead of acting twice (``billing_site.api.idempotency``)."""

    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request as sent.")
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="one_idempotency_key_per_tenant")
        ]

    def __str__(self) -> str:
        return self.key
