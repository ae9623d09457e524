from __future__ import annotations

from django import forms

from .core.models import DeliveryAction, DeliveryStatus, MappingKind, Provider


class DeliveryFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *DeliveryStatus.choices]
    )
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *DeliveryAction.choices]
    )
    provider = forms.ChoiceField(required=False, choices=[("", "Any system"), *Provider.choices])
    drift = forms.BooleanField(required=False, label="Only totals that differ")


class MappingForm(forms.Form):
    kind = forms.ChoiceField(choices=MappingKind.choices, widget=forms.HiddenInput)
    local_key = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
    external_id = forms.CharField(required=False, max_length=100, label="Id / code there")
    external_name = forms.CharField(required=False, max_length=200, label="Name there")


class TenantChoiceForm(forms.Form):
    tenant = forms.ChoiceField(label="Xero organisation")

    def __init__(self, *args, choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tenant"].choices = [(c["tenantId"], c["tenantName"]) for c in choices]
