"""Huge and malformed numbers are a 400 that names the field and what fits, never a 500.

Issue 13: "1e25", "1e400", 32-digit numbers, 1e308, "NaN", "Infinity", "-Infinity" and
"1e-400" sent as quantities, prices, rates, tax rates, payments and credit quantities
answered 500: ``quantize`` raised InvalidOperation before any size check. Each kind of
number is sent through the API (as a JSON string and, where JSON has one, as a JSON
number) and through its page; nothing may be written.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from billing_site.models import Organization, Tenant
from billing_site.roles import Role
from billing_site.testing.factories import OrganizationFactory
from contracts.models import (
    BlockPurchase,
    Contract,
    ContractProductLine,
    Product,
    RateRule,
    TimeEntry,
)
from contracts.services import parse_hours
from invoices.models import Invoice, InvoiceKind, InvoiceLine, InvoiceStatus, Payment
from tests.contracts.factories import ContractFactory, ProductFactory, ServiceTypeFactory
from tests.invoices.factories import InvoiceFactory, InvoiceLineFactory

pytestmark = pytest.mark.django_db

# The values an attack run sent; as JSON strings.
BAD_TEXT = [
    "1e25",
    "1e400",
    "12345678901234567890123456789012",
    "1e308",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e-400",
    "-1e400",
]
# The same as JSON numbers (raw tokens; 1e400 reads as an infinite float). JSON has no NaN
# or Infinity, and 1e-400 as a JSON number reads as 0.0, which is a legal zero.
BAD_JSON_NUMBERS = ["1e25", "1e400", "12345678901234567890123456789012", "1e308", "-1e400"]
BAD_API = [json.dumps(text) for text in BAD_TEXT] + BAD_JSON_NUMBERS


def post_raw(api, url: str, payload: dict, field_path: tuple, token: str):
    """POST ``payload`` with the value at ``field_path`` replaced by the raw JSON ``token``."""
    marker = "__NUMBER__"
    target = payload
    for key in field_path[:-1]:
        target = target[key]
    target[field_path[-1]] = marker
    body = json.dumps(payload).replace(json.dumps(marker), token)
    return api.post(url, body, content_type="application/json")


def assert_refused(response, field: str) -> None:
    assert response.status_code == 400, response.content[:300]
    errors = response.json()
    assert field in errors, errors
    reason = " ".join(str(message) for message in errors[field])
    assert reason.strip(), errors


@pytest.fixture
def world(tenant_a, tenant_b, staff_a):
    """Tenant A's draft, sent invoice with a line, contracts and service type; tenant B
    has the same kinds of objects and must not change either."""
    for tenant in (tenant_a, tenant_b):
        InvoiceFactory(tenant=tenant, draft=True)
    draft = InvoiceFactory(tenant=tenant_a, draft=True, subtotal=0, total=0)
    sent = InvoiceFactory(tenant=tenant_a, status=InvoiceStatus.SENT, total=Decimal("100"))
    line = InvoiceLineFactory(tenant=tenant_a, invoice=sent, quantity=Decimal("2"))
    ContractFactory(tenant=tenant_b, block=True)
    return {
        "draft": draft,
        "sent": sent,
        "line": line,
        "block": ContractFactory(tenant=tenant_a, block=True),
        "recurring": ContractFactory(tenant=tenant_a, recurring=True),
        "product": ProductFactory(tenant=tenant_a),
        "customer": OrganizationFactory(tenant=tenant_a),
        "service_type": ServiceTypeFactory(tenant=tenant_a),
        "admin": staff_a.user(Role.BILLING_ADMIN),
        "owner": staff_a.user(Role.OWNER),
    }


def counts() -> dict[str, int]:
    """What the refused requests must leave unchanged (all tenants)."""
    return {
        "lines": InvoiceLine.all_tenants.count(),
        "invoices": Invoice.all_tenants.count(),
        "payments": Payment.all_tenants.count(),
        "rules": RateRule.all_tenants.count(),
        "blocks": BlockPurchase.all_tenants.count(),
        "products": Product.all_tenants.count(),
        "contracts": Contract.all_tenants.count(),
        "organizations": Organization.all_tenants.count(),
        "product lines": ContractProductLine.all_tenants.count(),
        "time entries": TimeEntry.all_tenants.count(),
    }


# --- API -----------------------------------------------------------------------------


API_CASES = {
    "line quantity": (
        lambda w: f"/api/v1/invoices/{w['draft'].pk}/lines/",
        lambda w: {"description": "Setup", "quantity": "1", "unit_price": "10"},
        ("quantity",),
    ),
    "line unit price": (
        lambda w: f"/api/v1/invoices/{w['draft'].pk}/lines/",
        lambda w: {"description": "Setup", "quantity": "1", "unit_price": "10"},
        ("unit_price",),
    ),
    "line tax rate": (
        lambda w: f"/api/v1/invoices/{w['draft'].pk}/lines/",
        lambda w: {"description": "Setup", "quantity": "1", "unit_price": "10", "tax_rate": "1"},
        ("tax_rate",),
    ),
    "payment amount": (
        lambda w: "/api/v1/payments/",
        lambda w: {
            "invoice": w["sent"].pk,
            "amount": "1",
            "received_on": "2026-03-10",
            "method": "bank_transfer",
        },
        ("amount",),
    ),
    "credit quantity": (
        lambda w: "/api/v1/credit-notes/",
        lambda w: {
            "invoice": w["sent"].pk,
            "reason": "Too much",
            "credit_disposition": "write_off",
            "lines": [{"line": w["line"].pk, "quantity": "1"}],
        },
        ("lines", 0, "quantity"),
    ),
    "rate rule rate": (
        lambda w: "/api/v1/rate-rules/",
        lambda w: {"rate": "90", "service_type": w["service_type"].pk},
        ("rate",),
    ),
    "organization tax rate": (
        lambda w: "/api/v1/organizations/",
        lambda w: {"name": "Newco", "company_number": "N-1", "tax_rate": "20"},
        ("tax_rate",),
    ),
    "block purchase hours": (
        lambda w: "/api/v1/block-purchases/",
        lambda w: {"contract": w["block"].pk, "purchased_on": "2026-02-01", "hours": "10"},
        ("hours",),
    ),
    "block purchase price": (
        lambda w: "/api/v1/block-purchases/",
        lambda w: {"contract": w["block"].pk, "purchased_on": "2026-02-01", "price": "900"},
        ("price",),
    ),
    "product price": (
        lambda w: "/api/v1/products/",
        lambda w: {"sku": "NEW-1", "name": "New", "unit_price": "25"},
        ("unit_price",),
    ),
    "contract product line quantity": (
        lambda w: "/api/v1/contract-product-lines/",
        lambda w: {
            "contract": w["recurring"].pk,
            "product": w["product"].pk,
            "quantity_mode": "fixed",
            "quantity": "2",
        },
        ("quantity",),
    ),
    "contract product line price": (
        lambda w: "/api/v1/contract-product-lines/",
        lambda w: {
            "contract": w["recurring"].pk,
            "product": w["product"].pk,
            "quantity_mode": "fixed",
            "unit_price": "2",
        },
        ("unit_price",),
    ),
    "time entry seconds": (
        lambda w: "/api/v1/time-entries/",
        lambda w: {"contract": w["recurring"].pk, "work_date": "2026-03-02", "worked_seconds": 60},
        ("worked_seconds",),
    ),
    "contract tax rate": (
        lambda w: "/api/v1/contracts/",
        lambda w: {
            "customer": w["customer"].pk,
            "name": "Retainer",
            "contract_type": "retainer",
            "start_date": "2026-01-01",
            "retainer_fee": "500",
            "included_hours": "5",
            "overage_rate": "120",
            "tax_rate": "20",
        },
        ("tax_rate",),
    ),
    "retainer fee": (
        lambda w: "/api/v1/contracts/",
        lambda w: {
            "customer": w["customer"].pk,
            "name": "Retainer",
            "contract_type": "retainer",
            "start_date": "2026-01-01",
            "retainer_fee": "500",
            "included_hours": "5",
            "overage_rate": "120",
        },
        ("retainer_fee",),
    ),
    "included hours": (
        lambda w: "/api/v1/contracts/",
        lambda w: {
            "customer": w["customer"].pk,
            "name": "Retainer",
            "contract_type": "retainer",
            "start_date": "2026-01-01",
            "retainer_fee": "500",
            "included_hours": "5",
            "overage_rate": "120",
        },
        ("included_hours",),
    ),
    "block hours and price": (
        lambda w: "/api/v1/contracts/",
        lambda w: {
            "customer": w["customer"].pk,
            "name": "Blocks",
            "contract_type": "block_hours",
            "start_date": "2026-01-01",
            "block_hours": "10",
            "block_price": "900",
            "overage_rate": "110",
        },
        ("block_price",),
    ),
    "session invoice tax rate": (
        lambda w: "/api/v1/invoices/from-sessions/",
        lambda w: {"scope": "session", "id": 1, "tax_rate": "20"},
        ("tax_rate",),
    ),
    "session invoice amount due": (
        lambda w: "/api/v1/invoices/from-sessions/",
        lambda w: {"scope": "session", "id": 1, "amount_due": "100"},
        ("amount_due",),
    ),
}


@pytest.mark.parametrize("token", BAD_API)
@pytest.mark.parametrize("case", list(API_CASES))
def test_api_refuses_bad_numbers_and_writes_nothing(world, api_as, case, token):
    url, payload, path = API_CASES[case]
    before = counts()
    response = post_raw(api_as(world["admin"]), url(world), payload(world), path, token)
    assert_refused(response, path[0])
    assert counts() == before


def test_api_reasons_say_what_fits(world, api_as):
    api = api_as(world["admin"])
    lines = f"/api/v1/invoices/{world['draft'].pk}/lines/"
    huge = api.post(
        lines, {"description": "x", "quantity": "1e25", "unit_price": "1"}, format="json"
    )
    assert huge.json() == {
        "quantity": ["The quantity must be between -9999999999.9999 and 9999999999.9999."]
    }
    nan = api.post(lines, {"description": "x", "quantity": "1", "unit_price": "NaN"}, format="json")
    assert nan.json() == {
        "unit_price": [
            "Enter a number from -99999999999999.9999 to 99999999999999.9999, "
            "4 decimal places at most."
        ]
    }
    tiny = api.post(
        lines, {"description": "x", "quantity": "1e-400", "unit_price": "1"}, format="json"
    )
    assert tiny.json() == {"quantity": ["The quantity has 4 decimal places at most."]}
    rate = api.post(
        "/api/v1/organizations/",
        {"name": "N", "company_number": "N-2", "tax_rate": "1e25"},
        format="json",
    )
    assert rate.json() == {"tax_rate": ["The tax rate is a percentage between 0 and 100."]}
    hours = api.post(
        "/api/v1/block-purchases/",
        {"contract": world["block"].pk, "purchased_on": "2026-02-01", "hours": "Infinity"},
        format="json",
    )
    assert hours.json() == {
        "hours": ["Enter a number from -99999999.99 to 99999999.99, 2 decimal places at most."]
    }
    rule = api.post(
        "/api/v1/rate-rules/",
        {"rate": 1e308, "service_type": world["service_type"].pk},
        format="json",
    )
    assert rule.json() == {
        "rate": ["The rate must be between -99999999999999.9999 and 99999999999999.9999."]
    }


def test_a_line_whose_amount_overflows_is_refused(world, api_as):
    """Each factor fits its column, the product does not fit the amount's."""
    api = api_as(world["admin"])
    lines = f"/api/v1/invoices/{world['draft'].pk}/lines/"
    before = counts()
    response = api.post(
        lines,
        {"description": "x", "quantity": "9999999999", "unit_price": "99999999999999"},
        format="json",
    )
    assert response.status_code == 400
    assert "more than 999999999999999.99 EUR" in response.json()["quantity"][0]
    # Two lines that each fit but add up past the column: the second is refused whole.
    big = {"description": "x", "quantity": "1", "unit_price": "99999999999999"}
    for _ in range(10):
        assert api.post(lines, big, format="json").status_code == 201
    refused = api.post(lines, big, format="json")
    assert refused.status_code == 400 and "total" in refused.json()
    assert counts()["lines"] == before["lines"] + 10
    assert api.get(f"/api/v1/invoices/{world['draft'].pk}/").json()["total"] == (
        "999999999999990.00"
    )


def test_a_product_line_whose_amount_overflows_is_refused(world, api_as):
    response = api_as(world["admin"]).post(
        "/api/v1/contract-product-lines/",
        {
            "contract": world["recurring"].pk,
            "product": world["product"].pk,
            "quantity_mode": "fixed",
            "quantity": "9999999999",
            "unit_price": "99999999999999",
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "quantity": ["Quantity × unit price is more than 999999999999999.99 EUR."]
    }
    assert not ContractProductLine.all_tenants.exists()


@pytest.mark.parametrize("text", ["1e900000", "1e400", "NaN", "Infinity", "-1e25", "1e999999999"])
def test_typed_hours_out_of_any_range_are_not_hours(text):
    with pytest.raises(ValueError, match="is not a number of hours"):
        parse_hours(text)


@pytest.mark.parametrize("token", ["1e400", "-1e400"])
@pytest.mark.parametrize(
    ("url", "payload", "field"),
    [
        (
            "/api/v1/payments/",
            {"amount": "1", "received_on": "2026-03-10", "method": "cash"},
            "invoice",
        ),
        ("/api/v1/rate-rules/", {"rate": "90"}, "service_type"),
        ("/api/v1/block-purchases/", {"purchased_on": "2026-02-01"}, "contract"),
    ],
)
def test_an_id_that_overflows_is_a_400(world, api_as, url, payload, field, token):
    """A JSON number past a float's range reads as infinity; the id lookup's int() raised
    OverflowError (a 500)."""
    before = counts()
    response = post_raw(api_as(world["admin"]), url, {**payload, field: 0}, (field,), token)
    assert response.status_code == 400
    assert response.json()[field] == ["Give the id as a whole number; this one overflows."]
    assert counts() == before


@pytest.mark.parametrize("value", ["1e40", "-1e400", "1e2000000", "99999999999999999999", "NaN"])
@pytest.mark.parametrize("name", ["remote_session", "invoice_line"])
def test_id_filters_refuse_numbers_no_column_holds(world, api_as, name, value):
    response = api_as(world["admin"]).get("/api/v1/time-entries/", {name: value})
    assert response.status_code == 400 and name in response.json()


HUGE_ID = "329910784025988360568832"  # past 64 bits: SQLite could not bind it


@pytest.mark.parametrize("action", ["approve", "post"])
def test_entry_ids_past_any_id_column_are_refused(world, api_as, client_as, action):
    api = api_as(world["admin"])
    response = api.post(f"/api/v1/time-entries/{action}/", {"ids": [int(HUGE_ID)]}, format="json")
    assert response.status_code == 400 and "ids" in response.json()
    page = client_as(world["admin"]).post(
        reverse("contracts:approvals"), {"ids": [HUGE_ID], "action": action}, follow=True
    )
    # Refused: the queue is shown again with the message and the ticks kept.
    assert page.status_code == 400
    assert f"Unknown time entries: {HUGE_ID}." in page.content.decode()


def test_the_other_tenant_is_unchanged(world, api_as, tenant_b):
    api = api_as(world["admin"])
    api.post("/api/v1/organizations/", {"name": "N", "tax_rate": "1e400"}, format="json")
    assert not Organization.all_tenants.filter(tenant=tenant_b, name="N").exists()
    assert Invoice.all_tenants.filter(tenant=tenant_b, kind=InvoiceKind.INVOICE).count() == 1


# --- Pages ---------------------------------------------------------------------------


def page_refused(response, *reasons: str) -> None:
    """The page answered (400, or the form again, or a redirect to a page showing the
    error) with one of ``reasons`` shown."""
    assert response.status_code in (200, 400), response.status_code
    content = response.content.decode()
    assert any(reason in content for reason in reasons), content[:2000]


# Reasons the forms may give: the range, the digits or the places allowed.
PRICE = ("99999999999999.9999", "18 digits", "4 decimal places")
QUANTITY = ("9999999999.9999", "14 digits", "4 decimal places")
HOURS = ("99999999.99", "10 digits", "2 decimal places")
TAX = ("between 0 and 100", "4 decimal places")
AMOUNT = ("999999999999999.999", "18 digits", "decimal place")


@pytest.mark.parametrize("value", BAD_TEXT)
def test_pages_refuse_bad_numbers_and_write_nothing(world, client_as, value):
    draft, sent, line = world["draft"], world["sent"], world["line"]
    client = client_as(world["admin"])
    htmx = {"HTTP_HX_REQUEST": "true"}
    line_data = {
        "kind": "product",
        "description": "x",
        "quantity": "1",
        "unit_price": "1",
        "tax_rate": "0",
    }
    before = counts()

    add = f"/invoices/{draft.pk}/lines/add/"
    page_refused(client.post(add, {**line_data, "quantity": value}, **htmx), *QUANTITY)
    page_refused(client.post(add, {**line_data, "unit_price": value}, **htmx), *PRICE)
    page_refused(client.post(add, {**line_data, "tax_rate": value, "taxable": "on"}, **htmx), *TAX)
    paid = client.post(
        f"/invoices/{sent.pk}/payments/",
        {"amount": value, "received_on": "2026-03-10", "method": "bank_transfer"},
    )
    page_refused(paid, *AMOUNT)
    credited = client.post(
        f"/invoices/{sent.pk}/credit-note/",
        {
            "scope": "lines",
            "credit_disposition": "write_off",
            "reason": "x",
            f"qty_{line.pk}": value,
        },
    )
    page_refused(credited, *QUANTITY)
    rule = client.post(
        reverse("contracts:rate-rule-list"),
        {"rate": value, "service_type": world["service_type"].pk},
    )
    page_refused(rule, *PRICE)
    product = client.post(
        reverse("contracts:product-create"), {"sku": "NEW-1", "name": "New", "unit_price": value}
    )
    page_refused(product, *PRICE)
    for field, reasons in (("hours", HOURS), ("price", PRICE)):
        block = client.post(
            reverse("contracts:block-add", args=[world["block"].pk]),
            {"purchased_on": "2026-02-01", field: value},
            follow=True,
        )
        page_refused(block, *reasons)
    customer = client.post(
        reverse("customer-create"),
        {
            "name": "Newco",
            "company_number": "N-1",
            "currency": "EUR",
            "time_zone": "Europe/Paris",
            "language": "en",
            "tax_rate": value,
        },
    )
    page_refused(customer, *TAX, "percentage between 0 and 100")
    assert counts() == before


@pytest.mark.parametrize("value", BAD_TEXT)
def test_settings_page_refuses_a_bad_default_tax_rate(world, client_as, tenant_a, value):
    from tests.core.test_tax_rates import settings_data

    client = client_as(world["owner"])
    response = client.post(
        reverse("tenant-settings"), settings_data(tenant_a, default_tax_rate=value)
    )
    page_refused(response, "percentage between 0 and 100", "4 decimal places")
    rate = client.post(
        reverse("tenant-settings"), settings_data(tenant_a, default_hourly_rate=value)
    )
    page_refused(rate, "99999999.9999", "12 digits", "4 decimal places")
    saved = Tenant.objects.get(pk=tenant_a.pk)
    assert saved.default_tax_rate == tenant_a.default_tax_rate
    assert saved.default_hourly_rate == tenant_a.default_hourly_rate


def test_form_reasons_say_what_fits(world, client_as):
    client = client_as(world["admin"])
    rule = client.post(
        reverse("contracts:rate-rule-list"),
        {"rate": "NaN", "service_type": world["service_type"].pk},
    )
    assert (
        "Enter a number from -99999999999999.9999 to 99999999999999.9999, 4 decimal places "
        "at most." in rule.content.decode()
    )
    assert not RateRule.all_tenants.exists()
