"""Reads of hosts and remote sessions, scoped to the current tenant.

Totals (session count, overall duration) are computed by the database with
``annotate``/``aggregate`` at every level (group, host), so a page costs a fixed
number of queries whatever the number of rows. Date filters are calendar days in
the tenant's zone: ``date_to`` includes the whole of that day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from billing_site.models import Membership, User
from billing_site.roles import Cap, role_can
from billing_site.tenancy import require_current_tenant
from billing_site.timeutils import local_day_bounds

from .models import (
    Host,
    HostGroup,
    ImportProfile,
    ImportStatus,
    RemoteSession,
    SessionImport,
    TeamViewerConnection,
)

SCOPES = ("session", "host", "group")


@dataclass(frozen=True)
class SessionFilters:
    """What a session list is narrowed to. Ids, not objects, so it is cheap to pass around."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    host: int | None = None
    group: int | None = None
    organization: int | None = None
    technician: int | None = None
    billed: bool | None = None
    billable: bool | None = None
    zone: str | None = None  # default: the tenant's zone
    # A page whose filter was refused shows nothing rather than everything unfiltered.
    nothing: bool = False

    def bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        zone = self.zone or require_current_tenant().time_zone
        start = local_day_bounds(self.date_from, zone)[0] if self.date_from else None
        end = local_day_bounds(self.date_to, zone)[1] if self.date_to else None
        return start, end

    def q(self, prefix: str = "") -> Q:
        """The condition on sessions reached through ``prefix`` (e.g. "hosts__sessions__")."""
        if self.nothing:
            return Q(**{f"{prefix}pk__in": []})
        condition = Q()
        start, end = self.bounds()
        if start is not None:
            condition &= Q(**{f"{prefix}started_at__gte": start})
        if end is not None:
            condition &= Q(**{f"{prefix}started_at__lt": end})
        if self.host is not None:
            condition &= Q(**{f"{prefix}host_id": self.host})
        if self.group is not None:
            condition &= Q(**{f"{prefix}host__group_id": self.group})
        if self.organization is not None:
            condition &= Q(**{f"{prefix}host__organization_id": self.organization}) | Q(
                **{f"{prefix}host__group__organization_id": self.organization}
            )
        if self.technician is not None:
            condition &= Q(**{f"{prefix}technician_id": self.technician})
        if self.billed is not None:
            condition &= Q(**{f"{prefix}invoice_line__isnull": not self.billed})
        if self.billable is not None:
            condition &= Q(**{f"{prefix}billable": self.billable})
        if prefix and not condition:
            # Without any filter, still only count rows that exist (LEFT JOIN NULLs).
            condition = Q(**{f"{prefix}id__isnull": False})
        return condition


def _session_base() -> QuerySet[RemoteSession]:
    # time_entry: a session logged as contract time is billed by its contract, not directly.
    return RemoteSession.objects.select_related(
        "host", "host__group", "technician", "invoice_line", "time_entry"
    )


def session_list(*, filters: SessionFilters | None = None, **criteria) -> QuerySet[RemoteSession]:
    """Sessions, newest first, with host, group, technician and invoice line joined."""
    filters = filters or SessionFilters(**criteria)
    return _session_base().filter(filters.q()).order_by("-started_at", "-id")


def invoiceable_q(prefix: str = "") -> Q:
    """The sessions a "Generate invoice" link bills (``sessions_billable_for_scope`` and
    not logged as contract time), reached through ``prefix``: a scope with none of them
    offers no link, counted with the scope's totals in the same query."""
    return Q(
        **{
            f"{prefix}billable": True,
            f"{prefix}ended_at__isnull": False,
            f"{prefix}invoice_line__isnull": True,
            f"{prefix}time_entry__isnull": True,
        }
    )


def session_totals(*, filters: SessionFilters) -> dict:
    """{"session_count", "total_seconds", "invoiceable_count"} of the filtered sessions,
    one query."""
    return RemoteSession.objects.filter(filters.q()).aggregate(
        session_count=Count("id"),
        total_seconds=Coalesce(Sum("duration_seconds"), 0),
        invoiceable_count=Count("id", filter=invoiceable_q()),
    )


def session_get(*, pk: int) -> RemoteSession:
    """The session with ``pk`` in the current tenant; DoesNotExist (-> 404) otherwise."""
    return _session_base().get(pk=pk)


def running_sessions(*, technician: User | None = None) -> QuerySet[RemoteSession]:
    """Timers still running (a technician's, or everyone's), oldest first."""
    queryset = _session_base().filter(ended_at__isnull=True)
    if technician is not None:
        queryset = queryset.filter(technician=technician)
    return queryset.order_by("started_at", "id")


def sessions_billable_for_scope(
    *,
    scope: str,
    object_id: int,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[RemoteSession]:
    """What a "Generate invoice" link bills: ended, billable, unbilled sessions of the scope.

    ``scope`` is "session" (that session), "host" (its sessions) or "group" (the
    sessions of its hosts); the date range is calendar days in the tenant's zone,
    by start time. Ordered by host name then start; host, group, customer and
    technician are joined. Another tenant's id simply matches nothing.
    """
    lookups = {"session": "pk", "host": "host_id", "group": "host__group_id"}
    if scope not in lookups:
        raise ValidationError({"scope": "Choose session, host or group."})
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        raise ValidationError({"id": "Give the id of the session, host or group."}) from None
    filters = SessionFilters(date_from=date_from, date_to=date_to)
    return (
        RemoteSession.objects.filter(
            filters.q(),
            **{lookups[scope]: object_id},
            billable=True,
            ended_at__isnull=False,
            invoice_line__isnull=True,
        )
        .select_related(
            "host",
            "host__group",
            "host__group__organization",
            "host__organization",
            "technician",
        )
        .order_by("host__name", "started_at", "id")
    )


# Hosts and groups --------------------------------------------------------------------------


def host_group_list() -> QuerySet[HostGroup]:
    return HostGroup.objects.select_related("organization").order_by("name", "id")


def host_list(*, active: bool | None = None) -> QuerySet[Host]:
    queryset = Host.objects.select_related("group", "organization")
    if active is not None:
        queryset = queryset.filter(is_active=active)
    return queryset.order_by("name", "id")


def technician_list() -> QuerySet[User]:
    """Staff of the current tenant who log work (for filters and forms)."""
    tenant = require_current_tenant()
    roles = [role for role, _ in Membership._meta.get_field("role").choices]
    loggers = [role for role in roles if role_can(role, Cap.LOG_WORK)]
    return User.objects.filter(memberships__tenant=tenant, memberships__role__in=loggers).order_by(
        "username"
    )


@dataclass
class HostNode:
    host: Host
    session_count: int
    total_seconds: int
    sessions: list[RemoteSession] = field(default_factory=list)
    invoiceable_count: int = 0


@dataclass
class GroupNode:
    """A group (or, with ``group`` None, the hosts in no group) and its totals."""

    group: HostGroup | None
    host_count: int
    session_count: int
    total_seconds: int
    hosts: list[HostNode] = field(default_factory=list)
    invoiceable_count: int = 0

    @property
    def key(self) -> str:
        return f"group-{self.group.pk}" if self.group else "ungrouped"


def _search_groups(search: str) -> Q:
    return Q(name__icontains=search) | Q(hosts__name__icontains=search) if search else Q()


def _search_hosts(search: str) -> Q:
    return Q(name__icontains=search) | Q(group__name__icontains=search) if search else Q()


def host_group_summaries(
    *, filters: SessionFilters | None = None, search: str = ""
) -> QuerySet[HostGroup]:
    """Groups with host_count, session_count and total_seconds (sessions in the filters).

    With ``search``, a group is listed when its name or one of its hosts' names
    matches, and its totals cover the hosts listed under it.
    """
    filters = filters or SessionFilters()
    matching = _search_groups(search)
    sessions = filters.q("hosts__sessions__") & matching
    queryset = HostGroup.objects.select_related("organization").annotate(
        host_count=Count("hosts", filter=matching, distinct=True),
        session_count=Count("hosts__sessions", filter=sessions),
        total_seconds=Coalesce(Sum("hosts__sessions__duration_seconds", filter=sessions), 0),
        invoiceable_count=Count(
            "hosts__sessions", filter=sessions & invoiceable_q("hosts__sessions__")
        ),
    )
    if search:
        queryset = queryset.filter(Q(host_count__gt=0) | Q(name__icontains=search))
    return queryset.order_by("name", "id")


def host_summaries(*, filters: SessionFilters | None = None, search: str = "") -> QuerySet[Host]:
    """Hosts with session_count and total_seconds of their sessions in the filters."""
    filters = filters or SessionFilters()
    sessions = filters.q("sessions__")
    return (
        Host.objects.select_related("group", "organization")
        .filter(_search_hosts(search))
        .annotate(
            session_count=Count("sessions", filter=sessions),
            total_seconds=Coalesce(Sum("sessions__duration_seconds", filter=sessions), 0),
            invoiceable_count=Count("sessions", filter=sessions & invoiceable_q("sessions__")),
        )
        .order_by("name", "id")
    )


def ungrouped_summary(
    *, filters: SessionFilters | None = None, search: str = ""
) -> GroupNode | None:
    """Totals of the hosts in no group, or None when there are none to show."""
    filters = filters or SessionFilters()
    hosts = Host.objects.filter(_search_hosts(search), group__isnull=True)
    sessions = filters.q("sessions__")
    totals = hosts.aggregate(
        host_count=Count("id", distinct=True),
        session_count=Count("sessions", filter=sessions),
        total_seconds=Coalesce(Sum("sessions__duration_seconds", filter=sessions), 0),
        invoiceable_count=Count("sessions", filter=sessions & invoiceable_q("sessions__")),
    )
    if not totals["host_count"]:
        return None
    return GroupNode(group=None, **totals)


def _in_groups(groups: list[HostGroup], ungrouped: GroupNode | None) -> Q:
    """Hosts of the given groups, and the ungrouped hosts when their node is shown."""
    where = Q(group_id__in=[group.pk for group in groups])
    if ungrouped is not None:
        where |= Q(group__isnull=True)
    return where


def _group_nodes(
    groups: list[HostGroup],
    ungrouped: GroupNode | None,
    by_group: dict[int | None, list[HostNode]],
) -> list[GroupNode]:
    """One node per (annotated) group with its hosts; the ungrouped node last."""
    nodes = [
        GroupNode(
            group=group,
            host_count=group.host_count,
            session_count=group.session_count,
            total_seconds=group.total_seconds,
            hosts=by_group.get(group.pk, []),
            invoiceable_count=group.invoiceable_count,
        )
        for group in groups
    ]
    if ungrouped is not None:
        nodes.append(replace(ungrouped, hosts=by_group.get(None, [])))
    return nodes


def host_tree(
    *,
    groups: list[HostGroup],
    ungrouped: GroupNode | None = None,
    filters: SessionFilters | None = None,
    search: str = "",
) -> list[GroupNode]:
    """Clients & Computers: the given (annotated) groups with their hosts, one query."""
    filters = filters or SessionFilters()
    hosts = host_summaries(filters=filters, search="").filter(_in_groups(groups, ungrouped))
    if search:
        # Hosts of a group whose name matches are all shown; otherwise only matching hosts.
        hosts = hosts.filter(_search_hosts(search))
    by_group: dict[int | None, list[HostNode]] = {}
    for host in hosts:
        by_group.setdefault(host.group_id, []).append(
            HostNode(
                host=host,
                session_count=host.session_count,
                total_seconds=host.total_seconds,
                invoiceable_count=host.invoiceable_count,
            )
        )
    return _group_nodes(groups, ungrouped, by_group)


def client_group_summaries(*, filters: SessionFilters) -> QuerySet[HostGroup]:
    """Logs grouped by client: groups having sessions in the filters, with totals."""
    sessions = filters.q("hosts__sessions__")
    return (
        HostGroup.objects.select_related("organization")
        .annotate(
            host_count=Count("hosts", filter=sessions, distinct=True),
            session_count=Count("hosts__sessions", filter=sessions),
            total_seconds=Coalesce(Sum("hosts__sessions__duration_seconds", filter=sessions), 0),
            invoiceable_count=Count(
                "hosts__sessions", filter=sessions & invoiceable_q("hosts__sessions__")
            ),
        )
        .filter(session_count__gt=0)
        .order_by("name", "id")
    )


def client_tree(
    *, groups: list[HostGroup], ungrouped: GroupNode | None, filters: SessionFilters
) -> list[GroupNode]:
    """Logs grouped by client: group -> host -> sessions, with totals at every level.

    Two queries whatever the size: hosts with their totals, then the sessions.
    """
    host_rows = (
        host_summaries(filters=filters)
        .filter(_in_groups(groups, ungrouped))
        .filter(session_count__gt=0)
    )
    host_nodes: dict[int, HostNode] = {}
    by_group: dict[int | None, list[HostNode]] = {}
    for host in host_rows:
        node = HostNode(
            host=host,
            session_count=host.session_count,
            total_seconds=host.total_seconds,
            invoiceable_count=host.invoiceable_count,
        )
        host_nodes[host.pk] = node
        by_group.setdefault(host.group_id, []).append(node)
    sessions = (
        _session_base()
        .filter(filters.q(), host_id__in=list(host_nodes))
        .order_by("started_at", "id")
    )
    for session in sessions:
        host_nodes[session.host_id].sessions.append(session)
    return _group_nodes(groups, ungrouped, by_group)


def client_ungrouped_summary(*, filters: SessionFilters) -> GroupNode | None:
    """Sessions on hosts in no group, as one more client node (None if there are none)."""
    totals = RemoteSession.objects.filter(filters.q(), host__group__isnull=True).aggregate(
        host_count=Count("host", distinct=True),
        session_count=Count("id"),
        total_seconds=Coalesce(Sum("duration_seconds"), 0),
        invoiceable_count=Count("id", filter=invoiceable_q()),
    )
    if not totals["session_count"]:
        return None
    return GroupNode(group=None, **totals)


# Imports --------------------------------------------------------------------------------------


def session_import_list(*, user: User, may_manage: bool) -> QuerySet[SessionImport]:
    """Staged uploads visible to ``user``: their own, or everyone's for managers."""
    queryset = SessionImport.objects.select_related("uploaded_by")
    if not may_manage:
        queryset = queryset.filter(uploaded_by=user)
    return queryset


def recent_imports(*, user: User, may_manage: bool, limit: int = 5) -> list[SessionImport]:
    return list(
        session_import_list(user=user, may_manage=may_manage)
        .filter(status=ImportStatus.IMPORTED)
        .defer("content")
        .order_by("-imported_at")[:limit]
    )


def import_profile_list() -> QuerySet[ImportProfile]:
    """The current tenant's saved import profiles."""
    return ImportProfile.objects.select_related("created_by").order_by("name", "id")


def teamviewer_connection() -> TeamViewerConnection | None:
    """The current tenant's TeamViewer connection, if it has one."""
    return TeamViewerConnection.objects.select_related("saved_by").first()


def tenant_ids_with_teamviewer_across_all_tenants() -> list[int]:
    """CROSS-TENANT: the ids of every tenant with a TeamViewer connection. Only for the
    scheduled pull (a beat task, no request), which then works tenant by tenant inside
    ``tenant_context``; it reads no tenant's data, only which tenants to visit."""
    from billing_site.rls import cross_tenant

    with cross_tenant():
        return list(
            TeamViewerConnection.all_tenants.order_by("tenant_id").values_list(
                "tenant_id", flat=True
            )
        )
