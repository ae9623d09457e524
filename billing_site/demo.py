"""Demo data for `load_demo`. Idempotent: every row is found by a natural key first.

Apps extend the demo by adding a builder to DEMO_BUILDERS; each builder receives the
demo context (tenant, users, organizations) inside the tenant's context and returns
lines to print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from importlib import import_module

from .models import Contact, Membership, Organization, Tenant, User
from .roles import Role
from .tenancy import tenant_context

DEMO_PASSWORD = "billing-demo-2026"

DEMO_BUILDERS: list[str] = [
    "sessions.demo.build",
    "contracts.demo.build",
    "portal.demo.build",
    "invoices.batches.demo.build",
]


@dataclass
class DemoContext:
    tenant: Tenant
    users: dict[str, User] = field(default_factory=dict)
    organizations: dict[str, Organization] = field(default_factory=dict)
    logins: list[tuple[str, str, str]] = field(default_factory=list)


DEMO_USERS = [
    ("owner", "Olivia", "Owner", Role.OWNER),
    ("billing", "Bruno", "Admin", Role.BILLING_ADMIN),
    ("tech", "Theo", "Martin", Role.TECHNICIAN),
    ("tech2", "Tara", "Nielsen", Role.TECHNICIAN),
    ("accountant", "Alice", "Comptable", Role.ACCOUNTANT),
]

# (postcode, city) of the demo customers' addresses, by country.
DEMO_CITIES = {
    "FR": ("69006", "Lyon"),
    "IE": ("D02 X285", "Dublin"),
    "DK": ("8000", "Aarhus C"),
    "GB": ("SW1A 1AA", "London"),
    "DE": ("10115", "Berlin"),
    "IT": ("20121", "Milano"),
}

DEMO_ORGANIZATIONS = [
    # name, company number, contact, e-mail, country, zone, language
    ("ACME", "C-1001", "Wile E. Coyote", "billing@acme.example", "FR", "Europe/Paris", "fr"),
    (
        "Bistro Lumière",
        "C-1002",
        "Claire Dubois",
        "compta@bistro-lumiere.example",
        "FR",
        "Europe/Paris",
        "fr",
    ),
    (
        "Dupont & Associés Avocats",
        "C-1003",
        "Marc Dupont",
        "factures@dupont-avocats.example",
        "FR",
        "Europe/Paris",
        "fr",
    ),
    (
        "Harbor Logistics",
        "C-1004",
        "Dana Reyes",
        "ap@harborlogistics.example",
        "IE",
        "Europe/Dublin",
        "en",
    ),
    (
        "Nordlys Tandklinik",
        "C-1005",
        "Mette Jensen",
        "bogholderi@nordlys.example",
        "DK",
        "Europe/Copenhagen",
        "da",
    ),
    (
        "Helios IT Partners",
        "P-2001",
        "Sam Carter",
        "billing@helios-partners.example",
        "FR",
        "Europe/Paris",
        "en",
    ),
    (
        "Studio Verde",
        "C-1006",
        "Giulia Rossi",
        "amministrazione@studioverde.example",
        "IT",
        "Europe/Rome",
        "it",
    ),
]


def _user(username: str, first: str, last: str, tenant: Tenant, role: str, **extra) -> User:
    user, created = User.objects.get_or_create(
        username=username,
        defaults={
            "first_name": first,
            "last_name": last,
            "email": f"{username}@{tenant.slug}.example",
        },
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": role, **extra})
    return user


def build_core(ctx: DemoContext) -> None:
    tenant = ctx.tenant
    for username, first, last, role in DEMO_USERS:
        ctx.users[username] = _user(username, first, last, tenant, role)
        ctx.logins.append((username, DEMO_PASSWORD, Role(role).label))
    for name, number, contact, email, country, zone, language in DEMO_ORGANIZATIONS:
        org, _ = Organization.objects.get_or_create(
            company_number=number,
            defaults={
                "tenant": tenant,
                "name": name,
                "billing_contact_name": contact,
                "billing_contact_email": email,
                "country": country,
                "time_zone": zone,
                "currency": "EUR",
                "language": language,
                "street": "1 Example Street",
                "city": DEMO_CITIES.get(country, ("", ""))[1],
                "postcode": DEMO_CITIES.get(country, ("", ""))[0],
            },
        )
        Contact.objects.get_or_create(
            organization=org, name=contact, defaults={"tenant": tenant, "email": email}
        )
        ctx.organizations[name] = org


def build_other_tenant() -> None:
    """A second MSP, so the demo shows that tenants never see each other."""
    tenant, _ = Tenant.objects.get_or_create(
        slug="fjord",
        defaults={
            "name": "Fjord Support ApS",
            "currency": "DKK",
            "time_zone": "Europe/Copenhagen",
            "country": "DK",
            "locale": "da_DK",
            "default_hourly_rate": Decimal("850.0000"),
        },
    )
    _user("fjord-owner", "Frederik", "Holm", tenant, Role.OWNER)
    with tenant_context(tenant):
        # Same name as the first tenant's customer: still a different, invisible company.
        Organization.objects.get_or_create(
            company_number="F-1",
            defaults={"tenant": tenant, "name": "ACME", "currency": "DKK", "country": "DK"},
        )


def load_demo() -> DemoContext:
    tenant, _ = Tenant.objects.get_or_create(
        slug="northwind",
        defaults={
            "name": "Northwind IT Services",
            "legal_name": "Northwind IT Services SARL",
            "currency": "EUR",
            "time_zone": "Europe/Paris",
            "country": "FR",
            "locale": "fr_FR",
            "street": "12 rue des Lilas",
            "postcode": "75011",
            "city": "Paris",
            "tax_id": "FR40123456789",
            "email": "billing@northwind-it.example",
            "phone": "+33 1 23 45 67 89",
            "default_hourly_rate": Decimal("95.0000"),
            "default_payment_terms_days": 30,
            "default_payment_instructions": "Bank transfer to IBAN FR76 3000 6000 0112 3456 7890 189, BIC AGRIFRPP.",
        },
    )
    ctx = DemoContext(tenant=tenant)
    with tenant_context(tenant):
        build_core(ctx)
        for dotted in DEMO_BUILDERS:
            module_name, _, attr = dotted.rpartition(".")
            getattr(import_module(module_name), attr)(ctx)
    build_other_tenant()
    return ctx
