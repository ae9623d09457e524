"""Draft editing: only drafts change, totals to the cent, discounts, validation, API and UI."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from invoices import services
from invoices.models import Invoice, InvoiceLine, InvoiceStatus

from .factories import InvoiceFactory, InvoiceLineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(tenant_a, tenant_b):
    InvoiceFactory(tenant=tenant_b, draft=True)  # tenant B's draft must stay unseen
    return InvoiceFactory(tenant=tenant_a, draft=True, subtotal=0, total=0)


def add(invoice, **values):
    values.setdefault("description", "Service")
    values.setdefault("quantity", "1")
    values.setdefault("unit_price", "10")
    return services.invoice_line_add(invoice=invoice, **values)


def test_lines_discount_and_fee_recompute_totals_to_the_cent(in_tenant_a, draft):
    add(
        draft,
        description="Workstation support",
        quantity="3",
        unit_price="33.3333",
        taxable=True,
        tax_rate="20",
    )
    add(
        draft,
        kind="fee",
        description="Travel fee",
        quantity="1",
        unit_price="25.005",
        taxable=True,
        tax_rate="20",
    )
    discount = add(draft, kind="discount", description="Loyalty discount", unit_price="10")
    draft.refresh_from_db()
    assert discount.unit_price == Decimal("-10.0000")
    assert discount.amount == Decimal("-10.00")
    # 100.00 (99.9999 half-up) + 25.01 (25.005 half-up) − 10.00
    assert draft.subtotal == Decimal("115.01")
    assert draft.tax_total == Decimal("25.00")  # 20 % of 125.01 = 25.002 -> 25.00
    assert draft.total == Decimal("140.01")


def test_update_and_delete_a_line(in_tenant_a, draft):
    line = add(draft, quantity="2", unit_price="50")
    services.invoice_line_update(line=line, quantity="1.5", description="Half day")
    draft.refresh_from_db()
    line.refresh_from_db()
    assert (line.description, line.amount, draft.total) == (
        "Half day",
        Decimal("75.00"),
        Decimal("75.00"),
    )
    services.invoice_line_delete(line=line)
    draft.refresh_from_db()
    assert draft.total == Decimal("0") and not InvoiceLine.objects.filter(invoice=draft).exists()


@pytest.mark.parametrize(
    "values, field",
    [
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "abc"}, "quantity"),
        ({"unit_price": "1.23456"}, "unit_price"),
        ({"unit_price": "-5"}, "unit_price"),
        ({"description": "  "}, "description"),
        ({"tax_rate": "120"}, "tax_rate"),
        ({"kind": "session"}, "kind"),
    ],
)
def test_line_validation_names_the_field_and_writes_nothing(in_tenant_a, draft, values, field):
    with pytest.raises(ValidationError) as caught:
        add(draft, **values)
    assert field in caught.value.message_dict
    assert not InvoiceLine.objects.filter(invoice=draft).exists()
    draft.refresh_from_db()
    assert draft.total == Decimal("0")


def test_final_invoices_are_immutable(in_tenant_a, draft):
    final = InvoiceFactory(tenant=in_tenant_a)
    line = InvoiceLineFactory(tenant=in_tenant_a, invoice=final)
    immutable = "A final invoice is immutable — issue a credit note or void it."
    for call in (
        lambda: add(final),
        lambda: services.invoice_line_update(line=line, quantity="2"),
        lambda: services.invoice_line_delete(line=line),
        lambda: services.invoice_update_draft(invoice=final, notes="changed"),
    ):
        with pytest.raises(ValidationError) as caught:
            call()
        assert caught.value.message_dict == {"status": [immutable]}
    line.refresh_from_db()
    assert line.quantity == Decimal("1")


def test_update_draft_header_and_finalize_keeps_chosen_dates(in_tenant_a, draft):
    services.invoice_update_draft(
        invoice=draft,
        bill_to_name="ACME Lyon",
        notes="Thanks!",
        payment_terms_days=14,
        payment_instructions="IBAN FR76 0000",
        issue_date=dt.date(2026, 3, 18),
    )
    with pytest.raises(ValidationError) as caught:
        services.invoice_update_draft(invoice=draft, bill_to_name="", due_date=dt.date(2026, 3, 1))
    assert set(caught.value.message_dict) == {"bill_to_name", "due_date"}
    draft.refresh_from_db()
    assert draft.bill_to_name == "ACME Lyon"
    add(draft)
    final = services.invoice_finalize(invoice=draft)
    assert final.number == "INV-2026-00001"
    assert (final.issue_date, final.due_date) == (dt.date(2026, 3, 18), dt.date(2026, 4, 1))


def test_deleting_a_line_releases_its_time_entry(in_tenant_a, draft):
    from contracts.choices import TimeEntryState
    from tests.contracts.factories import TimeEntryFactory

    line = add(draft, kind="time", description="Ticket #1", quantity="1", unit_price="90")
    entry = TimeEntryFactory(tenant=in_tenant_a, state=TimeEntryState.POSTED)
    type(entry).objects.filter(pk=entry.pk).update(
        invoice_line=line, billed_seconds=3600, included_seconds=0
    )
    assert services.invoice_line_delete(line=line) == 1
    entry.refresh_from_db()
    assert (entry.invoice_line_id, entry.billed_seconds, entry.included_seconds) == (
        None,
        None,
        None,
    )


def test_voiding_releases_a_billed_time_entry(in_tenant_a):
    from contracts.choices import TimeEntryState
    from tests.contracts.factories import TimeEntryFactory

    invoice = InvoiceFactory(tenant=in_tenant_a)
    line = InvoiceLineFactory(tenant=in_tenant_a, invoice=invoice, kind="time")
    entry = TimeEntryFactory(tenant=in_tenant_a, state=TimeEntryState.POSTED)
    type(entry).objects.filter(pk=entry.pk).update(invoice_line=line, billed_seconds=3600)
    services.invoice_void(invoice=invoice, reason="Wrong customer")
    entry.refresh_from_db()
    assert entry.invoice_line_id is None and entry.billed_seconds is None


# --- API -----------------------------------------------------------------------------


def test_api_edits_a_draft_and_its_lines(draft, admin_a, api_as, tenant_b):
    api = api_as(admin_a)
    url = f"/api/v1/invoices/{draft.pk}/"
    response = api.patch(url, {"notes": "Net 14", "payment_terms_days": 14}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["notes"] == "Net 14"
    lines = f"{url}lines/"
    created = api.post(
        lines, {"description": "Setup", "quantity": "2", "unit_price": "49.995"}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["amount"] == "99.99"
    line_id = created.json()["id"]
    discount = api.post(
        lines,
        {"kind": "discount", "description": "Promo", "quantity": "1", "unit_price": "9.99"},
        format="json",
    )
    assert discount.json()["amount"] == "-9.99"
    assert api.get(url).json()["total"] == "90.00"
    bad = api.patch(f"{lines}{line_id}/", {"quantity": "0"}, format="json")
    assert bad.status_code == 400 and "quantity" in bad.json()
    assert api.patch(f"{lines}{line_id}/", {"quantity": "1"}, format="json").status_code == 200
    assert api.get(url).json()["total"] == "40.01"
    assert api.delete(f"{lines}{discount.json()['id']}/").status_code == 204
    assert [row["id"] for row in api.get(lines).json()] == [line_id]

    finalized = api.post(f"{url}finalize/")
    assert finalized.status_code == 200
    assert finalized.json()["number"] == "INV-2026-00001"
    refused = api.patch(url, {"notes": "late change"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["status"] == [
        "A final invoice is immutable — issue a credit note or void it."
    ]
    assert (
        api.post(
            lines, {"description": "x", "quantity": "1", "unit_price": "1"}, format="json"
        ).status_code
        == 400
    )
    sent = api.post(f"{url}mark-sent/")
    assert sent.json()["status"] == "sent"
    assert api.post(f"{url}mark-sent/").status_code == 400


def test_api_roles_and_tenant_wall(draft, staff_a, staff_b, api_as, tenant_b):
    url = f"/api/v1/invoices/{draft.pk}/"
    tech = api_as(staff_a.user(Role.TECHNICIAN))
    assert tech.get(f"{url}lines/").status_code == 403
    accountant = api_as(staff_a.user(Role.ACCOUNTANT))
    assert accountant.get(f"{url}lines/").status_code == 200
    assert accountant.patch(url, {"notes": "x"}, format="json").status_code == 403
    assert accountant.post(f"{url}finalize/").status_code == 403
    other = api_as(staff_b.user(Role.OWNER))
    assert other.get(f"{url}lines/").status_code == 404
    assert other.patch(url, {"notes": "x"}, format="json").status_code == 404
    with tenant_context(draft.tenant):
        assert Invoice.objects.get(pk=draft.pk).notes == ""


def test_lines_list_query_count_is_constant(draft, admin_a, api_as, django_assert_max_num_queries):
    api = api_as(admin_a)
    url = f"/api/v1/invoices/{draft.pk}/lines/"
    InvoiceLineFactory(tenant=draft.tenant, invoice=draft)
    with django_assert_max_num_queries(12) as few:
        assert len(api.get(url).json()) == 1
    InvoiceLineFactory.create_batch(10, tenant=draft.tenant, invoice=draft)
    with django_assert_max_num_queries(12) as many:
        assert len(api.get(url).json()) == 11
    assert len(many.captured_queries) == len(few.captured_queries)


# --- Browser -------------------------------------------------------------------------


def test_edit_page_adds_edits_and_deletes_lines_with_htmx(draft, admin_a, client_as):
    client = client_as(admin_a)
    page = client.get(f"/invoices/{draft.pk}/edit/")
    assert page.status_code == 200 and b"Add line" in page.content
    htmx = {"HTTP_HX_REQUEST": "true"}
    data = {
        "kind": "product",
        "description": "Backup check",
        "quantity": "2",
        "unit_price": "12.50",
        "tax_rate": "0",
    }
    added = client.post(f"/invoices/{draft.pk}/lines/add/", data, **htmx)
    assert added.status_code == 200
    assert b"Backup check" in added.content and b"25.00" in added.content
    bad = client.post(f"/invoices/{draft.pk}/lines/add/", {**data, "unit_price": "1.23456"}, **htmx)
    assert bad.status_code == 400 and b"4 decimal places at most" in bad.content
    with tenant_context(draft.tenant):
        line = InvoiceLine.objects.get(invoice=draft)
    row = client.get(f"/invoices/{draft.pk}/lines/{line.pk}/", **htmx)
    assert b"Save" in row.content
    saved = client.post(f"/invoices/{draft.pk}/lines/{line.pk}/", {**data, "quantity": "3"}, **htmx)
    assert b"37.50" in saved.content
    deleted = client.post(f"/invoices/{draft.pk}/lines/{line.pk}/delete/", **htmx)
    assert b"No lines yet" in deleted.content
    header = client.post(
        f"/invoices/{draft.pk}/edit/",
        {"seller_name": "Alpha IT", "bill_to_name": "", "payment_terms_days": "30"},
    )
    assert header.status_code == 400 and b"This field is required" in header.content


def test_finalize_from_the_detail_page(draft, admin_a, staff_a, client_as):
    with tenant_context(draft.tenant):
        add(draft)
    assert (
        client_as(staff_a.user(Role.ACCOUNTANT)).post(f"/invoices/{draft.pk}/finalize/").status_code
        == 403
    )
    client = client_as(admin_a)
    assert b"Finalise" in client.get(f"/invoices/{draft.pk}/").content
    client.post(f"/invoices/{draft.pk}/finalize/")
    with tenant_context(draft.tenant):
        draft.refresh_from_db()
    assert draft.status == InvoiceStatus.FINAL and draft.number == "INV-2026-00001"
    assert client.get(f"/invoices/{draft.pk}/edit/").status_code == 302
