"""What a portal organization may read of tickets and time (DESIGN.md: End-client tickets).

The portal owns no billing data: every page and endpoint of ``portal`` reads through
these selectors, so the visibility rule lives in one place.

For a portal organization P:

- *own tickets* are P's tickets (``ticket.organization = P``);
- *end-client tickets* are tickets whose organization is not P and that either sit on a
  contract billed to P or carry at least one time entry on a contract billed to P.
  Their work history holds only the billable entries on contracts billed to P, hours
  only once posted, summary notes only; their hours worked add up the posted billable
  entries on contracts billed to P.

Internal notes are deferred on every queryset here, so no portal page, export or
endpoint ever loads them. The list is built as one query (plus the paginator's count)
with subqueries for the membership test and the hours, whatever the number of rows.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Case,
    CharField,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat, NullIf, Trim

from billing_site.models import Organization
from billing_site.tenancy import require_current_tenant
from billing_site.timeutils import local_day_bounds

from .choices import TicketStatus, TimeEntryState
from .models import Contract, Ticket, TicketAttachment, TimeEntry

HUNDREDTH = Decimal("0.01")
# Prefix ranges of "starts with" filters on numbers stop here (10^8 hours or tickets).
_MAX_MAGNITUDE = 8

# Sort keys offered on every column -> the expressions they sort by.
ORDERING_FIELDS = {
    "number": "number",
    "end_client": "organization__name",
    "title": "title",
    "status": "status_rank",
    "contact": "contact__name",
    "assigned_to": "assigned_name",
    "created": "created_at",
    "due": "due_date",
    "hours": "hours_seconds",
}
DEFAULT_ORDERING = "-number"
STATUS_RANK = {status: rank for rank, status in enumerate(TicketStatus.values)}


def ordering_choices() -> list[str]:
    return [key for name in ORDERING_FIELDS for key in (name, f"-{name}")]


@dataclass(frozen=True)
class EndClientTicketFilters:
    """The column filters of the end-client ticket table.

    Text filters match "starts with", case-insensitively, on the value as shown; date
    filters match one exact day (``created`` in the viewer's zone, ``due`` as stored).
    All given filters combine.
    """

    number: str = ""
    end_client: str = ""
    title: str = ""
    status: str = ""
    contact: str = ""
    assigned_to: str = ""
    created: dt.date | None = None
    due: dt.date | None = None
    hours: str = ""
    include_completed: bool = False
    ordering: str = DEFAULT_ORDERING


def seconds_to_hours(seconds: int | None) -> Decimal:
    """Hours with two decimals, rounded half-up (1 h 20 min 42 s -> 1.35)."""
    return (Decimal(int(seconds or 0)) / Decimal(3600)).quantize(HUNDREDTH, ROUND_HALF_UP)


def _check_organization(organization: Organization) -> None:
    # Fail closed: an organization of another tenant must never select this tenant's rows.
    if organization.tenant_id != require_current_tenant().pk:
        raise Organization.DoesNotExist("Organization not in the current tenant.")


def _billed_contracts(organization: Organization) -> QuerySet[Contract]:
    return Contract.objects.filter(billing_organization=organization).values("pk")


def _no_match() -> Q:
    return Q(pk__in=[])


def _prefix_ranges(text: str, scale: int) -> list[tuple[int, int]] | None:
    """Half-open ranges of ``round(value, 2) * scale`` whose display starts with ``text``.

    ``text`` is a prefix of a number shown without leading zeros and, for ``scale`` 100,
    with two decimals ("12.50"). "1" -> [1, 2), [10, 20), [100, 200), ...; "1.5" ->
    [1.50, 1.60). None when no shown value can start with ``text``.
    """
    text = text.strip().replace(",", ".")
    match = re.fullmatch(r"(\d+)(\.(\d{0,2}))?", text)
    if match is None or (scale == 1 and match.group(2) is not None):
        return None
    whole, dot, decimals = match.group(1), match.group(2), match.group(3) or ""
    if len(whole) > 1 and whole.startswith("0"):
        return None
    if dot is None and whole != "0":
        # The whole part starts with the digits: any number of further digits may follow.
        start = int(whole)
        return [(start * 10**k * scale, (start + 1) * 10**k * scale) for k in range(_MAX_MAGNITUDE)]
    if dot is None:  # "0": the whole part is exactly 0
        return [(0, scale)]
    step = scale // 10 ** len(decimals)
    low = int(whole) * scale + (int(decimals) * step if decimals else 0)
    return [(low, low + step)]


def _number_prefix_q(text: str) -> Q:
    ranges = _prefix_ranges(text.lstrip("#"), scale=1)
    if ranges is None:
        return _no_match()
    condition = Q()
    for low, high in ranges:
        condition |= Q(number__gte=low, number__lt=high)
    return condition


def _hours_prefix_q(text: str, organization: Organization) -> Q:
    """Tickets whose hours, shown with two decimals, start with ``text``.

    Shown hours h = round_half_up(s / 3600, 2), so h >= a exactly when s >= 3600 a - 18
    (18 s is half a hundredth of an hour): ranges of hours become ranges of seconds.
    The totals are grouped once per query (``id IN (...)``), not recomputed per ticket
    and per range; tickets with no posted hours show 0.00.
    """
    ranges = _prefix_ranges(text, scale=100)
    if ranges is None:
        return _no_match()
    bounds = [(low * 36 - 18, high * 36 - 18) for low, high in ranges]
    totals = (
        _posted_billable_entries(organization)
        .order_by()
        .values("ticket_id")
        .annotate(total=Sum("worked_seconds"))
    )
    in_range = Q()
    for low, high in bounds:
        in_range |= Q(total__gte=low, total__lt=high)
    condition = Q(pk__in=totals.filter(in_range).values("ticket_id"))
    if any(low <= 0 < high for low, high in bounds):
        condition |= ~Q(pk__in=totals.filter(total__gt=0).values("ticket_id"))
    return condition


def _status_prefix_q(text: str) -> Q:
    text = text.strip().lower()
    matching = [value for value, label in TicketStatus.choices if label.lower().startswith(text)]
    return Q(status__in=matching) if matching else _no_match()


def _assigned_name():
    """The assigned resource as shown: full name, else username (empty when unassigned)."""
    full_name = NullIf(
        Trim(Concat("assigned_to__first_name", Value(" "), "assigned_to__last_name")),
        Value(""),
    )
    return Coalesce(full_name, "assigned_to__username", Value(""), output_field=CharField())


def _status_rank():
    return Case(
        *[When(status=status, then=Value(rank)) for status, rank in STATUS_RANK.items()],
        default=Value(len(STATUS_RANK)),
        output_field=IntegerField(),
    )


def organization_is_billing_partner(*, organization: Organization) -> bool:
    """True when ``organization`` is billed for another organization's contract.

    A contract billed to its own customer does not count: the End Client Tickets page
    exists only for organizations invoiced for work done for someone else.
    """
    _check_organization(organization)
    return (
        Contract.objects.filter(billing_organization=organization)
        .exclude(customer=organization)
        .exists()
    )


def end_client_condition(organization: Organization) -> Q:
    """The DESIGN.md rule as a condition on tickets, for organization P."""
    billed = _billed_contracts(organization)
    # "ticket id IN (tickets of entries on billed contracts)": PostgreSQL hashes the set
    # once per query. A correlated EXISTS makes the planner estimate a per-row cost high
    # enough to trigger JIT compilation, which costs more than running the query.
    tickets_with_billed_entries = TimeEntry.objects.filter(
        contract__in=billed, ticket__isnull=False
    ).values("ticket_id")
    return ~Q(organization=organization) & (
        Q(contract__in=billed) | Q(pk__in=tickets_with_billed_entries)
    )


def _posted_billable_entries(organization: Organization) -> QuerySet[TimeEntry]:
    """Entries whose hours count for ``organization``: posted, billable, billed to it."""
    return TimeEntry.objects.filter(
        contract__in=_billed_contracts(organization),
        state=TimeEntryState.POSTED,
        billable=True,
        ticket__isnull=False,
    )


def _hours_seconds(organization: Organization):
    """Posted, billable seconds of a ticket on contracts billed to ``organization``."""
    posted = (
        _posted_billable_entries(organization)
        .filter(ticket=OuterRef("pk"))
        .order_by()
        .values("ticket")
        .annotate(total=Sum("worked_seconds"))
        .values("total")
    )
    return Coalesce(Subquery(posted, output_field=IntegerField()), Value(0))


def end_client_ticket_list(
    *, organization: Organization, filters: EndClientTicketFilters | None = None
) -> QuerySet[Ticket]:
    """End-client tickets of ``organization``, filtered and sorted: one query per page
    (plus the paginator's count), whatever the number of rows.

    Each ticket carries ``hours_seconds`` (posted billable time billed to the
    organization) and ``assigned_name``.
    """
    _check_organization(organization)
    filters = filters or EndClientTicketFilters()
    queryset = (
        Ticket.objects.filter(end_client_condition(organization))
        .select_related("organization", "contact", "assigned_to")
        .only(
            "number",
            "title",
            "status",
            "created_at",
            "due_date",
            "organization__name",
            "contact__name",
            "contact__email",
            "assigned_to__username",
            "assigned_to__first_name",
            "assigned_to__last_name",
        )
        .annotate(hours_seconds=_hours_seconds(organization), assigned_name=_assigned_name())
    )
    if not filters.include_completed:
        queryset = queryset.exclude(status=TicketStatus.COMPLETE)
    if filters.number.strip():
        queryset = queryset.filter(_number_prefix_q(filters.number))
    if filters.end_client.strip():
        queryset = queryset.filter(organization__name__istartswith=filters.end_client.strip())
    if filters.title.strip():
        queryset = queryset.filter(title__istartswith=filters.title.strip())
    if filters.status.strip():
        queryset = queryset.filter(_status_prefix_q(filters.status))
    if filters.contact.strip():
        queryset = queryset.filter(contact__name__istartswith=filters.contact.strip())
    if filters.assigned_to.strip():
        queryset = queryset.filter(assigned_name__istartswith=filters.assigned_to.strip())
    if filters.created is not None:
        start, end = local_day_bounds(filters.created, organization.time_zone)
        queryset = queryset.filter(created_at__gte=start, created_at__lt=end)
    if filters.due is not None:
        queryset = queryset.filter(due_date=filters.due)
    if filters.hours.strip():
        queryset = queryset.filter(_hours_prefix_q(filters.hours, organization))
    return _ordered(queryset, filters.ordering)


def _ordered(queryset: QuerySet[Ticket], ordering: str) -> QuerySet[Ticket]:
    descending = ordering.startswith("-")
    key = ordering.lstrip("-")
    if key not in ORDERING_FIELDS:
        key, descending = DEFAULT_ORDERING.lstrip("-"), True
    if key == "status":
        queryset = queryset.annotate(status_rank=_status_rank())
    expression = F(ORDERING_FIELDS[key])
    primary = expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
    # The ticket number is unique: pages never overlap or skip rows between equal keys.
    tie_break = F("number").desc() if descending else F("number").asc()
    if key == "number":
        return queryset.order_by(tie_break)
    return queryset.order_by(primary, tie_break)


def own_ticket_list(
    *,
    organization: Organization,
    search: str = "",
    status: str = "",
    include_completed: bool = False,
) -> QuerySet[Ticket]:
    """The organization's own tickets. The search never reaches end-client tickets."""
    _check_organization(organization)
    queryset = Ticket.objects.filter(organization=organization).select_related(
        "contact", "assigned_to"
    )
    search = search.strip()
    if search:
        term = search.lstrip("#")
        condition = Q(title__icontains=search)
        if term.isdigit():
            condition |= Q(number=int(term))
        queryset = queryset.filter(condition)
    if status:
        queryset = queryset.filter(status=status)
    elif not include_completed:
        queryset = queryset.exclude(status=TicketStatus.COMPLETE)
    return queryset.order_by("-number")


@dataclass(frozen=True)
class PortalTicket:
    """A ticket as one portal organization sees it."""

    ticket: Ticket
    is_end_client: bool


def portal_ticket_get(*, organization: Organization, pk: int) -> PortalTicket:
    """The ticket ``pk`` if ``organization`` may read it; Ticket.DoesNotExist otherwise."""
    _check_organization(organization)
    ticket = (
        Ticket.objects.select_related("organization", "contact", "assigned_to")
        .filter(Q(organization=organization) | end_client_condition(organization))
        .get(pk=pk)
    )
    # Visible and not the organization's own: the end-client rule is what let it through.
    return PortalTicket(ticket=ticket, is_end_client=ticket.organization_id != organization.pk)


def _visible_entries(portal_ticket: PortalTicket, organization: Organization):
    entries = TimeEntry.objects.filter(ticket=portal_ticket.ticket)
    if portal_ticket.is_end_client:
        entries = entries.filter(contract__billing_organization=organization, billable=True)
    return entries


def portal_work_history(
    *, portal_ticket: PortalTicket, organization: Organization
) -> list[TimeEntry]:
    """The entries of a ticket the organization may read, oldest first, with attachments.

    End-client tickets: billable entries on contracts billed to the organization only.
    Own tickets: every entry. ``hours`` is set only on posted entries (None otherwise);
    internal notes are never loaded. Two queries.
    """
    _check_organization(organization)
    entries = list(
        _visible_entries(portal_ticket, organization)
        .select_related("technician")
        .defer("internal_note")
        .prefetch_related(
            Prefetch(
                "attachments",
                queryset=TicketAttachment.objects.order_by("uploaded_at", "id"),
            )
        )
        .order_by("work_date", "started_at", "id")
    )
    for entry in entries:
        posted = entry.state == TimeEntryState.POSTED
        entry.hours = seconds_to_hours(entry.worked_seconds) if posted else None
    return entries


def portal_ticket_attachments(
    *, portal_ticket: PortalTicket, organization: Organization
) -> list[TicketAttachment]:
    """Files attached to the ticket itself (not to an entry): own tickets only.

    An end-client ticket's own files are not items billed to the partner, so they stay
    hidden; files of the entries it may see come with ``portal_work_history``.
    """
    _check_organization(organization)
    if portal_ticket.is_end_client:
        return []
    return list(
        TicketAttachment.objects.filter(
            ticket=portal_ticket.ticket, time_entry__isnull=True
        ).order_by("uploaded_at", "id")
    )


def portal_attachment_get(*, organization: Organization, pk: int) -> TicketAttachment:
    """An attachment the organization may download; TicketAttachment.DoesNotExist otherwise.

    Own tickets: every file. End-client tickets: files of the billable entries on
    contracts billed to the organization.
    """
    _check_organization(organization)
    own = Q(ticket__organization=organization)
    billed_entry = Q(
        time_entry__contract__billing_organization=organization,
        time_entry__billable=True,
        time_entry__ticket=F("ticket"),
    )
    return TicketAttachment.objects.filter(own | billed_entry).get(pk=pk)
