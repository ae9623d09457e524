"""Filters of the report pages (and their CSV files). They parse; the selectors compute.

Every filter is optional: a missing date takes the report's default range, shown in the
field. A value that cannot be read is the field's error, never a 500.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError

from billing_site.date_fields import DateField
from billing_site.forms import TenantForm
from billing_site.models import Organization
from billing_site.money import currency_choices
from contracts.models import Team
from contracts.selectors import staff_choices
from invoices.selectors import tenant_today

from . import selectors

DATE_INPUT = forms.DateInput(attrs={"type": "date"})


def _currency_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Currency", required=False, choices=[("", "Any currency"), *currency_choices()]
    )


class ReportFilterForm(TenantForm):
    """Fields are filled with their defaults when the query does not name them."""

    def __init__(self, data=None, *, today: dt.date | None = None, **kwargs):
        self.today = today or tenant_today()
        filled = data.copy() if data is not None else {}
        for name, value in self.defaults().items():
            if not filled.get(name):
                filled[name] = value
        super().__init__(filled, **kwargs)

    def defaults(self) -> dict[str, str]:
        return {}

    def filters(self) -> dict:
        """The cleaned filters, named as the selector takes them."""
        return {}


class DateRangeForm(ReportFilterForm):
    default_months = 6

    date_from = DateField(label="From", required=False, widget=DATE_INPUT)
    date_to = DateField(label="To", required=False, widget=DATE_INPUT)

    def defaults(self) -> dict[str, str]:
        first, last = selectors.default_range(self.default_months, self.today)
        return {"date_from": first.isoformat(), "date_to": last.isoformat()}

    def clean(self):
        cleaned = super().clean()
        try:
            selectors.check_range(cleaned.get("date_from"), cleaned.get("date_to"))
        except ValidationError as error:
            for field, errors in error.error_dict.items():
                self.add_error(field, errors)
        return cleaned

    def filters(self) -> dict:
        return {
            "date_from": self.cleaned_data["date_from"],
            "date_to": self.cleaned_data["date_to"],
        }


class TeamWorkFilterForm(DateRangeForm):
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"), required=False, empty_label="Every team"
    )
    technician = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Every technician"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["technician"].queryset = staff_choices()
        self.fields["technician"].label_from_instance = lambda user: (
            user.get_full_name() or user.username
        )

    def filters(self) -> dict:
        team, technician = self.cleaned_data.get("team"), self.cleaned_data.get("technician")
        return {
            **super().filters(),
            "team_id": team.pk if team else None,
            "technician_id": technician.pk if technician else None,
        }


class RevenueFilterForm(DateRangeForm):
    default_months = 12

    currency = _currency_field()

    def filters(self) -> dict:
        return {**super().filters(), "currency": self.cleaned_data.get("currency") or ""}


class CustomerCurrencyForm(ReportFilterForm):
    customer = forms.ModelChoiceField(
        queryset=Organization.objects.order_by("name"), required=False, empty_label="Every customer"
    )
    currency = _currency_field()

    def filters(self) -> dict:
        customer = self.cleaned_data.get("customer")
        return {
            "customer_id": customer.pk if customer else None,
            "currency": self.cleaned_data.get("currency") or "",
        }


class UnbilledFilterForm(CustomerCurrencyForm):
    pass


class ExpectedRevenueFilterForm(CustomerCurrencyForm):
    months = forms.IntegerField(
        label="Months ahead",
        required=False,
        min_value=1,
        max_value=selectors.MAX_HORIZON,
        help_text="This month and the ones after it.",
    )

    def defaults(self) -> dict[str, str]:
        return {"months": "3"}

    def filters(self) -> dict:
        return {**super().filters(), "months": self.cleaned_data["months"]}
