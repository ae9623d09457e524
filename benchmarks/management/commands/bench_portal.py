"""Benchmark the End Client Tickets table on a synthetic tenant.

    python manage.py bench_portal --tickets 100000

Builds (or rebuilds) the tenant ``bench-portal`` with end clients, two partners,
contracts billed to the clients themselves and to the partners, ``--tickets`` tickets and
about 1.5 time entries per ticket (bulk inserts), then requests filtered pages of the
table as the partner's portal user — the whole request: middleware, queries, template —
and prints the median and 95th percentile of ``--runs`` runs and the query count of each.
The tenant is removed at the end unless ``--keep`` is given; a re-run starts clean.
Run it on PostgreSQL (DATABASE_URL) for figures that mean anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import statistics
import time
from urllib.parse import urlencode

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing_site.models import Contact, Membership, Organization, Tenant, TenantSequence, User
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from contracts.choices import TicketStatus, TimeEntryState
from contracts.models import Contract, Ticket, TicketAttachment, TimeEntry
from contracts.selectors_portal import EndClientTicketFilters, end_client_ticket_list
from portal.forms import EndClientTicketFilterForm

SLUG = "bench-portal"
USER_PREFIX = "bench-portal-"
BATCH = 5000
CLIENT_STEMS = [
    "Acme",
    "Alpine",
    "Atlas",
    "Bistro",
    "Blue",
    "Cedar",
    "Clear",
    "Cloud",
    "Delta",
    "Dune",
    "Echo",
    "Fjord",
    "Granite",
    "Harbor",
    "Helix",
    "Iris",
    "Juniper",
    "Kite",
    "Lumen",
    "Maple",
    "Nordic",
    "Orbit",
    "Pine",
    "Quartz",
    "River",
    "Summit",
    "Terra",
    "Union",
    "Vista",
    "Zenith",
]
TITLES = [
    "Printer offline",
    "Outlook asks for the password",
    "VPN drops",
    "New laptop",
    "Backup failed",
    "Slow PC",
    "Wi-Fi unstable",
    "Scanner pairing",
    "Phone system reset",
    "Disk almost full",
    "Password reset",
    "Firewall rule request",
]
STATUSES = [TicketStatus.COMPLETE] * 6 + [
    TicketStatus.NEW,
    TicketStatus.IN_PROGRESS,
    TicketStatus.IN_PROGRESS,
    TicketStatus.WAITING,
]


@contextlib.contextmanager
def keeping_created_at():
    """Let bulk_create store the generated creation times instead of "now"."""
    field = Ticket._meta.get_field("created_at")
    field.auto_now_add = False
    try:
        yield
    finally:
        field.auto_now_add = True


class Command(BaseCommand):
    help = "Time filtered pages of the portal's End Client Tickets on a synthetic tenant."

    def add_arguments(self, parser):
        parser.add_argument("--tickets", type=int, default=100_000)
        parser.add_argument("--runs", type=int, default=15)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--keep", action="store_true", help="Keep the tenant afterwards.")

    def handle(self, *args, tickets: int, runs: int, seed: int, keep: bool, **options):
        if tickets < 100 or runs < 1:
            raise CommandError("Use at least 100 tickets and 1 run.")
        random.seed(seed)
        vendor = connection.vendor
        self.stdout.write(f"Database: {vendor} ({settings.DATABASES['default']['NAME']})")
        self.cleanup()
        started = time.perf_counter()
        tenant, partner, portal_user = self.build(tickets)
        self.stdout.write(f"Built {tickets} tickets in {time.perf_counter() - started:.1f} s")
        if vendor == "postgresql":
            with connection.cursor() as cursor:
                for model in (Ticket, TimeEntry, Contract, Organization, Contact):
                    # Fresh bulk inserts: set hint bits and the visibility map, as
                    # autovacuum would on a live database, then refresh statistics.
                    cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
        try:
            self.measure(tenant, partner, portal_user, runs)
        finally:
            if not keep:
                self.cleanup()

    # ------------------------------------------------------------------ data

    @transaction.atomic
    def build(self, ticket_count: int):
        tenant = Tenant.objects.create(
            name="Bench MSP", slug=SLUG, currency="EUR", time_zone="Europe/Paris"
        )
        with tenant_context(tenant):
            partner = Organization.objects.create(
                tenant=tenant,
                name="Bench Partner",
                company_number="P-1",
                currency="EUR",
                time_zone="America/New_York",
            )
            other_partner = Organization.objects.create(
                tenant=tenant, name="Other Partner", company_number="P-2", currency="EUR"
            )
            clients = Organization.all_tenants.bulk_create(
                [
                    Organization(
                        tenant=tenant,
                        name=f"{CLIENT_STEMS[i % len(CLIENT_STEMS)]} Client {i:03d}",
                        company_number=f"C-{i:04d}",
                        currency="EUR",
                    )
                    for i in range(300)
                ]
            )
            contacts = Contact.all_tenants.bulk_create(
                [
                    Contact(
                        tenant=tenant,
                        organization=client,
                        name=f"Contact {client.pk}-{k}",
                        email=f"c{client.pk}-{k}@bench.test",
                    )
                    for client in [*clients, partner]
                    for k in range(2)
                ]
            )
            contacts_of: dict[int, list[Contact]] = {}
            for contact in contacts:
                contacts_of.setdefault(contact.organization_id, []).append(contact)
            technicians = []
            for k in range(10):
                user = User.objects.create(
                    username=f"{USER_PREFIX}tech{k}", first_name=f"Tech{k}", last_name="Bench"
                )
                Membership.objects.create(user=user, tenant=tenant, role=Role.TECHNICIAN)
                technicians.append(user)
            portal_user = User.objects.create(username=f"{USER_PREFIX}partner")
            Membership.objects.create(
                user=portal_user, tenant=tenant, role=Role.PORTAL, organization=partner
            )

            start = dt.date(2024, 1, 1)
            contract_rows = []
            for client in [*clients, partner]:
                contract_rows.append(
                    Contract(
                        tenant=tenant,
                        customer=client,
                        billing_organization=client,
                        name="Own",
                        start_date=start,
                        currency="EUR",
                    )
                )
            # A third of the clients are billed through the partner, a third through another.
            for index, client in enumerate(clients):
                billed_to = (partner, other_partner, None)[index % 3]
                if billed_to is not None:
                    contract_rows.append(
                        Contract(
                            tenant=tenant,
                            customer=client,
                            billing_organization=billed_to,
                            name="Via partner",
                            start_date=start,
                            currency="EUR",
                        )
                    )
            contracts = Contract.all_tenants.bulk_create(contract_rows)
            own_contract = {c.customer_id: c for c in contracts if c.name == "Own"}
            partner_contract = {c.customer_id: c for c in contracts if c.name == "Via partner"}

            base = dt.datetime(2024, 1, 1, 8, 0, tzinfo=dt.UTC)
            ticket_rows = []
            for number in range(1, ticket_count + 1):
                organization = partner if random.random() < 0.02 else random.choice(clients)
                via = partner_contract.get(organization.pk)
                contract = (
                    via
                    if via is not None and random.random() < 0.5
                    else own_contract[organization.pk]
                )
                ticket_rows.append(
                    Ticket(
                        tenant=tenant,
                        number=number,
                        title=f"{random.choice(TITLES)} {number}",
                        organization=organization,
                        contract=contract,
                        contact=random.choice(contacts_of[organization.pk]),
                        status=random.choice(STATUSES),
                        assigned_to=random.choice(technicians) if random.random() < 0.8 else None,
                        due_date=start + dt.timedelta(days=random.randrange(0, 800))
                        if random.random() < 0.4
                        else None,
                        created_at=base + dt.timedelta(minutes=11 * number),
                    )
                )
            with keeping_created_at():
                for offset in range(0, len(ticket_rows), BATCH):
                    Ticket.all_tenants.bulk_create(ticket_rows[offset : offset + BATCH])
            TenantSequence.all_tenants.create(tenant=tenant, key="ticket", last_value=ticket_count)

            entry_rows = []
            states = (
                [TimeEntryState.POSTED] * 7
                + [TimeEntryState.APPROVED]
                + [TimeEntryState.SUBMITTED] * 2
            )
            for ticket in ticket_rows:
                for _ in range(random.choice((1, 1, 2, 2, 3) if random.random() < 0.5 else (1,))):
                    contract = ticket.contract
                    # Some work on a client's own ticket is billed through its partner.
                    via = partner_contract.get(ticket.organization_id)
                    if via is not None and random.random() < 0.1:
                        contract = via
                    entry_rows.append(
                        TimeEntry(
                            tenant=tenant,
                            ticket=ticket,
                            contract=contract,
                            technician=random.choice(technicians),
                            work_date=ticket.created_at.date(),
                            worked_seconds=random.randrange(300, 4 * 3600),
                            billable=random.random() < 0.9,
                            state=random.choice(states),
                            summary_note="Work done.",
                            internal_note="Internal.",
                        )
                    )
            for offset in range(0, len(entry_rows), BATCH):
                TimeEntry.all_tenants.bulk_create(entry_rows[offset : offset + BATCH])
        self.stdout.write(f"  {len(entry_rows)} time entries, {len(contracts)} contracts")
        return tenant, partner, portal_user

    def cleanup(self) -> None:
        """Remove the benchmark tenant and its logins.

        Plain DELETEs, children first: fast at any size, and independent of the other
        apps' tables (the benchmark tenant has rows only in these).
        """
        from rest_framework.authtoken.models import Token

        tenant_id = Tenant.objects.filter(slug=SLUG).values_list("pk", flat=True).first()
        with transaction.atomic(), connection.cursor() as cursor:
            if tenant_id is not None:
                for model in (
                    TicketAttachment,
                    TimeEntry,
                    Ticket,
                    Contract,
                    Contact,
                    TenantSequence,
                    Membership,
                    Organization,
                ):
                    table = connection.ops.quote_name(model._meta.db_table)
                    cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant_id])  # noqa: S608
                table = connection.ops.quote_name(Tenant._meta.db_table)
                cursor.execute(f"DELETE FROM {table} WHERE id = %s", [tenant_id])  # noqa: S608
            Token.objects.filter(user__username__startswith=USER_PREFIX).delete()
            table = connection.ops.quote_name(User._meta.db_table)
            cursor.execute(
                f"DELETE FROM {table} WHERE username LIKE %s",  # noqa: S608
                [USER_PREFIX + "%"],
            )

    # --------------------------------------------------------------- measure

    def count(self, tenant, partner, params: dict) -> int:
        form = EndClientTicketFilterForm(params)
        if not form.is_valid():
            raise CommandError(f"Invalid scenario {params}: {form.errors.as_text()}")
        with tenant_context(tenant):
            return end_client_ticket_list(organization=partner, filters=form.to_filters()).count()

    def measure(self, tenant, partner, portal_user, runs: int) -> None:
        with tenant_context(tenant):
            total = end_client_ticket_list(
                organization=partner, filters=EndClientTicketFilters(include_completed=True)
            ).count()
            recent = list(
                end_client_ticket_list(organization=partner)
                .order_by("-number")
                .values_list("created_at", flat=True)[:500]
            )
            a_day = recent[len(recent) // 2].astimezone(partner.zone).date()
        self.stdout.write(f"End-client tickets of the partner: {total} (completed included)")
        scenarios = [
            ("open tickets, newest first", {}),
            ("end client starts with 'cl', by title", {"end_client": "cl", "ordering": "title"}),
            ("end client 'Acme' + title 'printer'", {"end_client": "acme", "title": "printer"}),
            ("created on one day", {"created": a_day.isoformat()}),
            (
                "status 'in' + assigned 'tech3', by due",
                {"status": "in", "assigned_to": "tech3", "ordering": "-due"},
            ),
            (
                "hours start with '1', all, by hours",
                {"hours": "1", "include_completed": "on", "ordering": "-hours"},
            ),
            ("page 20 of all tickets", {"include_completed": "on", "page": "20"}),
        ]
        hosts = [h for h in settings.ALLOWED_HOSTS if h and "*" not in h and h[0] != "."]
        host = "testserver" if "testserver" in hosts or not hosts else hosts[0]
        client = Client(HTTP_HOST=host)
        client.force_login(portal_user)
        url = reverse("portal:end-client-tickets")
        header = f"{'scenario':<42} {'rows':>7} {'median':>9} {'p95':>9} {'queries':>8}"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        medians = []
        for label, params in scenarios:
            target = f"{url}?{urlencode(params)}"
            response = client.get(target, secure=True)  # warm-up
            if response.status_code != 200:
                raise CommandError(f"{label}: HTTP {response.status_code}")
            timings = []
            for _ in range(runs):
                with CaptureQueriesContext(connection) as queries:
                    began = time.perf_counter()
                    response = client.get(target, secure=True)
                    timings.append((time.perf_counter() - began) * 1000)
            rows = self.count(tenant, partner, params)
            median = statistics.median(timings)
            p95 = sorted(timings)[max(0, round(0.95 * len(timings)) - 1)]
            medians.append(median)
            self.stdout.write(
                f"{label:<42} {rows:>7} {median:>7.1f}ms {p95:>7.1f}ms {len(queries):>8}"
            )
        client.logout()
        self.stdout.write(
            f"Worst median: {max(medians):.1f} ms over {runs} runs per scenario "
            f"({len(medians)} scenarios, whole request)."
        )
