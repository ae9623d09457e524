"""Demo hosts, groups and sessions (the session-log seed: ACME, Jane_OFFICE_121, 15 min 18 s).

Idempotent: groups and hosts are found by name, sessions by a demo external id, so
running the demo again (even in a later month) adds nothing and keeps Jane's total.
Sessions lie in the month before the first load, in the tenant's zone.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from billing_site.timeutils import add_months

from .models import Host, HostGroup, RemoteSession, SessionSource

# group name, customer name, hosts
DEMO_GROUPS = [
    ("ACME", "ACME", ["Joseph_OFFICE_121", "Jane_OFFICE_121"]),
    ("Bistro Lumière", "Bistro Lumière", ["BISTRO-CAISSE-01", "BISTRO-BUREAU"]),
    ("Harbor Logistics", "Harbor Logistics", ["HARBOR-DISPATCH-01", "HARBOR-WAREHOUSE-02"]),
    ("Nordlys Tandklinik", "Nordlys Tandklinik", ["NORDLYS-RECEPTION"]),
]

# external id, host, technician, day of month, local start "HH:MM:SS", duration (s), comment
DEMO_SESSIONS = [
    (
        "demo-jane-1",
        "Jane_OFFICE_121",
        "tech",
        12,
        "09:05:00",
        9 * 60 + 40,
        "Installed Windows updates.",
    ),
    (
        "demo-jane-2",
        "Jane_OFFICE_121",
        "tech2",
        19,
        "14:20:00",
        5 * 60 + 38,
        "Reconnected the network printer.",
    ),
    (
        "demo-joseph-1",
        "Joseph_OFFICE_121",
        "tech",
        12,
        "09:30:00",
        22 * 60 + 5,
        "Outlook profile repaired.",
    ),
    (
        "demo-joseph-2",
        "Joseph_OFFICE_121",
        "tech2",
        21,
        "11:00:00",
        47 * 60 + 12,
        "Migrated files to the new laptop.",
    ),
    (
        "demo-bistro-1",
        "BISTRO-CAISSE-01",
        "tech",
        5,
        "08:15:00",
        18 * 60 + 30,
        "Cash register would not print receipts; driver reinstalled.",
    ),
    (
        "demo-bistro-2",
        "BISTRO-BUREAU",
        "tech2",
        14,
        "16:45:00",
        31 * 60,
        "Backup job checked and restarted.",
    ),
    (
        "demo-harbor-1",
        "HARBOR-DISPATCH-01",
        "tech",
        8,
        "10:00:00",
        1 * 3600 + 12 * 60 + 44,
        "VPN client upgraded, certificates renewed.",
    ),
    (
        "demo-harbor-2",
        "HARBOR-WAREHOUSE-02",
        "tech2",
        22,
        "07:30:00",
        25 * 60 + 3,
        "Label printer calibrated.",
    ),
    (
        "demo-nordlys-1",
        "NORDLYS-RECEPTION",
        "tech",
        27,
        "13:10:00",
        14 * 60 + 26,
        "Appointment software updated.",
    ),
]


def build(ctx) -> None:
    tenant = ctx.tenant
    zone = tenant.zone
    hosts: dict[str, Host] = {}
    for group_name, customer, host_names in DEMO_GROUPS:
        organization = ctx.organizations.get(customer)
        group, _ = HostGroup.objects.get_or_create(
            name=group_name, defaults={"tenant": tenant, "organization": organization}
        )
        for host_name in host_names:
            hosts[host_name], _ = Host.objects.get_or_create(
                name=host_name,
                defaults={"tenant": tenant, "group": group, "organization": group.organization},
            )

    first_of_this_month = timezone.localdate(timezone=zone).replace(day=1)
    previous_month = add_months(first_of_this_month, -1)
    for external_id, host_name, username, day, start, seconds, comment in DEMO_SESSIONS:
        local_start = dt.datetime.combine(
            previous_month.replace(day=day), dt.time.fromisoformat(start), tzinfo=zone
        )
        started_at = local_start.astimezone(dt.UTC)
        RemoteSession.objects.get_or_create(
            external_id=external_id,
            defaults={
                "tenant": tenant,
                "host": hosts[host_name],
                "technician": ctx.users[username],
                "started_at": started_at,
                "ended_at": started_at + dt.timedelta(seconds=seconds),
                "duration_seconds": seconds,
                "comment": comment,
                "billable": True,
                "source": SessionSource.MANUAL,
            },
        )
