from __future__ import annotations

from django import forms

from billing_site.date_fields import DateField
from billing_site.forms import TenantForm
from billing_site.models import Organization

DATE = forms.DateInput(attrs={"type": "date"})


class ReceivablesFilterForm(TenantForm):
    issued_from = DateField(label="Issued from", required=False, widget=DATE)
    issued_to = DateField(label="Issued to", required=False, widget=DATE)
    organization = forms.ModelChoiceField(
        label="Customer",
        queryset=Organization.objects.order_by("name"),
        required=False,
        empty_label="Every customer",
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("issued_from"), data.get("issued_to")
        if start and end and end < start:
            self.add_error("issued_to", "The end is before the start.")
        return data


class StatementForm(forms.Form):
    date_from = DateField(label="From", required=False, widget=DATE)
    date_to = DateField(label="To", required=False, widget=DATE)

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end is before the start.")
        return data
