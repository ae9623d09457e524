"""Serializers: input ones parse and hand over to the services; output ones render."""

from __future__ import annotations

from rest_framework import serializers

from billing_site.api.date_fields import DateTimeField
from billing_site.api.serializers import (
    StaffMemberField,
    StrictModelSerializer,
    StrictSerializerMixin,
)
from billing_site.models import Organization
from billing_site.timeutils import format_duration
from billing_site.uploads import LimitedFileField

from ..importers import DATE_FORMAT_AUTO, DATE_FORMATS, FORMAT_AUTO, LAYOUTS
from ..models import Host, HostGroup, ImportProfile, RemoteSession

NOT_FOUND = {"does_not_exist": "{label} not found.", "incorrect_type": "{label} not found."}


def _related(manager, label: str, **kwargs):
    # A manager, not a queryset: it is evaluated per request, for the request's tenant.
    messages = {key: value.format(label=label) for key, value in NOT_FOUND.items()}
    return serializers.PrimaryKeyRelatedField(queryset=manager, error_messages=messages, **kwargs)


# auto, or one of the built-in layouts (one enum in the schema for every field of them).
LAYOUT_CHOICES = [FORMAT_AUTO, *LAYOUTS]


class HostGroupSerializer(StrictModelSerializer):
    organization = _related(Organization.objects, "Customer", allow_null=True, required=False)
    # Names of optional relations: allow_null, not default=None, which DRF leaves out of
    # PATCH responses (partial serializers skip defaults).
    organization_name = serializers.CharField(
        source="organization.name", read_only=True, allow_null=True
    )

    class Meta:
        model = HostGroup
        fields = ["id", "name", "organization", "organization_name", "created_at"]
        read_only_fields = ["id", "created_at"]


class HostSerializer(StrictModelSerializer):
    group = _related(HostGroup.objects, "Group", allow_null=True, required=False)
    group_name = serializers.CharField(source="group.name", read_only=True, allow_null=True)
    organization = _related(Organization.objects, "Customer", allow_null=True, required=False)
    organization_name = serializers.CharField(
        source="organization.name", read_only=True, allow_null=True
    )

    class Meta:
        model = Host
        fields = [
            "id",
            "name",
            "group",
            "group_name",
            "organization",
            "organization_name",
            "external_id",
            "notes",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]


class RemoteSessionSerializer(serializers.ModelSerializer):
    """Output. ``invoice`` (the invoice id) only for roles that may see billing."""

    host_name = serializers.CharField(source="host.name", read_only=True)
    group = serializers.IntegerField(source="host.group_id", read_only=True, allow_null=True)
    group_name = serializers.CharField(source="host.group.name", read_only=True, allow_null=True)
    technician_username = serializers.CharField(
        source="technician.username", read_only=True, allow_null=True
    )
    duration = serializers.SerializerMethodField()
    # Plain strings in the schema: the choice sets' names collide with other apps' enums.
    source = serializers.CharField(read_only=True, help_text="timer, manual or import.")
    is_running = serializers.BooleanField(read_only=True)
    billed = serializers.BooleanField(source="is_billed", read_only=True)
    invoice = serializers.IntegerField(
        source="invoice_line.invoice_id",
        read_only=True,
        allow_null=True,
        help_text="The invoice billing it (null: unbilled); only for roles that see billing.",
    )

    class Meta:
        model = RemoteSession
        fields = [
            "id",
            "host",
            "host_name",
            "group",
            "group_name",
            "technician",
            "technician_username",
            "started_at",
            "ended_at",
            "duration_seconds",
            "duration",
            "comment",
            "billable",
            "source",
            "external_id",
            "is_running",
            "billed",
            "invoice",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        # Left out for roles that may not see billing (to_representation).
        role_dependent_fields = ["invoice"]

    def get_duration(self, session: RemoteSession) -> str:
        return format_duration(session.duration_seconds)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("can_view_billing"):
            data.pop("invoice", None)
        return data


class SessionCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    host = _related(Host.objects, "Computer")
    technician = StaffMemberField(
        required=False,
        allow_null=True,
        help_text="Staff member who did the work; default: you (others need MANAGE_WORK).",
    )
    started_at = DateTimeField()
    ended_at = DateTimeField()
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    billable = serializers.BooleanField(required=False, default=True)
    external_id = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=120
    )


class SessionUpdateSerializer(StrictSerializerMixin, serializers.Serializer):
    host = _related(Host.objects, "Computer", required=False)
    started_at = DateTimeField(required=False)
    ended_at = DateTimeField(required=False, allow_null=True)
    comment = serializers.CharField(required=False, allow_blank=True)
    billable = serializers.BooleanField(required=False)


class SessionTimerStartSerializer(StrictSerializerMixin, serializers.Serializer):
    host = _related(Host.objects, "Computer")
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class SessionTimerStopSerializer(StrictSerializerMixin, serializers.Serializer):
    ended_at = DateTimeField(
        required=False,
        allow_null=True,
        help_text="Default: now. Needed for a timer left running more than 24 h.",
    )


class SessionImportSerializer(StrictSerializerMixin, serializers.Serializer):
    file = LimitedFileField(
        kind="session_log",
        help_text="Session log: generic CSV or a remote-support tool's export (TeamViewer "
        "report, Web API records as JSON or CSV, PowerShell Export-Csv, "
        "Connections_incoming.txt; ScreenConnect; Splashtop).",
    )
    format = serializers.ChoiceField(
        choices=LAYOUT_CHOICES,
        default=FORMAT_AUTO,
        help_text="auto: recognised from the content.",
    )
    date_format = serializers.ChoiceField(
        choices=[DATE_FORMAT_AUTO, *DATE_FORMATS],
        default=DATE_FORMAT_AUTO,
        help_text="How non-year-first dates are written. auto: the one format that reads "
        "every date; when several do (day and month ambiguous) the request is refused with "
        "date_format_choices to choose from.",
    )
    time_zone = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="IANA zone of times without an offset; default: the zone the tool writes "
        "(UTC for TeamViewer's report and Web API), else the tenant's zone.",
    )
    technician = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="User id of the technician of rows without one; default: the requester.",
    )
    host = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text="Computer of rows without one (TeamViewer's Connections_incoming.txt).",
    )
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text="Check and preview only; write nothing."
    )
    mapping = serializers.JSONField(
        binary=True,
        required=False,
        default=None,
        help_text="The mapping step, as JSON: our field -> the column's header or 1-based "
        'number, e.g. {"start": "Begin", "end": "Finish", "host": 2}. Fields: host, '
        "host_external_id (device id), group, technician, start, end, duration, comment, "
        "external_id. Replaces the layout's columns; start and end or duration required.",
    )
    profile = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=100,
        help_text="A saved import profile (id or name): its layout, mapping, date format and "
        "zone, unless given here.",
    )
    create_hosts = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=200),
        required=False,
        default=None,
        help_text="The new computers to create (names, any case; repeat the field). Left "
        "out or empty: none, and a row of a computer found neither by device id nor by name "
        "is a row error naming it; a dry run lists them in new_hosts, to pass here. “*”: "
        "every new computer.",
    )

    def validate_mapping(self, value):
        if value is not None and not isinstance(value, dict):
            raise serializers.ValidationError(
                "A JSON object: field -> column header or 1-based number."
            )
        return value or None


class ImportErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    column = serializers.CharField()
    message = serializers.CharField()


class ImportRowSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    status = serializers.CharField(help_text="new, duplicate, skipped or error.")
    host = serializers.CharField()
    device_id = serializers.CharField()
    group = serializers.CharField()
    technician = serializers.CharField()
    start_text = serializers.CharField(help_text="The start as written in the file.")
    end_text = serializers.CharField(help_text="The end as written in the file.")
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.IntegerField(allow_null=True)
    duration = serializers.CharField(allow_null=True)
    comment = serializers.CharField()
    external_id = serializers.CharField()
    notes = serializers.ListField(child=serializers.CharField())
    errors = ImportErrorSerializer(many=True)


class ImportNewHostSerializer(serializers.Serializer):
    name = serializers.CharField()
    device_id = serializers.CharField()
    group = serializers.CharField()
    rows = serializers.IntegerField(help_text="Rows of this computer.")
    create = serializers.BooleanField(
        help_text="Created on import (named in create_hosts); if not, its rows are errors."
    )


class ImportResultSerializer(serializers.Serializer):
    """Documents the import response (built by ``ImportResult.as_dict``)."""

    format = serializers.CharField()
    format_label = serializers.CharField()
    time_zone = serializers.CharField()
    date_format = serializers.CharField(help_text="The date format the file was read in.")
    date_format_choices = serializers.ListField(
        child=serializers.CharField(), help_text="The date formats that read every date."
    )
    dry_run = serializers.BooleanField()
    imported = serializers.BooleanField()
    sessions_created = serializers.IntegerField()
    hosts_created = serializers.IntegerField()
    groups_created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    skipped = serializers.IntegerField()
    ignored_columns = serializers.ListField(child=serializers.CharField())
    notes = serializers.ListField(child=serializers.CharField())
    new_hosts = ImportNewHostSerializer(
        many=True,
        help_text="Computers found neither by device id nor by name: pass the names to "
        "create in create_hosts.",
    )
    unmatched_technicians = serializers.ListField(
        child=serializers.CharField(),
        help_text="Names matching no staff member: add them as aliases.",
    )
    errors = ImportErrorSerializer(many=True)
    rows = ImportRowSerializer(many=True)


class ImportProfileSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """A saved way of reading a tool's files; validated by the service."""

    file_format = serializers.ChoiceField(
        choices=LAYOUT_CHOICES, default=FORMAT_AUTO, help_text="auto or a layout."
    )
    mapping = serializers.JSONField(
        help_text='Our field -> the column\'s header or 1-based number, e.g. {"start": '
        '"Begin", "end": "Finish"}.'
    )
    date_format = serializers.ChoiceField(
        choices=["", DATE_FORMAT_AUTO, *DATE_FORMATS], default="", help_text="Blank: auto."
    )
    time_zone = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="IANA zone; blank: default."
    )
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True
    )

    class Meta:
        model = ImportProfile
        fields = [
            "id",
            "name",
            "file_format",
            "mapping",
            "date_format",
            "time_zone",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        # The per-tenant uniqueness is checked by the service (a field error on name).
        validators = []


class TeamViewerPullResultSerializer(serializers.Serializer):
    """Documents ``last_result`` (built by ``services.TeamViewerPullResult.as_dict``)."""

    status = serializers.CharField(help_text="ok, rows_refused or failed.")
    from_date = serializers.DateTimeField(help_text="The period asked from TeamViewer.")
    to_date = serializers.DateTimeField()
    fetched = serializers.IntegerField(help_text="Connection records TeamViewer sent.")
    sessions_created = serializers.IntegerField()
    hosts_created = serializers.IntegerField()
    groups_created = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Connections imported before.")
    skipped = serializers.IntegerField()
    error_count = serializers.IntegerField()
    errors = serializers.ListField(
        child=serializers.CharField(), help_text="Record errors (the first 50)."
    )
    error = serializers.CharField(help_text="What went wrong, in words; empty when imported.")


class TeamViewerConnectionSerializer(serializers.Serializer):
    """The tenant's TeamViewer connection. The token itself is never sent back."""

    token_set = serializers.BooleanField(source="has_token")
    token_last4 = serializers.CharField(help_text="The stored token's last four characters.")
    group_id = serializers.CharField(help_text="Only this TeamViewer group; empty: all.")
    pulled_until = DateTimeField(
        allow_null=True, help_text="The cursor: the latest end of a connection imported."
    )
    pull_requested_at = DateTimeField(allow_null=True)
    pull_pending = serializers.BooleanField(help_text="A pull was asked for and has not run.")
    last_run_at = DateTimeField(allow_null=True)
    last_status = serializers.CharField(help_text="ok, rows_refused, failed; empty: never run.")
    last_error = serializers.CharField()
    last_result = TeamViewerPullResultSerializer(allow_null=True, source="last_result_or_none")
    created_at = DateTimeField()
    updated_at = DateTimeField()


class TeamViewerConnectionUpdateSerializer(StrictSerializerMixin, serializers.Serializer):
    token = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=1000,
        write_only=True,
        help_text="A TeamViewer script token with “Connection reports: read”; required the "
        "first time, left out or blank later to keep the stored one.",
    )
    group_id = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        help_text="Only this TeamViewer group's connections (e.g. g12345678); blank: all.",
    )
