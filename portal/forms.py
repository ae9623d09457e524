"""Forms of the portal: the staff invitation, and the portal's read-only filters.

The end-client filter form parses the same query string for the page, its exports and
the API, so all three filter and sort exactly alike.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import SetPasswordForm

from billing_site.date_fields import DateField
from billing_site.forms import TenantForm
from billing_site.models import Contact
from billing_site.roles import Role
from contracts.choices import TicketStatus
from contracts.selectors_portal import (
    DEFAULT_ORDERING,
    EndClientTicketFilters,
    ordering_choices,
)


class ContactChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Contact) -> str:
        email = f" <{obj.email}>" if obj.email else ""
        return f"{obj.organization.name} — {obj.name}{email}"


class PortalInviteForm(TenantForm):
    contact = ContactChoiceField(
        queryset=Contact.objects.none(),
        help_text="The person at the customer who gets the login.",
    )
    email = forms.EmailField(
        label="E-mail",
        required=False,
        help_text="Where the invitation goes. Default: the contact's e-mail.",
    )
    username = forms.CharField(
        max_length=150, required=False, help_text="Default: the e-mail address."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Built per form (the tenant is bound by now). Contacts who already have a login
        # are managed from the list instead (resend, remove).
        self.fields["contact"].queryset = (
            Contact.objects.select_related("organization")
            .exclude(portal_memberships__role=Role.PORTAL)
            .order_by("organization__name", "name", "id")
        )


class PortalMembershipForm(forms.Form):
    membership = forms.IntegerField(min_value=1)


class PortalSetPasswordForm(SetPasswordForm):
    """Django's set-password form (validators included); the portal service saves."""

    def save(self, commit=True):
        from .services import portal_password_set

        return portal_password_set(user=self.user, password=self.cleaned_data["new_password1"])


class MyTicketFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *TicketStatus.choices])
    include_completed = forms.BooleanField(required=False, label="Include completed tickets")


TEXT_FILTERS = ("number", "end_client", "title", "status", "contact", "assigned_to", "hours")


class EndClientTicketFilterForm(forms.Form):
    """Column filters, "Include completed tickets", and the sort column."""

    number = forms.CharField(required=False, max_length=20, label="Ticket")
    end_client = forms.CharField(required=False, max_length=200, label="End client")
    title = forms.CharField(required=False, max_length=200, label="Title")
    status = forms.CharField(required=False, max_length=40, label="Status")
    contact = forms.CharField(required=False, max_length=200, label="Contact")
    assigned_to = forms.CharField(required=False, max_length=200, label="Assigned resource")
    created = DateField(
        required=False,
        label="Created",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a complete date (YYYY-MM-DD)."},
    )
    due = DateField(
        required=False,
        label="Due",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a complete date (YYYY-MM-DD)."},
    )
    hours = forms.CharField(required=False, max_length=20, label="Hours worked")
    include_completed = forms.BooleanField(required=False, label="Include completed tickets")
    ordering = forms.ChoiceField(required=False, choices=[(key, key) for key in ordering_choices()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name in ("ordering", "include_completed"):
                continue
            field.widget.attrs.update(
                {
                    "id": f"filter-{name}",
                    "class": "js-filter",
                    "autocomplete": "off",
                    "aria-label": f"Filter {field.label.lower()}",
                }
            )
            if name not in ("created", "due"):
                field.widget.attrs["placeholder"] = "Starts with…"
        self.fields["include_completed"].widget.attrs.update(
            {"id": "filter-include-completed", "class": "js-toggle"}
        )

    def to_filters(self) -> EndClientTicketFilters:
        data = self.cleaned_data
        return EndClientTicketFilters(
            **{name: data.get(name) or "" for name in TEXT_FILTERS},
            created=data.get("created"),
            due=data.get("due"),
            include_completed=bool(data.get("include_completed")),
            ordering=data.get("ordering") or DEFAULT_ORDERING,
        )
