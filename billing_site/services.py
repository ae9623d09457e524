"""Core business operations. Each is one transaction and raises ValidationError
(with field names) on bad input, leaving nothing half-written."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.fields.files import FieldFile

from audit import services as audit

from .models import Contact, Membership, Organization, Tenant, TenantSequence, User
from .roles import Role
from .tenancy import require_current_tenant, tenant_context
from .unset import UNSET, Unset, provided
from .uploads import check_logo

# The ``*_FIELDS`` tuples are the fields each service accepts; the browser forms and the API
# serializers take their field lists from them, so a field is added in one place.
ORGANIZATION_FIELDS = (
    "name",
    "company_number",
    "billing_contact_name",
    "billing_contact_email",
    "street",
    "city",
    "postcode",
    "region",
    "country",
    "time_zone",
    "currency",
    "language",
    "tax_id",
    "tax_rate",
    "payment_terms_days",
    "payment_instructions",
    "reminders_enabled",
    "is_active",
)


def _reject_unknown(data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationError({name: "Unknown field." for name in unknown})


def _clean(instance, exclude: list[str] | None = None) -> None:
    """Field validation plus model constraints, before anything is written."""
    instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)


@transaction.atomic
def tenant_create(
    *,
    name: str,
    slug: str,
    currency: str,
    time_zone: str,
    owner_username: str,
    owner_email: str,
    owner_password: str,
    country: str = "",
) -> Tenant:
    """Create an MSP tenant and its owner login in one transaction."""
    errors: dict[str, str] = {}
    if Tenant.objects.filter(slug=slug).exists():
        errors["slug"] = f"A tenant with slug '{slug}' already exists."
    if User.objects.filter(username=owner_username).exists():
        errors["owner_username"] = f"User '{owner_username}' already exists."
    if errors:
        raise ValidationError(errors)
    tenant = Tenant(name=name, slug=slug, currency=currency, time_zone=time_zone, country=country)
    tenant.full_clean()
    tenant.save()
    user = User(username=owner_username, email=owner_email)
    user.full_clean(exclude=["password"])
    from django.contrib.auth.password_validation import validate_password

    try:
        validate_password(owner_password, user)
    except ValidationError as exc:
        raise ValidationError({"owner_password": exc.messages}) from exc
    user.set_password(owner_password)
    user.save()
    Membership.objects.create(user=user, tenant=tenant, role=Role.OWNER)
    return tenant


@transaction.atomic
def membership_create(
    *,
    tenant: Tenant,
    username: str,
    email: str,
    password: str | None,
    role: str,
    first_name: str = "",
    last_name: str = "",
    organization: Organization | None = None,
    contact: Contact | None = None,
) -> Membership:
    """Create a login with a role in ``tenant`` (portal roles name their organization)."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role '{role}'."})
    if (role == Role.PORTAL) != (organization is not None):
        raise ValidationError(
            {"organization": "Portal users, and only they, have an organization."}
        )
    if organization is not None and organization.tenant_id != tenant.pk:
        raise ValidationError({"organization": "Organization not found."})
    user = User(username=username, email=email, first_name=first_name, last_name=last_name)
    user.full_clean(exclude=["password"])
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    return Membership.objects.create(
        user=user, tenant=tenant, role=role, organization=organization, contact=contact
    )


def _check_company_number(company_number: str, exclude_pk: int | None = None) -> None:
    clash = Organization.objects.filter(company_number=company_number)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationError(
            {
                "company_number": f"Company number '{company_number}' is already used by another customer."
            }
        )


def _save_unique(instance, field: str, message: str) -> None:
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:  # a concurrent writer won the race
        raise ValidationError({field: message}) from exc


@transaction.atomic
def organization_create(
    *,
    name: str,
    company_number: str,
    billing_contact_name: str = "",
    billing_contact_email: str = "",
    street: str = "",
    city: str = "",
    postcode: str = "",
    region: str = "",
    country: str = "",
    time_zone: str | None = None,
    currency: str | None = None,
    language: str = "en",
    tax_id: str = "",
    tax_rate: Decimal | None = None,
    payment_terms_days: int | None = None,
    payment_instructions: str = "",
    reminders_enabled: bool = True,
    is_active: bool = True,
) -> Organization:
    """Create a customer organization in the current tenant. The currency and time zone
    default to the tenant's; a tax rate of ``None`` means the tenant's default rate."""
    tenant = require_current_tenant()
    organization = Organization(
        tenant=tenant,
        name=name,
        company_number=company_number,
        billing_contact_name=billing_contact_name,
        billing_contact_email=billing_contact_email,
        street=street,
        city=city,
        postcode=postcode,
        region=region,
        country=country,
        time_zone=tenant.time_zone if time_zone is None else time_zone,
        currency=tenant.currency if currency is None else currency,
        language=language,
        tax_id=tax_id,
        tax_rate=tax_rate,
        payment_terms_days=payment_terms_days,
        payment_instructions=(payment_instructions or "").strip(),
        reminders_enabled=reminders_enabled,
        is_active=is_active,
    )
    _clean(organization, exclude=["tenant"])
    _check_company_number(organization.company_number)
    _save_unique(organization, "company_number", "Company number is already used.")
    audit.record_changes(
        action=audit.Action.CREATE,
        target=organization,
        previous=None,
        fields=ORGANIZATION_FIELDS,
    )
    return organization


@transaction.atomic
def organization_update(
    *,
    organization: Organization,
    name: str | Unset = UNSET,
    company_number: str | Unset = UNSET,
    billing_contact_name: str | Unset = UNSET,
    billing_contact_email: str | Unset = UNSET,
    street: str | Unset = UNSET,
    city: str | Unset = UNSET,
    postcode: str | Unset = UNSET,
    region: str | Unset = UNSET,
    country: str | Unset = UNSET,
    time_zone: str | Unset = UNSET,
    currency: str | Unset = UNSET,
    language: str | Unset = UNSET,
    tax_id: str | Unset = UNSET,
    tax_rate: Decimal | Unset | None = UNSET,
    payment_terms_days: int | Unset | None = UNSET,
    payment_instructions: str | Unset = UNSET,
    reminders_enabled: bool | Unset = UNSET,
    is_active: bool | Unset = UNSET,
) -> Organization:
    """Change a customer organization's details."""
    data = provided(
        name=name,
        company_number=company_number,
        billing_contact_name=billing_contact_name,
        billing_contact_email=billing_contact_email,
        street=street,
        city=city,
        postcode=postcode,
        region=region,
        country=country,
        time_zone=time_zone,
        currency=currency,
        language=language,
        tax_id=tax_id,
        tax_rate=tax_rate,
        payment_terms_days=payment_terms_days,
        payment_instructions=payment_instructions,
        reminders_enabled=reminders_enabled,
        is_active=is_active,
    )
    previous = audit.snapshot(organization)
    assign_fields(organization, data, ORGANIZATION_FIELDS)
    _clean(organization, exclude=["tenant"])
    _check_company_number(organization.company_number, exclude_pk=organization.pk)
    _save_unique(organization, "company_number", "Company number is already used.")
    audit.record_changes(
        action=audit.Action.UPDATE,
        target=organization,
        previous=previous,
        fields=ORGANIZATION_FIELDS,
    )
    return organization


CONTACT_FIELDS = ("organization", "name", "email", "phone")
CONTACT_UPDATE_FIELDS = ("name", "email", "phone")  # a contact stays with its organization


@transaction.atomic
def contact_create(
    *,
    organization: Organization,
    name: str,
    email: str = "",
    phone: str = "",
) -> Contact:
    """Add a person to a customer organization of the current tenant."""
    tenant = require_current_tenant()
    contact = Contact(tenant=tenant, organization=organization, name=name, email=email, phone=phone)
    if contact.organization.tenant_id != tenant.pk:
        raise ValidationError({"organization": "Organization not found."})
    _clean(contact, exclude=["tenant"])
    contact.save()
    return contact


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    name: str | Unset = UNSET,
    email: str | Unset = UNSET,
    phone: str | Unset = UNSET,
) -> Contact:
    """Change a contact's details."""
    data = provided(name=name, email=email, phone=phone)
    assign_fields(contact, data, CONTACT_UPDATE_FIELDS)
    _clean(contact, exclude=["tenant"])
    contact.save()
    return contact


def sequence_take(*, key: str, tenant: Tenant | None = None, count: int = 1) -> int:
    """Take ``count`` consecutive numbers of a per-tenant counter, gapless; returns the
    first. The one way every number (invoice, credit note, ticket) is taken.

    Must run inside the caller's transaction: the counter row stays locked until it
    commits, so concurrent takes wait and numbers stay unique, and a rollback gives every
    number back.
    """
    tenant = tenant or require_current_tenant()
    if count < 1:
        raise ValueError("count must be at least 1")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("sequence_take must run inside a transaction")
    with tenant_context(tenant):
        TenantSequence.objects.get_or_create(tenant=tenant, key=key)
        updated = TenantSequence.objects.filter(key=key).update(last_value=F("last_value") + count)
        if updated != 1:
            raise RuntimeError(f"counter {key} not found")
        last = (
            TenantSequence.objects.select_for_update()
            .values_list("last_value", flat=True)
            .get(key=key)
        )
    return last - count + 1


TENANT_FIELDS = (
    "name",
    "legal_name",
    "street",
    "city",
    "postcode",
    "region",
    "country",
    "tax_id",
    "email",
    "phone",
    "logo",
    "brand_color",
    "currency",
    "time_zone",
    "locale",
    "invoice_prefix",
    "credit_note_prefix",
    "default_hourly_rate",
    "default_payment_terms_days",
    "default_payment_instructions",
    "default_tax_rate",
    "session_work_taxable",
    "invoice_email_subject",
    "invoice_email_body",
    "reminder_offsets",
    "reminder_email_subject",
    "reminder_email_body",
    "require_two_factor",
)


def check_templates(tenant: Tenant, changes: dict[str, Any] | None = None) -> None:
    """Every e-mail template of ``tenant`` (with ``changes`` over it) names only
    placeholders it may use."""
    from .mail_templates import TEMPLATES, check_template

    changes = changes or {}
    errors = {}
    for template in TEMPLATES:
        try:
            check_template(
                template,
                subject=changes.get(
                    template.subject_field, getattr(tenant, template.subject_field)
                ),
                body=changes.get(template.body_field, getattr(tenant, template.body_field)),
            )
        except ValidationError as error:
            errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def tenant_update(
    *,
    tenant: Tenant,
    name: str | Unset = UNSET,
    legal_name: str | Unset = UNSET,
    street: str | Unset = UNSET,
    city: str | Unset = UNSET,
    postcode: str | Unset = UNSET,
    region: str | Unset = UNSET,
    country: str | Unset = UNSET,
    tax_id: str | Unset = UNSET,
    email: str | Unset = UNSET,
    phone: str | Unset = UNSET,
    logo: File | str | Unset = UNSET,
    brand_color: str | Unset = UNSET,
    currency: str | Unset = UNSET,
    time_zone: str | Unset = UNSET,
    locale: str | Unset = UNSET,
    invoice_prefix: str | Unset = UNSET,
    credit_note_prefix: str | Unset = UNSET,
    default_hourly_rate: Decimal | Unset = UNSET,
    default_payment_terms_days: int | Unset = UNSET,
    default_payment_instructions: str | Unset = UNSET,
    default_tax_rate: Decimal | Unset = UNSET,
    session_work_taxable: bool | Unset = UNSET,
    invoice_email_subject: str | Unset = UNSET,
    invoice_email_body: str | Unset = UNSET,
    reminder_offsets: str | Unset = UNSET,
    reminder_email_subject: str | Unset = UNSET,
    reminder_email_body: str | Unset = UNSET,
    require_two_factor: bool | Unset = UNSET,
) -> Tenant:
    """Change the tenant's company details, defaults and branding.

    A new logo must be a PNG, JPEG, GIF or WebP image within the logo upload limit.
    """
    if isinstance(logo, File) and not isinstance(logo, FieldFile):
        check_logo(logo)
    data = provided(
        name=name,
        legal_name=legal_name,
        street=street,
        city=city,
        postcode=postcode,
        region=region,
        country=country,
        tax_id=tax_id,
        email=email,
        phone=phone,
        logo=logo,
        brand_color=brand_color,
        currency=currency,
        time_zone=time_zone,
        locale=locale,
        invoice_prefix=invoice_prefix,
        credit_note_prefix=credit_note_prefix,
        default_hourly_rate=default_hourly_rate,
        default_payment_terms_days=default_payment_terms_days,
        default_payment_instructions=default_payment_instructions,
        default_tax_rate=default_tax_rate,
        session_work_taxable=session_work_taxable,
        invoice_email_subject=invoice_email_subject,
        invoice_email_body=invoice_email_body,
        reminder_offsets=reminder_offsets,
        reminder_email_subject=reminder_email_subject,
        reminder_email_body=reminder_email_body,
        require_two_factor=require_two_factor,
    )
    # Also when the settings form set the fields on the instance itself; checked before
    # anything is assigned, so a refused update leaves the tenant as it was.
    check_templates(tenant, data)
    previous = audit.snapshot(tenant)  # as stored: the form may have changed the instance
    assign_fields(tenant, data, TENANT_FIELDS)
    tenant.full_clean()
    tenant.save()
    audit.record_changes(
        action=audit.Action.UPDATE,
        target=tenant,
        previous=previous,
        fields=TENANT_FIELDS,
        tenant=tenant,
    )
    return tenant


@transaction.atomic
def staff_user_add(
    *,
    tenant: Tenant,
    username: str,
    email: str,
    password: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
) -> Membership:
    """Create a staff login in ``tenant``; the password must pass the validators."""
    from django.contrib.auth.password_validation import validate_password

    from .roles import STAFF_ROLES

    if role not in STAFF_ROLES:
        raise ValidationError({"role": "Choose a staff role."})
    if User.objects.filter(username=username).exists():
        raise ValidationError({"username": f"User '{username}' already exists."})
    try:
        validate_password(password, User(username=username, email=email))
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    membership = membership_create(
        tenant=tenant,
        username=username,
        email=email,
        password=password,
        role=role,
        first_name=first_name,
        last_name=last_name,
    )
    with tenant_context(tenant):
        audit.record(
            action=audit.Action.CREATE,
            target=membership.user,
            after={"username": username, "email": email, "role": role},
            tenant=tenant,
        )
    return membership


@transaction.atomic
def membership_role_set(*, membership: Membership, role: str) -> Membership:
    """Give a staff member another staff role in their tenant (recorded in the audit log).
    Portal logins keep their role: they belong to a customer organization."""
    from .roles import STAFF_ROLES

    if role not in STAFF_ROLES or membership.role not in STAFF_ROLES:
        raise ValidationError({"role": "Choose a staff role for a staff member."})
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    before = membership.role
    if before == role:
        return membership
    membership.role = role
    membership.save(update_fields=["role"])
    with tenant_context(membership.tenant):
        audit.record(
            action=audit.Action.ROLE_CHANGE,
            target=membership.user,
            before={"role": before},
            after={"role": role},
            tenant=membership.tenant,
        )
    return membership


def reject_unknown_fields(data: dict[str, Any], allowed: tuple[str, ...] | set[str]) -> None:
    """Refuse any key of ``data`` not in ``allowed`` with "Unknown field." under its name.

    Public so every app's services answer an unknown field the same way.
    """
    _reject_unknown(data, tuple(allowed))


def assign_fields(instance, data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """Set ``data`` on ``instance`` (an update service's input). An unknown field is refused
    before anything is set, so the instance is left as it was."""
    _reject_unknown(data, allowed)
    for name, value in data.items():
        setattr(instance, name, value)
