"""The audit log page's filters."""

from __future__ import annotations

from django import forms

from billing_site.date_fields import DateField
from billing_site.models import Membership
from billing_site.roles import STAFF_ROLES

from .models import Action, ObjectType

SYSTEM_CHOICE = "system"


class AuditFilterForm(forms.Form):
    date_from = DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    date_to = DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
    user = forms.ChoiceField(required=False, label="Who")
    action = forms.ChoiceField(required=False, choices=[("", "Any action"), *Action.choices])
    object_type = forms.ChoiceField(
        required=False, label="Object", choices=[("", "Any object"), *ObjectType.choices]
    )
    object_id = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput
    )

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        staff = (
            Membership.objects.filter(tenant=tenant, role__in=STAFF_ROLES)
            .select_related("user")
            .order_by("user__username")
        )
        self.fields["user"].choices = [
            ("", "Anyone"),
            (SYSTEM_CHOICE, "The system (scheduled tasks)"),
            *[(str(m.user_id), m.user.get_full_name() or m.user.username) for m in staff],
        ]

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> dict:
        """The selector's keyword arguments (``entry_list``)."""
        data = self.cleaned_data
        user = data.get("user") or ""
        return {
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "system": user == SYSTEM_CHOICE,
            "actor_id": int(user) if user.isdigit() else None,
            "action": data.get("action") or "",
            "object_type": data.get("object_type") or "",
            "object_id": data.get("object_id"),
        }
