"""Core business operations. Each is one transaction and raises ValidationError
(with field names) on bad input, leaving nothing half-written."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F

from .models import Contact, Membership, Organization, Tenant, TenantSequence, User
from .roles import Role
from .tenancy import require_current_tenant, tenant_context

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
    **details: Any,
) -> Tenant:
    """Create an MSP tenant and its owner login in one transaction."""
    errors: dict[str, str] = {}
    if Tenant.objects.filter(slug=slug).exists():
        errors["slug"] = f"A tenant with slug '{slug}' already exists."
    if User.objects.filter(username=owner_username).exists():
        errors["owner_username"] = f"User '{owner_username}' already exists."
    if errors:
        raise ValidationError(errors)
    tenant = Tenant(
        name=name, slug=slug, currency=currency, time_zone=time_zone, country=country, **details
    )
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
def organization_create(**data: Any) -> Organization:
    """Create a customer organization in the current tenant."""
    tenant = require_current_tenant()
    _reject_unknown(data, ORGANIZATION_FIELDS)
    data.setdefault("currency", tenant.currency)
    data.setdefault("time_zone", tenant.time_zone)
    organization = Organization(tenant=tenant, **data)
    _clean(organization, exclude=["tenant"])
    _check_company_number(organization.company_number)
    _save_unique(organization, "company_number", "Company number is already used.")
    return organization


@transaction.atomic
def organization_update(*, organization: Organization, **data: Any) -> Organization:
    """Change a customer organization's details."""
    _reject_unknown(data, ORGANIZATION_FIELDS)
    for name, value in data.items():
        setattr(organization, name, value)
    _clean(organization, exclude=["tenant"])
    _check_company_number(organization.company_number, exclude_pk=organization.pk)
    _save_unique(organization, "company_number", "Company number is already used.")
    return organization


CONTACT_FIELDS = ("organization", "name", "email", "phone")


@transaction.atomic
def contact_create(**data: Any) -> Contact:
    """Add a person to a customer organization of the current tenant."""
    tenant = require_current_tenant()
    _reject_unknown(data, CONTACT_FIELDS)
    contact = Contact(tenant=tenant, **data)
    if contact.organization.tenant_id != tenant.pk:
        raise ValidationError({"organization": "Organization not found."})
    _clean(contact, exclude=["tenant"])
    contact.save()
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, **data: Any) -> Contact:
    """Change a contact's details."""
    _reject_unknown(data, ("name", "email", "phone"))
    for name, value in data.items():
        setattr(contact, name, value)
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


@transaction.atomic
def tenant_update(*, tenant: Tenant, **data: Any) -> Tenant:
    """Change the tenant's company details, defaults and branding."""
    for name, value in data.items():
        setattr(tenant, name, value)
    tenant.full_clean()
    tenant.save()
    return tenant


@transaction.atomic
def staff_user_add(
    *, tenant: Tenant, username: str, email: str, password: str, role: str, **names: str
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
    return membership_create(
        tenant=tenant, username=username, email=email, password=password, role=role, **names
    )


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
