"""Demo contracts, catalog, rate rules, tickets and time (runs after the sessions demo).

One contract of every type, tickets and time entries across the two months before the
first load (posted, approved, submitted, one non-billable), Helios IT Partners as the
billing organization for some of ACME's work, rate rules at several scopes, and budgets
(one retainer past its warning threshold).
Idempotent: every row is found by a natural key first (names, SKUs, titles, notes),
so loading again — even in a later month — adds nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from billing_site.timeutils import add_months

from . import budgets, services
from .choices import ContractType, QuantityMode, RoundingScope, TimeEntryState
from .models import (
    BlockPurchase,
    Contract,
    ContractProductLine,
    Product,
    RateRule,
    ServiceType,
    Team,
    Ticket,
    TimeEntry,
)

SERVICE_TYPES = [
    ("Remote support", "Work done over a remote session", True),
    ("On-site", "A technician at the customer's premises", True),
    ("Project work", "Planned projects: migrations, roll-outs", True),
    ("Internal", "Training, admin: never billed", False),
]

PRODUCTS = [
    (
        "MW-01",
        "Managed workstation",
        "Monitoring, patching and antivirus per device",
        "device",
        "35.0000",
        "706100",
    ),
    ("BKP-1TB", "Backup 1 TB", "Off-site backup, 1 TB", "month", "49.0000", "706200"),
    ("M365-BASIC", "Microsoft 365 Business Basic", "Licence per user", "user", "5.6000", "707000"),
]

# key, customer, billing organization (None: the customer), name, type, anchor day, terms
CONTRACTS = [
    ("acme-hourly", "ACME", None, "Support (time & materials)", ContractType.HOURLY, 1, {}),
    (
        "acme-managed",
        "ACME",
        None,
        "Managed workstations",
        ContractType.RECURRING,
        1,
        {},
    ),
    (
        "acme-helios",
        "ACME",
        "Helios IT Partners",
        "Network support via Helios",
        ContractType.HOURLY,
        1,
        {},
    ),
    (
        "bistro-retainer",
        "Bistro Lumière",
        None,
        "Monthly retainer",
        ContractType.RETAINER,
        1,
        {
            "retainer_fee": Decimal("500.0000"),
            "included_hours": Decimal("5.00"),
            "overage_rate": Decimal("120.0000"),
            "rounding_scope": RoundingScope.TICKET_DAY,
        },
    ),
    (
        "harbor-block",
        "Harbor Logistics",
        None,
        "Prepaid hours",
        ContractType.BLOCK_HOURS,
        1,
        {
            "block_hours": Decimal("10.00"),
            "block_price": Decimal("900.0000"),
            "overage_rate": Decimal("110.0000"),
        },
    ),
    (
        "verde-hourly",
        "Studio Verde",
        None,
        "Project hours",
        ContractType.HOURLY,
        15,
        {"rounding_minimum_minutes": 30},
    ),
]

# Budgets: (contract key | ticket title, kind, amount). The retainer's 8 h 55 min of work
# use about 85 % of its 10.5 h, past the 80 % warning; the dispatch PC is over budget.
CONTRACT_BUDGETS = [("bistro-retainer", "hours", Decimal("10.50"))]
TICKET_BUDGETS = [
    ("Dispatch PC slow", "hours", Decimal("8.00")),
    ("Render workstation upgrade", "money", Decimal("400.00")),
]

# contract key, ticket title, description, status
TICKETS = [
    (
        "acme-hourly",
        "Outlook keeps asking for the password",
        "Since the password change on Monday.",
        "complete",
    ),
    (
        "acme-hourly",
        "New laptop for the accountant",
        "Set up and migrate the old profile.",
        "in_progress",
    ),
    (
        "acme-helios",
        "Firewall rules for the new VPN",
        "Requested by Helios for ACME's branch office.",
        "in_progress",
    ),
    (
        "bistro-retainer",
        "Till cannot print receipts",
        "Receipt printer offline at lunch.",
        "complete",
    ),
    ("bistro-retainer", "Wi-Fi for the terrace", "Extend the guest Wi-Fi outside.", "waiting"),
    ("harbor-block", "Dispatch PC slow", "Dispatch application freezes.", "complete"),
    ("harbor-block", "Warehouse scanner pairing", "Scanners drop the connection.", "new"),
    ("verde-hourly", "Render workstation upgrade", "Add RAM and a second GPU.", "in_progress"),
]

# ticket title, entry contract key (None: the ticket's), technician, month (-2, -1),
# day, start "HH:MM", minutes, service type, billable, state, summary, internal note
ENTRIES = [
    (
        "Outlook keeps asking for the password",
        None,
        "tech",
        -2,
        4,
        "09:00",
        35,
        "Remote support",
        True,
        "posted",
        "Reset the credential cache and re-created the profile.",
        "User had two stale profiles.",
    ),
    (
        "Outlook keeps asking for the password",
        None,
        "tech2",
        -2,
        5,
        "10:00",
        12,
        "Remote support",
        True,
        "posted",
        "Checked that mail syncs after the fix.",
        "",
    ),
    (
        "New laptop for the accountant",
        None,
        "tech",
        -1,
        6,
        "13:30",
        95,
        "On-site",
        True,
        "approved",
        "Installed and joined the laptop to the domain.",
        "Old disk wiped and stored.",
    ),
    (
        "New laptop for the accountant",
        None,
        "tech",
        -1,
        7,
        "09:00",
        50,
        "Remote support",
        True,
        "submitted",
        "Migrated documents and printers.",
        "",
    ),
    (
        "Firewall rules for the new VPN",
        None,
        "tech2",
        -2,
        18,
        "14:00",
        80,
        "Project work",
        True,
        "posted",
        "Configured the site-to-site VPN and rules.",
        "Helios asked to keep the old tunnel until month end.",
    ),
    (
        "Outlook keeps asking for the password",
        "acme-helios",
        "tech2",
        -2,
        20,
        "11:00",
        25,
        "Remote support",
        True,
        "posted",
        "Checked VPN mail routing for the branch.",
        "Billed to Helios: branch work.",
    ),
    (
        "Till cannot print receipts",
        None,
        "tech",
        -2,
        9,
        "12:10",
        40,
        "Remote support",
        True,
        "posted",
        "Re-installed the receipt printer driver.",
        "",
    ),
    (
        "Till cannot print receipts",
        None,
        "tech2",
        -2,
        23,
        "09:30",
        240,
        "On-site",
        True,
        "posted",
        "Replaced the printer and the USB hub.",
        "Hub was water-damaged.",
    ),
    (
        "Wi-Fi for the terrace",
        None,
        "tech2",
        -1,
        12,
        "15:00",
        150,
        "On-site",
        True,
        "posted",
        "Installed an outdoor access point.",
        "",
    ),
    (
        "Wi-Fi for the terrace",
        None,
        "tech",
        -1,
        13,
        "08:30",
        60,
        "Internal",
        False,
        "posted",
        "Internal: documented the new access point.",
        "Training for the junior tech.",
    ),
    (
        "Wi-Fi for the terrace",
        None,
        "tech",
        -1,
        20,
        "16:00",
        45,
        "Remote support",
        True,
        "approved",
        "Tuned channels and power levels.",
        "",
    ),
    (
        "Dispatch PC slow",
        None,
        "tech",
        -2,
        11,
        "10:15",
        180,
        "Remote support",
        True,
        "posted",
        "Cleaned start-up items, replaced the disk with an SSD.",
        "",
    ),
    (
        "Dispatch PC slow",
        None,
        "tech2",
        -1,
        3,
        "09:00",
        420,
        "On-site",
        True,
        "posted",
        "Re-imaged the dispatch PC and restored data.",
        "SSD from stock.",
    ),
    (
        "Warehouse scanner pairing",
        None,
        "tech",
        -1,
        21,
        "10:00",
        55,
        "Remote support",
        True,
        "submitted",
        "Updated scanner firmware.",
        "",
    ),
    (
        "Render workstation upgrade",
        None,
        "tech2",
        -1,
        16,
        "13:00",
        20,
        "On-site",
        True,
        "submitted",
        "Ordered the parts, checked the power supply.",
        "",
    ),
]


def _get_or_create_rule(**scopes) -> None:
    lookup = {name: scopes.get(name) for name in RateRule.SCOPES}
    if not RateRule.objects.filter(**lookup, currency=scopes.get("currency", "EUR")).exists():
        services.rate_rule_create(**scopes)


def build(ctx) -> list[str]:
    tenant = ctx.tenant
    tech, tech2, billing = ctx.users["tech"], ctx.users["tech2"], ctx.users["billing"]
    orgs = ctx.organizations
    today = timezone.localdate(timezone=tenant.zone)
    this_month = today.replace(day=1)
    start = add_months(this_month, -2)

    service_types = {}
    for name, description, billable in SERVICE_TYPES:
        service_types[name] = ServiceType.objects.filter(name=name).first() or (
            services.service_type_create(
                name=name, description=description, default_billable=billable
            )
        )
    team = Team.objects.filter(name="Service desk").first() or services.team_create(
        name="Service desk", description="First-line support", members=[tech, tech2]
    )
    products = {}
    for sku, name, description, unit, price, account in PRODUCTS:
        products[sku] = Product.objects.filter(sku=sku).first() or services.product_create(
            sku=sku,
            name=name,
            description=description,
            unit=unit,
            unit_price=Decimal(price),
            income_account_code=account,
        )

    contracts = {}
    for key, customer, billed_to, name, kind, anchor, terms in CONTRACTS:
        customer_org = orgs[customer]
        existing = Contract.objects.filter(customer=customer_org, name=name).first()
        contracts[key] = existing or services.contract_create(
            customer=customer_org,
            billing_organization=orgs[billed_to] if billed_to else None,
            name=name,
            contract_type=kind,
            start_date=start if anchor == 1 else start.replace(day=anchor),
            anchor_day=anchor,
            tax_rate=Decimal("20.0000"),
            rounding_increment_minutes=15,
            **terms,
        )
    managed = contracts["acme-managed"]
    if not ContractProductLine.objects.filter(contract=managed).exists():
        services.contract_product_line_add(
            contract=managed, product=products["MW-01"], quantity_mode=QuantityMode.PER_DEVICE
        )
        services.contract_product_line_add(
            contract=managed, product=products["BKP-1TB"], quantity=Decimal("1")
        )
    block = contracts["harbor-block"]
    if not BlockPurchase.objects.filter(contract=block, note="Top-up").exists():
        services.block_purchase_create(
            contract=block,
            purchased_on=add_months(this_month, -1) + dt.timedelta(days=9),
            hours=Decimal("5.00"),
            price=Decimal("475.0000"),
            note="Top-up",
        )

    _get_or_create_rule(
        rate=Decimal("85.0000"),
        contract=contracts["acme-helios"],
        description="Partner rate for Helios",
    )
    _get_or_create_rule(
        rate=Decimal("100.0000"),
        organization=orgs["Studio Verde"],
        description="Studio Verde negotiated rate",
    )
    _get_or_create_rule(rate=Decimal("110.0000"), technician=tech2, description="Senior technician")
    _get_or_create_rule(
        rate=Decimal("90.0000"),
        team=team,
        service_type=service_types["Remote support"],
        description="Service desk remote work",
    )
    _get_or_create_rule(
        rate=Decimal("130.0000"),
        service_type=service_types["Project work"],
        description="Project work",
    )

    contacts = {org.pk: org.contacts.first() for org in orgs.values()}
    tickets = {}
    for key, title, description, status in TICKETS:
        contract = contracts[key]
        ticket = Ticket.objects.filter(organization=contract.customer, title=title).first()
        if ticket is None:
            ticket = services.ticket_create(
                title=title,
                description=description,
                organization=contract.customer,
                contract=contract,
                contact=contacts.get(contract.customer_id),
                status=status,
                assigned_to=tech,
                due_date=today + dt.timedelta(days=7),
                created_by=billing,
            )
        tickets[title] = ticket

    created = []
    for (
        title,
        contract_key,
        who,
        month,
        day,
        at,
        minutes,
        service,
        billable,
        state,
        summary,
        internal,
    ) in ENTRIES:
        ticket = tickets[title]
        technician = ctx.users[who]
        if TimeEntry.objects.filter(
            ticket=ticket, technician=technician, summary_note=summary
        ).exists():
            continue
        work_day = add_months(this_month, month) + dt.timedelta(days=day - 1)
        hour, minute = (int(part) for part in at.split(":"))
        started = dt.datetime.combine(work_day, dt.time(hour, minute), tzinfo=tenant.zone)
        entry = services.time_entry_create(
            technician=technician,
            ticket=ticket,
            contract=contracts[contract_key] if contract_key else None,
            service_type=service_types[service],
            started_at=started,
            ended_at=started + dt.timedelta(minutes=minutes),
            billable=billable,
            summary_note=summary,
            internal_note=internal,
        )
        created.append((entry, state))
    approve = [
        e.pk for e, state in created if state in (TimeEntryState.APPROVED, TimeEntryState.POSTED)
    ]
    if approve:
        services.time_entries_approve(entry_ids=approve, actor=billing)
    post = [e.pk for e, state in created if state == TimeEntryState.POSTED]
    if post:
        services.time_entries_post(entry_ids=post, actor=billing)
    for key, kind, amount in CONTRACT_BUDGETS:
        if not contracts[key].has_budget:
            budgets.budget_set(target=contracts[key], budget_kind=kind, budget_amount=amount)
    for title, kind, amount in TICKET_BUDGETS:
        if not tickets[title].has_budget:
            budgets.budget_set(target=tickets[title], budget_kind=kind, budget_amount=amount)
    return [
        f"Contracts: {Contract.objects.count()} (one of every type; "
        f"“{contracts['acme-helios'].name}” is billed to Helios IT Partners)",
        f"Tickets: {Ticket.objects.count()}, time entries: {TimeEntry.objects.count()}",
    ]
