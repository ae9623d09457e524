"""The line policy: how priced time becomes invoice lines, and every figure that shows it.

A time line's hours come from its total charged seconds, converted once; its amount is
hours × rate half-up once. The contract page, the batch row, the batch details, the draft
and the final invoice all read that one policy, so they agree to the cent.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from billing_site.tenancy import tenant_context
from contracts.choices import RoundingScope, TimeEntryState
from contracts.pricing import price_time_entries
from contracts.selectors import contract_billing_state
from invoices.batches import selectors as batch_selectors
from invoices.batches import services as batch_services
from invoices.models import Invoice, LineKind
from tests.contracts.factories import (
    ContractFactory,
    RateRuleFactory,
    TicketFactory,
    TimeEntryFactory,
)

D = Decimal
AS_OF = dt.date(2026, 2, 2)  # January's usage is due
MIN = 60


def hourly(tenant, rate: str, **terms):
    contract = ContractFactory(tenant=tenant, taxable=False, **terms)
    RateRuleFactory(
        tenant=tenant,
        contract=contract,
        service_type=None,
        rate=D(rate),
        currency=contract.currency,
    )
    return contract


def post(contract, seconds: int, *, ticket=None, day=dt.date(2026, 1, 12)):
    return TimeEntryFactory(
        tenant=contract.tenant,
        contract=contract,
        ticket=ticket,
        worked_seconds=seconds,
        work_date=day,
        state=TimeEntryState.POSTED,
    )


def ticket_of(contract):
    return TicketFactory(tenant=contract.tenant, organization=contract.customer, contract=contract)


def figures(contract):
    """Every figure a user sees of ``contract`` before billing, and the invoice after."""
    state = contract_billing_state([contract], AS_OF)[contract.pk]
    batch = batch_services.batch_create(name="January", as_of=AS_OF)
    preview = batch_selectors.batch_preview(batch)
    row = preview.row(contract.pk)
    details = next(c for c in preview.details.currencies if c.currency == contract.currency)
    (draft,) = batch_services.batch_run(batch=batch)
    draft_total = draft.total
    batch_services.batch_generate(batch=batch)
    final = Invoice.objects.get(pk=draft.pk)
    return {
        "due now": state.due_amount,
        "unbilled balance": state.total_amount,
        "batch row total": row.total_balance,
        "batch row selected": row.selected_balance,
        "batch details": details.total,
        "draft": draft_total,
        "final": final.total,
    }, final


def test_balance_shown_is_the_invoice_amount(in_tenant_a, tenant_b):
    """133.3333/h, 15-minute increment, three 15-minute entries on one ticket: each entry
    alone would be 33.33 (99.99 summed), the line is 0.75 h × 133.3333 = 100.00."""
    contract = hourly(in_tenant_a, "133.3333", rounding_increment_minutes=15)
    ticket = ticket_of(contract)
    for _ in range(3):
        post(contract, 15 * MIN, ticket=ticket)
    with tenant_context(tenant_b):
        other = hourly(tenant_b, "50.0000")
        post(other, 3600)
    shown, final = figures(contract)
    assert set(shown.values()) == {D("100.00")}, shown
    (line,) = final.lines.all()
    assert (line.quantity, line.unit_price, line.amount) == (
        D("0.7500"),
        D("133.3333"),
        D("100.00"),
    )
    assert not Invoice.objects.filter(organization=other.customer).exists()


def test_a_lines_hours_come_from_its_total_seconds(in_tenant_a):
    """Three 61 s entries, not rounded, at 100.00/h: 183 s = 0.0508 h = 5.08 (a sum of
    each entry's 0.0169 h would give 0.0507 h = 5.07)."""
    contract = hourly(in_tenant_a, "100.0000")
    ticket = ticket_of(contract)
    for _ in range(3):
        post(contract, 61, ticket=ticket)
    shown, final = figures(contract)
    assert set(shown.values()) == {D("5.08")}, shown
    (line,) = final.lines.all()
    assert (line.quantity, line.amount, line.billed_seconds) == (D("0.0508"), D("5.08"), 183)


def test_the_contract_page_shows_the_invoice_amount(in_tenant_a, admin_a, client_as):
    contract = hourly(in_tenant_a, "133.3333", rounding_increment_minutes=15)
    ticket = ticket_of(contract)
    for _ in range(3):
        post(contract, 15 * MIN, ticket=ticket)
    url = reverse("contracts:contract-detail", args=[contract.pk])
    page = client_as(admin_a).get(f"{url}?as_of={AS_OF.isoformat()}")
    assert page.status_code == 200
    text = page.content.decode()
    assert "€100.00" in text
    assert "€99.99" not in text


def test_a_periods_rounding_is_billed_on_one_line_per_rate(in_tenant_a):
    """Rounding the whole period: 7 min + 7 min on two tickets is 14 min, 15 min billed.
    One line for the period at its rate: 0.25 h × 133.3333 = 33.33, listing both tickets;
    a line per ticket would round each share again."""
    contract = hourly(
        in_tenant_a,
        "133.3333",
        rounding_increment_minutes=15,
        rounding_scope=RoundingScope.PERIOD,
    )
    post(contract, 7 * MIN, ticket=ticket_of(contract), day=dt.date(2026, 1, 5))
    post(contract, 7 * MIN, ticket=ticket_of(contract), day=dt.date(2026, 1, 20))
    batch = batch_services.batch_create(name="January", as_of=AS_OF)
    preview = batch_selectors.batch_preview(batch)
    assert preview.details.unbilled_tickets == 2
    shown, final = figures(contract)
    assert set(shown.values()) == {D("33.33")}, shown
    (line,) = final.lines.all()
    assert line.kind == LineKind.TIME
    assert (line.quantity, line.amount, line.billed_seconds) == (D("0.2500"), D("33.33"), 900)
    assert line.description.startswith("Work ")
    assert "on 2 tickets" in line.words.explanation
    assert "on this one line" in line.words.explanation


@pytest.mark.parametrize(
    ("currency", "rate", "expected"),
    [
        ("JPY", "9800.0000", "2.25 h × ¥9,800/h = ¥22,050"),
        ("KWD", "12.3450", "2.25 h × KWD12.345/h = KWD27.776"),
        ("EUR", "133.3333", "2.25 h × €133.3333/h = €300.00"),
    ],
)
def test_explanations_print_money_like_the_invoice(in_tenant_a, currency, rate, expected):
    contract = hourly(in_tenant_a, rate, currency=currency, customer__currency=currency)
    entry = post(contract, 2 * 3600 + 15 * MIN, ticket=ticket_of(contract))
    priced = price_time_entries([entry])[entry.pk]
    assert "0000" not in priced.explanation
    assert expected in priced.explanation
    _shown, final = figures(contract)
    (line,) = final.lines.all()
    assert expected.split(" = ")[0] + "." in line.words.explanation  # the line shows its amount
    assert "2.2500" not in line.words.explanation
    assert f"{rate} {currency}" not in line.words.explanation
