"""Forms of the invoice batch pages."""

from __future__ import annotations

from django import forms

from billing_site.date_fields import DateField
from billing_site.forms import TenantForm
from billing_site.models import Organization
from contracts.choices import BillingState, ContractType
from contracts.models import Contract

from ..exports import EXPORT_FORMATS


class BatchForm(forms.Form):
    """ "Save as": the batch's name and the date items must be due by."""

    name = forms.CharField(max_length=120, label="Save as", help_text="e.g. “March 2026”")
    as_of = DateField(
        label="As of",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Usage of periods ended before this date and fees of periods started on "
        "or before it are due.",
    )


class BatchFilterForm(TenantForm):
    customer = forms.ModelChoiceField(
        queryset=Organization.objects.all(), required=False, empty_label="All customers"
    )
    billing_organization = forms.ModelChoiceField(
        queryset=Organization.objects.all(), required=False, empty_label="All bill-to"
    )
    contract_type = forms.ChoiceField(
        choices=[("", "All types"), *ContractType.choices], required=False, label="Type"
    )
    state = forms.ChoiceField(choices=[("", "All states"), *BillingState.choices], required=False)


class SelectionForm(TenantForm):
    contract = forms.ModelChoiceField(queryset=Contract.objects.all())
    item = forms.CharField(max_length=60, required=False)
    include = forms.TypedChoiceField(
        choices=[("1", "include"), ("0", "exclude")], coerce=lambda v: v == "1"
    )


class GenerateForm(forms.Form):
    consolidate = forms.BooleanField(required=False, label="One invoice per customer")
    # Set by the confirmation's button: without it, Generate shows what it will do.
    confirm = forms.BooleanField(required=False)


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=[(k, f.label) for k, f in EXPORT_FORMATS.items()])
    ids = forms.CharField(required=False)
    # IIF: numbers longer than QuickBooks Desktop keeps are shortened instead of refused.
    shorten_numbers = forms.BooleanField(required=False)
