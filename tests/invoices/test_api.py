"""Invoice API: list/filters, retrieve with lines and pdf_url, void, pdf, from-sessions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from invoices import services
from invoices.models import Invoice, InvoiceStatus, PdfStatus
from sessions.models import RemoteSession

from .conftest import pdf_bytes_text
from .factories import InvoiceFactory, InvoiceLineFactory

LIST = "/api/v1/invoices/"
FROM_SESSIONS = "/api/v1/invoices/from-sessions/"


@pytest.fixture
def api(admin_a, api_as):
    return api_as(admin_a)


@pytest.fixture
def post_from_sessions(api, django_capture_on_commit_callbacks):
    def run(payload, client=None):
        with django_capture_on_commit_callbacks(execute=True):
            return (client or api).post(FROM_SESSIONS, payload, format="json")

    return run


def test_invoice_for_a_host_returns_it_with_its_pdf_url(acme, acme_b, api, post_from_sessions):
    response = post_from_sessions(
        {"scope": "host", "id": acme.jane.pk, "date_from": "2026-03-01", "date_to": "2026-03-31"}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["number"] == "INV-2026-00001"
    assert body["status"] == "final"
    assert body["total"] == "25.50"
    assert body["bill_to_name"] == "ACME"
    assert body["seller_name"] == "Alpha IT SARL"
    assert [line["description"] for line in body["lines"]] == [
        "Installed Windows updates.",
        "Checked the backup job.",
    ]
    assert [line["amount"] for line in body["lines"]] == ["16.67", "8.83"]
    assert sum(line["worked_seconds"] for line in body["lines"]) == 918
    # Line facts: the session's day as service period, the derived tax category.
    assert [(line["period_start"], line["period_end"]) for line in body["lines"]] == [
        ("2026-03-02", "2026-03-02"),
        ("2026-03-05", "2026-03-05"),
    ]
    assert {line["tax_category"] for line in body["lines"]} == {"O"}
    # The parties as structured objects; the old address text is gone.
    assert body["bill_to"] == {
        "legal_name": "ACME",
        "street_lines": ["5 avenue Foch"],
        "city": "Lyon",
        "postcode": "69006",
        "region": "",
        "country_code": "FR",
        "tax_id": "FR11222333444",
        "email": "billing@acme.example",
        "phone": "",
    }
    assert body["seller"]["street_lines"] == ["1 rue de la Paix"]
    assert (body["seller"]["postcode"], body["seller"]["city"]) == ("75002", "Paris")
    assert "bill_to_address" not in body and "seller_address" not in body
    # The PDF renders after commit (here: when the test's commit callbacks ran).
    body = api.get(f"{LIST}{body['id']}/").json()
    assert body["pdf_status"] == "ready"
    assert body["pdf_url"].endswith(f"/api/v1/invoices/{body['id']}/pdf/")
    pdf = api.get(body["pdf_url"])
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    text = pdf_bytes_text(b"".join(pdf.streaming_content))
    assert "Jane_OFFICE_121" in text and "15 min 18 s" in text and "€25.50" in text


def test_invoice_for_a_group_with_details_and_amount_due(acme, acme_b, post_from_sessions):
    response = post_from_sessions(
        {
            "scope": "group",
            "id": acme.group.pk,
            "date_from": "2026-03-01",
            "date_to": "2026-03-31",
            "seller_name": "Alpha IT – Lyon",
            "seller_phone": "+33 4 00 00 00 00",
            "bill_to_name": "ACME Holding",
            "bill_to_tax_id": "FR99",
            "bill_to_street": "1 place Bellecour\n3e étage",
            "bill_to_postcode": "69002",
            "bill_to_country": "fr",
            "amount_due": "110.00",
            "notes": "PO 4711",
        }
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["seller_name"], body["bill_to_name"], body["bill_to_tax_id"]) == (
        "Alpha IT – Lyon",
        "ACME Holding",
        "FR99",
    )
    assert body["bill_to"]["street_lines"] == ["1 place Bellecour", "3e étage"]
    assert (body["bill_to"]["postcode"], body["bill_to"]["city"]) == ("69002", "Lyon")
    assert body["bill_to"]["country_code"] == "FR"
    assert body["total"] == "110.00"
    assert [line["kind"] for line in body["lines"]] == ["session"] * 3 + ["adjustment"]
    assert body["lines"][-1]["amount"] == "9.17"
    assert {line["group_label"] for line in body["lines"][:3]} == {
        "Jane_OFFICE_121",
        "Joseph_OFFICE_121",
    }


def test_one_session_and_billing_it_twice(acme, acme_b, post_from_sessions):
    payload = {"scope": "session", "id": acme.jane_updates.pk}
    assert post_from_sessions(payload).status_code == 201
    again = post_from_sessions(payload)
    assert again.status_code == 400
    assert again.json() == {"sessions": ["This session is already billed."]}
    assert Invoice.all_tenants.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"scope": "host"}, "id"),
        ({"scope": "moon", "id": 1}, "scope"),
        ({"scope": "host", "id": 1, "colour": "red"}, "colour"),
        ({"scope": "host", "id": 1, "amount_due": "-1"}, "amount_due"),
    ],
)
def test_bad_requests_are_400(acme, acme_b, post_from_sessions, payload, field):
    response = post_from_sessions(payload)
    assert response.status_code == 400
    assert field in response.json()


def test_field_errors_from_the_service(acme, acme_b, post_from_sessions):
    response = post_from_sessions(
        {"scope": "host", "id": acme.jane.pk, "amount_due": "10.005", "seller_name": ""}
    )
    assert response.status_code == 400
    assert "seller_name" in response.json()
    response = post_from_sessions({"scope": "host", "id": acme.jane.pk, "amount_due": "10.005"})
    assert response.json() == {"amount_due": ["EUR amounts have 2 decimal place(s) at most."]}
    assert not Invoice.all_tenants.exists()


def test_another_tenants_group_is_unknown(acme, acme_b, post_from_sessions):
    response = post_from_sessions({"scope": "group", "id": acme_b.group.pk})
    assert response.status_code == 400
    assert "id" in response.json()
    assert not RemoteSession.all_tenants.filter(invoice_line__isnull=False).exists()


def test_list_filters(acme, acme_b, api):
    march = InvoiceFactory(
        tenant=acme.tenant, organization=acme.organization, issue_date=dt.date(2026, 3, 5)
    )
    feb = InvoiceFactory(
        tenant=acme.tenant, issue_date=dt.date(2026, 2, 5), due_date=dt.date(2026, 3, 5)
    )
    void = InvoiceFactory(tenant=acme.tenant, status=InvoiceStatus.VOID)
    InvoiceFactory(tenant=acme_b.tenant)

    def ids(**params):
        response = api.get(LIST, params)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {march.pk, feb.pk, void.pk}
    assert ids(status="void") == {void.pk}
    assert ids(status="overdue") == {feb.pk}
    assert ids(organization=acme.organization.pk) == {march.pk}
    assert ids(number=march.number.lower()) == {march.pk}
    assert ids(issued_after="2026-03-01", issued_before="2026-03-31") == {march.pk, void.pk}
    response = api.get(LIST, {"organization": acme_b.organization.pk})
    assert response.status_code == 400  # another tenant's customer is not a choice


def test_amounts_follow_the_currency(tenant_a, tenant_b, api):
    for currency, total in (("JPY", "2593.000"), ("KWD", "2.592"), ("EUR", "10.500")):
        InvoiceFactory(
            tenant=tenant_a, currency=currency, total=Decimal(total), subtotal=Decimal(total)
        )
    totals = {row["currency"]: row["total"] for row in api.get(LIST).json()["results"]}
    assert totals == {"JPY": "2593", "KWD": "2.592", "EUR": "10.50"}


def test_list_query_count_does_not_grow(acme, acme_b, api):
    InvoiceFactory.create_batch(2, tenant=acme.tenant, organization=acme.organization)
    api.get(LIST)
    with CaptureQueriesContext(connection) as few:
        api.get(LIST)
    InvoiceFactory.create_batch(20, tenant=acme.tenant, organization=acme.organization)
    with CaptureQueriesContext(connection) as many:
        response = api.get(LIST)
    assert len(response.json()["results"]) == 22
    assert len(many) == len(few)


def test_retrieve_query_count_does_not_grow_with_lines(acme, acme_b, api):
    invoice = InvoiceFactory(tenant=acme.tenant)
    InvoiceLineFactory(tenant=acme.tenant, invoice=invoice)
    api.get(f"{LIST}{invoice.pk}/")
    with CaptureQueriesContext(connection) as few:
        api.get(f"{LIST}{invoice.pk}/")
    InvoiceLineFactory.create_batch(15, tenant=acme.tenant, invoice=invoice)
    with CaptureQueriesContext(connection) as many:
        response = api.get(f"{LIST}{invoice.pk}/")
    assert len(response.json()["lines"]) == 16
    assert len(many) == len(few)


def test_void_action(acme, acme_b, api, post_from_sessions, django_capture_on_commit_callbacks):
    invoice_id = post_from_sessions({"scope": "host", "id": acme.jane.pk}).json()["id"]
    url = f"{LIST}{invoice_id}/void/"
    assert api.post(url, {}, format="json").status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url, {"reason": "Wrong host"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "void"
    assert response.json()["void_reason"] == "Wrong host"
    assert not RemoteSession.all_tenants.filter(invoice_line__isnull=False).exists()
    again = api.post(url, {"reason": "Again"}, format="json")
    assert again.status_code == 400 and "already void" in again.json()["status"][0]


def test_pdf_not_ready_is_409(acme, acme_b, api):
    invoice = InvoiceFactory(tenant=acme.tenant, pdf_status=PdfStatus.PENDING)
    response = api.get(f"{LIST}{invoice.pk}/pdf/")
    assert response.status_code == 409
    assert response.json()["pdf_status"] == "pending"
    assert api.get(f"{LIST}{invoice.pk}/").json()["pdf_url"] is None


@pytest.mark.parametrize("query", ["", "?format=pdf"])
def test_pdf_errors_are_json_whatever_format_is_asked(acme, acme_b, api, query):
    """A 409 or 404 of the PDF endpoint is a JSON body and says so (it was labelled
    application/pdf when the PDF was asked for)."""
    invoice = InvoiceFactory(tenant=acme.tenant, pdf_status=PdfStatus.PENDING)
    for url, code in ((f"{LIST}{invoice.pk}/pdf/", 409), (f"{LIST}999999/pdf/", 404)):
        response = api.get(url + query, HTTP_ACCEPT="application/pdf")
        assert response.status_code == code
        assert response["Content-Type"] == "application/json"
        assert "detail" in response.json()


def test_roles(acme, acme_b, staff_a, api_as, post_from_sessions):
    invoice_id = post_from_sessions({"scope": "session", "id": acme.jane_updates.pk}).json()["id"]
    technician = api_as(staff_a.user(Role.TECHNICIAN))
    for url in (LIST, f"{LIST}{invoice_id}/", f"{LIST}{invoice_id}/pdf/"):
        assert technician.get(url).status_code == 403, url
    accountant = api_as(staff_a.user(Role.ACCOUNTANT))
    assert accountant.get(f"{LIST}{invoice_id}/").json()["total"] == "16.67"
    assert accountant.get(f"{LIST}{invoice_id}/pdf/").status_code == 200
    assert accountant.post(f"{LIST}{invoice_id}/void/", {"reason": "x"}).status_code == 403
    response = post_from_sessions({"scope": "host", "id": acme.jane.pk}, client=accountant)
    assert response.status_code == 403
    assert Invoice.all_tenants.count() == 1


def test_tenant_b_invoice_is_404(acme, acme_b, api, django_capture_on_commit_callbacks):
    with tenant_context(acme_b.tenant), django_capture_on_commit_callbacks(execute=True):
        other = services.session_invoice_create(scope="host", object_id=acme_b.jane.pk)
    assert api.get(f"{LIST}{other.pk}/").status_code == 404
    assert api.get(f"{LIST}{other.pk}/pdf/").status_code == 404
    assert api.post(f"{LIST}{other.pk}/void/", {"reason": "x"}).status_code == 404
    assert api.get(LIST).json()["count"] == 0
    other.refresh_from_db()
    assert other.status == InvoiceStatus.FINAL
