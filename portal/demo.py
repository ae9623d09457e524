"""Demo portal login for Helios IT Partners (runs after the contracts demo).

Helios is the billing organization of ACME's "Network support via Helios" contract, so
its portal login sees ACME's tickets billed to it under End Client Tickets. To show the
rules, the demo makes sure there is a completed end-client ticket (hidden until
"Include completed tickets" is ticked) and an end-client entry not yet posted (its
hours stay hidden). Idempotent: rows are found by natural keys (username, contract
name, ticket title, summary note) before anything is created.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from billing_site.demo import DEMO_PASSWORD
from billing_site.models import Contact, Membership, User
from billing_site.roles import Role
from contracts import services as contract_services
from contracts.choices import ContractType, TicketStatus, TimeEntryState
from contracts.models import Contract, Ticket, TimeEntry
from contracts.selectors_portal import EndClientTicketFilters, end_client_ticket_list

USERNAME = "helios"
PARTNER = "Helios IT Partners"
END_CLIENT = "ACME"
CONTRACT_NAME = "Network support via Helios"
COMPLETED_TITLE = "Branch office router replaced"
OPEN_TITLE = "Firewall rules for the new VPN"
PENDING_NOTE = "Tested the VPN failover with the branch office."


def _portal_login(ctx, partner) -> User:
    contact = Contact.objects.filter(organization=partner).order_by("id").first()
    user, created = User.objects.get_or_create(
        username=USERNAME,
        defaults={
            "first_name": "Sam",
            "last_name": "Carter",
            "email": contact.email if contact and contact.email else "sam@helios.example",
        },
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    Membership.objects.get_or_create(
        user=user,
        tenant=ctx.tenant,
        defaults={"role": Role.PORTAL, "organization": partner, "contact": contact},
    )
    return user


def _partner_contract(ctx, end_client, partner) -> Contract:
    contract = Contract.objects.filter(customer=end_client, billing_organization=partner).first()
    if contract is not None:
        return contract
    today = timezone.localdate(timezone=ctx.tenant.zone)
    return contract_services.contract_create(
        customer=end_client,
        billing_organization=partner,
        name=CONTRACT_NAME,
        contract_type=ContractType.HOURLY,
        start_date=today.replace(day=1) - dt.timedelta(days=62),
        anchor_day=1,
        tax_rate=Decimal("20.0000"),
    )


def _ticket(ctx, contract, title, **fields) -> Ticket:
    ticket = Ticket.objects.filter(organization=contract.customer, title=title).first()
    if ticket is not None:
        return ticket
    return contract_services.ticket_create(
        title=title,
        organization=contract.customer,
        contract=contract,
        contact=Contact.objects.filter(organization=contract.customer).order_by("id").first(),
        assigned_to=ctx.users["tech2"],
        created_by=ctx.users["billing"],
        **fields,
    )


def _entry(ctx, ticket, contract, *, days_ago, minutes, summary, internal, post: bool):
    if TimeEntry.objects.filter(ticket=ticket, summary_note=summary).exists():
        return
    started = dt.datetime.combine(
        timezone.localdate(timezone=ctx.tenant.zone) - dt.timedelta(days=days_ago),
        dt.time(10, 0),
        tzinfo=ctx.tenant.zone,
    )
    entry = contract_services.time_entry_create(
        technician=ctx.users["tech2"],
        ticket=ticket,
        contract=contract,
        started_at=started,
        ended_at=started + dt.timedelta(minutes=minutes),
        billable=True,
        summary_note=summary,
        internal_note=internal,
    )
    if post:
        contract_services.time_entries_approve(entry_ids=[entry.pk], actor=ctx.users["billing"])
        contract_services.time_entries_post(entry_ids=[entry.pk], actor=ctx.users["billing"])


def build(ctx) -> list[str]:
    partner = ctx.organizations[PARTNER]
    end_client = ctx.organizations[END_CLIENT]
    _portal_login(ctx, partner)
    contract = _partner_contract(ctx, end_client, partner)

    everything = end_client_ticket_list(
        organization=partner, filters=EndClientTicketFilters(include_completed=True)
    )
    if not everything.filter(status=TicketStatus.COMPLETE).exists():
        completed = _ticket(
            ctx,
            contract,
            COMPLETED_TITLE,
            description="The branch router failed; replaced under Helios' contract.",
            status=TicketStatus.COMPLETE,
        )
        _entry(
            ctx,
            completed,
            contract,
            days_ago=20,
            minutes=75,
            summary="Replaced the branch router and restored the configuration.",
            internal="Old router kept for RMA.",
            post=True,
        )
    pending = TimeEntry.objects.filter(
        contract__billing_organization=partner, ticket__isnull=False
    ).exclude(state=TimeEntryState.POSTED)
    if not pending.exists():
        open_ticket = _ticket(
            ctx,
            contract,
            OPEN_TITLE,
            description="Requested by Helios for ACME's branch office.",
            status=TicketStatus.IN_PROGRESS,
        )
        _entry(
            ctx,
            open_ticket,
            contract,
            days_ago=1,
            minutes=40,
            summary=PENDING_NOTE,
            internal="Failover took 40 s; Helios not told yet.",
            post=False,
        )
    ctx.logins.append(
        (USERNAME, DEMO_PASSWORD, f"Portal user of {PARTNER}: {END_CLIENT} tickets billed to it")
    )
    shown = end_client_ticket_list(organization=partner).count()
    return [f"Client portal: {PARTNER} sees {shown} open end-client tickets at /portal/"]
