"""Browser forms. They parse input; the services validate the rules and save."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django import forms
from django.utils import timezone

from billing_site.date_fields import DateField, DateTimeField
from billing_site.forms import TenantForm, TenantModelForm
from billing_site.models import TIME_ZONE_CHOICES, Organization
from billing_site.uploads import size_label, upload_limit

from . import importers, selectors
from .models import Host, HostGroup, ImportProfile


class ZonedDateTimeField(DateTimeField):
    """A date and time typed in a given zone (the tenant's), not the server's UTC.

    Shown and read as local wall-clock time; a time skipped by a daylight-saving
    change is refused by Django with a clear message.
    """

    widget = forms.DateTimeInput(
        attrs={"type": "datetime-local", "step": "1"}, format="%Y-%m-%dT%H:%M:%S"
    )

    def __init__(self, *args, zone: str | zoneinfo.ZoneInfo = "UTC", **kwargs):
        self.zone = zoneinfo.ZoneInfo(zone) if isinstance(zone, str) else zone
        super().__init__(*args, **kwargs)

    def prepare_value(self, value):
        with timezone.override(self.zone):
            return super().prepare_value(value)

    def to_python(self, value):
        with timezone.override(self.zone):
            return super().to_python(value)


def _zone_of(tenant) -> str:
    return tenant.time_zone if tenant is not None else "UTC"


class HostGroupForm(TenantModelForm):
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.all(),
        required=False,
        label="Customer",
        help_text="Bill-to for invoices of the whole group.",
    )

    class Meta:
        model = HostGroup
        fields = ["name", "organization"]

    def _post_clean(self):
        # The service validates (unique name, same tenant) and saves.
        pass


class HostForm(TenantModelForm):
    group = forms.ModelChoiceField(queryset=HostGroup.objects.all(), required=False)
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.all(),
        required=False,
        label="Customer",
        help_text="Leave empty to use the group's customer.",
    )

    class Meta:
        model = Host
        fields = ["name", "group", "organization", "external_id", "notes", "is_active"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}
        labels = {"name": "Computer name"}

    def _post_clean(self):
        pass


class SessionForm(TenantForm):
    """Manual entry; also the edit form (without technician) for unbilled sessions."""

    host = forms.ModelChoiceField(queryset=Host.objects.all(), label="Computer")
    technician = forms.ModelChoiceField(queryset=None, required=False)
    started_at = ZonedDateTimeField(label="Start")
    ended_at = ZonedDateTimeField(label="End")
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    billable = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, tenant=None, with_technician=False, running=False, **kwargs):
        super().__init__(*args, **kwargs)
        zone = _zone_of(tenant)
        for name in ("started_at", "ended_at"):
            self.fields[name].zone = zoneinfo.ZoneInfo(zone)
            self.fields[name].help_text = f"In {zone}."
        self.fields["host"].queryset = selectors.host_list(active=True)
        if with_technician:
            self.fields["technician"].queryset = selectors.technician_list()
            self.fields["technician"].help_text = "Empty: yourself."
            self.fields["technician"].label_from_instance = lambda user: (
                user.get_full_name() or user.username
            )
        else:
            del self.fields["technician"]
        if running:
            del self.fields["ended_at"]


class SessionEditForm(SessionForm):
    """Edit: the host list includes archived computers (the session may be on one)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["host"].queryset = selectors.host_list()


class TimerStartForm(TenantForm):
    host = forms.ModelChoiceField(queryset=Host.objects.all(), label="Computer")
    comment = forms.CharField(
        required=False,
        max_length=500,
        label="What are you doing?",
        widget=forms.TextInput(attrs={"placeholder": "Optional"}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "timer-%s")
        super().__init__(*args, **kwargs)
        self.fields["host"].queryset = selectors.host_list(active=True)


class TimerStopForm(forms.Form):
    ended_at = ZonedDateTimeField(label="Finished at", required=False, help_text="Empty: now.")

    def __init__(self, *args, tenant=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ended_at"].zone = zoneinfo.ZoneInfo(_zone_of(tenant))


BILLED_CHOICES = [("", "All"), ("no", "Not invoiced"), ("yes", "Invoiced")]


class DateRangeForm(TenantForm):
    date_from = DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end of the range is before its start.")
        return cleaned

    @property
    def refused(self) -> bool:
        """Filters were given and one is invalid: the page shows the error and no rows."""
        return self.is_bound and not self.is_valid()

    def value_of(self, name: str):
        return self.cleaned_data.get(name) if self.is_valid() else None

    def date_range(self) -> tuple[dt.date | None, dt.date | None]:
        return self.value_of("date_from"), self.value_of("date_to")


class HostTreeFilterForm(DateRangeForm):
    q = forms.CharField(
        required=False,
        label="Search",
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Computer or group"}),
    )


class SessionFilterForm(DateRangeForm):
    host = forms.ModelChoiceField(
        queryset=Host.objects.all(), required=False, label="Computer", empty_label="All"
    )
    group = forms.ModelChoiceField(
        queryset=HostGroup.objects.all(), required=False, empty_label="All"
    )
    technician = forms.ModelChoiceField(queryset=None, required=False, empty_label="All")
    billed = forms.ChoiceField(choices=BILLED_CHOICES, required=False, label="Invoiced")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["technician"].queryset = selectors.technician_list()
        self.fields["technician"].label_from_instance = lambda user: (
            user.get_full_name() or user.username
        )

    def to_filters(self) -> selectors.SessionFilters:
        if not self.is_valid():
            return selectors.SessionFilters(nothing=self.refused)
        data = self.cleaned_data
        return selectors.SessionFilters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            host=data["host"].pk if data.get("host") else None,
            group=data["group"].pk if data.get("group") else None,
            technician=data["technician"].pk if data.get("technician") else None,
            billed={"yes": True, "no": False}.get(data.get("billed") or ""),
        )


def _zone_choices(default: str) -> list[tuple[str, str]]:
    return [
        ("", f"Default: {default}, or the zone the tool writes (UTC for TeamViewer's report)"),
        ("UTC", "UTC"),
        *TIME_ZONE_CHOICES,
    ]


def _date_format_choices(allowed: list[str] | None = None) -> list[tuple[str, str]]:
    labels = dict(importers.DATE_FORMAT_CHOICES)
    return [(key, labels[key]) for key in allowed or labels]


class SessionImportForm(forms.Form):
    file = forms.FileField(
        label="Session log (CSV, TXT or JSON)",
    )
    format = forms.ChoiceField(
        choices=importers.FORMAT_CHOICES, initial=importers.FORMAT_AUTO, label="Layout"
    )
    date_format = forms.ChoiceField(
        choices=importers.DATE_FORMAT_CHOICES,
        required=False,
        initial=importers.DATE_FORMAT_AUTO,
        label="Dates are written as",
        help_text="Year-first dates (2026-10-12) are always read. When day and month are "
        "ambiguous (03/08/2023), you are asked to choose.",
    )
    time_zone = forms.ChoiceField(
        required=False,
        label="Times without an offset are in",
        help_text="Times written with an offset (+02:00, Z) are always taken as written.",
    )
    technician = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Technician of rows without one",
        help_text="For files without a technician column (e.g. a one-user TeamViewer "
        "report). Empty: yourself.",
    )
    profile = forms.ModelChoiceField(
        queryset=ImportProfile.objects.all(),
        required=False,
        label="Import profile",
        empty_label="None: recognise the file",
        help_text="A saved layout, column mapping, date format and zone; they replace the "
        "choices below.",
    )
    host = forms.CharField(
        required=False,
        max_length=200,
        label="Computer of rows without one",
        help_text="Needed for TeamViewer's Connections_incoming.txt, which is written on the "
        "computer itself and does not name it.",
    )

    def __init__(self, *args, tenant=None, **kwargs):
        super().__init__(*args, **kwargs)
        default = _zone_of(tenant)
        # Read per form: the limit is a setting (billing_site/uploads.py).
        limit = size_label(upload_limit("session_log"))
        self.fields["file"].help_text = f"Up to {limit}, {importers.MAX_ROWS} sessions."
        self.fields["time_zone"].choices = _zone_choices(default)
        self.fields["technician"].queryset = selectors.technician_list()
        self.fields["technician"].label_from_instance = lambda user: (
            user.get_full_name() or user.username
        )
        self.fields["profile"].queryset = ImportProfile.objects.all()
        self.order_fields(["file", "profile"])


class ImportMappingForm(forms.Form):
    """The mapping step: one of our fields (or "ignore") per column of the file."""

    def __init__(self, *args, columns: list[str], initial_fields: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [
            (importers.IGNORE, "— ignore —"),
            *((name, importers.FIELD_LABELS[name]) for name in importers.WIZARD_FIELDS),
        ]
        self.columns = columns
        for index, column in enumerate(columns):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                choices=choices,
                required=False,
                label=column,
                initial=initial_fields[index] if index < len(initial_fields) else "",
            )

    def clean(self):
        cleaned = super().clean()
        choices = [cleaned.get(f"col_{index}", "") or "" for index in range(len(self.columns))]
        try:
            importers.mapping_from_columns(choices, self.columns)
        except importers.FileFormatError as exc:
            raise forms.ValidationError(str(exc)) from None
        cleaned["choices"] = choices
        return cleaned

    def bound_columns(self):
        return [self[f"col_{index}"] for index in range(len(self.columns))]


class ImportProfileNameForm(forms.Form):
    name = forms.CharField(max_length=100, label="Save this reading as a profile named")


class TechnicianAliasForm(forms.Form):
    """On the preview: a name of the file that matches nobody, given to a staff member."""

    alias = forms.CharField(max_length=200, widget=forms.HiddenInput)
    user = forms.ModelChoiceField(queryset=None, label="is", empty_label="Choose a person…")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = selectors.technician_list()
        self.fields["user"].label_from_instance = lambda user: user.get_full_name() or user.username


class ImportSettingsForm(forms.Form):
    """How a staged file is read: shown on the preview, required when dates are ambiguous."""

    date_format = forms.ChoiceField(label="Dates are written as")
    time_zone = forms.ChoiceField(required=False, label="Times without an offset are in")

    def __init__(self, *args, tenant=None, allowed: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        choices = _date_format_choices(allowed)
        if allowed and len(allowed) > 1:
            # Ambiguous dates: nothing is preselected, so reading them is the user's choice.
            choices = [("", "Choose how the dates are written…"), *choices]
        self.fields["date_format"].choices = choices
        self.fields["time_zone"].choices = _zone_choices(_zone_of(tenant))


class TeamViewerConnectionForm(forms.Form):
    """The script token (never shown back: only whether one is stored and its last four
    characters) and the optional group filter."""

    token = forms.CharField(
        label="Script token",
        required=False,
        strip=True,
        max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="TeamViewer › Edit profile › Apps › Create script token, with the "
        "permission “Connection reports: read”. Stored encrypted.",
    )
    group_id = forms.CharField(
        label="Only this TeamViewer group",
        required=False,
        max_length=40,
        help_text="The group's id (e.g. g12345678); empty: every group the token sees.",
    )

    def __init__(self, *args, connection=None, **kwargs):
        super().__init__(*args, **kwargs)
        if connection is not None and connection.has_token:
            self.fields["token"].help_text = (
                f"A token is set (…{connection.token_last4}). Leave empty to keep it; paste "
                "a new one to replace it."
            )
            self.initial.setdefault("group_id", connection.group_id)
