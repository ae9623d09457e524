"""Budgets of contracts and tickets: setting one (``budget_set``) and what is used against
it (``budget_figures``, ``budget_report``).

A budget is a number of hours or an amount of money, with a warning threshold (a percentage
of the budget). The work counted against it is every time entry of the contract, or of
the ticket (on whatever contract it was logged):

- hours worked: posted and unposted (submitted, approved) entries, billable or not;
- the value of that work, in the budget's currency: for entries billed on an issued
  invoice, the amount of the invoice line that bills them; for the rest, what the invoice
  engine would bill for them, priced by ``contracts.pricing`` (``price_contract_time``,
  then the line policy ``time_line_amounts``), unposted entries as if posted.

An hours budget is used by the hours worked; a money budget by the value of the work.
Every figure the pages, the CSV and the API show comes from ``budget_figures``, which
reads any number of budgets in a constant number of queries.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce

from billing_site.money import largest_amount, largest_number, minor_units, parse_decimal, quantize
from billing_site.spreadsheets import safe_text
from billing_site.tenancy import require_current_tenant
from billing_site.timeutils import format_duration
from billing_site.unset import UNSET, Unset, provided

from .choices import UNPOSTED_STATES
from .models import AMOUNT, BudgetKind, Contract, Ticket, TimeEntry
from .pricing import ENTRY_FACT_FIELDS, ContractTime, EntryFacts, price_contract_time
from .pricing.lines import time_line_amounts

ZERO = Decimal("0")
HUNDRED = Decimal("100")
SECONDS_PER_HOUR = Decimal("3600")
HOUR_PLACES = Decimal("0.01")
PERCENT_PLACES = Decimal("0.1")
# Every entry is due before this day: the line policy then prices all of them.
ALL_DUE = dt.date.max

BUDGET_FIELDS = ("budget_kind", "budget_amount", "budget_warn_percent")


class BudgetState(models.TextChoices):
    OK = "ok", "Within budget"
    WARNING = "warning", "Warning"
    OVER = "over", "Over budget"


class TargetKind(models.TextChoices):
    CONTRACT = "contract", "Contract"
    TICKET = "ticket", "Ticket"


Target = Contract | Ticket


def budget_key(target: Target) -> str:
    """``contract:<id>`` or ``ticket:<id>``: budgets of both kinds in one mapping."""
    return f"{_kind_of(target)}:{target.pk}"


def _kind_of(target: Target) -> str:
    return TargetKind.CONTRACT if isinstance(target, Contract) else TargetKind.TICKET


def hours_of(seconds: int) -> Decimal:
    """Seconds as hours to the hundredth, half-up (how budgets show time)."""
    return (Decimal(seconds) / SECONDS_PER_HOUR).quantize(HOUR_PLACES, rounding=ROUND_HALF_UP)


# ------------------------------------------------------------------- writing


def _budget_places(kind: str, currency: str) -> int:
    return 2 if kind == BudgetKind.HOURS else minor_units(currency)


def budget_clean(*, kind, amount, warn_percent, currency: str) -> tuple[str, Decimal | None, int]:
    """The budget terms checked: (kind, amount, threshold), the amount None when there is
    no budget. Raises a ValidationError by field (``budget_kind``, ``budget_amount``,
    ``budget_warn_percent``) with every problem found."""
    errors: dict[str, list[str]] = {}
    if kind not in BudgetKind.values:
        errors["budget_kind"] = ["Choose no budget, hours or money."]
    if (
        isinstance(warn_percent, bool)
        or not isinstance(warn_percent, int)
        or not 1 <= warn_percent <= 100
    ):
        errors["budget_warn_percent"] = ["The warning threshold is a whole percentage, 1 to 100."]
    if kind not in (BudgetKind.HOURS, BudgetKind.MONEY):
        amount = None
    elif amount is None or amount == "":
        unit = "hours" if kind == BudgetKind.HOURS else (currency or "money")
        errors["budget_amount"] = [f"Give the budget in {unit}."]
    else:
        places = _budget_places(kind, currency)
        maximum = (
            largest_number(max_digits=AMOUNT["max_digits"] - 1, places=places)
            if kind == BudgetKind.HOURS
            else largest_amount(currency, max_digits=AMOUNT["max_digits"], places=3)
        )
        try:
            amount = parse_decimal(
                amount, places=places, maximum=maximum, minimum=ZERO, label="budget"
            )
        except ValidationError as error:
            errors["budget_amount"] = error.messages
        else:
            if amount <= 0:
                errors["budget_amount"] = ["A budget is more than zero."]
    if errors:
        raise ValidationError(errors)
    return kind, amount, warn_percent


@transaction.atomic
def budget_set(
    *,
    target: Target,
    budget_kind: str | Unset = UNSET,
    budget_amount: Decimal | str | Unset | None = UNSET,
    budget_warn_percent: int | Unset = UNSET,
) -> Target:
    """Set, change or remove the budget of a contract or a ticket; only the terms given
    change. Hours have two decimal places at most; money the minor unit of the budget's
    currency (the contract's; a ticket's contract's, else its organization's). Changing
    the kind needs the amount too (40 hours never become 40 euros). No budget clears the
    amount. Raises a ValidationError by field, with nothing written."""
    tenant = require_current_tenant()
    if target.pk is None or target.tenant_id != tenant.pk:
        raise ValidationError({"budget_kind": "Not found."})
    data = provided(
        budget_kind=budget_kind,
        budget_amount=budget_amount,
        budget_warn_percent=budget_warn_percent,
    )
    kind = data.get("budget_kind", target.budget_kind)
    if (
        kind != target.budget_kind
        and kind != BudgetKind.NONE
        and target.budget_kind != BudgetKind.NONE
        and "budget_amount" not in data
    ):
        raise ValidationError(
            {"budget_amount": "Give the amount of the budget when its kind changes."}
        )
    kind, amount, warn = budget_clean(
        kind=kind,
        amount=data.get("budget_amount", target.budget_amount),
        warn_percent=data.get("budget_warn_percent", target.budget_warn_percent),
        currency=target.budget_currency,
    )
    target.budget_kind, target.budget_amount, target.budget_warn_percent = kind, amount, warn
    target.save(update_fields=[*BUDGET_FIELDS, "updated_at"])
    return target


@transaction.atomic
def save_with_budget(save: Callable[[], Target], budget: dict, *, currency: str) -> Target:
    """Save a contract or ticket with its service (``save()``), then its budget terms
    (``budget_set``), in one transaction; the errors of both are raised together, by
    field. ``currency`` is the budget's currency as far as the input tells: a refused
    record's budget terms, when all are given, are checked too."""
    errors: dict[str, list[str]] = {}
    target = None
    try:
        target = save()
    except ValidationError as error:
        errors.update(_error_dict(error))
    try:
        if target is not None and budget:
            budget_set(target=target, **budget)
        elif target is None and set(BUDGET_FIELDS) <= set(budget):
            budget_clean(
                kind=budget["budget_kind"],
                amount=budget["budget_amount"],
                warn_percent=budget["budget_warn_percent"],
                currency=currency,
            )
    except ValidationError as error:
        errors.update(_error_dict(error))
    if errors:
        raise ValidationError(errors)
    return target


def _error_dict(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return error.message_dict
    return {"__all__": list(error.messages)}


def budget_changes(target: Target, data: dict) -> bool:
    """Whether ``data`` (budget terms by field) would change ``target``'s budget."""
    for name in BUDGET_FIELDS:
        if name in data:
            value, current = data[name], getattr(target, name)
            if name == "budget_amount" and value not in (None, "") and current is not None:
                try:
                    if Decimal(str(value)) == current:
                        continue
                except ArithmeticError:
                    return True
            if value != current:
                return True
    return False


def pop_budget(data: dict) -> dict:
    """The budget terms taken out of a form's or serializer's data (the rest goes to the
    contract or ticket service)."""
    return {name: data.pop(name) for name in BUDGET_FIELDS if name in data}


# ------------------------------------------------------------------- reading


@dataclass(eq=False)
class BudgetFigures:
    """A budget and what is used against it. Seconds are worked time; amounts are in
    ``currency``, rounded half-up to its minor unit.

    ``billed_amount`` is what issued invoices bill for the work; ``unbilled_amount`` what
    the rest of the billable work would be billed (drafts included). Work priced in another
    currency than the budget's (a ticket's entries on another contract) counts in hours
    only and is named in ``problems``, as are entries without a rate.
    """

    target: Target
    currency: str
    entry_count: int = 0
    posted_seconds: int = 0
    unposted_seconds: int = 0
    billed_seconds: int = 0
    billed_amount: Decimal = ZERO
    unbilled_amount: Decimal = ZERO
    problems: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return _kind_of(self.target)

    @property
    def key(self) -> str:
        return budget_key(self.target)

    @property
    def customer(self):
        target = self.target
        return target.customer if isinstance(target, Contract) else target.organization

    @property
    def name(self) -> str:
        target = self.target
        return target.name if isinstance(target, Contract) else f"{target.reference} {target.title}"

    @property
    def budget_kind(self) -> str:
        return self.target.budget_kind

    @property
    def is_hours(self) -> bool:
        return self.budget_kind == BudgetKind.HOURS

    @property
    def warn_percent(self) -> int:
        return self.target.budget_warn_percent

    @property
    def budget(self) -> Decimal:
        """The budget in its unit: hours to the hundredth, or money in the minor unit."""
        amount = Decimal(self.target.budget_amount)
        if self.is_hours:
            return amount.quantize(HOUR_PLACES, rounding=ROUND_HALF_UP)
        return quantize(amount, self.currency)

    @property
    def unit(self) -> str:
        return "h" if self.is_hours else self.currency

    @property
    def worked_seconds(self) -> int:
        return self.posted_seconds + self.unposted_seconds

    @property
    def value_amount(self) -> Decimal:
        return quantize(self.billed_amount + self.unbilled_amount, self.currency)

    @property
    def used(self) -> Decimal:
        return hours_of(self.worked_seconds) if self.is_hours else self.value_amount

    @property
    def remaining(self) -> Decimal:
        """Budget minus used; negative when over."""
        return self.budget - self.used

    @property
    def overrun(self) -> Decimal:
        """How much more than the budget is used (zero when within it)."""
        return max(ZERO, -self.remaining)

    def _ratio(self) -> tuple[Decimal, Decimal]:
        """(used, budget) exactly: hours as seconds, so the state never rounds."""
        if self.is_hours:
            return Decimal(self.worked_seconds), Decimal(self.target.budget_amount) * 3600
        return self.value_amount, Decimal(self.target.budget_amount)

    @property
    def percent_used(self) -> Decimal:
        """Share of the budget used, to a tenth of a percent, rounded down: a threshold is
        never shown as reached before it is."""
        used, budget = self._ratio()
        return (used * HUNDRED / budget).quantize(PERCENT_PLACES, rounding=ROUND_DOWN)

    @property
    def state(self) -> str:
        """over: more than the budget used; warning: the threshold reached; else ok."""
        used, budget = self._ratio()
        if used > budget:
            return BudgetState.OVER
        if used * HUNDRED >= budget * self.warn_percent:
            return BudgetState.WARNING
        return BudgetState.OK

    @property
    def meter_max(self) -> Decimal:
        """Top of a 0-100 % meter, stretched when over so the bar shows how far."""
        return max(HUNDRED, self.percent_used)

    def as_row(self) -> dict:
        """The figures as plain values (strings for decimals): the CSV and the API."""
        customer = self.customer
        return {
            "key": self.key,
            "target_kind": self.kind,
            "target_id": self.target.pk,
            "customer_id": customer.pk,
            "customer": customer.name,
            "name": self.name,
            "budget_kind": self.budget_kind,
            "unit": self.unit,
            "currency": self.currency,
            "budget": str(self.budget),
            "warn_percent": self.warn_percent,
            "posted_seconds": self.posted_seconds,
            "unposted_seconds": self.unposted_seconds,
            "billed_seconds": self.billed_seconds,
            "posted_hours": str(hours_of(self.posted_seconds)),
            "unposted_hours": str(hours_of(self.unposted_seconds)),
            "worked_hours": str(hours_of(self.worked_seconds)),
            "billed_hours": str(hours_of(self.billed_seconds)),
            "billed_amount": str(quantize(self.billed_amount, self.currency)),
            "unbilled_amount": str(quantize(self.unbilled_amount, self.currency)),
            "value_amount": str(self.value_amount),
            "used": str(self.used),
            "remaining": str(self.remaining),
            "percent_used": str(self.percent_used),
            "budget_state": self.state,
            "problems": list(self.problems),
        }


@dataclass
class _LineShare:
    """The entries of one issued invoice line that count against one budget."""

    contract_id: int
    count: int = 0
    charged: int = 0
    worked: int = 0


def budget_figures(targets: Iterable[Target]) -> dict[str, BudgetFigures]:
    """What is used against the budget of each contract and ticket given (those without
    a budget are left out), by ``budget_key``. Tickets should come with their
    organization and contract loaded. A constant number of queries whatever the number
    of budgets and entries."""
    from invoices.models import NOT_ISSUED

    targets = [target for target in targets if target.has_budget]
    if not targets:
        return {}
    figures = {
        budget_key(target): BudgetFigures(target, target.budget_currency) for target in targets
    }
    contract_keys = {t.pk: budget_key(t) for t in targets if isinstance(t, Contract)}
    ticket_keys = {t.pk: budget_key(t) for t in targets if isinstance(t, Ticket)}
    contracts = {t.pk: t for t in targets if isinstance(t, Contract)}
    for ticket in (t for t in targets if isinstance(t, Ticket)):
        if ticket.contract_id and Ticket.contract.is_cached(ticket):
            contracts.setdefault(ticket.contract_id, ticket.contract)

    rows = (
        TimeEntry.objects.filter(
            models.Q(contract_id__in=list(contract_keys))
            | models.Q(ticket_id__in=list(ticket_keys))
        )
        .order_by()
        .values_list(*ENTRY_FACT_FIELDS, "state", "invoice_line__invoice__status")
    )
    fact_count = len(ENTRY_FACT_FIELDS)
    not_issued = set(NOT_ISSUED)
    shares: dict[tuple[str, int], _LineShare] = {}
    to_price: dict[int, EntryFacts] = {}
    priced_for: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        entry = EntryFacts._make(row[:fact_count])
        state, invoice_status = row[fact_count], row[fact_count + 1]
        keys = [
            key
            for key in (contract_keys.get(entry.contract_id), ticket_keys.get(entry.ticket_id))
            if key is not None
        ]
        issued = entry.invoice_line_id is not None and invoice_status not in not_issued
        for key in keys:
            figure = figures[key]
            figure.entry_count += 1
            if state in UNPOSTED_STATES:
                figure.unposted_seconds += entry.worked_seconds
            else:
                figure.posted_seconds += entry.worked_seconds
            if issued:
                figure.billed_seconds += entry.worked_seconds
                share = shares.setdefault(
                    (key, entry.invoice_line_id), _LineShare(entry.contract_id)
                )
                share.count += 1
                share.charged += (entry.billed_seconds or 0) - (entry.included_seconds or 0)
                share.worked += entry.worked_seconds
            elif entry.billable:
                to_price[entry.pk] = entry
                priced_for[key].append(entry.pk)

    if shares:
        _add_billed(figures, shares, contracts)
    if to_price:
        _add_unbilled(figures, to_price, priced_for, contracts)
    return figures


def _add_billed(figures, shares, contracts) -> None:
    """Each budget's part of the issued lines billing its work: the whole line when all
    its entries count against the budget (a contract's lines, a ticket's own lines);
    otherwise, for a line over several tickets (a contract that rounds whole periods),
    the line amount shared by charged time (worked time when nothing is charged)."""
    lines = {
        row["invoice_line_id"]: row
        for row in TimeEntry.objects.filter(
            invoice_line_id__in={line_id for _key, line_id in shares}
        )
        .order_by()
        .values("invoice_line_id", "invoice_line__amount")
        .annotate(
            count=Count("id"),
            charged=Coalesce(Sum(F("billed_seconds") - Coalesce("included_seconds", 0)), 0),
            worked=Coalesce(Sum("worked_seconds"), 0),
        )
    }
    foreign: dict[str, int] = defaultdict(int)
    missing_contracts = {
        share.contract_id for share in shares.values() if share.contract_id not in contracts
    }
    if missing_contracts:
        contracts.update(Contract.objects.in_bulk(missing_contracts))
    for (key, line_id), share in shares.items():
        figure = figures[key]
        line = lines[line_id]
        amount = Decimal(line["invoice_line__amount"])
        if contracts[share.contract_id].currency != figure.currency:
            foreign[key] += share.worked
            continue
        if share.count != line["count"]:
            part, whole = share.charged, line["charged"]
            if not whole:
                part, whole = share.worked, line["worked"]
            amount = quantize(amount * part / whole, figure.currency) if whole else ZERO
        figure.billed_amount += amount
    for key, seconds in foreign.items():
        _foreign_problem(figures[key], seconds)
    for figure in figures.values():
        figure.billed_amount = quantize(figure.billed_amount, figure.currency)


def _add_unbilled(figures, to_price, priced_for, contracts) -> None:
    """The value of the work not on an issued invoice, as the invoice engine prices it:
    every entry priced once (``price_contract_time``), then each budget's entries of a
    contract grouped into invoice lines and rounded by the line policy."""
    priced = price_contract_time(list(to_price.values()), contracts=contracts)
    position: dict[int, tuple[ContractTime, int]] = {}
    for time in priced.values():
        contracts.setdefault(time.contract.pk, time.contract)
        for index, entry in enumerate(time.entries):
            position[entry.pk] = (time, index)
    for key, entry_ids in priced_for.items():
        figure = figures[key]
        by_contract: dict[int, list[int]] = defaultdict(list)
        for entry_id in entry_ids:
            time, index = position[entry_id]
            by_contract[time.contract.pk].append(index)
        total, foreign, problems = ZERO, 0, set()
        for contract_id, indices in by_contract.items():
            time = priced[contract_id]
            if time.contract.currency != figure.currency:
                foreign += sum(time.entries[i].worked_seconds for i in indices)
                continue
            part = _subset(time, indices)
            problems.update(price.problem for price in part.prices if price.problem)
            due, waiting = time_line_amounts(part, ALL_DUE)
            total += due + waiting
        figure.unbilled_amount = quantize(total, figure.currency)
        if foreign:
            _foreign_problem(figure, foreign)
        figure.problems.extend(sorted(problems))


def _subset(time: ContractTime, indices: list[int]) -> ContractTime:
    """The priced entries ``indices`` of a contract's priced time, as its own columns."""
    part = ContractTime(
        time.contract, [time.entries[i] for i in indices], [time.periods[i] for i in indices]
    )
    part.billed = [time.billed[i] for i in indices]
    part.included = [time.included[i] for i in indices]
    part.prices = [time.prices[i] for i in indices]
    return part


def _foreign_problem(figure: BudgetFigures, seconds: int) -> None:
    if figure.budget_kind == BudgetKind.MONEY:
        figure.problems.append(
            f"{format_duration(seconds)} of work priced in another currency than "
            f"{figure.currency} is not counted in the amounts."
        )


def budget_of(target: Target) -> BudgetFigures | None:
    """The figures of one contract's or ticket's budget; None when it has none."""
    return budget_figures([target]).get(budget_key(target))


def budget_report(*, customer=None, state: str = "", kind: str = "") -> list[BudgetFigures]:
    """Every budget of the tenant's contracts and tickets, with its figures: by customer,
    contracts before tickets. Filters: the customer (a contract's customer, a ticket's
    organization), the state (ok, warning, over) and the kind (contract, ticket)."""
    contracts = Contract.objects.select_related("customer").exclude(budget_kind=BudgetKind.NONE)
    tickets = Ticket.objects.select_related("organization", "contract").exclude(
        budget_kind=BudgetKind.NONE
    )
    if customer is not None:
        contracts = contracts.filter(customer=customer)
        tickets = tickets.filter(organization=customer)
    targets: list[Target] = []
    if kind != TargetKind.TICKET:
        targets += list(contracts.order_by())
    if kind != TargetKind.CONTRACT:
        targets += list(tickets.order_by())
    rows = list(budget_figures(targets).values())
    if state:
        rows = [row for row in rows if row.state == state]
    rows.sort(
        key=lambda row: (
            row.customer.name.casefold(),
            row.customer.pk,
            row.kind != TargetKind.CONTRACT,
            row.target.number if row.kind == TargetKind.TICKET else 0,
            row.name.casefold(),
            row.target.pk,
        )
    )
    return rows


# (heading, column of ``BudgetFigures.as_row``, is text): text cells are neutralised
# against spreadsheet formulas; numbers stay numbers (a negative remainder too).
CSV_COLUMNS = (
    ("Customer", "customer", True),
    ("What", "target_kind", True),
    ("Name", "name", True),
    ("Budget kind", "budget_kind", True),
    ("Budget", "budget", False),
    ("Unit", "unit", True),
    ("Warn at %", "warn_percent", False),
    ("Posted hours", "posted_hours", False),
    ("Unposted hours", "unposted_hours", False),
    ("Worked hours", "worked_hours", False),
    ("Billed hours", "billed_hours", False),
    ("Currency", "currency", True),
    ("Billed amount", "billed_amount", False),
    ("Unbilled amount", "unbilled_amount", False),
    ("Value of work", "value_amount", False),
    ("Used", "used", False),
    ("Remaining", "remaining", False),
    ("% used", "percent_used", False),
    ("State", "budget_state", True),
    ("Problems", "problems", True),
)


def budget_csv(rows: Iterable[BudgetFigures]) -> str:
    """The rows as CSV text, header first, with a byte-order mark so Excel reads UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([heading for heading, _column, _text in CSV_COLUMNS])
    for figures in rows:
        row = figures.as_row()
        row["problems"] = "; ".join(row["problems"])
        writer.writerow(
            [safe_text(row[column]) if text else row[column] for _h, column, text in CSV_COLUMNS]
        )
    return "\ufeff" + out.getvalue()
