"""Credit notes: whole and partial, own gapless numbers, no over-crediting, items
released, PDF says CREDIT NOTE and the invoice number, API and browser."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from invoices import selectors, services
from invoices.models import Invoice, InvoiceKind, InvoiceLine, InvoiceStatus
from sessions.models import RemoteSession

from .conftest import pdf_text
from .factories import InvoiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(in_tenant_a, tenant_b, django_capture_on_commit_callbacks):
    """INV-2026-00001: 3 × 40.00 support (taxable 20 %) and a 10.00 discount."""
    InvoiceFactory(tenant=tenant_b)
    draft = InvoiceFactory(tenant=in_tenant_a, draft=True)
    services.invoice_line_add(
        invoice=draft,
        description="Support",
        quantity="3",
        unit_price="40",
        taxable=True,
        tax_rate="20",
    )
    services.invoice_line_add(
        invoice=draft, kind="discount", description="Discount", quantity="1", unit_price="10"
    )
    with django_capture_on_commit_callbacks(execute=True):
        final = services.invoice_finalize(invoice=draft)
    assert final.total == Decimal("134.00")  # 110.00 + 24.00 tax
    return final


def lines_of(invoice):
    return list(InvoiceLine.objects.filter(invoice=invoice).order_by("position"))


def test_whole_credit_note(invoice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        note = services.credit_note_create(invoice=invoice, reason="Billed twice")
    note = selectors.invoice_get(pk=note.pk)
    assert (note.kind, note.status, note.number) == (
        InvoiceKind.CREDIT_NOTE,
        InvoiceStatus.FINAL,
        "CN-2026-00001",
    )
    assert note.credited_invoice_id == invoice.pk
    assert (note.subtotal, note.tax_total, note.total) == (
        Decimal("110.00"),
        Decimal("24.00"),
        Decimal("134.00"),
    )
    assert [line.credited_line_id for line in note.lines.all()] == [
        line.pk for line in lines_of(invoice)
    ]
    assert [line.amount for line in note.lines.all()] == [Decimal("120.00"), Decimal("-10.00")]
    invoice = selectors.invoice_get(pk=invoice.pk)
    assert selectors.invoice_balance_due(invoice=invoice) == 0
    assert selectors.invoice_is_credited(invoice=invoice)
    assert invoice.status == InvoiceStatus.FINAL  # statuses stay as in the model
    text = pdf_text(note)
    assert "CREDIT NOTE" in text and "CN-2026-00001" in text and "INV-2026-00001" in text
    with pytest.raises(ValidationError) as caught:
        services.credit_note_create(invoice=invoice, reason="again")
    assert "credited in full" in caught.value.message_dict["lines"][0]


def test_partial_credits_count_up_and_never_exceed(invoice):
    support, discount = lines_of(invoice)
    first = services.credit_note_create(
        invoice=invoice, reason="One hour too many", lines=[(support.pk, "1")]
    )
    assert (first.number, first.total) == ("CN-2026-00001", Decimal("48.00"))
    with pytest.raises(ValidationError) as caught:
        services.credit_note_create(invoice=invoice, reason="x", lines=[(support.pk, "2.5")])
    assert "2 of 3 can still be credited, not 2.5" in caught.value.message_dict["lines"][0]
    second = services.credit_note_create(
        invoice=invoice, reason="Rest", lines=[(support.pk, "2"), (discount.pk, "1")]
    )
    assert (second.number, second.total) == ("CN-2026-00002", Decimal("86.00"))
    invoice = selectors.invoice_get(pk=invoice.pk)
    assert selectors.invoice_credited_total(invoice=invoice) == Decimal("134.00")
    # Invoice numbers keep their own sequence.
    draft = InvoiceFactory(tenant=invoice.tenant, draft=True)
    services.invoice_line_add(invoice=draft, description="x", quantity="1", unit_price="1")
    assert services.invoice_finalize(invoice=draft).number == "INV-2026-00002"


@pytest.mark.parametrize(
    "lines, message",
    [
        ([(999999, "1")], "is not on"),
        ([("support", "0")], "more than zero"),
        ([("support", "4")], "not 4"),
        ([], "at least one line"),
    ],
)
def test_bad_line_choices_write_nothing(invoice, lines, message):
    support = lines_of(invoice)[0]
    chosen = [(support.pk if pk == "support" else pk, qty) for pk, qty in lines]
    with pytest.raises(ValidationError) as caught:
        services.credit_note_create(invoice=invoice, reason="x", lines=chosen)
    assert message in caught.value.message_dict["lines"][0]
    assert not Invoice.objects.filter(kind=InvoiceKind.CREDIT_NOTE).exists()


def test_drafts_void_and_credit_notes_cannot_be_credited(invoice):
    draft = InvoiceFactory(tenant=invoice.tenant, draft=True)
    void = InvoiceFactory(tenant=invoice.tenant, status=InvoiceStatus.VOID)
    note = services.credit_note_create(invoice=invoice, reason="x")
    for target in (draft, void, note):
        with pytest.raises(ValidationError):
            services.credit_note_create(invoice=target, reason="x")
    with pytest.raises(ValidationError):
        services.credit_note_create(invoice=invoice, reason="  ")
    with pytest.raises(ValidationError):
        services.invoice_void(invoice=note, reason="oops")


def test_fully_credited_lines_release_their_items(acme, acme_b, in_tenant_a):
    invoice = services.session_invoice_create(scope="host", object_id=acme.jane.pk, **acme.march)
    updates, backup = lines_of(invoice)
    services.credit_note_create(
        invoice=invoice, reason="Backup not billable", lines=[(backup.pk, backup.quantity)]
    )
    acme.jane_backup.refresh_from_db()
    acme.jane_updates.refresh_from_db()
    assert acme.jane_backup.invoice_line_id is None
    assert acme.jane_updates.invoice_line_id == updates.pk
    # A partly credited line keeps its item (it cannot be split).
    services.credit_note_create(
        invoice=invoice,
        reason="Goodwill",
        lines=[(updates.pk, (updates.quantity / 2).quantize(Decimal("0.0001")))],
    )
    acme.jane_updates.refresh_from_db()
    assert acme.jane_updates.invoice_line_id == updates.pk
    assert (
        RemoteSession.all_tenants.filter(tenant=acme_b.tenant, invoice_line__isnull=False).count()
        == 0
    )


def test_credit_after_partial_payment_settles_the_invoice(invoice):
    services.payment_record(
        invoice=invoice, amount="86.00", received_on=invoice.issue_date, method="card"
    )
    support = lines_of(invoice)[0]
    services.credit_note_create(invoice=invoice, reason="One hour", lines=[(support.pk, "1")])
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


def test_api_credit_notes(invoice, admin_a, staff_a, staff_b, api_as):
    api = api_as(admin_a)
    support = lines_of(invoice)[0]
    created = api.post(
        "/api/v1/credit-notes/",
        {
            "invoice": invoice.pk,
            "reason": "One hour",
            "lines": [{"line": support.pk, "quantity": "1"}],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["number"], body["kind"], body["total"]) == (
        "CN-2026-00001",
        "credit_note",
        "48.00",
    )
    assert body["credited_invoice"] == {"id": invoice.pk, "number": "INV-2026-00001"}
    over = api.post(
        "/api/v1/credit-notes/",
        {"invoice": invoice.pk, "reason": "x", "lines": [{"line": support.pk, "quantity": "3"}]},
        format="json",
    )
    assert over.status_code == 400 and "lines" in over.json()
    detail = api.get(f"/api/v1/invoices/{invoice.pk}/").json()
    assert (detail["credited_total"], detail["balance_due"]) == ("48.00", "86.00")
    listed = api.get("/api/v1/credit-notes/").json()
    assert [row["number"] for row in listed["results"]] == ["CN-2026-00001"]
    assert api.get(f"/api/v1/credit-notes/{invoice.pk}/").status_code == 404  # not a note

    accountant = api_as(staff_a.user(Role.ACCOUNTANT))
    assert accountant.get(f"/api/v1/credit-notes/{body['id']}/").status_code == 200
    assert (
        accountant.post(
            "/api/v1/credit-notes/", {"invoice": invoice.pk, "reason": "x"}, format="json"
        ).status_code
        == 403
    )
    assert api_as(staff_a.user(Role.TECHNICIAN)).get("/api/v1/credit-notes/").status_code == 403
    other = api_as(staff_b.user(Role.OWNER))
    assert other.get(f"/api/v1/credit-notes/{body['id']}/").status_code == 404
    refused = other.post(
        "/api/v1/credit-notes/", {"invoice": invoice.pk, "reason": "x"}, format="json"
    )
    assert refused.status_code == 400  # another tenant's invoice is an unknown id


def test_list_query_count_is_constant(invoice, admin_a, api_as, django_assert_max_num_queries):
    api = api_as(admin_a)
    services.credit_note_create(invoice=invoice, reason="x", lines=[(lines_of(invoice)[0].pk, "1")])
    with django_assert_max_num_queries(12) as few:
        api.get("/api/v1/credit-notes/")
        api.get("/api/v1/invoices/")
    for _ in range(4):
        other = InvoiceFactory(tenant=invoice.tenant)
        InvoiceLine.objects.create(
            tenant=invoice.tenant,
            invoice=other,
            description="x",
            quantity=1,
            unit_price=100,
            amount=100,
        )
        services.credit_note_create(invoice=other, reason="x")
    with django_assert_max_num_queries(12) as many:
        assert api.get("/api/v1/credit-notes/").json()["count"] == 5
        assert api.get("/api/v1/invoices/").json()["count"] == 10
    assert len(many.captured_queries) == len(few.captured_queries)


def test_issue_credit_note_in_the_browser(invoice, admin_a, client_as):
    client = client_as(admin_a)
    assert b"Issue credit note" in client.get(f"/invoices/{invoice.pk}/").content
    support = lines_of(invoice)[0]
    page = client.get(f"/invoices/{invoice.pk}/credit-note/")
    assert page.status_code == 200 and b"Quantity to credit" in page.content
    bad = client.post(
        f"/invoices/{invoice.pk}/credit-note/",
        {"scope": "lines", "reason": "x", f"qty_{support.pk}": "5"},
    )
    assert bad.status_code == 400 and b"can still be credited" in bad.content
    ok = client.post(
        f"/invoices/{invoice.pk}/credit-note/",
        {"scope": "lines", "reason": "One hour", f"qty_{support.pk}": "1"},
    )
    assert ok.status_code == 302
    with tenant_context(invoice.tenant):
        note = Invoice.objects.get(kind=InvoiceKind.CREDIT_NOTE)
    assert ok["Location"] == f"/invoices/{note.pk}/"
    detail = client.get(ok["Location"]).content
    assert b"CN-2026-00001" in detail and b"INV-2026-00001" in detail
    assert b"Credit notes" in client.get(f"/invoices/{invoice.pk}/").content
