"""One policy for every figure (DESIGN.md): a contract's "Due now" and "Unbilled
balance", its batch row, the batch details, the drafts a run creates and the final
invoices are all the same line policy, to the cent.

The line policy: a time line groups a contract's entries by (ticket, rate) — by
(period, rate) when the contract rounds per period — and its quantity is the hours of
the line's total charged seconds (billed − included), converted once (4 places,
half-up); its amount is quantity × unit price, half-up to the currency's minor unit.

On generated worlds (``generated_worlds``: every contract type, rounding scope,
increment and minimum, EUR/JPY/KWD, anchors 1–31, pools and blocks, frozen history)
each figure is checked against that policy computed here from the priced entries, and
against every other figure. Fixed cases: the two defects the policy fixes.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest
from babel.numbers import get_currency_precision
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings

from billing_site.money import format_money
from contracts.choices import ContractType, RoundingScope
from contracts.models import BlockPurchase, PeriodCharge, TimeEntry
from contracts.selectors import contract_billing_state
from invoices.batches import selectors as batch_selectors
from invoices.batches import services as batch_services
from invoices.models import Invoice, InvoiceLine, InvoiceStatus, LineKind
from tests.contracts.factories import ContractFactory, RateRuleFactory, TicketFactory

from .batch_factories import posted
from .generated_worlds import (
    Cast,
    WorldSpec,
    add_late_entries,
    build_world,
    fewer_included_hours,
    world_specs,
)

HOUR = Decimal(3600)
TIME_KINDS = (LineKind.TIME, LineKind.OVERAGE)


# ------------------------------------------------------------------ the policy


def policy_hours(seconds: int) -> Decimal:
    """A line's quantity: its total charged seconds as hours, 4 places, half-up, once."""
    return (Decimal(seconds) / HOUR).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def money(amount: Decimal, currency: str) -> Decimal:
    """Half-up to the currency's minor unit (Babel)."""
    exponent = Decimal(1).scaleb(-get_currency_precision(currency))
    return Decimal(amount).quantize(exponent, rounding=ROUND_HALF_UP)


def line_key(contract, ticket_id, period, rate) -> tuple:
    """What a time line groups by: (ticket, rate), or (period, rate) for contracts
    rounding per period."""
    if contract.rounding_scope == RoundingScope.PERIOD:
        return ("period", period.start if period else None, rate)
    return ("ticket", ticket_id or 0, rate)


def policy_lines(state, *, due: bool) -> dict[tuple, tuple[Decimal, Decimal]]:
    """{key: (quantity, amount)} of the time lines of the state's due (or waiting)
    entries, grouped and converted by the policy from each entry's billed and included
    seconds and rate."""
    contract = state.contract
    cutoff = state.usage_cutoff
    charged: dict[tuple, int] = defaultdict(int)
    for entry, priced in state.time_entries:
        if (entry.work_date < cutoff) != due:
            continue
        key = line_key(contract, entry.ticket_id, priced.period, priced.rate)
        charged[key] += priced.billed_seconds - priced.included_seconds
    lines = {}
    for key, seconds in charged.items():
        quantity = policy_hours(seconds)
        lines[key] = (quantity, money(quantity * (key[2] or 0), contract.currency))
    return lines


def amounts(lines: dict) -> Decimal:
    return sum((amount for _quantity, amount in lines.values()), Decimal("0"))


# ------------------------------------------------------------------ checking a world


class Findings:
    """Disagreements, per contract, reported together with the contract's terms."""

    def __init__(self, world: WorldSpec, built):
        self.world = world
        self.built = {item.contract.pk: item for item in built}
        self.by_contract: dict[int | None, list[str]] = defaultdict(list)

    def equal(self, contract_id: int | None, what: str, *figures) -> None:
        """``figures`` are (label, value) pairs that must all be equal."""
        values = [value for _label, value in figures]
        if any(value != values[0] for value in values[1:]):
            shown = ", ".join(f"{label} {value}" for label, value in figures)
            self.by_contract[contract_id].append(f"{what}: {shown}")

    def add(self, contract_id: int | None, text: str) -> None:
        self.by_contract[contract_id].append(text)

    def report(self) -> None:
        if not self.by_contract:
            return
        parts = [f"batch as of {self.world.as_of}, earlier run {self.world.earlier}"]
        for contract_id, texts in self.by_contract.items():
            item = self.built.get(contract_id)
            head = item.describe(self.world.as_of) if item else "the batch"
            parts.append(head + "\n" + "\n".join(f"  ✗ {text}" for text in texts))
        pytest.fail("figures disagree\n" + "\n\n".join(parts), pytrace=False)


def run_earlier(as_of: dt.date) -> None:
    """Bill what was due as of an earlier date (drafts stay drafts: items are claimed)."""
    batch = batch_services.batch_create(name="Earlier", as_of=as_of)
    try:
        batch_services.batch_run(batch=batch)
    except ValidationError as error:
        if "Nothing is selected" not in str(error):
            raise


def line_contracts(lines: list[InvoiceLine]) -> tuple[dict[int, int], dict[int, list]]:
    """(line id -> contract id, line id -> its claimed entries) from what the lines
    claim: time entries, block purchases, period fees."""
    owner: dict[int, int] = {}
    entries: dict[int, list] = defaultdict(list)
    for line_id, contract_id, entry_id, ticket_id, billed, included in TimeEntry.objects.filter(
        invoice_line__in=lines
    ).values_list(
        "invoice_line_id", "contract_id", "id", "ticket_id", "billed_seconds", "included_seconds"
    ):
        owner[line_id] = contract_id
        entries[line_id].append((entry_id, ticket_id, billed or 0, included or 0))
    for model in (BlockPurchase, PeriodCharge):
        for line_id, contract_id in model.objects.filter(invoice_line__in=lines).values_list(
            "invoice_line_id", "contract_id"
        ):
            owner[line_id] = contract_id
    return owner, entries


def check_drafts(found: Findings, states, drafts: list[Invoice]) -> dict[int, Decimal]:
    """Each contract's draft lines against its due figure and the policy; returns the
    billed amount per contract."""
    lines = list(InvoiceLine.objects.filter(invoice__in=drafts).order_by("invoice_id", "position"))
    owner, claimed = line_contracts(lines)
    # Each entry's period, as priced before the run.
    periods = {
        priced.entry_id: priced.period
        for state in states.values()
        for _entry, priced in state.time_entries
    }
    billed: dict[int, Decimal] = defaultdict(Decimal)
    drafted: dict[int, dict[tuple, tuple]] = defaultdict(dict)
    other: dict[int, Decimal] = defaultdict(Decimal)
    invoice_of: dict[int, set[int]] = defaultdict(set)
    for line in lines:
        cid = owner.get(line.pk)
        if cid is None:
            found.add(None, f"draft line {line.pk} ({line.description}) claims no item")
            continue
        contract = states[cid].contract
        billed[cid] += line.amount
        invoice_of[cid].add(line.invoice_id)
        found.equal(
            cid,
            f"line {line.description!r}: amount = quantity × unit price",
            ("amount", line.amount),
            ("quantity × price", money(line.quantity * line.unit_price, contract.currency)),
        )
        if line.kind not in TIME_KINDS:
            other[cid] += line.amount
            continue
        entries = claimed[line.pk]
        seconds = sum(b - i for _e, _t, b, i in entries)
        found.equal(
            cid,
            f"line {line.description!r}: quantity from its {len(entries)} entries' "
            f"{seconds} charged seconds, converted once",
            ("quantity", line.quantity),
            ("policy", policy_hours(seconds)),
        )
        keys = {
            line_key(contract, ticket, periods.get(entry_id), line.unit_price)
            for entry_id, ticket, _b, _i in entries
        }
        if len(keys) != 1:
            found.add(cid, f"line {line.description!r} mixes line groups {sorted(keys)}")
            continue
        (key,) = keys
        if key in drafted[cid]:
            found.add(cid, f"two draft lines for the group {key}")
        drafted[cid][key] = (line.quantity, line.amount)
    for cid, state in states.items():
        expected = policy_lines(state, due=True)
        found.equal(
            cid,
            "time lines {group: (quantity, amount)}",
            ("drafts", dict(sorted(drafted.get(cid, {}).items()))),
            ("policy", dict(sorted(expected.items()))),
        )
        found.equal(
            cid,
            "fee, product and block lines",
            ("drafts", other.get(cid, Decimal("0"))),
            ("due items", sum((i.amount for i in state.other_items if i.due), Decimal("0"))),
        )
        if len(invoice_of.get(cid, ())) > 1:
            found.add(cid, f"lines on several drafts {sorted(invoice_of[cid])}")
    return billed


def currency_totals(invoices) -> dict[str, tuple]:
    sums: dict[str, list] = {}
    for invoice in invoices:
        row = sums.setdefault(invoice.currency, [0, Decimal("0"), Decimal("0"), Decimal("0")])
        row[0] += 1
        row[1] += invoice.subtotal
        row[2] += invoice.tax_total
        row[3] += invoice.total
    return {currency: tuple(row) for currency, row in sorted(sums.items())}


def details_totals(details) -> dict[str, tuple]:
    return {
        row.currency: (row.invoices, row.billable, row.tax, row.total)
        for row in sorted(details.currencies, key=lambda row: row.currency)
    }


def check_world(tenant, cast: Cast, world: WorldSpec) -> None:
    built = build_world(tenant, world, cast)
    if world.earlier is not None:
        run_earlier(world.earlier)
        add_late_entries(tenant, world, built, cast)
        fewer_included_hours(world, built)
    found = Findings(world, built)
    contracts = [item.contract for item in built]

    # The contract page's figures, and the policy computed from the priced entries.
    states = contract_billing_state(contracts, world.as_of)
    due_by_contract = {}
    for cid, state in states.items():
        due_lines, waiting_lines = policy_lines(state, due=True), policy_lines(state, due=False)
        others = state.other_items
        due_others = sum((i.amount or 0 for i in others if i.due), Decimal("0"))
        waiting_others = sum((i.amount or 0 for i in others if not i.due), Decimal("0"))
        found.equal(
            cid,
            "Due now",
            ("contract page", state.due_amount),
            ("policy", due_others + amounts(due_lines)),
        )
        found.equal(
            cid,
            "Unbilled balance",
            ("contract page", state.total_amount),
            ("policy", due_others + waiting_others + amounts(due_lines) + amounts(waiting_lines)),
        )
        due_by_contract[cid] = state.due_amount

    # The batch page: its rows and details.
    batch = batch_services.batch_create(name="Generated", as_of=world.as_of)
    if world.shared_billing:
        batch = batch_services.batch_update(batch=batch, consolidate=True)
    preview = batch_selectors.batch_preview(batch)
    for row in preview.rows:
        cid, state = row.contract.pk, states[row.contract.pk]
        found.equal(
            cid,
            "unbilled balance",
            ("contract page", state.total_amount),
            ("batch row", row.total_balance),
        )
        found.equal(
            cid, "due", ("contract page", state.due_amount), ("batch row", row.selected_balance)
        )
        found.equal(cid, "state", ("contract page", state.state), ("batch row", row.state))
    details = details_totals(preview.details)

    if not preview.invoices:
        with pytest.raises(ValidationError):
            batch_services.batch_run(batch=batch)
        found.report()
        return

    # The drafts a run creates: one per contract.
    drafts = batch_services.batch_run(batch=batch)
    billed = check_drafts(found, states, drafts)
    for cid, due in due_by_contract.items():
        found.equal(cid, "billed by the run", ("due", due), ("draft lines", billed.get(cid, 0)))
    for draft in drafts:
        found.equal(
            None,
            f"draft {draft.pk} subtotal",
            ("stored", draft.subtotal),
            ("its lines", sum((line.amount for line in draft.lines.all()), Decimal("0"))),
        )
    drafted = currency_totals(drafts)
    found.equal(
        None,
        "billable by currency",
        ("batch details", {c: row[1] for c, row in details.items()}),
        ("drafts", {c: row[1] for c, row in drafted.items()}),
    )
    if not batch.consolidate:
        found.equal(
            None,
            "batch details (invoices, billable, tax, total) by currency",
            ("batch details", details),
            ("drafts", drafted),
        )

    # Generate: the final invoices (one per billing organization and currency when
    # consolidated).
    finals = batch_services.batch_generate(batch=batch)
    found.equal(
        None,
        "batch details (invoices, billable, tax, total) by currency",
        ("batch details", details),
        ("final invoices", currency_totals(finals)),
    )
    final_lines = list(InvoiceLine.objects.filter(invoice__in=finals))
    owner, _claimed = line_contracts(final_lines)
    contracts_on: dict[int, set[int]] = defaultdict(set)
    for line in final_lines:
        if line.pk in owner:
            contracts_on[line.invoice_id].add(owner[line.pk])
    for final in finals:
        final.refresh_from_db()
        found.equal(
            None,
            f"final invoice {final.number} status",
            ("status", final.status),
            ("expected", InvoiceStatus.FINAL),
        )
        cids = sorted(contracts_on[final.pk])
        found.equal(
            cids[0] if len(cids) == 1 else None,
            f"final invoice {final.number} subtotal (contracts {cids})",
            ("final", final.subtotal),
            ("due", sum((due_by_contract[cid] for cid in cids), Decimal("0"))),
        )
    found.report()


@pytest.mark.django_db
def test_every_figure_of_generated_contracts_agrees(in_tenant_a):
    cast = Cast.make(in_tenant_a)

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(world=world_specs(max_contracts=5))
    def check(world):
        # Each example in a savepoint, rolled back: the next one starts from the cast.
        with transaction.atomic():
            check_world(in_tenant_a, cast, world)
            transaction.set_rollback(True)

    check()


# ---------------------------------------------------------------- fixed cases


def hourly_contract(tenant, *, rate: str, increment: int, currency: str = "EUR", **terms):
    contract = ContractFactory(
        tenant=tenant,
        start_date=dt.date(2026, 1, 1),
        rounding_increment_minutes=increment,
        currency=currency,
        taxable=False,
        **terms,
    )
    RateRuleFactory(
        tenant=tenant, rate=Decimal(rate), currency=currency, contract=contract, service_type=None
    )
    return contract


def every_figure(contract, as_of: dt.date) -> dict[str, Decimal]:
    """Due now, unbilled balance, batch row, batch details, draft and final invoice."""
    state = contract_billing_state([contract], as_of)[contract.pk]
    batch = batch_services.batch_create(name="Fixed", as_of=as_of)
    preview = batch_selectors.batch_preview(batch)
    row = preview.row(contract.pk)
    (details,) = preview.details.currencies
    (draft,) = batch_services.batch_run(batch=batch)
    figures = {
        "due now": state.due_amount,
        "unbilled balance": state.total_amount,
        "batch row due": row.selected_balance,
        "batch row balance": row.total_balance,
        "batch details": details.billable,
        "draft": draft.subtotal,
    }
    (final,) = batch_services.batch_generate(batch=batch)
    figures["final invoice"] = final.subtotal
    return figures


@pytest.mark.parametrize(
    ("currency", "expected"),
    [("EUR", "100.00"), ("JPY", "100"), ("KWD", "100.000")],
)
def test_three_quarter_hours_at_an_odd_rate_are_one_hundred_everywhere(
    in_tenant_a, currency, expected
):
    # 0.75 h × 133.3333 = 99.999975 -> 100.00; priced quarter by quarter it would be
    # 3 × 33.33 = 99.99.
    contract = hourly_contract(in_tenant_a, rate="133.3333", increment=15, currency=currency)
    ticket = TicketFactory(tenant=in_tenant_a, organization=contract.customer, contract=contract)
    for day in (3, 4, 5):
        posted(ticket, dt.date(2026, 2, day), "0.25")
    figures = every_figure(contract, dt.date(2026, 3, 1))
    assert figures == dict.fromkeys(figures, Decimal(expected))
    (line,) = InvoiceLine.objects.filter(kind=LineKind.TIME)
    assert (line.quantity, line.unit_price, line.amount) == (
        Decimal("0.7500"),
        Decimal("133.3333"),
        Decimal(expected),
    )


def test_the_contract_page_shows_the_invoiced_figure(in_tenant_a, client_as, admin_a):
    contract = hourly_contract(in_tenant_a, rate="133.3333", increment=15)
    ticket = TicketFactory(tenant=in_tenant_a, organization=contract.customer, contract=contract)
    for day in (3, 4, 5):
        posted(ticket, dt.date(2026, 2, day), "0.25")
    page = (
        client_as(admin_a)
        .get(reverse("contracts:contract-detail", args=[contract.pk]), {"as_of": "2026-03-01"})
        .content.decode()
    )
    shown = {
        label: html.unescape(value).replace("\xa0", " ").replace("\u202f", " ")
        for label, value in re.findall(
            r'<div class="label">(Due now|Unbilled balance)</div><div class="value">(.*?)</div>',
            page,
        )
    }
    hundred = format_money(Decimal("100.00"), "EUR", in_tenant_a.locale)
    hundred = hundred.replace("\xa0", " ").replace("\u202f", " ")
    assert shown == {"Due now": hundred, "Unbilled balance": hundred}


def test_seconds_are_converted_once_per_line(in_tenant_a):
    # 3 × 61 s = 183 s = 0.0508 h -> 5.08; hour by entry it would be 3 × 0.0169 -> 5.07.
    contract = hourly_contract(in_tenant_a, rate="100.0000", increment=0)
    ticket = TicketFactory(tenant=in_tenant_a, organization=contract.customer, contract=contract)
    for day in (3, 4, 5):
        entry = posted(ticket, dt.date(2026, 2, day), "0")
        TimeEntry.objects.filter(pk=entry.pk).update(worked_seconds=61)
    figures = every_figure(contract, dt.date(2026, 3, 1))
    assert figures == dict.fromkeys(figures, Decimal("5.08"))
    (line,) = InvoiceLine.objects.filter(kind=LineKind.TIME)
    assert (line.quantity, line.billed_seconds, line.amount) == (
        Decimal("0.0508"),
        183,
        Decimal("5.08"),
    )


def test_a_contract_rounding_per_period_bills_one_line_per_period_and_rate(in_tenant_a):
    # Two tickets, 10 min each in February, rounded per period to 15 min: 20 min -> 30 min,
    # one line of 0.5 h.
    contract = hourly_contract(
        in_tenant_a, rate="133.3333", increment=15, rounding_scope=RoundingScope.PERIOD
    )
    tickets = [
        TicketFactory(tenant=in_tenant_a, organization=contract.customer, contract=contract)
        for _ in range(2)
    ]
    for day, ticket in zip((3, 4), tickets, strict=True):
        entry = posted(ticket, dt.date(2026, 2, day), "0")
        TimeEntry.objects.filter(pk=entry.pk).update(worked_seconds=600)
    figures = every_figure(contract, dt.date(2026, 3, 1))
    assert figures == dict.fromkeys(figures, Decimal("66.67"))
    lines = InvoiceLine.objects.filter(kind=LineKind.TIME)
    assert [(line.quantity, line.billed_seconds, line.amount) for line in lines] == [
        (Decimal("0.5000"), 1800, Decimal("66.67"))
    ]


def test_a_retainer_charges_overage_converted_once(in_tenant_a):
    # 0.25 h included, four 15-min entries on one ticket: 0.75 h overage at 133.3333 ->
    # 100.00 beyond the fees (priced entry by entry it would be 3 × 33.33 = 99.99).
    contract = ContractFactory(
        tenant=in_tenant_a,
        retainer=True,
        start_date=dt.date(2026, 2, 1),
        rounding_increment_minutes=15,
        overage_rate=Decimal("133.3333"),
        included_hours=Decimal("0.25"),
        taxable=False,
    )
    assert contract.contract_type == ContractType.RETAINER
    ticket = TicketFactory(tenant=in_tenant_a, organization=contract.customer, contract=contract)
    for day in (3, 4, 5, 6):
        posted(ticket, dt.date(2026, 2, day), "0.25")
    figures = every_figure(contract, dt.date(2026, 3, 1))
    # February's fee, the overage, and March's fee (in advance).
    assert figures == dict.fromkeys(figures, Decimal("1100.00"))
    (line,) = InvoiceLine.objects.filter(kind=LineKind.OVERAGE)
    assert (line.quantity, line.amount) == (Decimal("0.7500"), Decimal("100.00"))
