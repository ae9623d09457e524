"""Reads of the reports, scoped to the current tenant through the default managers.

Each report is computed set-wise, in a constant number of queries whatever the number
of rows: sums are made by the database (``values``/``annotate``/``Sum``, ``TruncMonth``)
and money that depends on billing rules comes from the billing code itself, never from a
formula of its own:

- unbilled work is priced by ``contracts.pricing.price_contract_time`` (as a batch
  prices it) and turned into amounts by the line policy (``time_line_amounts``), so the
  total per contract is what a batch bills for that time, to the cent;
- expected fees come from ``contracts.selectors.contract_billing_state`` as of the last
  day of the horizon: the fee and product items a batch would bill, already priced;
- revenue reads the stored invoice totals (issued invoices minus issued credit notes).

Amounts in different currencies are never added together; dates are the tenant's.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum
from django.db.models.functions import Abs, TruncMonth

from billing_site.models import Organization
from billing_site.money import quantize
from billing_site.tenancy import require_current_tenant
from billing_site.timeutils import add_months
from contracts.choices import ContractStatus, ContractType, ItemKind
from contracts.models import Contract, TeamMember, TimeEntry
from contracts.pricing import entry_facts, load_rate_book, price_contract_time, time_line_amounts
from contracts.selectors import contract_billing_state, unbilled_time_entries
from invoices.models import ISSUED_CREDIT_NOTE, NOT_ISSUED, RECEIVABLE, Invoice, InvoiceStatus
from invoices.selectors import tenant_today

ZERO = Decimal("0")
# The longest range a report covers (its rows are months).
MAX_MONTHS = 60
MAX_HORIZON = 24
ISSUED_STATUSES = [status for status in InvoiceStatus.values if status not in NOT_ISSUED]


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_end(day: dt.date) -> dt.date:
    return add_months(month_start(day), 1) - dt.timedelta(days=1)


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """First days of the months from ``first``'s to ``last``'s, in order."""
    months, month = [], month_start(first)
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    return months


def check_range(date_from: dt.date | None, date_to: dt.date | None) -> None:
    """A report's date range: in order, and at most ``MAX_MONTHS`` months long."""
    if date_from is None or date_to is None:
        return
    if date_from > date_to:
        raise ValidationError({"date_to": "The end of the range is before its start."})
    months = (date_to.year - date_from.year) * 12 + date_to.month - date_from.month + 1
    if months > MAX_MONTHS:
        raise ValidationError(
            {"date_to": f"A report covers at most {MAX_MONTHS} months; shorten the range."}
        )


def default_range(months: int, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last ``months`` months, this one included: (first day, today)."""
    today = today or tenant_today()
    return add_months(month_start(today), -(months - 1)), today


def _money(amount: Decimal | None, currency: str) -> Decimal:
    return quantize(amount or ZERO, currency)


# --------------------------------------------------------------------- team work


@dataclass
class WorkRow:
    """Hours of one technician or team in one month (or over the whole range)."""

    month: dt.date | None
    kind: str  # "technician" or "team"
    key: int | None  # user or team id; None: technicians in no team
    name: str
    worked_seconds: int = 0
    billable_seconds: int = 0
    billed_seconds: int = 0

    @property
    def non_billable_seconds(self) -> int:
        return self.worked_seconds - self.billable_seconds

    def add(self, other: WorkRow) -> None:
        self.worked_seconds += other.worked_seconds
        self.billable_seconds += other.billable_seconds
        self.billed_seconds += other.billed_seconds


@dataclass
class TeamWorkReport:
    """Time worked per month, per technician and per team.

    ``billable_seconds``: worked time of entries marked billable; ``billed_seconds``:
    the time billed (as rounded on the invoice) of entries on an issued invoice, i.e.
    a line of an invoice that is neither a draft nor void. A technician in several
    teams counts in each of them.
    """

    date_from: dt.date
    date_to: dt.date
    technicians: list[WorkRow] = field(default_factory=list)
    teams: list[WorkRow] = field(default_factory=list)
    by_technician: list[WorkRow] = field(default_factory=list)  # the whole range
    total: WorkRow = field(default_factory=lambda: WorkRow(None, "total", None, "Total"))


NO_TEAM = "No team"


def team_work(
    *,
    date_from: dt.date,
    date_to: dt.date,
    team_id: int | None = None,
    technician_id: int | None = None,
) -> TeamWorkReport:
    """Hours worked, billable, non-billable and billed, per month and technician, and
    per month and team. Three queries."""
    report = TeamWorkReport(date_from, date_to)
    members: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for team, name, user in TeamMember.objects.order_by().values_list(
        "team_id", "team__name", "user_id"
    ):
        members[user].append((team, name))
    entries = TimeEntry.objects.filter(work_date__gte=date_from, work_date__lte=date_to)
    if team_id is not None:
        entries = entries.filter(
            technician_id__in=[user for user, teams in members.items() if team_id in dict(teams)]
        )
    if technician_id is not None:
        entries = entries.filter(technician_id=technician_id)
    billed = Q(invoice_line__invoice__status__in=ISSUED_STATUSES)
    rows = list(
        entries.annotate(month=TruncMonth("work_date"))
        .values("month", "technician_id")
        .annotate(
            worked=Sum("worked_seconds"),
            billable=Sum("worked_seconds", filter=Q(billable=True)),
            billed=Sum("billed_seconds", filter=billed),
        )
        .order_by("month", "technician_id")
    )
    users = {
        user.pk: user.get_full_name() or user.username
        for user in get_user_model()
        .objects.filter(pk__in={row["technician_id"] for row in rows})
        .only("id", "first_name", "last_name", "username")
    }
    teams: dict[tuple, WorkRow] = {}
    overall: dict[int, WorkRow] = {}
    for row in rows:
        month, user = _as_date(row["month"]), row["technician_id"]
        figures = WorkRow(
            month,
            "technician",
            user,
            users.get(user, str(user)),
            int(row["worked"] or 0),
            int(row["billable"] or 0),
            int(row["billed"] or 0),
        )
        report.technicians.append(figures)
        report.total.add(figures)
        whole = overall.setdefault(user, WorkRow(None, "technician", user, figures.name))
        whole.add(figures)
        for team, name in members.get(user) or [(None, NO_TEAM)]:
            if team_id is not None and team != team_id:
                continue
            key = (month, team)
            if key not in teams:
                teams[key] = WorkRow(month, "team", team, name)
            teams[key].add(figures)
    report.technicians.sort(key=lambda r: (r.month, r.name.lower(), r.key))
    report.teams = sorted(
        teams.values(), key=lambda r: (r.month, r.key is None, r.name.lower(), r.key or 0)
    )
    report.by_technician = sorted(overall.values(), key=lambda r: (r.name.lower(), r.key))
    return report


def _as_date(value) -> dt.date:
    # TruncMonth of a date column is a date; some backends hand back a datetime.
    return value.date() if isinstance(value, dt.datetime) else value


# ------------------------------------------------------------------ unbilled work


@dataclass(frozen=True)
class AgeBucket:
    key: str
    label: str
    low: int  # days since the work date, included
    high: int | None  # included; None: no upper bound


AGE_BUCKETS = (
    AgeBucket("0-30", "0–30 days", 0, 30),
    AgeBucket("31-60", "31–60 days", 31, 60),
    AgeBucket("61-90", "61–90 days", 61, 90),
    AgeBucket("90+", "Over 90 days", 91, None),
)


@dataclass
class AgeFigures:
    """Unbilled entries of one age bucket: how many, the time worked, and the value."""

    entries: int = 0
    worked_seconds: int = 0
    amount: Decimal = ZERO

    def add(self, other: AgeFigures) -> None:
        self.entries += other.entries
        self.worked_seconds += other.worked_seconds
        self.amount += other.amount


def _buckets() -> list[AgeFigures]:
    return [AgeFigures() for _ in AGE_BUCKETS]


@dataclass
class UnbilledRow:
    """One customer's unbilled work in one currency, by age bucket."""

    customer_id: int | None
    customer: str
    currency: str
    buckets: list[AgeFigures] = field(default_factory=_buckets)
    unpriced_entries: int = 0  # entries with no rate: valued at nothing, a batch refuses them

    @property
    def total(self) -> AgeFigures:
        total = AgeFigures(amount=quantize(ZERO, self.currency))
        for bucket in self.buckets:
            total.add(bucket)
        return total

    @property
    def aged(self) -> list[tuple[AgeBucket, AgeFigures]]:
        return list(zip(AGE_BUCKETS, self.buckets, strict=True))

    def add(self, other: UnbilledRow) -> None:
        for mine, theirs in zip(self.buckets, other.buckets, strict=True):
            mine.add(theirs)
        self.unpriced_entries += other.unpriced_entries


@dataclass
class UnbilledReport:
    """Posted billable time not yet on any invoice line, as of ``today``.

    Per customer (``customers``) and per currency (``currencies``, the customers summed).
    A bucket's value is what billing its entries adds to the invoice lines of the older
    entries (lines by ``time_line_amounts``: each line rounded once), so the buckets of a
    contract add up, to the cent, to what its invoice lines bill for all of its unbilled
    time at once.
    """

    today: dt.date
    customers: list[UnbilledRow] = field(default_factory=list)
    currencies: list[UnbilledRow] = field(default_factory=list)


def unbilled_work(
    *, customer_id: int | None = None, currency: str = "", today: dt.date | None = None
) -> UnbilledReport:
    """Unbilled posted billable time by age (days since the work date, in the tenant's
    calendar) and customer, priced by the batch engine's pricing. Constant queries:
    contracts, entries, the rate book and the pricing's context (pools, grouped
    rounding)."""
    today = today or tenant_today()
    report = UnbilledReport(today)
    contracts = Contract.objects.select_related("customer")
    if customer_id is not None:
        contracts = contracts.filter(customer_id=customer_id)
    if currency:
        contracts = contracts.filter(currency=currency)
    by_id = {contract.pk: contract for contract in contracts.order_by()}
    if not by_id:
        return report
    facts = entry_facts(unbilled_time_entries(by_id), unbilled=True)
    if not facts:
        return report
    priced = price_contract_time(facts, book=load_rate_book(), contracts=by_id, complete=True)
    # Work dated before each cutoff is at least that old: (bucket index, cutoff).
    cutoffs = [
        (index, today - dt.timedelta(days=bucket.low - 1))
        for index, bucket in enumerate(AGE_BUCKETS)
        if bucket.low > 0
    ]
    rows: dict[tuple, UnbilledRow] = {}
    for cid, time in priced.items():
        contract = by_id[cid]
        key = (contract.customer_id, contract.currency)
        row = rows.get(key)
        if row is None:
            row = rows[key] = UnbilledRow(
                contract.customer_id, contract.customer.name, contract.currency
            )
        _add_contract_time(row, time, today, cutoffs)
    report.customers = sorted(rows.values(), key=lambda r: (r.customer.lower(), r.currency))
    totals: dict[str, UnbilledRow] = {}
    for row in report.customers:
        total = totals.setdefault(row.currency, UnbilledRow(None, "All customers", row.currency))
        total.add(row)
    report.currencies = [totals[code] for code in sorted(totals)]
    return report


def _add_contract_time(row: UnbilledRow, time, today: dt.date, cutoffs) -> None:
    currency = time.contract.currency
    for entry, price in zip(time.entries, time.prices, strict=True):
        bucket = row.buckets[_bucket_of((today - entry.work_date).days)]
        bucket.entries += 1
        bucket.worked_seconds += entry.worked_seconds
        if price.rate is None:
            row.unpriced_entries += 1
    # What the lines bill for the entries at least as old as each bucket: the bucket is
    # the difference to the next older one (never negative: adding time to a line never
    # lowers its amount).
    everything = time_line_amounts(time, dt.date.max)[0]
    older = [time_line_amounts(time, cutoff)[0] for _index, cutoff in cutoffs]
    amounts = [everything, *older, ZERO]
    for index in range(len(AGE_BUCKETS)):
        row.buckets[index].amount = quantize(
            row.buckets[index].amount + amounts[index] - amounts[index + 1], currency
        )


def _bucket_of(age: int) -> int:
    for index, bucket in enumerate(AGE_BUCKETS):
        if bucket.high is None or age <= bucket.high:
            return index
    return len(AGE_BUCKETS) - 1


def unbilled_work_summary(*, today: dt.date | None = None) -> list[UnbilledRow]:
    """The tenant's unbilled work per currency (one row per currency, sorted), for the
    dashboard: ``row.total.amount`` is the value, ``row.total.entries`` and
    ``row.total.worked_seconds`` the entries and time, ``row.buckets`` the ages and
    ``row.unpriced_entries`` what has no rate. Same figures as the unbilled work report."""
    return unbilled_work(today=today).currencies


# ------------------------------------------------------------------------ revenue


@dataclass
class RevenueRow:
    """Issued invoices and issued credit notes of one month (or the range) in one currency.

    Net is before tax (subtotals), gross after (totals); a credit note counts at its face
    value (``Abs``), whichever sign it is stored with.
    """

    month: dt.date | None
    currency: str
    invoices: int = 0
    invoiced_net: Decimal = ZERO
    invoiced_gross: Decimal = ZERO
    credit_notes: int = 0
    credited_net: Decimal = ZERO
    credited_gross: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.invoiced_net - self.credited_net

    @property
    def gross(self) -> Decimal:
        return self.invoiced_gross - self.credited_gross

    @property
    def tax(self) -> Decimal:
        return self.gross - self.net

    def add(self, other: RevenueRow) -> None:
        self.invoices += other.invoices
        self.credit_notes += other.credit_notes
        for name in ("invoiced_net", "invoiced_gross", "credited_net", "credited_gross"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class RevenueReport:
    date_from: dt.date
    date_to: dt.date
    months: list[dt.date]
    rows: list[RevenueRow] = field(default_factory=list)  # every month of every currency
    totals: list[RevenueRow] = field(default_factory=list)  # per currency

    def rows_of(self, currency: str) -> list[RevenueRow]:
        return [row for row in self.rows if row.currency == currency]


def revenue_by_month(*, date_from: dt.date, date_to: dt.date, currency: str = "") -> RevenueReport:
    """Revenue per month of issue date: issued invoices minus issued credit notes, net of
    tax and gross, per currency; every month of the range, empty ones at zero. One query."""
    report = RevenueReport(date_from, date_to, months_between(date_from, date_to))
    documents = Invoice.objects.filter(
        RECEIVABLE | ISSUED_CREDIT_NOTE, issue_date__gte=date_from, issue_date__lte=date_to
    )
    if currency:
        documents = documents.filter(currency=currency)
    found: dict[tuple, RevenueRow] = {}
    for row in (
        documents.annotate(month=TruncMonth("issue_date"))
        .values("month", "currency")
        .annotate(
            invoices=Count("id", filter=RECEIVABLE),
            invoiced_net=Sum("subtotal", filter=RECEIVABLE),
            invoiced_gross=Sum("total", filter=RECEIVABLE),
            credit_notes=Count("id", filter=ISSUED_CREDIT_NOTE),
            credited_net=Sum(Abs("subtotal"), filter=ISSUED_CREDIT_NOTE),
            credited_gross=Sum(Abs("total"), filter=ISSUED_CREDIT_NOTE),
        )
        .order_by()
    ):
        code = row["currency"]
        found[(_as_date(row["month"]), code)] = RevenueRow(
            _as_date(row["month"]),
            code,
            row["invoices"],
            _money(row["invoiced_net"], code),
            _money(row["invoiced_gross"], code),
            row["credit_notes"],
            _money(row["credited_net"], code),
            _money(row["credited_gross"], code),
        )
    currencies = sorted({code for _month, code in found}) or [
        currency or require_current_tenant().currency
    ]
    for code in currencies:
        total = RevenueRow(None, code, **_zero_amounts(code))
        for month in report.months:
            row = found.get((month, code)) or RevenueRow(month, code, **_zero_amounts(code))
            report.rows.append(row)
            total.add(row)
        report.totals.append(total)
    return report


def _zero_amounts(currency: str) -> dict[str, Decimal]:
    zero = quantize(ZERO, currency)
    return dict.fromkeys(("invoiced_net", "invoiced_gross", "credited_net", "credited_gross"), zero)


# --------------------------------------------------------------- expected revenue

NOW = "now"


@dataclass
class ExpectedRow:
    """What open contracts are expected to bill in one month (or now), in one currency.

    ``month`` None is "now": unbilled work, and fees of periods begun before this month
    that are not billed yet. A month's fees are those of the periods starting in it.
    """

    month: dt.date | None
    currency: str
    retainer_fees: Decimal = ZERO
    recurring: Decimal = ZERO
    unbilled_work: Decimal = ZERO

    @property
    def key(self) -> str:
        return NOW if self.month is None else f"{self.month:%Y-%m}"

    @property
    def label(self) -> str:
        return "Unbilled now" if self.month is None else f"{self.month:%b %Y}"

    @property
    def fees(self) -> Decimal:
        return self.retainer_fees + self.recurring

    @property
    def total(self) -> Decimal:
        return self.fees + self.unbilled_work

    def add(self, other: ExpectedRow) -> None:
        self.retainer_fees += other.retainer_fees
        self.recurring += other.recurring
        self.unbilled_work += other.unbilled_work


@dataclass
class ExpectedReport:
    first_month: dt.date
    months: list[dt.date]
    rows: list[ExpectedRow] = field(default_factory=list)  # now + each month, per currency
    totals: list[ExpectedRow] = field(default_factory=list)  # per currency
    unpriced_items: int = 0  # fees that cannot be priced (a batch refuses them)
    contracts: int = 0  # open contracts with fees

    @property
    def currencies(self) -> list[str]:
        return [row.currency for row in self.totals]

    def rows_of(self, currency: str) -> list[ExpectedRow]:
        return [row for row in self.rows if row.currency == currency]


def expected_revenue(
    *,
    months: int = 3,
    customer_id: int | None = None,
    currency: str = "",
    today: dt.date | None = None,
) -> ExpectedReport:
    """Recurring fees and retainer fees that open (active) contracts will bill in this
    month and the ``months - 1`` after it, plus current unbilled work (``unbilled_work``).

    The fees are the batch engine's: ``contract_billing_state`` as of the horizon's last
    day lists every unbilled fee period begun by then, priced as a batch prices it
    (suspended and ended contracts accrue none, billed periods are left out). Constant
    queries."""
    today = today or tenant_today()
    first = month_start(today)
    horizon = add_months(first, months - 1)
    report = ExpectedReport(first, months_between(first, horizon))
    contracts = Contract.objects.filter(
        status=ContractStatus.ACTIVE,
        contract_type__in=[ContractType.RETAINER, ContractType.RECURRING],
        start_date__lte=month_end(horizon),
    ).select_related("customer")
    if customer_id is not None:
        contracts = contracts.filter(customer_id=customer_id)
    if currency:
        contracts = contracts.filter(currency=currency)
    contracts = list(contracts.order_by())
    report.contracts = len(contracts)
    rows: dict[tuple, ExpectedRow] = {}

    def row_for(month: dt.date | None, code: str) -> ExpectedRow:
        key = (month, code)
        if key not in rows:
            rows[key] = ExpectedRow(month, code, *[quantize(ZERO, code)] * 3)
        return rows[key]

    states = contract_billing_state(contracts, month_end(horizon), sum_in_database=True)
    for contract in contracts:
        for item in states[contract.pk].other_items:
            if item.kind not in (ItemKind.RETAINER_FEE, ItemKind.PRODUCT):
                continue
            if item.amount is None:
                report.unpriced_items += 1
                continue
            month = month_start(item.period.start)
            row = row_for(None if month < first else month, contract.currency)
            if item.kind == ItemKind.RETAINER_FEE:
                row.retainer_fees += item.amount
            else:
                row.recurring += item.amount
    for unbilled in unbilled_work(
        customer_id=customer_id, currency=currency, today=today
    ).currencies:
        row_for(None, unbilled.currency).unbilled_work += unbilled.total.amount

    codes = sorted({code for _month, code in rows}) or [
        currency or require_current_tenant().currency
    ]
    for code in codes:
        total = ExpectedRow(None, code, *[quantize(ZERO, code)] * 3)
        for month in [None, *report.months]:
            row = row_for(month, code)
            report.rows.append(row)
            total.add(row)
        report.totals.append(total)
    return report


# ------------------------------------------------------------------ filter choices


def customer_choices() -> Iterable[Organization]:
    return Organization.objects.order_by("name", "id")
