"""CSV files of the reports: the rows of each report's table, one file per report.

Text cells pass through ``billing_site.spreadsheets.safe_text`` (a name starting with
``=`` never runs as a formula); numbers are written as plain numbers: hours to 4 places
(``contracts.pricing.hours``), amounts with their currency's minor unit. UTF-8 with a
byte-order mark and CRLF line ends, as the invoice exports.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal

from billing_site.money import quantize
from billing_site.spreadsheets import safe_text
from contracts.pricing import hours

from .selectors import (
    AGE_BUCKETS,
    ExpectedReport,
    RevenueReport,
    TeamWorkReport,
    UnbilledReport,
)

TEAM_WORK_COLUMNS = [
    "month",
    "group",
    "name",
    "worked_hours",
    "billable_hours",
    "non_billable_hours",
    "billed_hours",
]
UNBILLED_COLUMNS = [
    "customer",
    "currency",
    *(f"value_{bucket.key.replace('-', '_').replace('+', '_plus')}_days" for bucket in AGE_BUCKETS),
    "total_value",
    "entries",
    "worked_hours",
    "unpriced_entries",
]
REVENUE_COLUMNS = [
    "month",
    "currency",
    "invoices",
    "invoiced_net",
    "credit_notes",
    "credited_net",
    "net_revenue",
    "tax",
    "gross_revenue",
]
EXPECTED_COLUMNS = [
    "period",
    "currency",
    "retainer_fees",
    "recurring_services",
    "unbilled_work",
    "total",
]


def _amount(value: Decimal, currency: str) -> str:
    return f"{quantize(value, currency):f}"


def _hours(seconds: int) -> str:
    return f"{hours(seconds):f}"


def team_work_rows(report: TeamWorkReport) -> list[list]:
    return [
        [
            f"{row.month:%Y-%m}",
            row.kind,
            safe_text(row.name),
            _hours(row.worked_seconds),
            _hours(row.billable_seconds),
            _hours(row.non_billable_seconds),
            _hours(row.billed_seconds),
        ]
        for row in [*report.technicians, *report.teams]
    ]


def unbilled_rows(report: UnbilledReport) -> list[list]:
    rows = []
    for row in report.customers:
        total = row.total
        rows.append(
            [
                safe_text(row.customer),
                row.currency,
                *(_amount(bucket.amount, row.currency) for bucket in row.buckets),
                _amount(total.amount, row.currency),
                total.entries,
                _hours(total.worked_seconds),
                row.unpriced_entries,
            ]
        )
    return rows


def revenue_rows(report: RevenueReport) -> list[list]:
    return [
        [
            f"{row.month:%Y-%m}",
            row.currency,
            row.invoices,
            _amount(row.invoiced_net, row.currency),
            row.credit_notes,
            _amount(row.credited_net, row.currency),
            _amount(row.net, row.currency),
            _amount(row.tax, row.currency),
            _amount(row.gross, row.currency),
        ]
        for row in report.rows
    ]


def expected_rows(report: ExpectedReport) -> list[list]:
    return [
        [
            row.key,
            row.currency,
            _amount(row.retainer_fees, row.currency),
            _amount(row.recurring, row.currency),
            _amount(row.unbilled_work, row.currency),
            _amount(row.total, row.currency),
        ]
        for row in report.rows
    ]


def write_csv(columns: list[str], rows: Iterable[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows(rows)
    # The byte-order mark lets Excel read the UTF-8 text (accents in names).
    return out.getvalue().encode("utf-8-sig")
