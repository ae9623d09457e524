"""The parties of an invoice: the one place a seller or a bill-to is copied onto it.

An invoice keeps a snapshot of each party (name, structured address, tax id, contacts)
so that a final invoice never changes when the tenant or the customer does. Batch runs,
session invoices, credit notes and the forms' defaults all take their column values
from these functions; nothing else writes ``seller_*`` / ``bill_to_*`` from a tenant
or an organization.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from billing_site.models import Organization, Tenant

    from .models import Invoice

ADDRESS = ("street", "postcode", "city", "region", "country")
SELLER_FIELDS = (
    "seller_name",
    *(f"seller_{name}" for name in ADDRESS),
    "seller_tax_id",
    "seller_email",
    "seller_phone",
)
BILL_TO_FIELDS = (
    "bill_to_name",
    *(f"bill_to_{name}" for name in ADDRESS),
    "bill_to_tax_id",
    "bill_to_email",
    "bill_to_phone",
)
PARTY_FIELDS = SELLER_FIELDS + BILL_TO_FIELDS


def seller_snapshot(tenant: Tenant) -> dict[str, str]:
    """The seller columns of an invoice the tenant issues today."""
    return {
        "seller_name": tenant.company_name,
        **{f"seller_{name}": getattr(tenant, name) for name in ADDRESS},
        "seller_tax_id": tenant.tax_id,
        "seller_email": tenant.email,
        "seller_phone": tenant.phone,
    }


def bill_to_snapshot(organization: Organization | None, *, name: str = "") -> dict[str, str]:
    """The bill-to columns of an invoice to ``organization`` today. Without one (a
    session invoice for a host of no customer) only ``name`` is known.

    The e-mail is the organization's billing contact's; organizations keep no phone
    of their own, so the bill-to phone starts empty (a draft may fill it).
    """
    if organization is None:
        return {field: "" for field in BILL_TO_FIELDS} | {"bill_to_name": name}
    return {
        "bill_to_name": organization.name,
        **{f"bill_to_{name}": getattr(organization, name) for name in ADDRESS},
        "bill_to_tax_id": organization.tax_id,
        "bill_to_email": organization.billing_contact_email,
        "bill_to_phone": "",
    }


def snapshot_of(invoice: Invoice) -> dict[str, str]:
    """The party columns of ``invoice`` as they are, for a document that repeats its
    parties (a credit note)."""
    return {field: getattr(invoice, field) for field in PARTY_FIELDS}


def document_locale(organization: Organization | None, tenant_locale: str) -> str:
    """The locale a customer's copy is written in: the customer's language, else the
    tenant's (README "Invoice language").

    The same language as the tenant's locale keeps the tenant's formatting ("fr" for a
    fr_CA tenant stays fr_CA); another language takes its usual territory (Babel's likely
    subtags: "da" reads as da_DK, "en" as en_US). No organization (a session invoice for a
    host of no customer): the tenant's locale.
    """
    from babel import Locale, UnknownLocaleError
    from babel.core import get_global

    tenant_locale = tenant_locale or "en_US"
    language = getattr(organization, "language", "") or ""
    if not language or tenant_locale.split("_")[0].lower() == language.lower():
        return tenant_locale
    likely = get_global("likely_subtags").get(language.lower(), "")
    parts = likely.split("_")
    candidate = f"{parts[0]}_{parts[-1]}" if len(parts) > 1 else language.lower()
    try:
        Locale.parse(candidate)
    except (UnknownLocaleError, ValueError):
        return language.lower()
    return candidate


def document_language(locale: str) -> str:
    """The language code of ``locale`` for Django's translations: "fr" for fr_FR."""
    return (locale or "en").split("_")[0].split("-")[0].lower() or "en"
