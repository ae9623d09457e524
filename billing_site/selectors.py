"""Core reads, scoped to the current tenant through the default managers."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Q, QuerySet

from .models import Contact, Organization, Tenant
from .tenancy import require_current_tenant


def organization_list(*, search: str = "", active: bool | None = None) -> QuerySet[Organization]:
    queryset = Organization.objects.annotate(contact_count=Count("contacts"))
    if search:
        queryset = queryset.filter(
            Q(name__icontains=search)
            | Q(company_number__istartswith=search)
            | Q(billing_contact_email__icontains=search)
        )
    if active is not None:
        queryset = queryset.filter(is_active=active)
    return queryset.order_by("name", "id")


def organization_get(*, pk: int) -> Organization:
    """The organization with ``pk`` in the current tenant; DoesNotExist (-> 404) otherwise."""
    return Organization.objects.get(pk=pk)


def contact_list(*, organization: Organization | None = None) -> QuerySet[Contact]:
    queryset = Contact.objects.select_related("organization")
    if organization is not None:
        queryset = queryset.filter(organization=organization)
    return queryset.order_by("name", "id")


def organization_portal_users(*, organization: Organization) -> QuerySet:
    """The portal logins of ``organization`` (its staff reading the client portal), with
    user and contact joined."""
    from .models import Membership
    from .roles import Role

    return (
        Membership.objects.filter(
            tenant=require_current_tenant(), organization=organization, role=Role.PORTAL
        )
        .select_related("user", "contact")
        .order_by("user__username", "id")
    )


def organization_payment_terms(
    *, organization: Organization | None, tenant: Tenant | None = None
) -> dict[str, object]:
    """The payment terms (days) and instructions a new invoice to ``organization`` starts
    with: the customer's own when set, else the tenant's defaults (also with no customer).
    The one place this choice is made; a draft may still change both, and finalising
    computes the due date from the draft's terms."""
    tenant = tenant or require_current_tenant()
    days = organization.payment_terms_days if organization is not None else None
    instructions = organization.payment_instructions if organization is not None else ""
    return {
        "payment_terms_days": tenant.default_payment_terms_days if days is None else days,
        "payment_instructions": instructions or tenant.default_payment_instructions,
    }


def organization_tax_rate(
    *, organization: Organization | None, tenant: Tenant | None = None
) -> Decimal:
    """The tax rate (percent) invoices to ``organization`` carry: its own rate when set,
    else the tenant's default rate (also for an invoice with no customer organization).

    The one place this choice is made, for every invoice kind that bills a customer.
    """
    if organization is not None and organization.tax_rate is not None:
        return organization.tax_rate
    tenant = tenant or require_current_tenant()
    return tenant.default_tax_rate
