"""Receivables: what is owed, how late, and a customer's statement.

Every balance here is ``selectors.with_balance`` (the invoices' one balance rule) and
overdue is ``overdue_receivables``; amounts in different currencies are never added.
Each read is a constant number of queries, however many invoices there are.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Case, CharField, Count, F, Q, Sum, Value, When
from django.db.models.functions import Abs

from billing_site.models import Organization

from ..models import ISSUED_CREDIT_NOTE, RECEIVABLE, Invoice, InvoiceStatus, Payment
from ..selectors import MONEY, due_soon_filter, tenant_today, with_balance

ZERO = Decimal("0")

# Mutually exclusive states of an issued invoice, in the order the overview shows them.
AWAITING, PARTIAL, OVERDUE, PAID, CREDITED = (
    "awaiting",
    "partially_paid",
    "overdue",
    "paid",
    "credited",
)
STATE_LABELS = {
    AWAITING: "Awaiting payment",
    PARTIAL: "Partially paid",
    OVERDUE: "Overdue",
    PAID: "Paid",
    CREDITED: "Settled by credit notes",
}
# The invoice list's filter that shows each state's invoices (``invoice_list(status=)``
# reads them with ``with_receivable_state``, the same rule as the overview's counts).
STATE_FILTERS = {state: f"receivable-{state}" for state in STATE_LABELS}


def with_receivable_state(queryset, *, state: str, today: dt.date | None = None):
    """The issued invoices of ``queryset`` in one of the overview's states today."""
    today = today or tenant_today()
    if "balance" not in queryset.query.annotations:
        queryset = with_balance(queryset)
    return (
        queryset.filter(RECEIVABLE)
        .annotate(receivable_state=_state(today))
        .filter(receivable_state=state)
    )


# Days past the due date: not yet due, then the four buckets of an aged receivables list.
BUCKETS = (
    ("current", "Not yet due"),
    ("days_0_30", "0–30 days"),
    ("days_31_60", "31–60 days"),
    ("days_61_90", "61–90 days"),
    ("days_over_90", "90+ days"),
)


def _state(today: dt.date) -> Case:
    return Case(
        When(balance__lte=0, amount_paid__gt=0, then=Value(PAID)),
        When(balance__lte=0, then=Value(CREDITED)),
        When(due_date__lt=today, then=Value(OVERDUE)),
        When(amount_paid__gt=0, then=Value(PARTIAL)),
        default=Value(AWAITING),
        output_field=CharField(),
    )


@dataclass
class StateRow:
    state: str
    label: str
    filter: str
    count: int = 0
    invoiced: Decimal = ZERO
    open: Decimal = ZERO


@dataclass
class CurrencySummary:
    currency: str
    rows: list[StateRow]

    @property
    def invoiced(self) -> Decimal:
        return sum((row.invoiced for row in self.rows), ZERO)

    @property
    def open(self) -> Decimal:
        return sum((row.open for row in self.rows), ZERO)


def receivables_summary(
    *,
    today: dt.date | None = None,
    issued_from: dt.date | None = None,
    issued_to: dt.date | None = None,
) -> list[CurrencySummary]:
    """Issued invoices by state (awaiting payment, partially paid, overdue, paid,
    settled by credit notes) with count, invoiced total and open balance, per currency
    (one query)."""
    today = today or tenant_today()
    queryset = with_balance(Invoice.objects.filter(RECEIVABLE))
    if issued_from:
        queryset = queryset.filter(issue_date__gte=issued_from)
    if issued_to:
        queryset = queryset.filter(issue_date__lte=issued_to)
    rows = (
        queryset.annotate(state=_state(today))
        .order_by()
        .values("currency", "state")
        .annotate(count=Count("id"), invoiced=Sum("total"), open=Sum("balance"))
    )
    found: dict[str, dict[str, dict]] = defaultdict(dict)
    for row in rows:
        found[row["currency"]][row["state"]] = row
    summaries = []
    for currency in sorted(found):
        states = []
        for state, label in STATE_LABELS.items():
            row = found[currency].get(state, {})
            states.append(
                StateRow(
                    state=state,
                    label=label,
                    filter=STATE_FILTERS[state],
                    count=row.get("count", 0),
                    invoiced=row.get("invoiced") or ZERO,
                    open=row.get("open") or ZERO,
                )
            )
        summaries.append(CurrencySummary(currency=currency, rows=states))
    return summaries


@dataclass
class AgingRow:
    organization_id: int | None
    customer: str
    currency: str
    buckets: dict[str, Decimal]
    count: int

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), ZERO)

    @property
    def overdue(self) -> Decimal:
        return self.total - self.buckets["current"]

    @property
    def cells(self) -> list[Decimal]:
        return [self.buckets[name] for name, _ in BUCKETS]


@dataclass
class Aging:
    as_of: dt.date
    rows: list[AgingRow]
    totals: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # currency -> bucket

    @property
    def bucket_labels(self) -> list[str]:
        return [label for _, label in BUCKETS]

    @property
    def total_rows(self) -> list[tuple[str, list[Decimal], Decimal]]:
        """Per currency: each bucket's total, and the currency's total."""
        return [
            (currency, [buckets[name] for name, _ in BUCKETS], sum(buckets.values(), ZERO))
            for currency, buckets in self.totals.items()
        ]


def _bucket(today: dt.date) -> Case:
    def before(days: int) -> dt.date:
        return today - dt.timedelta(days=days)

    return Case(
        When(due_date__isnull=True, then=Value("current")),
        # Due today is not late yet (overdue starts the day after).
        When(due_date__gte=today, then=Value("current")),
        When(due_date__gte=before(30), then=Value("days_0_30")),
        When(due_date__gte=before(60), then=Value("days_31_60")),
        When(due_date__gte=before(90), then=Value("days_61_90")),
        default=Value("days_over_90"),
        output_field=CharField(),
    )


def receivables_aging(
    *, today: dt.date | None = None, organization: Organization | int | None = None
) -> Aging:
    """Open balances per customer and currency in buckets of days past the due date, as
    of ``today`` in the tenant's calendar (one query). A customer is the organization
    billed, else the invoice's bill-to name."""
    today = today or tenant_today()
    queryset = with_balance(Invoice.objects.filter(RECEIVABLE)).filter(balance__gt=0)
    if organization:
        queryset = queryset.filter(organization=organization)
    rows = (
        queryset.annotate(bucket=_bucket(today))
        .order_by()
        .values("organization_id", "organization__name", "bill_to_name", "currency", "bucket")
        .annotate(amount=Sum("balance"), count=Count("id"))
    )
    grouped: dict[tuple, AgingRow] = {}
    for row in rows:
        customer = row["organization__name"] or row["bill_to_name"]
        key = (
            row["organization_id"],
            customer if row["organization_id"] is None else "",
            row["currency"],
        )
        entry = grouped.get(key)
        if entry is None:
            entry = grouped[key] = AgingRow(
                organization_id=row["organization_id"],
                customer=customer,
                currency=row["currency"],
                buckets={name: ZERO for name, _ in BUCKETS},
                count=0,
            )
        entry.buckets[row["bucket"]] += row["amount"]
        entry.count += row["count"]
    ordered = sorted(grouped.values(), key=lambda r: (-r.overdue, r.customer.lower(), r.currency))
    totals: dict[str, dict[str, Decimal]] = {}
    for entry in ordered:
        bucket_totals = totals.setdefault(entry.currency, {name: ZERO for name, _ in BUCKETS})
        for name, amount in entry.buckets.items():
            bucket_totals[name] += amount
    return Aging(as_of=today, rows=ordered, totals=dict(sorted(totals.items())))


# --- Statement ------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementEntry:
    date: dt.date
    kind: str  # invoice, payment, credit_note
    reference: str
    detail: str
    charge: Decimal
    credit: Decimal
    balance: Decimal
    invoice_id: int | None
    due_date: dt.date | None = None  # an invoice's; shown in the reader's date format


@dataclass
class CurrencyStatement:
    currency: str
    opening: Decimal
    entries: list[StatementEntry]
    closing: Decimal
    invoiced: Decimal
    paid: Decimal
    credited: Decimal


@dataclass
class Statement:
    organization: Organization
    date_from: dt.date
    date_to: dt.date
    currencies: list[CurrencyStatement]


def customer_statement(
    *, organization: Organization, date_from: dt.date, date_to: dt.date
) -> Statement:
    """A customer's account for a period, per currency: the opening balance (what was
    owed before ``date_from``), every invoice, payment and credit note in the period in
    date order with the running balance, and the closing balance. Invoices are charged
    on their issue date, payments on the day received, credit notes on their issue date;
    drafts and void invoices are not on it (three queries)."""
    invoices = list(
        Invoice.objects.filter(RECEIVABLE, organization=organization, issue_date__lte=date_to)
        .order_by()
        .values("id", "number", "issue_date", "due_date", "total", "currency")
    )
    notes = list(
        Invoice.objects.filter(
            ISSUED_CREDIT_NOTE,
            credited_invoice__organization=organization,
            issue_date__lte=date_to,
        )
        .order_by()
        .annotate(amount=Abs("total", output_field=MONEY), credits=F("credited_invoice__number"))
        .values("id", "number", "issue_date", "amount", "currency", "credits")
    )
    payments = list(
        Payment.objects.filter(
            invoice__organization=organization,
            received_on__lte=date_to,
        )
        .exclude(invoice__status__in=(InvoiceStatus.DRAFT, InvoiceStatus.VOID))
        .order_by()
        .values(
            "id",
            "received_on",
            "amount",
            "reference",
            "method",
            "invoice_id",
            "invoice__number",
            "invoice__currency",
        )
    )
    opening: dict[str, Decimal] = defaultdict(lambda: ZERO)
    moves: dict[str, list[tuple]] = defaultdict(list)
    # Same-day order: the invoice, then what settled it.
    for row in invoices:
        if row["issue_date"] < date_from:
            opening[row["currency"]] += row["total"]
        else:
            moves[row["currency"]].append(
                (
                    row["issue_date"],
                    0,
                    row["id"],
                    "invoice",
                    row["number"],
                    "",
                    row["total"],
                    ZERO,
                    row["id"],
                    row["due_date"],
                )
            )
    for row in notes:
        if row["issue_date"] < date_from:
            opening[row["currency"]] -= row["amount"]
        else:
            moves[row["currency"]].append(
                (
                    row["issue_date"],
                    1,
                    row["id"],
                    "credit_note",
                    row["number"],
                    f"credits {row['credits']}",
                    ZERO,
                    row["amount"],
                    row["id"],
                    None,
                )
            )
    for row in payments:
        currency = row["invoice__currency"]
        if row["received_on"] < date_from:
            opening[currency] -= row["amount"]
        else:
            detail = f"for {row['invoice__number']}" + (
                f" · {row['reference']}" if row["reference"] else ""
            )
            moves[currency].append(
                (
                    row["received_on"],
                    2,
                    row["id"],
                    "payment",
                    "Payment",
                    detail,
                    ZERO,
                    row["amount"],
                    row["invoice_id"],
                    None,
                )
            )
    statements = []
    for currency in sorted(set(opening) | set(moves)):
        balance = opening[currency]
        entries = []
        invoiced = paid = credited = ZERO
        for date, _, _, kind, reference, detail, charge, credit, invoice_id, due in sorted(
            moves[currency], key=lambda move: move[:3]
        ):
            balance += charge - credit
            invoiced += charge
            if kind == "payment":
                paid += credit
            else:
                credited += credit
            entries.append(
                StatementEntry(
                    date, kind, reference, detail, charge, credit, balance, invoice_id, due
                )
            )
        statements.append(
            CurrencyStatement(
                currency=currency,
                opening=opening[currency],
                entries=entries,
                closing=balance,
                invoiced=invoiced,
                paid=paid,
                credited=credited,
            )
        )
    return Statement(
        organization=organization, date_from=date_from, date_to=date_to, currencies=statements
    )


def default_statement_period(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last twelve months up to today."""
    today = today or tenant_today()
    start = today.replace(day=1)
    for _ in range(11):
        start = (start - dt.timedelta(days=1)).replace(day=1)
    return start, today


def overdue_and_due_soon(*, today: dt.date | None = None) -> dict[str, dict]:
    """Per currency: the overdue total and count, and what falls due this week (the
    dashboard's morning figures; one query; the invoice list's "overdue" and "due this
    week" filters hold the same invoices)."""
    today = today or tenant_today()
    overdue = Q(due_date__lt=today)
    due_soon = due_soon_filter(today)
    rows = (
        with_balance(Invoice.objects.filter(RECEIVABLE))
        .filter(balance__gt=0)
        .order_by()
        .values("currency")
        .annotate(
            overdue_count=Count("id", filter=overdue),
            overdue=Sum("balance", filter=overdue),
            due_soon_count=Count("id", filter=due_soon),
            due_soon=Sum("balance", filter=due_soon),
        )
    )
    return {
        row["currency"]: {
            "overdue_count": row["overdue_count"],
            "overdue": row["overdue"] or ZERO,
            "due_soon_count": row["due_soon_count"],
            "due_soon": row["due_soon"] or ZERO,
        }
        for row in rows
        if row["overdue_count"] or row["due_soon_count"]
    }
