"""A line's words are rendered from its facts when shown: in the invoice's locale, from
the line's own figures, the same on the page, the PDF, the API and the exports, and a
person's words are kept as typed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.urls import reverse

from billing_site.line_text import LineWords, line_words
from billing_site.models import Organization
from billing_site.tenancy import tenant_context
from contracts.choices import ContractType, RoundingScope
from contracts.selectors import contract_billing_state
from invoices import services
from invoices.batches import selectors as batch_selectors
from invoices.batches import services as batch_services
from invoices.document import invoice_document
from invoices.exports import export_csv
from invoices.models import CreditDisposition, Invoice, InvoiceLine, LineKind
from tests.contracts.factories import BlockPurchaseFactory, ContractFactory
from tests.invoices.batch_factories import AS_OF, build_world
from tests.invoices.test_line_policy import hourly, post, ticket_of

D = Decimal
JANUARY = dt.date(2026, 2, 2)


def _run(as_of):
    batch = batch_services.batch_create(name="Words", as_of=as_of)
    preview = batch_selectors.batch_preview(batch)
    drafts = batch_services.batch_run(batch=batch)
    return preview, drafts


def test_a_batch_line_keeps_facts_and_renders_its_words(in_tenant_a):
    contract = hourly(in_tenant_a, "133.3333", rounding_increment_minutes=15)
    ticket = ticket_of(contract)
    for _ in range(3):
        post(contract, 14 * 60 + 1, ticket=ticket)
    _preview, (draft,) = _run(JANUARY)
    (line,) = draft.lines.all()
    # Stored: the facts, the first rendering of description and heading; no explanation
    # text (it is made from the facts and the figures when shown).
    assert line.facts == {
        "text": "time",
        "contract": contract.name,
        "entries": 3,
        "ticket": [ticket.number, ticket.title],
    }
    assert line.explanation == ""
    assert line.description == f"#{ticket.number} {ticket.title} — time"
    assert line.group_label == f"{contract.name} · #{ticket.number} {ticket.title}"
    assert line.words.explanation == (
        "3 time entries: 42 min 3 s worked, 45 min billed; 0.75 h × €133.3333/h."
    )


def test_words_follow_the_invoice_locale(in_tenant_a):
    contract = hourly(
        in_tenant_a,
        "133.3333",
        rounding_increment_minutes=15,
        rounding_scope=RoundingScope.PERIOD,
    )
    post(contract, 2 * 3600 + 14 * 60, ticket=ticket_of(contract))
    _preview, (draft,) = _run(JANUARY)
    Invoice.objects.filter(pk=draft.pk).update(locale="de_DE")
    line = InvoiceLine.objects.select_related("invoice").get(invoice=draft)
    german = line.words
    assert german.description == "Work 01 Jan. 2026 – 31 Jan. 2026 — time"
    assert "2,25 h × 133,3333\xa0€/h." in german.explanation
    assert "2,25" not in line.description  # the stored first rendering stays as it was
    # The document (PDF, exports, pushes) reads the same figures, in the customer's
    # language (it used to follow the invoice's locale alone: one language per document,
    # README "Invoice language"): German words for a German-speaking customer.
    Organization.objects.filter(pk=line.invoice.organization_id).update(language="de")
    line = InvoiceLine.objects.select_related("invoice").get(pk=line.pk)
    (document_line,) = invoice_document(line.invoice).lines
    assert document_line.description == "Arbeiten 01 Jan. 2026 – 31 Jan. 2026 — Arbeitszeit"
    assert document_line.explanation == german.explanation


def test_an_edited_quantity_shows_in_the_explanation_and_typed_words_stay(in_tenant_a):
    contract = hourly(in_tenant_a, "100", rounding_increment_minutes=15)
    post(contract, 3600, ticket=ticket_of(contract))
    _preview, (draft,) = _run(JANUARY)
    line = draft.lines.get()
    line = services.invoice_line_update(line=line, quantity="1.5")
    line = InvoiceLine.objects.get(pk=line.pk)
    assert "; 1.5 h × €100.00/h." in line.words.explanation
    assert "own" not in line.facts  # nothing typed over the words

    line = services.invoice_line_update(line=line, description="Network outage, agreed price")
    line = InvoiceLine.objects.get(pk=line.pk)
    assert line.facts["own"] == ["description"]
    assert line.words.description == "Network outage, agreed price"
    assert line.words.explanation.endswith("; 1.5 h × €100.00/h.")  # still rendered
    # A credit of the edited line keeps the person's description.
    services.invoice_finalize(invoice=draft)
    final = Invoice.objects.get(pk=draft.pk)
    note = services.credit_note_create(
        invoice=final,
        reason="Goodwill",
        lines=[(line.pk, D("0.5"))],
        credit_disposition=CreditDisposition.WRITE_OFF,
    )
    credit = note.lines.get()
    assert credit.words.description == "Network outage, agreed price"
    assert credit.words.explanation.startswith(f"Credits 0.5 of 1.5 h of invoice {final.number}.")


def test_a_line_without_facts_shows_its_stored_words(in_tenant_a):
    contract = hourly(in_tenant_a, "100")
    post(contract, 3600)
    _preview, (draft,) = _run(JANUARY)
    InvoiceLine.objects.filter(invoice=draft).update(facts={}, explanation="Priced in 2025.")
    line = InvoiceLine.objects.get(invoice=draft)
    assert line.words == LineWords(line.description, "Priced in 2025.", line.group_label)
    # Facts of a kind no renderer knows: the stored words too.
    line.facts = {"text": "unknown"}
    assert line_words(line, currency="EUR", locale="en_US").explanation == "Priced in 2025."


def test_fee_block_and_product_words_are_the_same_before_and_after_the_run(in_tenant_a):
    world = build_world(in_tenant_a)
    blocks = ContractFactory(
        tenant=in_tenant_a,
        customer=world.acme.customer,
        contract_type=ContractType.BLOCK_HOURS,
        taxable=False,
    )
    BlockPurchaseFactory(
        tenant=in_tenant_a,
        contract=blocks,
        hours=D("12.5"),
        price=D("1100"),
        purchased_on=AS_OF - dt.timedelta(days=3),
    )
    batch = batch_services.batch_create(name="March", as_of=AS_OF)
    preview = batch_selectors.batch_preview(batch)
    shown = {
        (item.kind, item.description): item.explanation
        for row in preview.rows
        for item in row.all_items
        if item.kind != "time"
    }
    drafts = batch_services.batch_run(batch=batch)
    lines = InvoiceLine.objects.filter(
        invoice__in=drafts, kind__in=[LineKind.FEE, LineKind.BLOCK, LineKind.PRODUCT]
    ).select_related("invoice")
    kinds = {"fee": "retainer_fee", "block": "block", "product": "product"}
    written = {(kinds[line.kind], line.words.description): line.words.explanation for line in lines}
    assert written.keys() <= shown.keys()
    for key, explanation in written.items():
        assert explanation == shown[key]
    assert {kind for kind, _d in written} == {"retainer_fee", "block", "product"}


def test_the_contract_page_words_of_a_fee_are_the_invoice_lines(in_tenant_a):
    contract = ContractFactory(
        tenant=in_tenant_a,
        contract_type=ContractType.RETAINER,
        retainer_fee=D("500"),
        included_hours=D("7.5"),
        taxable=False,
    )
    state = contract_billing_state([contract], JANUARY)[contract.pk]
    fee = next(item for item in state.items if item.kind == "retainer_fee")
    assert fee.explanation == "in advance; covers 7.5 h, unused hours do not roll over"
    assert fee.description.startswith("Retainer fee ")


def test_page_api_and_export_show_the_rendered_words(in_tenant_a, admin_a, client_as, api_as):
    contract = hourly(in_tenant_a, "100")
    post(contract, 3600, ticket=ticket_of(contract))
    _preview, (draft,) = _run(JANUARY)
    services.invoice_finalize(invoice=draft)
    Invoice.objects.filter(pk=draft.pk).update(locale="fr_FR")
    line = InvoiceLine.objects.select_related("invoice").get(invoice=draft)
    french = line.words.explanation
    assert "1 h × 100,00\xa0€/h." in french

    page = client_as(admin_a).get(reverse("invoices:invoice-detail", args=[draft.pk]))
    assert french in page.content.decode()
    api = api_as(admin_a).get(f"/api/v1/invoices/{draft.pk}/")
    assert api.json()["lines"][0]["explanation"] == french
    with tenant_context(in_tenant_a):
        csv = export_csv(Invoice.objects.filter(pk=draft.pk)).decode()
    assert line.words.description in csv
