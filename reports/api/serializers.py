"""Serializers of the report endpoints: the query each reads, and the answer it gives.

The answers are built from the same report objects as the pages and CSV files
(``*_data``), then rendered through these serializers, which also document them.
Amounts are strings with their currency's minor unit; durations are whole seconds.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing_site.models import Membership, Organization
from billing_site.money import validate_currency_code
from billing_site.roles import STAFF_ROLES
from billing_site.tenancy import require_current_tenant
from billing_site.timeutils import validate_date_range
from contracts.models import Team

from .. import selectors

# Ids are bigint columns: anything larger names nothing and is refused as such.
MAX_ID = 2**63 - 1


@extend_schema_field({"type": "string", "format": "decimal", "example": "120.50"})
class AmountText(serializers.Field):
    """An amount already rounded to its currency's minor unit, as a string."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value):
        return f"{value:f}"


# ------------------------------------------------------------------------ queries


def _id_field(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text=help_text
    )


class _RangeQuery(serializers.Serializer):
    date_from = serializers.DateField(
        required=False,
        validators=[validate_date_range],
        help_text="First day (default: the first day of the report's default range).",
    )
    date_to = serializers.DateField(
        required=False, validators=[validate_date_range], help_text="Last day (default: today)."
    )

    default_months = 6

    def validate(self, attrs):
        first, last = selectors.default_range(self.default_months)
        attrs.setdefault("date_from", first)
        attrs.setdefault("date_to", last)
        try:
            selectors.check_range(attrs["date_from"], attrs["date_to"])
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from error
        return attrs


class _CurrencyQuery(serializers.Serializer):
    currency = serializers.CharField(
        required=False,
        max_length=3,
        validators=[validate_currency_code],
        help_text="Only this currency (ISO 4217 code).",
    )


def _customer(value: int) -> int:
    if not Organization.objects.filter(pk=value).exists():
        raise serializers.ValidationError("No such customer.")
    return value


class TeamWorkQuerySerializer(_RangeQuery):
    team = _id_field("Only the technicians of this team.")
    technician = _id_field("Only this technician (a user id).")

    def validate_team(self, value):
        if not Team.objects.filter(pk=value).exists():
            raise serializers.ValidationError("No such team.")
        return value

    def validate_technician(self, value):
        staff = Membership.objects.filter(
            tenant=require_current_tenant(), user_id=value, role__in=STAFF_ROLES
        )
        if not staff.exists():
            raise serializers.ValidationError("No such technician.")
        return value


class UnbilledQuerySerializer(_CurrencyQuery):
    customer = _id_field("Only this customer's contracts.")

    def validate_customer(self, value):
        return _customer(value)


class RevenueQuerySerializer(_CurrencyQuery, _RangeQuery):
    default_months = 12


class ExpectedQuerySerializer(UnbilledQuerySerializer):
    months = serializers.IntegerField(
        default=3,
        min_value=1,
        max_value=selectors.MAX_HORIZON,
        help_text="This month and the ones after it.",
    )


# ------------------------------------------------------------------------ answers


class WorkRowSerializer(serializers.Serializer):
    month = serializers.DateField(allow_null=True, help_text="First day; null: the whole range.")
    group = serializers.ChoiceField(choices=["technician", "team", "total"])
    id = serializers.IntegerField(
        allow_null=True, help_text="User or team id; null: technicians in no team, or a total."
    )
    name = serializers.CharField()
    worked_seconds = serializers.IntegerField()
    billable_seconds = serializers.IntegerField()
    non_billable_seconds = serializers.IntegerField()
    billed_seconds = serializers.IntegerField(
        help_text="Time billed (as rounded on the invoice) on issued invoices."
    )


class TeamWorkSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    technicians = WorkRowSerializer(many=True, help_text="Per month and technician.")
    teams = WorkRowSerializer(many=True, help_text="Per month and team.")
    by_technician = WorkRowSerializer(many=True, help_text="Per technician, the whole range.")
    total = WorkRowSerializer()


def _work_row(row) -> dict:
    return {
        "month": row.month,
        "group": row.kind,
        "id": row.key,
        "name": row.name,
        "worked_seconds": row.worked_seconds,
        "billable_seconds": row.billable_seconds,
        "non_billable_seconds": row.non_billable_seconds,
        "billed_seconds": row.billed_seconds,
    }


def team_work_data(report) -> dict:
    return {
        "date_from": report.date_from,
        "date_to": report.date_to,
        "technicians": [_work_row(row) for row in report.technicians],
        "teams": [_work_row(row) for row in report.teams],
        "by_technician": [_work_row(row) for row in report.by_technician],
        "total": _work_row(report.total),
    }


class AgeFiguresSerializer(serializers.Serializer):
    bucket = serializers.ChoiceField(
        choices=[bucket.key for bucket in selectors.AGE_BUCKETS],
        allow_null=True,
        help_text="Days since the work date; null: all ages.",
    )
    entries = serializers.IntegerField()
    worked_seconds = serializers.IntegerField()
    amount = AmountText()


class UnbilledRowSerializer(serializers.Serializer):
    customer = serializers.IntegerField(allow_null=True, help_text="Null: every customer.")
    name = serializers.CharField()
    currency = serializers.CharField()
    buckets = AgeFiguresSerializer(many=True)
    total = AgeFiguresSerializer()
    unpriced_entries = serializers.IntegerField(
        help_text="Entries with no rate: valued at nothing until a rate exists."
    )


class UnbilledSerializer(serializers.Serializer):
    as_of = serializers.DateField()
    customers = UnbilledRowSerializer(many=True)
    currencies = UnbilledRowSerializer(many=True, help_text="Every customer, per currency.")


def _age(bucket_key, figures) -> dict:
    return {
        "bucket": bucket_key,
        "entries": figures.entries,
        "worked_seconds": figures.worked_seconds,
        "amount": figures.amount,
    }


def _unbilled_row(row) -> dict:
    return {
        "customer": row.customer_id,
        "name": row.customer,
        "currency": row.currency,
        "buckets": [
            _age(bucket.key, figures)
            for bucket, figures in zip(selectors.AGE_BUCKETS, row.buckets, strict=True)
        ],
        "total": _age(None, row.total),
        "unpriced_entries": row.unpriced_entries,
    }


def unbilled_data(report) -> dict:
    return {
        "as_of": report.today,
        "customers": [_unbilled_row(row) for row in report.customers],
        "currencies": [_unbilled_row(row) for row in report.currencies],
    }


class RevenueRowSerializer(serializers.Serializer):
    month = serializers.DateField(allow_null=True, help_text="First day; null: the whole range.")
    currency = serializers.CharField()
    invoices = serializers.IntegerField()
    invoiced_net = AmountText()
    invoiced_gross = AmountText()
    credit_notes = serializers.IntegerField()
    credited_net = AmountText()
    credited_gross = AmountText()
    net = AmountText(help_text="Invoiced minus credited, before tax.")
    tax = AmountText()
    gross = AmountText(help_text="Invoiced minus credited, tax included.")


class RevenueSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    rows = RevenueRowSerializer(many=True, help_text="Every month of the range, per currency.")
    totals = RevenueRowSerializer(many=True, help_text="The range, per currency.")


def _revenue_row(row) -> dict:
    return {
        "month": row.month,
        "currency": row.currency,
        "invoices": row.invoices,
        "invoiced_net": row.invoiced_net,
        "invoiced_gross": row.invoiced_gross,
        "credit_notes": row.credit_notes,
        "credited_net": row.credited_net,
        "credited_gross": row.credited_gross,
        "net": row.net,
        "tax": row.tax,
        "gross": row.gross,
    }


def revenue_data(report) -> dict:
    return {
        "date_from": report.date_from,
        "date_to": report.date_to,
        "rows": [_revenue_row(row) for row in report.rows],
        "totals": [_revenue_row(row) for row in report.totals],
    }


class ExpectedRowSerializer(serializers.Serializer):
    period = serializers.CharField(help_text='"now" (unbilled now), or the month as YYYY-MM.')
    month = serializers.DateField(allow_null=True, help_text="First day; null: now or a total.")
    currency = serializers.CharField()
    retainer_fees = AmountText()
    recurring_services = AmountText()
    unbilled_work = AmountText()
    total = AmountText()


class ExpectedSerializer(serializers.Serializer):
    first_month = serializers.DateField()
    months = serializers.IntegerField()
    rows = ExpectedRowSerializer(many=True, help_text="Now, then each month, per currency.")
    totals = ExpectedRowSerializer(many=True, help_text="Now and every month, per currency.")
    unpriced_items = serializers.IntegerField(help_text="Fees that cannot be priced yet.")


def _expected_row(row, period: str | None = None) -> dict:
    return {
        "period": period or row.key,
        "month": row.month,
        "currency": row.currency,
        "retainer_fees": row.retainer_fees,
        "recurring_services": row.recurring,
        "unbilled_work": row.unbilled_work,
        "total": row.total,
    }


def expected_data(report) -> dict:
    return {
        "first_month": report.first_month,
        "months": len(report.months),
        "rows": [_expected_row(row) for row in report.rows],
        "totals": [_expected_row(row, "total") for row in report.totals],
        "unpriced_items": report.unpriced_items,
    }
