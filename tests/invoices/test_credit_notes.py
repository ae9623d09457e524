"""Credit notes: whole and partial, own gapless numbers, no over-crediting, the credited
items released or written off as the user chooses (required), PDF says CREDIT NOTE and
the invoice number, API and browser."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from contracts.models import BlockPurchase, TimeEntry
from contracts.selectors import contract_billing_state
from invoices import selectors, services
from invoices.batches import selectors as batch_selectors
from invoices.batches import services as batch_services
from invoices.models import (
    CreditDisposition,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
)
from sessions.models import RemoteSession
from tests.contracts.factories import (
    BlockPurchaseFactory,
    ContractFactory,
    RateRuleFactory,
    TicketFactory,
)

from .batch_factories import posted
from .conftest import pdf_text
from .factories import InvoiceFactory

pytestmark = pytest.mark.django_db
RELEASE, WRITE_OFF = CreditDisposition.RELEASE, CreditDisposition.WRITE_OFF
D = Decimal


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
        note = services.credit_note_create(
            invoice=invoice, reason="Billed twice", credit_disposition=WRITE_OFF
        )
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
        services.credit_note_create(invoice=invoice, reason="again", credit_disposition=WRITE_OFF)
    assert "credited in full" in caught.value.message_dict["lines"][0]


def test_partial_credits_count_up_and_never_exceed(invoice):
    support, discount = lines_of(invoice)
    first = services.credit_note_create(
        invoice=invoice,
        reason="One hour too many",
        credit_disposition=WRITE_OFF,
        lines=[(support.pk, "1")],
    )
    assert (first.number, first.total) == ("CN-2026-00001", Decimal("48.00"))
    with pytest.raises(ValidationError) as caught:
        services.credit_note_create(
            invoice=invoice, reason="x", credit_disposition=WRITE_OFF, lines=[(support.pk, "2.5")]
        )
    assert "2 of 3 can still be credited, not 2.5" in caught.value.message_dict["lines"][0]
    second = services.credit_note_create(
        invoice=invoice,
        reason="Rest",
        credit_disposition=RELEASE,
        lines=[(support.pk, "2"), (discount.pk, "1")],
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
        services.credit_note_create(
            invoice=invoice, reason="x", credit_disposition=WRITE_OFF, lines=chosen
        )
    assert message in caught.value.message_dict["lines"][0]
    assert not Invoice.objects.filter(kind=InvoiceKind.CREDIT_NOTE).exists()


def test_drafts_void_and_credit_notes_cannot_be_credited(invoice):
    draft = InvoiceFactory(tenant=invoice.tenant, draft=True)
    void = InvoiceFactory(tenant=invoice.tenant, status=InvoiceStatus.VOID)
    note = services.credit_note_create(invoice=invoice, reason="x", credit_disposition=WRITE_OFF)
    for target in (draft, void, note):
        with pytest.raises(ValidationError):
            services.credit_note_create(invoice=target, reason="x", credit_disposition=WRITE_OFF)
    with pytest.raises(ValidationError):
        services.credit_note_create(invoice=invoice, reason="  ", credit_disposition=WRITE_OFF)
    with pytest.raises(ValidationError):
        services.invoice_void(invoice=note, reason="oops")


def test_fully_credited_lines_release_their_items(acme, acme_b, in_tenant_a):
    invoice = services.session_invoice_create(scope="host", object_id=acme.jane.pk, **acme.march)
    updates, backup = lines_of(invoice)
    services.credit_note_create(
        invoice=invoice,
        reason="Backup not billable",
        credit_disposition=RELEASE,
        lines=[(backup.pk, backup.quantity)],
    )
    acme.jane_backup.refresh_from_db()
    acme.jane_updates.refresh_from_db()
    assert acme.jane_backup.invoice_line_id is None
    assert acme.jane_updates.invoice_line_id == updates.pk
    # A partly credited line keeps its item (it cannot be split).
    services.credit_note_create(
        invoice=invoice,
        reason="Goodwill",
        credit_disposition=RELEASE,
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
    services.credit_note_create(
        invoice=invoice, reason="One hour", credit_disposition=WRITE_OFF, lines=[(support.pk, "1")]
    )
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
            "credit_disposition": "write_off",
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
        {
            "invoice": invoice.pk,
            "reason": "x",
            "credit_disposition": "write_off",
            "lines": [{"line": support.pk, "quantity": "3"}],
        },
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
            "/api/v1/credit-notes/",
            {"invoice": invoice.pk, "reason": "x", "credit_disposition": "release"},
            format="json",
        ).status_code
        == 403
    )
    assert api_as(staff_a.user(Role.TECHNICIAN)).get("/api/v1/credit-notes/").status_code == 403
    other = api_as(staff_b.user(Role.OWNER))
    assert other.get(f"/api/v1/credit-notes/{body['id']}/").status_code == 404
    refused = other.post(
        "/api/v1/credit-notes/",
        {"invoice": invoice.pk, "reason": "x", "credit_disposition": "release"},
        format="json",
    )
    assert refused.status_code == 400  # another tenant's invoice is an unknown id


def test_list_query_count_is_constant(invoice, admin_a, api_as, django_assert_max_num_queries):
    api = api_as(admin_a)
    services.credit_note_create(
        invoice=invoice,
        reason="x",
        credit_disposition=WRITE_OFF,
        lines=[(lines_of(invoice)[0].pk, "1")],
    )
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
        services.credit_note_create(invoice=other, reason="x", credit_disposition=RELEASE)
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
        {
            "scope": "lines",
            "reason": "x",
            "credit_disposition": "write_off",
            f"qty_{support.pk}": "5",
        },
    )
    assert bad.status_code == 400 and b"can still be credited" in bad.content
    ok = client.post(
        f"/invoices/{invoice.pk}/credit-note/",
        {
            "scope": "lines",
            "reason": "One hour",
            "credit_disposition": "write_off",
            f"qty_{support.pk}": "1",
        },
    )
    assert ok.status_code == 302
    with tenant_context(invoice.tenant):
        note = Invoice.objects.get(kind=InvoiceKind.CREDIT_NOTE)
    assert ok["Location"] == f"/invoices/{note.pk}/"
    detail = client.get(ok["Location"]).content
    assert b"CN-2026-00001" in detail and b"INV-2026-00001" in detail
    assert b"Credit notes" in client.get(f"/invoices/{invoice.pk}/").content


# --- Release or write off: the user's choice for the credited items ---------------------
#
# ACME support (hourly, taxable 20 %, tenant A) billed by the March batch (as of 1 March):
# February 1.5 h on #701 and 2.25 h on #702 at 96.40/h -> 144.60 + 216.90 = 361.50, tax
# 72.30, total 433.80; and a block contract's 10 h block bought 2 February for 900.00
# (taxable 20 %: 1,080.00). Tenant B bills the same world and keeps its items billed.

AS_OF = dt.date(2026, 3, 1)


@dataclass
class Billed:
    support: object
    block: object
    entries: list
    purchase: object
    invoice: Invoice  # the support contract's invoice
    block_invoice: Invoice


def bill_world(tenant) -> Billed:
    """The contracts, their February items, and the generated March invoices."""
    RateRuleFactory(tenant=tenant, rate=D("96.4000"), currency="EUR", service_type=None)
    customer = OrganizationFactory(tenant=tenant, name="ACME", currency="EUR")
    support = ContractFactory(
        tenant=tenant,
        customer=customer,
        name="ACME support",
        taxable=True,
        tax_rate=D("20.0000"),
        rounding_increment_minutes=15,
    )
    block = ContractFactory(
        tenant=tenant, customer=customer, name="ACME block", block=True, taxable=True
    )
    purchase = BlockPurchaseFactory(
        tenant=tenant,
        contract=block,
        purchased_on=dt.date(2026, 2, 2),
        hours=D("10.00"),
        price=D("900.0000"),
    )
    tickets = [
        TicketFactory(tenant=tenant, number=number, organization=customer, contract=support)
        for number in (701, 702)
    ]
    entries = [
        posted(tickets[0], dt.date(2026, 2, 10), "1.5"),
        posted(tickets[1], dt.date(2026, 2, 12), "2.25"),
    ]
    batch = batch_services.batch_create(name="March", as_of=AS_OF)
    batch_services.batch_run(batch=batch)
    assert len(batch_services.batch_generate(batch=batch)) == 2
    entry = TimeEntry.objects.get(pk=entries[0].pk)
    purchase.refresh_from_db()
    return Billed(
        support,
        block,
        entries,
        purchase,
        invoice=Invoice.objects.get(lines=entry.invoice_line_id),
        block_invoice=Invoice.objects.get(lines=purchase.invoice_line_id),
    )


@pytest.fixture
def billed(in_tenant_a, tenant_b):
    with tenant_context(tenant_b):
        bill_world(tenant_b)
    return bill_world(in_tenant_a)


def unbilled_keys(*contracts) -> set[str]:
    """What the contracts' billing state offers to bill (due or not)."""
    states = contract_billing_state(contracts, AS_OF)
    return {item.key for state in states.values() for item in state.items}


def offered(*contracts) -> dict[str, D]:
    """What a new batch as of 1 March would bill, per contract (subtotal)."""
    batch = batch_services.batch_create(name="Again", as_of=AS_OF)
    preview = batch_selectors.batch_preview(batch)
    wanted = {contract.pk for contract in contracts}
    return {
        row.contract.name: row.selected_balance
        for row in preview.rows
        if row.contract.pk in wanted and row.has_lines
    }


def billed_by(billed: Billed) -> list[int | None]:
    return [
        *TimeEntry.objects.filter(pk__in=[e.pk for e in billed.entries])
        .order_by("work_date")
        .values_list("invoice_line_id", flat=True),
        BlockPurchase.objects.get(pk=billed.purchase.pk).invoice_line_id,
    ]


def test_the_billed_world_figures(billed):
    assert (billed.invoice.subtotal, billed.invoice.tax_total, billed.invoice.total) == (
        D("361.50"),
        D("72.30"),
        D("433.80"),
    )
    assert billed.block_invoice.total == D("1080.00")
    assert unbilled_keys(billed.support, billed.block) == set()
    assert offered(billed.support, billed.block) == {}


def test_write_off_keeps_the_items_billed(
    billed, admin_a, client_as, api_as, django_capture_on_commit_callbacks
):
    before = billed_by(billed)
    assert None not in before
    with django_capture_on_commit_callbacks(execute=True):
        for invoice in (billed.invoice, billed.block_invoice):
            note = services.credit_note_create(
                invoice=invoice, reason="Not our fault", credit_disposition=WRITE_OFF
            )
            assert note.credit_disposition == WRITE_OFF
    note = Invoice.objects.get(credited_invoice=billed.invoice)
    assert note.total == D("433.80")
    # The items stay billed by the credited lines: no contract offers them again.
    assert billed_by(billed) == before
    assert unbilled_keys(billed.support, billed.block) == set()
    assert offered(billed.support, billed.block) == {}
    # The note, its lines, its page, the credited invoice's page, PDF and API say so.
    assert note.credit_disposition_text == (
        f"Items written off (they stay billed by {billed.invoice.number})."
    )
    explanations = [line.words.explanation for line in note.lines.order_by("position")]
    assert all(
        f"Its 1 item is written off: it stays billed by {billed.invoice.number}." in text
        for text in explanations
    ), explanations
    client = client_as(admin_a)
    for page in (note, billed.invoice):
        content = client.get(f"/invoices/{page.pk}/").content.decode()
        assert f"Items written off (they stay billed by {billed.invoice.number})." in content
    assert "Items written off" in pdf_text(note)
    body = api_as(admin_a).get(f"/api/v1/credit-notes/{note.pk}/").json()
    assert body["credit_disposition"] == "write_off"
    assert (
        api_as(admin_a).get(f"/api/v1/invoices/{billed.invoice.pk}/").json()["credit_disposition"]
        is None
    )


def test_release_bills_the_items_again(billed, admin_a, client_as, tenant_b):
    services.credit_note_create(
        invoice=billed.invoice, reason="Wrong rate", credit_disposition=RELEASE
    )
    services.credit_note_create(
        invoice=billed.block_invoice, reason="Bought twice", credit_disposition=RELEASE
    )
    assert billed_by(billed) == [None, None, None]
    entry_keys = {f"time:{entry.pk}" for entry in billed.entries}
    assert unbilled_keys(billed.support, billed.block) == {
        *entry_keys,
        f"block:{billed.purchase.pk}",
    }
    # The next batch bills them again, at the same figures.
    assert offered(billed.support, billed.block) == {
        "ACME support": D("361.50"),
        "ACME block": D("900.00"),
    }
    note = Invoice.objects.get(credited_invoice=billed.invoice)
    assert note.credit_disposition_text == "Items released to be billed again."
    assert "Its 1 item is released to be billed again." in note.lines.first().words.explanation
    content = client_as(admin_a).get(f"/invoices/{billed.invoice.pk}/").content.decode()
    assert "Items released to be billed again." in content
    # Tenant B's items are untouched.
    with tenant_context(tenant_b):
        assert not TimeEntry.objects.filter(invoice_line__isnull=True, billable=True).exists()


def test_a_partly_credited_line_keeps_its_items_either_way(billed):
    first = InvoiceLine.objects.filter(invoice=billed.invoice).order_by("position").first()
    note = services.credit_note_create(
        invoice=billed.invoice,
        reason="Half an hour less",
        credit_disposition=RELEASE,
        lines=[(first.pk, "1")],
    )
    assert note.total == D("115.68")  # 1 h × 96.40 + 20 % tax
    assert "stays billed by" in note.lines.get().words.explanation
    assert None not in billed_by(billed)
    # Completing the line with a write-off keeps them billed; a release would free them.
    services.credit_note_create(
        invoice=billed.invoice,
        reason="The rest",
        credit_disposition=WRITE_OFF,
        lines=[(first.pk, first.quantity - 1)],
    )
    assert None not in billed_by(billed)
    services.credit_note_create(
        invoice=billed.invoice, reason="Second ticket", credit_disposition=RELEASE
    )
    assert billed_by(billed)[1] is None and billed_by(billed)[0] == first.pk
    assert offered(billed.support) == {"ACME support": D("216.90")}


@pytest.mark.parametrize("choice", ["", "maybe", None])
def test_the_choice_is_required_and_nothing_is_written_without_it(billed, choice):
    before = billed_by(billed)
    with pytest.raises(ValidationError) as caught:
        services.credit_note_create(invoice=billed.invoice, reason="x", credit_disposition=choice)
    assert "release them to be billed again" in caught.value.message_dict["credit_disposition"][0]
    assert not Invoice.objects.filter(kind=InvoiceKind.CREDIT_NOTE).exists()
    assert billed_by(billed) == before


def test_api_and_form_require_the_choice(billed, admin_a, api_as, client_as):
    api = api_as(admin_a)
    missing = api.post(
        "/api/v1/credit-notes/", {"invoice": billed.invoice.pk, "reason": "x"}, format="json"
    )
    assert missing.status_code == 400
    assert "Choose release" in missing.json()["credit_disposition"][0]
    bad = api.post(
        "/api/v1/credit-notes/",
        {"invoice": billed.invoice.pk, "reason": "x", "credit_disposition": "rebill"},
        format="json",
    )
    assert bad.status_code == 400
    assert '"rebill" is not a choice' in bad.json()["credit_disposition"][0]
    client = client_as(admin_a)
    page = client.get(f"/invoices/{billed.invoice.pk}/credit-note/").content.decode()
    assert "Release the items to be billed again" in page and "Write the items off" in page
    choices = re.findall(r'<input[^>]*name="credit_disposition"[^>]*>', page)
    assert len(choices) == 2 and not any("checked" in choice for choice in choices)
    refused = client.post(
        f"/invoices/{billed.invoice.pk}/credit-note/", {"scope": "whole", "reason": "x"}
    )
    assert refused.status_code == 400
    assert b"Choose whether the credited items are billed again or written off." in (
        refused.content
    )
    assert not Invoice.objects.filter(kind=InvoiceKind.CREDIT_NOTE).exists()
    ok = client.post(
        f"/invoices/{billed.invoice.pk}/credit-note/",
        {"scope": "whole", "reason": "x", "credit_disposition": "write_off"},
    )
    assert ok.status_code == 302
    created = api.post(
        "/api/v1/credit-notes/",
        {"invoice": billed.block_invoice.pk, "reason": "x", "credit_disposition": "release"},
        format="json",
    )
    assert created.status_code == 201 and created.json()["credit_disposition"] == "release"
    *entries, block = billed_by(billed)
    assert None not in entries and block is None


def test_write_off_of_a_session_keeps_it_off_the_next_session_invoice(acme, acme_b, in_tenant_a):
    invoice = services.session_invoice_create(scope="host", object_id=acme.jane.pk, **acme.march)
    backup = lines_of(invoice)[1]
    services.credit_note_create(
        invoice=invoice,
        reason="Backup check on the house",
        credit_disposition=WRITE_OFF,
        lines=[(backup.pk, backup.quantity)],
    )
    acme.jane_backup.refresh_from_db()
    assert acme.jane_backup.invoice_line_id == backup.pk
    assert not selectors.sessions_to_invoice(scope="host", object_id=acme.jane.pk, **acme.march)


def test_an_invoice_with_credit_notes_cannot_be_voided(billed, tenant_b):
    """Voiding would release the items a credit note wrote off (billing them again) and
    leave the note crediting a void invoice: refused, and nothing changes."""
    services.credit_note_create(
        invoice=billed.invoice, reason="Not our fault", credit_disposition=WRITE_OFF
    )
    before = billed_by(billed)
    with pytest.raises(ValidationError) as error:
        services.invoice_void(invoice=billed.invoice, reason="Mistake")
    assert "credit notes" in error.value.message_dict["status"][0]
    billed.invoice.refresh_from_db()
    assert billed.invoice.status != InvoiceStatus.VOID
    assert billed_by(billed) == before
