"""Remote-session operations: host groups, hosts, sessions (timer and manual) and imports.

Each service is one transaction. Bad input raises ``ValidationError`` with field
names and leaves nothing written; changing someone else's session without the
right role raises ``PermissionDenied``. Times are stored in UTC and truncated to
whole seconds, so ``duration_seconds`` is exactly end - start.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import zoneinfo
from collections.abc import Collection
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from audit import services as audit
from billing_site.models import Membership, Organization, Tenant, User
from billing_site.roles import STAFF_ROLES, Cap, role_can
from billing_site.services import assign_fields, reject_unknown_fields
from billing_site.tenancy import require_current_tenant, tenant_context
from billing_site.timeutils import format_duration
from billing_site.unset import UNSET, Unset, provided
from billing_site.uploads import check_upload_size
from integrations.core import crypto  # secrets at rest: Fernet, INTEGRATIONS_KEYS

from . import importers
from .models import (
    Host,
    HostGroup,
    ImportProfile,
    ImportStatus,
    PullStatus,
    RemoteSession,
    SessionImport,
    SessionSource,
    TeamViewerConnection,
    TechnicianAlias,
)

BILLED_MESSAGE = "This session is on an invoice and can no longer be changed or deleted."


def _now() -> dt.datetime:
    return timezone.now().replace(microsecond=0)


def _whole_seconds(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if timezone.is_naive(value):
        raise ValidationError("Times must carry a time zone.")
    return value.replace(microsecond=0)


def _save_unique(instance, field_name: str, message: str) -> None:
    """Save, turning a unique-constraint race lost to a concurrent writer into a field error."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise ValidationError({field_name: message}) from exc


def _check_tenant(obj, tenant: Tenant, field_name: str, label: str, errors: dict) -> None:
    # Another tenant's object is "not found": its existence is not revealed.
    if obj is not None and obj.tenant_id != tenant.pk:
        errors[field_name] = f"{label} not found."


# Host groups -----------------------------------------------------------------------------

HOST_GROUP_FIELDS = ("name", "organization")


def _check_group(group: HostGroup, tenant: Tenant) -> None:
    errors: dict[str, str] = {}
    group.name = (group.name or "").strip()
    if not group.name:
        errors["name"] = "Enter the group's name."
    elif (
        HostGroup.objects.filter(name__iexact=group.name)
        .exclude(pk=group.pk if group.pk else None)
        .exists()
    ):
        errors["name"] = f"A group named “{group.name}” already exists."
    _check_tenant(group.organization, tenant, "organization", "Customer", errors)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def host_group_create(*, name: str, organization: Organization | None = None) -> HostGroup:
    """Create a host group (a company's computers), optionally tied to a customer."""
    tenant = require_current_tenant()
    group = HostGroup(tenant=tenant, name=name, organization=organization)
    _check_group(group, tenant)
    _save_unique(group, "name", "A group with this name already exists.")
    return group


@transaction.atomic
def host_group_update(
    *,
    group: HostGroup,
    name: str | Unset = UNSET,
    organization: Organization | Unset | None = UNSET,
) -> HostGroup:
    """Rename a group or change its customer."""
    data = provided(name=name, organization=organization)
    assign_fields(group, data, HOST_GROUP_FIELDS)
    tenant = require_current_tenant()
    _check_group(group, tenant)
    _save_unique(group, "name", "A group with this name already exists.")
    return group


# Hosts -----------------------------------------------------------------------------------

HOST_FIELDS = ("name", "group", "organization", "external_id", "notes", "is_active")


def _check_host(host: Host, tenant: Tenant) -> None:
    errors: dict[str, str] = {}
    host.name = (host.name or "").strip()
    host.external_id = (host.external_id or "").strip()
    others = Host.objects.exclude(pk=host.pk) if host.pk else Host.objects.all()
    if not host.name:
        errors["name"] = "Enter the computer's name."
    elif len(host.name) > 200:
        errors["name"] = "At most 200 characters."
    elif others.filter(name__iexact=host.name).exists():
        errors["name"] = f"A computer named “{host.name}” already exists."
    if len(host.external_id) > 120:
        errors["external_id"] = "At most 120 characters."
    elif host.external_id and others.filter(external_id=host.external_id).exists():
        errors["external_id"] = "Another computer already has this external id."
    _check_tenant(host.group, tenant, "group", "Group", errors)
    _check_tenant(host.organization, tenant, "organization", "Customer", errors)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def host_create(
    *,
    name: str,
    group: HostGroup | None = None,
    organization: Organization | None = None,
    external_id: str = "",
    notes: str = "",
    is_active: bool = True,
) -> Host:
    """Add a computer. Without an organization it belongs to its group's customer."""
    tenant = require_current_tenant()
    if organization is None and group is not None and group.tenant_id == tenant.pk:
        organization = group.organization
    host = Host(
        tenant=tenant,
        name=name,
        group=group,
        organization=organization,
        external_id=external_id,
        notes=notes,
        is_active=is_active,
    )
    _check_host(host, tenant)
    _save_unique(host, "name", "A computer with this name already exists.")
    return host


@transaction.atomic
def host_update(
    *,
    host: Host,
    name: str | Unset = UNSET,
    group: HostGroup | Unset | None = UNSET,
    organization: Organization | Unset | None = UNSET,
    external_id: str | Unset = UNSET,
    notes: str | Unset = UNSET,
    is_active: bool | Unset = UNSET,
) -> Host:
    """Change a computer's name, group, customer, external id, notes or active flag."""
    data = provided(
        name=name,
        group=group,
        organization=organization,
        external_id=external_id,
        notes=notes,
        is_active=is_active,
    )
    assign_fields(host, data, HOST_FIELDS)
    tenant = require_current_tenant()
    _check_host(host, tenant)
    _save_unique(host, "name", "A computer with this name already exists.")
    return host


# Sessions --------------------------------------------------------------------------------


def member_role(user: User | None, tenant: Tenant) -> str | None:
    """The user's staff role in ``tenant`` (None for strangers and portal users)."""
    if user is None:
        return None
    role = (
        Membership.objects.filter(user=user, tenant=tenant).values_list("role", flat=True).first()
    )
    return role if role in STAFF_ROLES else None


def may_change_session(session: RemoteSession, user: User, role: str | None) -> bool:
    """Own sessions with LOG_WORK; anyone's with MANAGE_WORK."""
    if role_can(role, Cap.MANAGE_WORK):
        return True
    return role_can(role, Cap.LOG_WORK) and session.technician_id == user.pk


def _require_may_change(session: RemoteSession, actor: User, tenant: Tenant) -> None:
    if not may_change_session(session, actor, member_role(actor, tenant)):
        raise PermissionDenied("You can only change your own sessions.")


def _check_technician(technician: User | None, actor: User, tenant: Tenant, errors: dict) -> None:
    if technician is None:
        errors["technician"] = "Choose the technician."
        return
    role = member_role(technician, tenant)
    if role is None or not role_can(role, Cap.LOG_WORK):
        errors["technician"] = "Technician not found."
        return
    if technician.pk != actor.pk and not role_can(member_role(actor, tenant), Cap.MANAGE_WORK):
        raise PermissionDenied("You can only log sessions for yourself.")


def _running_timer(technician: User, exclude_pk: int | None = None) -> RemoteSession | None:
    queryset = RemoteSession.objects.select_related("host").filter(
        technician=technician, ended_at__isnull=True
    )
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    return queryset.first()


def _local(value: dt.datetime, tenant: Tenant) -> str:
    return f"{value.astimezone(tenant.zone):%Y-%m-%d %H:%M}"


def _check_span_and_overlap(
    *,
    tenant: Tenant,
    technician: User | None,
    started_at: dt.datetime | None,
    ended_at: dt.datetime | None,
    exclude_pk: int | None,
    errors: dict,
) -> None:
    if started_at is None:
        errors["started_at"] = "Enter the start."
    for name, message in importers.check_span(started_at, ended_at, _now()).items():
        errors.setdefault(name, message)
    if technician is None or started_at is None or ended_at is None or "ended_at" in errors:
        return
    running = _running_timer(technician, exclude_pk=exclude_pk)
    if running is not None and ended_at > running.started_at:
        errors["ended_at"] = (
            f"Overlaps the timer running on {running.host.name} since "
            f"{_local(running.started_at, tenant)}; stop that timer first."
        )


def _set_span(session: RemoteSession) -> None:
    session.duration_seconds = (
        int((session.ended_at - session.started_at).total_seconds()) if session.ended_at else 0
    )


def _save_session(session: RemoteSession) -> None:
    try:
        with transaction.atomic():
            session.save()
    except IntegrityError as exc:
        # The constraints checked above can still be raced by a concurrent writer.
        if session.ended_at is None:
            raise ValidationError({"host": "You already have a running timer."}) from exc
        if session.external_id:
            raise ValidationError(
                {"external_id": "A session with this external id already exists."}
            ) from exc
        raise ValidationError(
            {"started_at": "This computer already has a session with the same start and end."}
        ) from exc


@transaction.atomic
def session_timer_start(
    *, host: Host, technician: User, comment: str = "", billable: bool = True
) -> RemoteSession:
    """Start a timer now. A technician has at most one running timer (also a DB constraint)."""
    tenant = require_current_tenant()
    errors: dict[str, str] = {}
    _check_tenant(host, tenant, "host", "Computer", errors)
    _check_technician(technician, technician, tenant, errors)
    if not errors:
        running = _running_timer(technician)
        if running is not None:
            errors["host"] = (
                f"A timer is already running on {running.host.name} since "
                f"{_local(running.started_at, tenant)}; stop it first."
            )
    if errors:
        raise ValidationError(errors)
    session = RemoteSession(
        tenant=tenant,
        host=host,
        technician=technician,
        started_at=_now(),
        comment=comment.strip(),
        billable=billable,
        source=SessionSource.TIMER,
    )
    _save_session(session)
    return session


@transaction.atomic
def session_timer_stop(
    *, session: RemoteSession, actor: User, ended_at: dt.datetime | None = None
) -> RemoteSession:
    """Stop a running timer now (or at ``ended_at``, for a timer left running too long)."""
    tenant = require_current_tenant()
    session = RemoteSession.objects.select_for_update().get(pk=session.pk)
    _require_may_change(session, actor, tenant)
    if session.ended_at is not None:
        raise ValidationError({"ended_at": "This session is not running."})
    now = _now()
    if ended_at is None:
        if now - session.started_at > importers.MAX_SESSION:
            raise ValidationError(
                {
                    "ended_at": "This timer has been running for more than 24 h; "
                    "enter the time you actually finished."
                }
            )
        # A stop within the first second still makes a valid one-second session.
        ended_at = max(now, session.started_at + dt.timedelta(seconds=1))
    else:
        ended_at = _whole_seconds(ended_at)
        errors = importers.check_span(session.started_at, ended_at, now)
        if errors:
            raise ValidationError(errors)
    session.ended_at = ended_at
    _set_span(session)
    _save_session(session)
    return session


@transaction.atomic
def session_create(
    *,
    host: Host,
    technician: User,
    started_at: dt.datetime,
    ended_at: dt.datetime,
    actor: User,
    comment: str = "",
    billable: bool = True,
    external_id: str = "",
) -> RemoteSession:
    """Log a finished session by hand.

    Refused: end before start, end in the future, longer than 24 h, a host of another
    tenant, overlapping the technician's running timer, someone else's session
    without MANAGE_WORK.
    """
    tenant = require_current_tenant()
    started_at, ended_at = _whole_seconds(started_at), _whole_seconds(ended_at)
    errors: dict[str, str] = {}
    _check_tenant(host, tenant, "host", "Computer", errors)
    _check_technician(technician, actor, tenant, errors)
    if ended_at is None:
        errors["ended_at"] = "Enter the end, or start a timer instead."
    _check_span_and_overlap(
        tenant=tenant,
        technician=technician if "technician" not in errors else None,
        started_at=started_at,
        ended_at=ended_at,
        exclude_pk=None,
        errors=errors,
    )
    external_id = (external_id or "").strip()
    if external_id and RemoteSession.objects.filter(external_id=external_id).exists():
        errors["external_id"] = "A session with this external id already exists."
    if (
        not errors
        and RemoteSession.objects.filter(
            host=host, started_at=started_at, ended_at=ended_at
        ).exists()
    ):
        errors["started_at"] = "This computer already has a session with the same start and end."
    if errors:
        raise ValidationError(errors)
    session = RemoteSession(
        tenant=tenant,
        host=host,
        technician=technician,
        started_at=started_at,
        ended_at=ended_at,
        comment=(comment or "").strip(),
        billable=billable,
        source=SessionSource.MANUAL,
        external_id=external_id,
    )
    _set_span(session)
    _save_session(session)
    return session


SESSION_UPDATE_FIELDS = ("host", "comment", "billable", "started_at", "ended_at")


@transaction.atomic
def session_update(
    *,
    session: RemoteSession,
    actor: User,
    host: Host | Unset = UNSET,
    comment: str | Unset = UNSET,
    billable: bool | Unset = UNSET,
    started_at: dt.datetime | Unset = UNSET,
    ended_at: dt.datetime | Unset | None = UNSET,
) -> RemoteSession:
    """Change a session's comment, billable flag, host or times, until it is billed.

    The row is locked first, so an invoice claiming the session at the same moment
    either sees the change or makes this call fail; a billed session is never edited.
    """
    data = provided(
        host=host, comment=comment, billable=billable, started_at=started_at, ended_at=ended_at
    )
    reject_unknown_fields(data, SESSION_UPDATE_FIELDS)
    tenant = require_current_tenant()
    session = RemoteSession.objects.select_for_update().get(pk=session.pk)
    _require_may_change(session, actor, tenant)
    if session.invoice_line_id is not None:
        raise ValidationError(BILLED_MESSAGE)
    errors: dict[str, str] = {}
    if "host" in data:
        _check_tenant(data["host"], tenant, "host", "Computer", errors)
        if data["host"] is None:
            errors["host"] = "Choose the computer."
    for name in ("started_at", "ended_at"):
        if name in data:
            data[name] = _whole_seconds(data[name])
    if session.is_running and data.get("ended_at") is not None:
        errors["ended_at"] = "Stop the timer to set its end."
    if not session.is_running and "ended_at" in data and data["ended_at"] is None:
        errors["ended_at"] = "Enter the end."
    if errors:
        raise ValidationError(errors)
    for name, value in data.items():
        setattr(session, name, value.strip() if name == "comment" else value)
    if {"started_at", "ended_at"} & set(data):
        _check_span_and_overlap(
            tenant=tenant,
            technician=session.technician,
            started_at=session.started_at,
            ended_at=session.ended_at,
            exclude_pk=session.pk,
            errors=errors,
        )
    if errors:
        raise ValidationError(errors)
    _set_span(session)
    _save_session(session)
    return session


@transaction.atomic
def session_delete(*, session: RemoteSession, actor: User) -> None:
    """Delete an unbilled session (conditional delete: never one an invoice just claimed)."""
    tenant = require_current_tenant()
    _require_may_change(session, actor, tenant)
    deleted, _ = RemoteSession.objects.filter(pk=session.pk, invoice_line__isnull=True).delete()
    if not deleted:
        raise ValidationError(BILLED_MESSAGE)


# Import ----------------------------------------------------------------------------------


class ImportSettingsRequired(ValidationError):
    """The file can only be read once the user chooses a setting (the date format).

    ``date_format_choices`` lists the formats the data allows, for a form to offer.
    """

    def __init__(self, message: str, choices: list[str]):
        super().__init__({"date_format": [message]})
        self.date_format_choices = choices


@dataclass
class ImportRow:
    """One data row of an import, as shown in the preview."""

    line: int
    host: str
    group: str
    technician: str
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    comment: str
    external_id: str
    device_id: str = ""
    start_text: str = ""
    end_text: str = ""
    status: str = "new"  # new | duplicate | skipped | error
    notes: list[str] = field(default_factory=list)
    errors: list[importers.RowError] = field(default_factory=list)

    @property
    def duration_seconds(self) -> int | None:
        if self.started_at is None or self.ended_at is None or self.ended_at <= self.started_at:
            return None
        return int((self.ended_at - self.started_at).total_seconds())

    def as_dict(self) -> dict:
        seconds = self.duration_seconds
        return {
            "line": self.line,
            "status": self.status,
            "host": self.host,
            "device_id": self.device_id,
            "group": self.group,
            "technician": self.technician,
            "start_text": self.start_text,
            "end_text": self.end_text,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "duration_seconds": seconds,
            "duration": format_duration(seconds) if seconds is not None else None,
            "comment": self.comment,
            "external_id": self.external_id,
            "notes": self.notes,
            "errors": [error.as_dict() for error in self.errors],
        }


@dataclass
class ImportResult:
    """What an import did (or, on a dry run, would do)."""

    format: str
    zone: str
    dry_run: bool
    rows: list[ImportRow]
    ignored_columns: list[str] = field(default_factory=list)
    date_format: str = importers.DATE_FORMAT_ISO
    date_format_choices: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    imported: bool = False
    sessions_created: int = 0
    hosts_created: int = 0
    groups_created: int = 0
    # Computers not found: {"name", "device_id", "group", "rows", "create"} (create:
    # ticked; a row of one not ticked is an error).
    new_hosts: list[dict] = field(default_factory=list)
    # Technician names of the file matching no staff member (an alias can be added).
    unmatched_technicians: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[importers.RowError]:
        return [error for row in self.rows for error in row.errors]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def duplicates(self) -> int:
        return sum(1 for row in self.rows if row.status == "duplicate")

    @property
    def skipped(self) -> int:
        return sum(1 for row in self.rows if row.status == "skipped")

    @property
    def format_label(self) -> str:
        return importers.FORMAT_LABELS.get(self.format, self.format)

    @property
    def date_format_label(self) -> str:
        return importers.DATE_FORMATS.get(self.date_format, self.date_format)

    def as_dict(self) -> dict:
        return {
            "format": self.format,
            "format_label": self.format_label,
            "time_zone": self.zone,
            "date_format": self.date_format,
            "date_format_choices": self.date_format_choices,
            "dry_run": self.dry_run,
            "imported": self.imported,
            "sessions_created": self.sessions_created,
            "hosts_created": self.hosts_created,
            "groups_created": self.groups_created,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "ignored_columns": self.ignored_columns,
            "notes": self.notes,
            "new_hosts": self.new_hosts,
            "unmatched_technicians": self.unmatched_technicians,
            "errors": [error.as_dict() for error in self.errors],
            "rows": [row.as_dict() for row in self.rows],
        }


def read_upload(file) -> str:
    """Decoded text of an uploaded file, bytes or str; ValidationError on ``file``."""
    if isinstance(file, str):
        try:
            return importers.check_text(file)
        except importers.FileFormatError as exc:
            raise ValidationError({"file": str(exc)}) from exc
    # Before reading: the size is known from the upload (settings.UPLOAD_LIMITS).
    check_upload_size(file, kind="session_log")
    data = file if isinstance(file, bytes) else file.read()
    if isinstance(data, str):
        return read_upload(data)
    try:
        return importers.decode(data)
    except importers.FileFormatError as exc:
        raise ValidationError({"file": str(exc)}) from exc


def _check_zone(zone: str | None) -> str | None:
    zone = (zone or "").strip() or None
    if zone is not None:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                {"time_zone": f"“{zone}” is not a known IANA time zone (e.g. Europe/Paris)."}
            ) from None
    return zone


def _check_reading(fmt: str, date_format: str | None) -> str:
    if fmt != importers.FORMAT_AUTO and fmt not in importers.LAYOUTS:
        raise ValidationError(
            {"format": f"Unknown format “{fmt}”: use auto or {', '.join(importers.LAYOUTS)}."}
        )
    date_format = (date_format or "").strip() or importers.DATE_FORMAT_AUTO
    if date_format != importers.DATE_FORMAT_AUTO and date_format not in importers.DATE_FORMATS:
        raise ValidationError(
            {
                "date_format": f"Unknown date format “{date_format}”: use auto, "
                f"{', '.join(importers.DATE_FORMATS)}."
            }
        )
    return date_format


class _Members:
    """The tenant's staff, looked up by username, saved alias (``TechnicianAlias``),
    e-mail or full name (case-insensitive)."""

    def __init__(self, tenant: Tenant):
        memberships = Membership.objects.filter(
            tenant=tenant, role__in=list(STAFF_ROLES)
        ).select_related("user")
        self.roles: dict[int, str] = {}
        self.by_username: dict[str, User] = {}
        by_other: dict[str, list[User]] = {}
        for membership in memberships:
            user = membership.user
            self.roles[user.pk] = membership.role
            self.by_username[user.username.lower()] = user
            for key in {user.email.lower(), user.get_full_name().lower()} - {""}:
                by_other.setdefault(key, []).append(user)
        self.by_other = by_other
        self.tenant = tenant
        self._by_alias: dict[str, User] | None = None

    @property
    def by_alias(self) -> dict[str, User]:
        """Saved aliases, read once, on the first name that is not a username."""
        if self._by_alias is None:
            staff = {user.pk: user for user in self.by_username.values()}
            with tenant_context(self.tenant):
                self._by_alias = {
                    alias.lower(): staff[user_id]
                    for alias, user_id in TechnicianAlias.objects.values_list("alias", "user_id")
                    if user_id in staff
                }
        return self._by_alias

    def find(self, name: str) -> tuple[User | None, str]:
        key = name.strip().lower()
        user = self.by_username.get(key) or self.by_alias.get(key)
        if user is not None:
            return user, ""
        candidates = self.by_other.get(key, [])
        if len(candidates) == 1:
            return candidates[0], ""
        if len(candidates) > 1:
            return None, (
                f"“{name}” matches several staff members; use the username, or add "
                f"“{name}” as an alias of one of them."
            )
        return None, (
            f"“{name}” is not a username of a staff member of this MSP (nor an e-mail, full "
            f"name or alias); add “{name}” as an alias of the right person."
        )

    def logs_work(self, user: User) -> bool:
        return role_can(self.roles.get(user.pk), Cap.LOG_WORK)


def session_import(
    *,
    tenant: Tenant,
    file,
    fmt: str = importers.FORMAT_AUTO,
    zone: str | None = None,
    date_format: str | None = importers.DATE_FORMAT_AUTO,
    technician: User | None = None,
    host: str = "",
    dry_run: bool = False,
    actor: User | None = None,
    mapping: dict | None = None,
    create_hosts: Collection[str] | None = None,
    profile: ImportProfile | None = None,
) -> ImportResult:
    """Import a session log file, all or nothing.

    ``mapping`` (field -> header or 1-based column number) replaces the layout's columns.
    ``create_hosts`` names the new computers to create (case-insensitive); a row of
    another computer found neither by device id nor by name is a row error, so a typo
    never creates a computer nor is left out unseen. None creates every new computer
    (the TeamViewer pull, which has no preview). ``profile`` supplies the layout, date
    format, zone and mapping not given; a profile whose columns the file lacks is an
    error (on ``profile``) naming them.

    The file's layout is recognised from its content (``fmt`` forces one). Dates are
    read in ``date_format`` ("auto": the one format the data allows; when day and
    month are ambiguous, ImportSettingsRequired names the formats to choose from);
    times without an offset in ``zone`` (default: the zone the layout's tool writes,
    else the tenant's). Rows without a technician are ``technician``'s (default: the
    actor); rows without a computer are ``host``'s.

    Every row is checked first (times, 24 h limit, technician is a staff member,
    without MANAGE_WORK only the actor's own sessions). Rows already imported
    (same external id, else same host + start + end), also repeated within the
    file, are skipped and reported as duplicates, so importing a file twice creates
    nothing the second time. With any row error nothing is written and
    ``imported`` is False. Unknown groups and hosts are created in the same
    transaction as the sessions; a new group is linked to the customer of the same
    name, if there is one. ``dry_run`` checks and counts without writing.
    """
    if profile is not None:
        if fmt == importers.FORMAT_AUTO:
            fmt = profile.file_format or importers.FORMAT_AUTO
        if (date_format or importers.DATE_FORMAT_AUTO) == importers.DATE_FORMAT_AUTO:
            date_format = profile.date_format or importers.DATE_FORMAT_AUTO
        zone = zone or profile.time_zone or None
    zone = _check_zone(zone)
    date_format = _check_reading(fmt, date_format)
    host = (host or "").strip()
    if len(host) > importers.FIELD_MAX_LENGTHS["host"]:
        raise ValidationError({"host": "At most 200 characters."})
    text = read_upload(file)
    if profile is not None and not mapping:
        mapping = _profile_mapping(profile, text, fmt)
    with tenant_context(tenant), transaction.atomic():
        try:
            parsed = importers.parse(
                text,
                fmt=fmt,
                zone=zone,
                default_zone=tenant.time_zone,
                date_format=date_format,
                host=host,
                now=_now(),
                mapping=mapping or None,
            )
        except importers.DateFormatRequired as exc:
            raise ImportSettingsRequired(str(exc), exc.choices) from exc
        except importers.FileFormatError as exc:
            raise ValidationError({"file": str(exc)}) from exc
        plan = _ImportPlan(
            tenant=tenant,
            parsed=parsed,
            actor=actor,
            default_technician=technician or actor,
            create_hosts=create_hosts,
        )
        result = plan.check(dry_run=dry_run)
        if dry_run or not result.ok:
            return result
        try:
            with transaction.atomic():
                plan.write()
        except IntegrityError as exc:
            raise ValidationError(
                {
                    "file": "Another import or edit changed the same computers or sessions "
                    "at the same moment; nothing was imported. Try again."
                }
            ) from exc
        result.imported = True
        return result


def find_hosts(names: set[str], device_ids: set[str]) -> tuple[dict[str, Host], dict[str, Host]]:
    """The current tenant's computers named (lower case) ``names`` or with one of
    ``device_ids``, by lower-case name and by device id; one query."""
    by_name: dict[str, Host] = {}
    for host in Host.objects.annotate(lname=Lower("name")).filter(
        Q(lname__in=names) | Q(external_id__in=device_ids)
    ):
        # Names are unique regardless of case (host_create checks), so one host per key.
        by_name.setdefault(host.lname, host)
    by_external_id = {host.external_id: host for host in by_name.values() if host.external_id}
    return by_name, by_external_id


def host_of(
    name: str, device_id: str, by_name: dict[str, Host], by_external_id: dict[str, Host]
) -> Host | None:
    """A row's computer: by device id first, then by name."""
    if device_id and device_id in by_external_id:
        return by_external_id[device_id]
    return by_name.get(name.lower())


def not_chosen(name: str) -> str:
    return (
        f"Computer “{name}” is found neither by device id nor by name and is not chosen to "
        "be created: tick it under New computers (API: name it in create_hosts), or correct "
        "the name in the file."
    )


class NewHosts:
    """The computers of a file found neither by device id nor by name, one per name (rows
    sharing a device id are one computer), in the order first met, as the preview lists
    them: {"name", "device_id", "group", "rows", "create"}; ``create``: among
    ``create_hosts`` (None: all)."""

    def __init__(self, create_hosts: Collection[str] | None):
        self.create_hosts = (
            None if create_hosts is None else {name.strip().lower() for name in create_hosts}
        )
        self.found: dict[str, dict] = {}
        self.by_external_id: dict[str, str] = {}  # device id -> key in found

    def add(self, name: str, device_id: str, group: str, rows: int = 1) -> tuple[str, dict]:
        key = self.by_external_id.get(device_id, name.lower())
        listed = self.found.get(key)
        if listed is None:
            listed = self.found[key] = {
                "name": name,
                "device_id": device_id,
                "group": group,
                "rows": 0,
                "create": self.create_hosts is None or key in self.create_hosts,
            }
        listed["rows"] += rows
        if device_id:
            self.by_external_id.setdefault(device_id, key)
        return key, listed

    def listed(self) -> list[dict]:
        return list(self.found.values())


class _ImportPlan:
    """Resolves parsed rows against the database with a fixed number of queries."""

    def __init__(
        self,
        *,
        tenant: Tenant,
        parsed: importers.ParsedFile,
        actor: User | None,
        default_technician: User | None = None,
        create_hosts: Collection[str] | None = None,
    ):
        self.tenant = tenant
        self.parsed = parsed
        self.found_new_hosts = NewHosts(create_hosts)
        self.unmatched: list[str] = []
        self.actor = actor
        self.default_technician = default_technician
        self.members = _Members(tenant)
        self.actor_may_manage = actor is None or role_can(
            self.members.roles.get(actor.pk), Cap.MANAGE_WORK
        )
        rows = [row for row in parsed.rows if not row.skipped]
        host_names = {row.host.lower() for row in rows if row.host}
        host_ids = {row.host_external_id for row in rows if row.host_external_id}
        group_names = {row.group.lower() for row in rows if row.group}
        self.hosts_by_name, self.hosts_by_external_id = find_hosts(host_names, host_ids)
        self.groups_by_name = {
            group.lname: group
            for group in HostGroup.objects.annotate(lname=Lower("name")).filter(
                lname__in=group_names
            )
        }
        self.organizations_by_name = {
            org.lname: org
            for org in Organization.objects.annotate(lname=Lower("name")).filter(
                lname__in=group_names - set(self.groups_by_name)
            )
        }
        external_ids = {row.external_id for row in rows if row.external_id}
        self.known_external_ids = set(
            RemoteSession.objects.filter(external_id__in=external_ids).values_list(
                "external_id", flat=True
            )
        )
        known_hosts = {host.pk for host in self.hosts_by_name.values()}
        starts = {row.started_at for row in rows if row.started_at}
        self.known_spans = set(
            RemoteSession.objects.filter(host_id__in=known_hosts, started_at__in=starts)
            .exclude(ended_at__isnull=True)
            .values_list("host_id", "started_at", "ended_at")
        )
        self.new_groups: dict[str, HostGroup] = {}
        self.new_hosts: dict[str, Host] = {}
        self.new_sessions: list[tuple[importers.ParsedRow, User, str]] = []

    def _host_for(self, row: importers.ParsedRow) -> Host | None:
        return host_of(
            row.host, row.host_external_id, self.hosts_by_name, self.hosts_by_external_id
        )

    def check(self, *, dry_run: bool) -> ImportResult:
        seen: dict[object, int] = {}
        result_rows: list[ImportRow] = []
        for row in self.parsed.rows:
            item = ImportRow(
                line=row.line,
                host=row.host,
                group=row.group,
                technician=row.technician,
                started_at=row.started_at,
                ended_at=row.ended_at,
                comment=row.comment,
                external_id=row.external_id,
                device_id=row.host_external_id,
                start_text=row.start_text,
                end_text=row.end_text,
                errors=list(row.errors),
            )
            result_rows.append(item)
            if row.skipped:
                item.status = "skipped"
                item.notes.append(row.skipped)
                continue
            if item.errors:
                item.status = "error"
                continue
            host = self._host_for(row)
            span_key = (host.pk if host else row.host.lower(), row.started_at, row.ended_at)
            file_key = ("id", row.external_id) if row.external_id else ("span", span_key)
            if file_key in seen:
                item.status = "duplicate"
                item.notes.append(f"Same session as line {seen[file_key]} of this file.")
                continue
            seen[file_key] = row.line
            if row.external_id and row.external_id in self.known_external_ids:
                item.status = "duplicate"
                item.notes.append("Already imported.")
                continue
            if host is not None and (host.pk, row.started_at, row.ended_at) in self.known_spans:
                item.status = "duplicate"
                item.notes.append("Already imported.")
                continue
            self._check_new_row(row, item, host)
        result = ImportResult(
            format=self.parsed.format,
            zone=self.parsed.zone,
            dry_run=dry_run,
            rows=result_rows,
            ignored_columns=self.parsed.ignored_columns,
            date_format=self.parsed.date_format,
            date_format_choices=self.parsed.date_format_choices,
            notes=list(self.parsed.notes),
        )
        layout_skips = sum(1 for row in self.parsed.rows if row.skipped)
        if layout_skips:
            result.notes.append(f"{layout_skips} row(s) skipped: {self._skip_reasons()}")
        result.new_hosts = self.found_new_hosts.listed()
        result.unmatched_technicians = list(self.unmatched)
        result.sessions_created = len(self.new_sessions)
        result.hosts_created = len(self.new_hosts)
        result.groups_created = len(self.new_groups)
        return result

    def _skip_reasons(self) -> str:
        return " ".join(sorted({row.skipped for row in self.parsed.rows if row.skipped}))

    def _technician_for(self, row: importers.ParsedRow, item: ImportRow) -> User | None:
        column = self.parsed.columns.get("technician", "technician")
        if not row.technician:
            technician = self.default_technician
            if technician is None:
                item.errors.append(
                    importers.RowError(
                        row.line,
                        column,
                        "The file names no technician for this row; choose one on the import form.",
                    )
                )
                return None
            item.technician = technician.username
            item.notes.append("Technician chosen on the form (the file names none).")
            message = f"“{technician.username}” does not log work in this MSP."
        else:
            technician, message = self.members.find(row.technician)
            if technician is not None:
                message = f"“{row.technician}” does not log work in this MSP."
            elif row.technician not in self.unmatched:
                self.unmatched.append(row.technician)
        if technician is not None and not self.members.logs_work(technician):
            technician = None
        if technician is None:
            item.errors.append(importers.RowError(row.line, column, message))
        elif not self.actor_may_manage and technician.pk != self.actor.pk:
            item.errors.append(
                importers.RowError(
                    row.line,
                    column,
                    "You can only import your own sessions; a billing admin can import everyone's.",
                )
            )
            technician = None
        return technician

    def _check_new_row(self, row: importers.ParsedRow, item: ImportRow, host: Host | None) -> None:
        host_key = row.host.lower()
        listed = None
        if host is None:
            # Listed as new even when the row has another error, so all can be ticked.
            host_key, listed = self.found_new_hosts.add(row.host, row.host_external_id, row.group)
            if not listed["create"]:
                column = self.parsed.columns.get("host", "host")
                item.errors.append(importers.RowError(row.line, column, not_chosen(row.host)))
        technician = self._technician_for(row, item)
        if item.errors:
            item.status = "error"
            return
        if host is None:
            if host_key not in self.new_hosts:
                group = self._group_for(row, item)
                self.new_hosts[host_key] = Host(
                    tenant=self.tenant,
                    name=row.host,
                    external_id=row.host_external_id,
                    group=group,
                    organization=group.organization if group is not None else None,
                )
                item.notes.append("New computer.")
            elif row.host_external_id and not self.new_hosts[host_key].external_id:
                self.new_hosts[host_key].external_id = row.host_external_id
        self.new_sessions.append((row, technician, host_key))

    def _group_for(self, row: importers.ParsedRow, item: ImportRow) -> HostGroup | None:
        if not row.group:
            return None
        key = row.group.lower()
        if key in self.groups_by_name:
            return self.groups_by_name[key]
        if key not in self.new_groups:
            self.new_groups[key] = HostGroup(
                tenant=self.tenant,
                name=row.group,
                organization=self.organizations_by_name.get(key),
            )
            item.notes.append("New group.")
        return self.new_groups[key]

    def write(self) -> None:
        for group in self.new_groups.values():
            group.save()
        for host in self.new_hosts.values():
            # Django takes the group's new id from the (now saved) related object.
            host.save()
        RemoteSession.objects.bulk_create(self.session_objects(), batch_size=500)

    def session_objects(self) -> list[RemoteSession]:
        """The planned sessions as unsaved rows, each on its (now saved) host."""
        sessions = []
        for row, technician, host_key in self.new_sessions:
            host = self.new_hosts.get(host_key) or self._host_for(row)
            sessions.append(
                RemoteSession(
                    tenant=self.tenant,
                    host_id=host.pk,
                    technician=technician,
                    started_at=row.started_at,
                    ended_at=row.ended_at,
                    duration_seconds=row.duration_seconds,
                    comment=row.comment,
                    billable=True,
                    source=SessionSource.IMPORT,
                    external_id=row.external_id,
                )
            )
        return sessions


def _staged_reading(staged: SessionImport) -> dict:
    return {
        "fmt": staged.file_format,
        "zone": staged.time_zone or None,
        "date_format": staged.date_format or importers.DATE_FORMAT_AUTO,
        "technician": staged.default_technician,
        "host": staged.host_name,
        "mapping": staged.mapping or None,
        "create_hosts": list(staged.create_hosts or []),
    }


MAPPING_GUESSED = "guessed"
MAPPING_USER = "user"
MAPPING_PROFILE = "profile"


HEAD_LINES = importers.COLUMN_ROWS + 10  # more than the mapping step reads of a file


def head_text(text: str) -> str:
    """The first lines of a CSV file, all the mapping step reads of it; a JSON file whole."""
    if text.lstrip("\ufeff").lstrip()[:1] in ("[", "{"):
        return text
    end = -1
    for _ in range(HEAD_LINES):
        end = text.find("\n", end + 1)
        if end < 0:
            return text
    return text[: end + 1]


def _file_columns(text: str, fmt: str) -> tuple[list[str], bool]:
    """The columns of ``text`` as the mapping step names them, and whether it has a header."""
    text = head_text(text)
    table = importers.read_table(text)
    layout = importers.LAYOUTS.get(fmt) if fmt != importers.FORMAT_AUTO else None
    layout = layout or importers.detect_layout(text, table)
    has_header = importers.file_has_header(table, layout)
    return importers.column_names(table, has_header), has_header


def _profile_mapping(profile: ImportProfile, text: str, fmt: str) -> dict[str, int]:
    """The profile's mapping resolved against the file (field -> 1-based column number);
    ValidationError on ``profile`` naming the columns the file does not have."""
    try:
        columns, has_header = _file_columns(text, fmt)
        indexes = importers.resolve_mapping(profile.mapping, columns, has_header)
    except importers.FileFormatError as exc:
        raise ValidationError(
            {"profile": f"The import profile “{profile.name}” does not fit this file: {exc}"}
        ) from exc
    return {name: index + 1 for name, index in indexes.items()}


def stage_mapping(
    tenant: Tenant, text: str, fmt: str, profile: ImportProfile | None
) -> tuple[dict[str, int], str]:
    """The mapping an upload is staged with, and where it comes from: the profile's, a
    guess from the headers for a file of no known layout (to be confirmed), else none
    (the layout's own columns)."""
    if profile is not None:
        with tenant_context(tenant):
            return _profile_mapping(profile, text, fmt), MAPPING_PROFILE
    try:
        proposal = importers.propose_mapping(head_text(text), fmt=fmt)
    except importers.FileFormatError as exc:
        raise ValidationError({"file": str(exc)}) from exc
    if proposal.layout is None:
        return {name: index + 1 for name, index in proposal.mapping.items()}, MAPPING_GUESSED
    return {}, ""


def require_mapping_confirmed(staged: SessionImport) -> None:
    if staged.mapping_source == MAPPING_GUESSED:
        raise ValidationError(
            {
                "mapping": "The columns were guessed from their headers: check and confirm "
                "them in the mapping step first."
            }
        )


@transaction.atomic
def session_import_stage(
    *,
    tenant: Tenant,
    actor: User,
    file,
    filename: str = "",
    fmt: str = importers.FORMAT_AUTO,
    zone: str | None = None,
    date_format: str | None = importers.DATE_FORMAT_AUTO,
    technician: User | None = None,
    host: str = "",
    profile: ImportProfile | None = None,
) -> tuple[SessionImport, ImportResult | None]:
    """Check an uploaded file (dry run) and keep it for the mapping step and confirmation.

    Raises ValidationError when the file as a whole is unreadable; row errors are
    in the result. ``profile`` (an ``ImportProfile``) sets the layout, mapping, date
    format and zone; a profile whose columns the file lacks is an error naming them. A
    file of no known layout gets a mapping guessed from its headers, to be confirmed in
    the mapping step. When the date format must be chosen first, or the guessed mapping
    is not enough to read the file, the file is kept and the result is None (the preview
    asks). Pending uploads older than a day are purged here.
    """
    text = read_upload(file)
    if profile is not None:
        fmt = profile.file_format or fmt
        date_format = profile.date_format or date_format
        zone = profile.time_zone or zone
    zone = _check_zone(zone)
    date_format = _check_reading(fmt, date_format)
    mapping, source = stage_mapping(tenant, text, fmt, profile)
    try:
        result = session_import(
            tenant=tenant,
            file=text,
            fmt=fmt,
            zone=zone,
            date_format=date_format,
            technician=technician,
            host=host,
            dry_run=True,
            actor=actor,
            mapping=mapping or None,
            create_hosts=(),
        )
    except ImportSettingsRequired:
        result = None
    except ValidationError:
        if source != MAPPING_GUESSED:
            raise
        result = None  # the mapping step says what is missing
    with tenant_context(tenant):
        SessionImport.objects.filter(
            status=ImportStatus.PENDING, created_at__lt=timezone.now() - dt.timedelta(days=1)
        ).delete()
        staged = SessionImport.objects.create(
            tenant=tenant,
            uploaded_by=actor,
            filename=(filename or "")[:255],
            content=text,
            file_format=fmt,
            time_zone=zone or "",
            date_format="" if date_format == importers.DATE_FORMAT_AUTO else date_format,
            host_name=(host or "").strip(),
            default_technician=technician or actor,
            mapping=mapping,
            mapping_source=source,
        )
    return staged, result


def session_import_preview(*, staged: SessionImport, actor: User) -> ImportResult:
    """The staged file checked again against today's data (read-only).

    Raises ImportSettingsRequired while the date format is still to be chosen.
    """
    return session_import(
        tenant=staged.tenant,
        file=staged.content,
        dry_run=True,
        actor=actor,
        **_staged_reading(staged),
    )


def session_import_columns(staged: SessionImport) -> importers.ColumnProposal:
    """The mapping step of a staged file: its columns, first rows and current mapping."""
    proposal = importers.propose_mapping(head_text(staged.content), fmt=staged.file_format)
    if staged.mapping:
        proposal.mapping = {name: int(number) - 1 for name, number in staged.mapping.items()}
        proposal.guessed = staged.mapping_source == MAPPING_GUESSED
    return proposal


def _require_uploader_or_manager(staged: SessionImport, actor: User) -> None:
    if staged.uploaded_by_id != actor.pk and not role_can(
        member_role(actor, staged.tenant), Cap.MANAGE_WORK
    ):
        raise PermissionDenied("Only the person who uploaded this file can import it.")


def _lock_pending(staged: SessionImport, actor: User) -> SessionImport:
    staged = SessionImport.objects.select_for_update().get(pk=staged.pk)
    _require_uploader_or_manager(staged, actor)
    if staged.status != ImportStatus.PENDING:
        raise ValidationError("This file has already been imported.")
    return staged


@transaction.atomic
def session_import_settings(
    *,
    staged: SessionImport,
    actor: User,
    date_format: str | None = importers.DATE_FORMAT_AUTO,
    zone: str | None = None,
) -> SessionImport:
    """Change how a pending upload is read (date format, zone of times without offset)."""
    tenant = staged.tenant
    zone = _check_zone(zone)
    date_format = _check_reading(staged.file_format, date_format)
    with tenant_context(tenant):
        staged = _lock_pending(staged, actor)
        staged.date_format = "" if date_format == importers.DATE_FORMAT_AUTO else date_format
        staged.time_zone = zone or ""
        staged.save(update_fields=["date_format", "time_zone"])
    return staged


@transaction.atomic
def session_import_mapping(
    *, staged: SessionImport, actor: User, columns: list[str]
) -> SessionImport:
    """The mapping step's answer: one field (or "" to ignore) per column of the file.

    ValidationError on ``mapping``: no start, neither end nor duration, a field mapped
    to two columns (both named).
    """
    with tenant_context(staged.tenant):
        staged = _lock_pending(staged, actor)
        names, _ = _file_columns(staged.content, staged.file_format)
        choices = list(columns)[: len(names)] + [""] * (len(names) - len(columns))
        try:
            indexes = importers.mapping_from_columns(choices, names)
        except importers.FileFormatError as exc:
            raise ValidationError({"mapping": str(exc)}) from exc
        staged.mapping = {name: index + 1 for name, index in indexes.items()}
        staged.mapping_source = MAPPING_USER
        staged.save(update_fields=["mapping", "mapping_source"])
    return staged


@transaction.atomic
def session_import_hosts(
    *,
    staged: SessionImport,
    actor: User,
    create_hosts: Collection[str],
    shown: Collection[str] | None = None,
) -> SessionImport:
    """Which new computers of a pending upload are created (names, any case).

    ``shown`` (a page of a long list): only those are decided here, the choice of the
    others is kept.
    """
    with tenant_context(staged.tenant):
        staged = _lock_pending(staged, actor)
        chosen = {name.strip().lower() for name in create_hosts if name.strip()}
        if shown is not None:
            decided = {name.strip().lower() for name in shown}
            chosen |= set(staged.create_hosts or ()) - decided
        staged.create_hosts = sorted(chosen)
        staged.save(update_fields=["create_hosts"])
    return staged


@transaction.atomic
def session_import_confirm(
    *, staged: SessionImport, actor: User, create_hosts: Collection[str] | None = None
) -> ImportResult:
    """Import a staged file once: the row is locked, re-checked, imported, marked imported.

    ``create_hosts`` (the ticked new computers), when given, replaces the staged choice.
    A mapping guessed from the headers must be confirmed in the mapping step first.
    """
    tenant = staged.tenant
    with tenant_context(tenant):
        staged = _lock_pending(staged, actor)
        require_mapping_confirmed(staged)
        if create_hosts is not None:
            staged.create_hosts = sorted({name.strip().lower() for name in create_hosts if name})
            staged.save(update_fields=["create_hosts"])
        result = session_import(
            tenant=tenant,
            file=staged.content,
            dry_run=False,
            actor=actor,
            **_staged_reading(staged),
        )
        if result.imported:
            staged_import_mark_done(staged, result)
    return result


def staged_import_mark_done(staged: SessionImport, counts) -> None:
    """Record on the staged file that it was imported, with what it created (``counts``:
    anything with ``sessions_created``, ``hosts_created`` and ``groups_created``)."""
    staged.status = ImportStatus.IMPORTED
    staged.imported_at = timezone.now()
    staged.sessions_created = counts.sessions_created
    staged.hosts_created = counts.hosts_created
    staged.groups_created = counts.groups_created
    staged.save(
        update_fields=[
            "status",
            "imported_at",
            "sessions_created",
            "hosts_created",
            "groups_created",
        ]
    )


# Import profiles and technician aliases --------------------------------------------------


def _clean_profile_mapping(mapping) -> dict[str, str | int]:
    if not isinstance(mapping, dict) or not mapping:
        raise ValidationError({"mapping": "Map at least the start and the end or duration."})
    cleaned: dict[str, str | int] = {}
    for name, column in mapping.items():
        if name not in importers.WIZARD_FIELDS:
            raise ValidationError(
                {"mapping": f"Unknown field “{name}”: use {', '.join(importers.WIZARD_FIELDS)}."}
            )
        if isinstance(column, bool) or not isinstance(column, int | str):
            raise ValidationError(
                {"mapping": f"{name}: a column's header or 1-based number, not {column!r}."}
            )
        if isinstance(column, int) and column < 1:
            raise ValidationError({"mapping": f"{name}: column numbers start at 1."})
        if isinstance(column, str):
            column = column.strip()
            if not column:
                continue
            if len(column) > 200:
                raise ValidationError({"mapping": f"{name}: at most 200 characters."})
        cleaned[name] = column
    columns = {str(column).lower() for column in cleaned.values()}
    if len(columns) < len(cleaned):
        raise ValidationError({"mapping": "A column is mapped to two fields."})
    if "start" not in cleaned:
        raise ValidationError({"mapping": "Map a column to start: every session needs one."})
    if "end" not in cleaned and "duration" not in cleaned:
        raise ValidationError(
            {
                "mapping": "Map a column to end or to duration: without either there is nothing "
                "to bill."
            }
        )
    return cleaned


@transaction.atomic
def import_profile_save(
    *,
    name: str,
    mapping: dict,
    file_format: str = importers.FORMAT_AUTO,
    date_format: str | None = "",
    time_zone: str | None = "",
    actor: User | None = None,
    profile: ImportProfile | None = None,
) -> ImportProfile:
    """Create (or, with ``profile``, change) a named import profile of the current tenant."""
    tenant = require_current_tenant()
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Enter a name."})
    if len(name) > 100:
        raise ValidationError({"name": "At most 100 characters."})
    date_format = _check_reading(file_format or importers.FORMAT_AUTO, date_format)
    zone = _check_zone(time_zone)
    cleaned = _clean_profile_mapping(mapping)
    if profile is None:
        profile = ImportProfile(tenant=tenant, created_by=actor)
    profile.name = name
    profile.file_format = file_format or importers.FORMAT_AUTO
    profile.mapping = cleaned
    profile.date_format = "" if date_format == importers.DATE_FORMAT_AUTO else date_format
    profile.time_zone = zone or ""
    if ImportProfile.objects.filter(name=name).exclude(pk=profile.pk).exists():
        raise ValidationError({"name": f"An import profile named “{name}” exists already."})
    _save_unique(profile, "name", f"An import profile named “{name}” exists already.")
    return profile


def import_profile_from_staged(*, staged: SessionImport, name: str, actor: User) -> ImportProfile:
    """Save how a staged file is read (layout, mapping, date format, zone) as a profile.

    Columns are kept by their header (by number for files without a header line), so
    the profile fits the tool's next export even if its columns move.
    """
    with tenant_context(staged.tenant):
        proposal = session_import_columns(staged)
        if proposal.has_header:
            mapping = {name_: proposal.columns[i] for name_, i in proposal.mapping.items()}
        else:
            mapping = {name_: i + 1 for name_, i in proposal.mapping.items()}
        fmt = staged.file_format
        if fmt == importers.FORMAT_AUTO and proposal.layout is not None:
            fmt = proposal.layout.key
        return import_profile_save(
            name=name,
            mapping=mapping,
            file_format=fmt,
            date_format=staged.date_format,
            time_zone=staged.time_zone,
            actor=actor,
        )


@transaction.atomic
def import_profile_delete(*, profile: ImportProfile) -> None:
    require_current_tenant()
    profile.delete()


@transaction.atomic
def technician_alias_create(*, alias: str, user: User, actor: User) -> TechnicianAlias:
    """Save ``alias`` (as a tool writes a technician's name) for ``user``, a staff member
    who logs work. Without MANAGE_WORK one may only add aliases of oneself."""
    tenant = require_current_tenant()
    alias = (alias or "").strip()
    if not alias:
        raise ValidationError({"alias": "Enter the name as the file writes it."})
    if len(alias) > 200:
        raise ValidationError({"alias": "At most 200 characters."})
    role = member_role(user, tenant)
    if not role_can(role, Cap.LOG_WORK) or role not in STAFF_ROLES:
        raise ValidationError({"user": "Not a staff member of this MSP who logs work."})
    if user.pk != actor.pk and not role_can(member_role(actor, tenant), Cap.MANAGE_WORK):
        raise PermissionDenied("Only a billing admin can add aliases of other people.")
    if (
        TechnicianAlias.objects.annotate(lalias=Lower("alias"))
        .filter(lalias=alias.lower())
        .exists()
    ):
        raise ValidationError({"alias": f"“{alias}” is already an alias."})
    created = TechnicianAlias(tenant=tenant, alias=alias, user=user)
    _save_unique(created, "alias", f"“{alias}” is already an alias.")
    return created


# TeamViewer Web API pull -----------------------------------------------------------------

# A first pull reaches this far back; later ones from the cursor, less the overlap.
TEAMVIEWER_FIRST_PULL = dt.timedelta(days=30)
# A connection still running at the last pull ends later but started before the cursor:
# asking again from a day before it (the longest session imported) never misses one.
TEAMVIEWER_OVERLAP = importers.MAX_SESSION
TEAMVIEWER_GROUP_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
TEAMVIEWER_ERRORS_KEPT = 50


def _check_token(token: str) -> str | None:
    if len(token) < 8 or len(token) > 1000:
        return "This does not look like a TeamViewer script token (8 to 1000 characters)."
    if any(char.isspace() for char in token) or not token.isprintable():
        return "A script token has no spaces or line breaks; paste it again."
    return None


# What the audit log records of the TeamViewer connection (never its token).
TEAMVIEWER_AUDITED_FIELDS = ("group_id", "token_last4")


@transaction.atomic
def teamviewer_connection_save(
    *, actor: User, token: str = "", group_id: str | Unset = UNSET
) -> TeamViewerConnection:
    """Create or change the tenant's TeamViewer connection.

    ``token`` (a script token) is required the first time; blank later keeps the stored
    one. It is encrypted before it is stored (``INTEGRATIONS_KEYS``) and never read back
    but by the pull. A new group filter starts the cursor again (the first pull's period),
    so the new group's earlier connections are fetched too; repeats are skipped.
    """
    tenant = require_current_tenant()
    connection = TeamViewerConnection.objects.select_for_update().first()
    token = (token or "").strip()
    errors: dict[str, str] = {}
    if token:
        problem = _check_token(token)
        if problem:
            errors["token"] = problem
    elif connection is None or not connection.has_token:
        errors["token"] = "Enter the script token."
    if provided(group_id=group_id):
        group_id = (group_id or "").strip()
        if group_id and not TEAMVIEWER_GROUP_ID.match(group_id):
            errors["group_id"] = (
                "Enter TeamViewer's group id (e.g. g12345678: letters and digits), or leave "
                "it empty for every group."
            )
    if errors:
        raise ValidationError(errors)
    previous = copy.copy(connection)
    if connection is None:
        connection = TeamViewerConnection(tenant=tenant)
    if token:
        try:
            connection.token_encrypted = crypto.encrypt(token)
        except ValidationError as exc:
            raise ValidationError({"token": exc.messages}) from exc
        connection.token_last4 = token[-4:]
        connection.saved_by = actor
    if provided(group_id=group_id) and group_id != connection.group_id:
        connection.group_id = group_id
        connection.pulled_until = None
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError as exc:
        raise ValidationError(
            {"token": "The TeamViewer connection was saved by someone else at the same moment."}
        ) from exc
    audit.record_changes(
        action=audit.Action.CONNECT if previous is None else audit.Action.UPDATE,
        target=connection,
        previous=previous,
        fields=TEAMVIEWER_AUDITED_FIELDS,
        # The token itself is never written to the log.
        extra_after={"token": "replaced"} if token else None,
    )
    return connection


@transaction.atomic
def teamviewer_connection_delete() -> None:
    """Forget the token and the cursor; sessions already imported stay."""
    require_current_tenant()
    for connection in TeamViewerConnection.objects.select_for_update():
        audit.record(
            action=audit.Action.DISCONNECT,
            target=connection,
            before=audit.values(connection, TEAMVIEWER_AUDITED_FIELDS),
        )
        connection.delete()


@transaction.atomic
def teamviewer_pull_request(*, actor: User | None = None) -> TeamViewerConnection:
    """ "Pull now": note the request and queue the pull once this transaction commits."""
    tenant = require_current_tenant()
    connection = TeamViewerConnection.objects.select_for_update().first()
    if connection is None or not connection.has_token:
        raise ValidationError({"token": "Save a TeamViewer script token first."})
    connection.pull_requested_at = timezone.now()
    connection.save(update_fields=["pull_requested_at", "updated_at"])
    from .tasks import teamviewer_pull_task

    tenant_id = tenant.pk
    # robust: a broker hiccup must not turn the saved request into an error page; the
    # scheduled pull comes anyway.
    transaction.on_commit(lambda: teamviewer_pull_task.delay(tenant_id), robust=True)
    return connection


@dataclass
class TeamViewerPullResult:
    """What one pull did; kept as the connection's ``last_result``."""

    status: str
    from_date: dt.datetime
    to_date: dt.datetime
    fetched: int = 0
    sessions_created: int = 0
    hosts_created: int = 0
    groups_created: int = 0
    duplicates: int = 0
    skipped: int = 0
    error_count: int = 0
    errors: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == PullStatus.OK

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "from_date": self.from_date.isoformat(),
            "to_date": self.to_date.isoformat(),
            "fetched": self.fetched,
            "sessions_created": self.sessions_created,
            "hosts_created": self.hosts_created,
            "groups_created": self.groups_created,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "error_count": self.error_count,
            "errors": self.errors,
            "error": self.error,
        }


def _record_row_errors(result: ImportResult) -> list[str]:
    lines = []
    for row in result.rows:
        for error in row.errors:
            record = row.external_id.removeprefix(importers.TEAMVIEWER_ID_PREFIX)
            where = f"connection {record}" if record else f"record {row.line}"
            what = ", ".join(part for part in (row.host, row.start_text) if part)
            where += f" ({what})" if what else ""
            column = f"“{error.column}”: " if error.column else ""
            lines.append(f"{where}: {column}{error.message}")
    return lines


def _save_pull(connection: TeamViewerConnection, outcome: TeamViewerPullResult, *, cursor=None):
    connection.last_run_at = timezone.now()
    connection.last_status = outcome.status
    connection.last_error = outcome.error
    connection.last_result = outcome.as_dict()
    fields = ["last_run_at", "last_status", "last_error", "last_result", "updated_at"]
    if cursor is not None and (connection.pulled_until is None or cursor > connection.pulled_until):
        connection.pulled_until = cursor
        fields.append("pulled_until")
    connection.save(update_fields=fields)


def teamviewer_pull(*, tenant: Tenant) -> TeamViewerPullResult | None:
    """Fetch the tenant's TeamViewer connections since the cursor and import them.

    Every page of the period is fetched first; the records then go through the file
    importer's TeamViewer Web API layout and write path (``session_import``), without a
    preview: hosts matched by device id, then name, and a device not found is created
    (there is no preview to tick it in, unlike a file's); technicians by user name,
    alias, e-mail or full name (records naming no user are the token saver's); connections already
    imported skipped by their id (``teamviewer:<id>``), so pulling again adds nothing.
    All or nothing per pull: with any record in error nothing is imported, and the
    errors are kept on the connection (``last_result``) as they would be for a file.
    API errors (401, 403, 429 after retries, 5xx, network) are kept as ``last_error``.
    None when the tenant has no connection.
    """
    from .teamviewer import TeamViewerClient, TeamViewerError

    with tenant_context(tenant):
        connection = TeamViewerConnection.objects.first()
        if connection is None or not connection.has_token:
            return None
        now = _now()
        if connection.pulled_until is not None:
            start = min(connection.pulled_until - TEAMVIEWER_OVERLAP, now - dt.timedelta(hours=1))
        else:
            start = now - TEAMVIEWER_FIRST_PULL
        outcome = TeamViewerPullResult(status=PullStatus.FAILED, from_date=start, to_date=now)
        try:
            token = crypto.decrypt(connection.token_encrypted)
            with TeamViewerClient(token) as client:
                records = client.connection_reports(
                    from_date=start, to_date=now, group_id=connection.group_id
                )
        except (TeamViewerError, ValidationError) as exc:
            outcome.error = (
                exc.message if isinstance(exc, TeamViewerError) else " ".join(exc.messages)
            )
            with transaction.atomic():
                current = (
                    TeamViewerConnection.objects.select_for_update()
                    .filter(pk=connection.pk)
                    .first()
                )
                if current is not None:  # not removed meanwhile
                    _save_pull(current, outcome)
            return outcome
        outcome.fetched = len(records)
        with transaction.atomic():
            # One pull at a time writes: a second one waits here, then finds the first
            # one's sessions already imported.
            connection = (
                TeamViewerConnection.objects.select_for_update().filter(pk=connection.pk).first()
            )
            if connection is None:  # removed while the report was fetched: import nothing
                return None
            if not records:
                outcome.status = PullStatus.OK
                _save_pull(connection, outcome)
                return outcome
            try:
                result = session_import(
                    tenant=tenant,
                    file=json.dumps({"records": records}),
                    fmt=importers.FORMAT_TEAMVIEWER_API,
                    technician=connection.saved_by,
                    actor=None,
                )
            except ValidationError as exc:
                outcome.error = "TeamViewer's records could not be imported: " + " ".join(
                    exc.messages
                )
                _save_pull(connection, outcome)
                return outcome
            outcome.duplicates = result.duplicates
            outcome.skipped = result.skipped
            if not result.imported:
                row_errors = _record_row_errors(result)
                outcome.status = PullStatus.ROWS_REFUSED
                outcome.error_count = len(row_errors)
                outcome.errors = row_errors[:TEAMVIEWER_ERRORS_KEPT]
                outcome.error = (
                    f"{len(row_errors)} error(s) in {len(records)} record(s), so nothing was "
                    "imported (all or nothing, as for files). Fix them — e.g. add the "
                    "TeamViewer user as a staff member (same username, e-mail or full name) "
                    "— and pull again."
                )
                _save_pull(connection, outcome)
                return outcome
            outcome.status = PullStatus.OK
            outcome.sessions_created = result.sessions_created
            outcome.hosts_created = result.hosts_created
            outcome.groups_created = result.groups_created
            ends = [
                row.ended_at
                for row in result.rows
                if row.status in ("new", "duplicate") and row.ended_at is not None
            ]
            _save_pull(connection, outcome, cursor=max(ends) if ends else None)
            return outcome
