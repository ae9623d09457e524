"""Fixtures of the integration tests: the fakes on loopback, settings pointing at them,
connections made through the real OAuth flow, and invoices finalised the real way."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import httpx2
import pytest

from billing_site.tenancy import tenant_context
from integrations.core import ledger, services
from integrations.core.models import MappingKind, Provider
from invoices.models import Invoice, LineKind
from invoices.parties import bill_to_snapshot
from invoices.services import invoices_finalize
from tests.contracts.factories import ProductFactory
from tests.invoices.factories import InvoiceFactory, InvoiceLineFactory

from .fakes import FakeConnectWise, FakeQuickBooks, FakeXero

CALLBACK = "http://testserver/integrations/callback/{}/"


@pytest.fixture(autouse=True)
def token_key(settings):
    """Tokens are stored encrypted; the tests run as production does (DEBUG off), so a
    key must be configured."""
    from cryptography.fernet import Fernet

    settings.INTEGRATIONS_KEYS = [Fernet.generate_key().decode()]
    return settings.INTEGRATIONS_KEYS[0]


@pytest.fixture
def fake_qbo(settings):
    fake = FakeQuickBooks().start()
    settings.QUICKBOOKS = fake.settings(settings.QUICKBOOKS)
    yield fake
    fake.stop()


@pytest.fixture
def fake_xero(settings):
    fake = FakeXero().start()
    settings.XERO = fake.settings(settings.XERO)
    yield fake
    fake.stop()


@pytest.fixture
def fake_cw(settings):
    fake = FakeConnectWise().start()
    settings.CONNECTWISE = fake.settings(settings.CONNECTWISE)
    yield fake
    fake.stop()


def connect_connectwise(fake):
    from integrations.connectwise import services as cw_services

    return cw_services.connection_save(
        site=fake.site,
        company=fake.company,
        public_key=fake.public_key,
        private_key=fake.private_key,
    )


@pytest.fixture
def connectwise(in_tenant_a, fake_cw):
    return connect_connectwise(fake_cw)


def consent(url: str) -> dict[str, str]:
    """Follow the provider's consent page as the browser would; the redirect's query."""
    response = httpx2.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    query = parse_qs(urlparse(response.headers["Location"]).query)
    return {key: values[0] for key, values in query.items()}


def connect(provider: str):
    url = services.connection_start(provider_key=provider, redirect_uri=CALLBACK.format(provider))
    answer = consent(url)
    return services.connection_complete(
        provider_key=provider,
        state=answer["state"],
        code=answer["code"],
        realm_id=answer.get("realmId", ""),
    )


# What an owner maps before the first push (tax rate 20 %, untaxed lines, the default
# income account, and the catalog's income account 4010), per system.
MAPPINGS = {
    Provider.QUICKBOOKS: [
        (MappingKind.ACCOUNT, "income", "79", "Services Income"),
        (MappingKind.TAX_RATE, "20", "5", "VAT 20%"),
        (MappingKind.TAX_RATE, ledger.EXEMPT, "6", "Exempt"),
        (MappingKind.INCOME_ACCOUNT, "4010", "80", "Managed Services Income"),
    ],
    Provider.XERO: [
        (MappingKind.ACCOUNT, "income", "200", "Sales"),
        (MappingKind.TAX_RATE, "20", "OUTPUT2", "20% (VAT on Income)"),
        (MappingKind.TAX_RATE, ledger.EXEMPT, "NONE", "No VAT"),
        (MappingKind.INCOME_ACCOUNT, "4010", "260", "Managed services"),
    ],
}


def map_system(system: str) -> None:
    for kind, key, external_id, name in MAPPINGS[system]:
        ledger.mapping_set(
            system=system, kind=kind, local_key=key, external_id=external_id, external_name=name
        )


@pytest.fixture
def quickbooks(in_tenant_a, fake_qbo):
    connection = connect(Provider.QUICKBOOKS)
    map_system(Provider.QUICKBOOKS)
    return connection


@pytest.fixture
def xero(in_tenant_a, fake_xero):
    connection = connect(Provider.XERO)
    map_system(Provider.XERO)
    return connection


def draft(tenant, *, organization=None, lines=None, number_prefix=None) -> Invoice:
    """A draft with priced lines: (sku, quantity, unit price, taxable at 20 %)."""
    ProductFactory(
        tenant=tenant, sku="MEP", name="Managed endpoint", income_account_code="4010"
    ) if not _has_product(tenant, "MEP") else None
    kwargs = {"tenant": tenant, "draft": True}
    if organization is not None:
        # The bill-to snapshot, as a draft made from the customer takes it.
        kwargs.update(organization=organization, **bill_to_snapshot(organization))
    invoice = InvoiceFactory(**kwargs)
    rows = lines or [
        ("MEP", "20", "12.5000", True),
        ("", "1.5", "90.0000", True),
        ("", "1", "15.0000", False),
    ]
    for position, (sku, quantity, price, taxable) in enumerate(rows, start=1):
        amount = (Decimal(quantity) * Decimal(price)).quantize(Decimal("0.01"))
        InvoiceLineFactory(
            tenant=tenant,
            invoice=invoice,
            position=position,
            kind=LineKind.PRODUCT if sku else LineKind.ADJUSTMENT,
            sku=sku,
            description=f"Line {position}",
            quantity=Decimal(quantity),
            unit_price=Decimal(price),
            amount=amount,
            taxable=taxable,
            tax_rate=Decimal("20") if taxable else Decimal("0"),
        )
    return invoice


def _has_product(tenant, sku: str) -> bool:
    from contracts.models import Product

    with tenant_context(tenant):
        return Product.objects.filter(sku=sku).exists()


def finalise(*invoices: Invoice) -> list[Invoice]:
    return invoices_finalize(invoices=list(invoices))
