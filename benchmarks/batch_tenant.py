"""The invoice batch benchmark's synthetic tenant (slug ``bench-batch``): its rows are
replaced on every run, built with bulk inserts."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.apps import apps
from django.db import IntegrityError, connection, transaction

from billing_site.models import Organization, Tenant
from contracts.choices import ContractType, TimeEntrySource, TimeEntryState
from contracts.models import (
    BlockPurchase,
    Contract,
    ContractProductLine,
    Product,
    RateRule,
    Ticket,
    TimeEntry,
)
from sessions.models import Host, RemoteSession

SLUG = "bench-batch"
AS_OF = dt.date(2026, 3, 1)  # the batch's date: February is due, March is not yet
CHUNK = 5000


def fresh_tenant() -> Tenant:
    """Remove the previous run's rows of the bench tenant (generic: every tenant-owned
    table, retried until foreign keys allow), then recreate it."""
    tenant = Tenant.objects.filter(slug=SLUG).first()
    if tenant is not None:
        owned = [m for m in apps.get_models() if any(f.name == "tenant" for f in m._meta.fields)]
        with connection.cursor() as cursor:
            for table, column in (
                ("contracts_timeentry", "invoice_line_id"),
                ("contracts_timeentry", "remote_session_id"),
                ("contracts_periodcharge", "invoice_line_id"),
                ("contracts_blockpurchase", "invoice_line_id"),
                (RemoteSession._meta.db_table, "invoice_line_id"),
            ):
                cursor.execute(
                    f"UPDATE {table} SET {column} = NULL WHERE tenant_id = %s",  # noqa: S608
                    [tenant.pk],
                )
        # The audit log is append-only: it goes only by the path that removes a whole
        # tenant's log.
        from audit.services import tenant_log_erase

        tenant_log_erase(tenant=tenant)
        pending = list(owned)
        while pending:
            left = []
            for model in pending:
                try:
                    with transaction.atomic():
                        manager = getattr(model, "all_tenants", model._base_manager)
                        manager.filter(tenant=tenant)._raw_delete(connection.alias)
                except IntegrityError:
                    left.append(model)
            if len(left) == len(pending):
                raise RuntimeError(f"cannot clear {[m.__name__ for m in left]}")
            pending = left
        tenant.delete()
    return Tenant.objects.create(
        name="Bench IT", slug=SLUG, currency="EUR", time_zone="Europe/Paris"
    )


def build(
    tenant: Tenant,
    user,
    *,
    customers: int,
    contracts: int,
    time_entries: int,
    sessions: int,
    seed: int,
) -> None:
    """Bulk-insert the synthetic tenant's data (call within ``tenant_context(tenant)``):
    ``customers`` organizations, ``contracts`` monthly contracts from 2026-01-01 (hourly,
    retainer, block of hours, recurring product), five tickets per contract,
    ``time_entries`` posted entries and ``sessions`` remote sessions with their entries,
    worked in February and March 2026; the same ``seed`` builds the same data."""
    rng = random.Random(seed)
    orgs = Organization.objects.bulk_create(
        [
            Organization(
                tenant=tenant,
                name=f"Customer {i:05d}",
                company_number=f"B{i:05d}",
                currency="EUR",
                time_zone="Europe/Paris",
            )
            for i in range(customers)
        ],
        batch_size=CHUNK,
    )
    RateRule.objects.create(tenant=tenant, rate=Decimal("95.0000"), currency="EUR")
    product = Product.objects.create(
        tenant=tenant, sku="MSP-DEV", name="Managed device", unit_price=Decimal("12.5000")
    )
    kinds = (
        [ContractType.HOURLY] * 6
        + [ContractType.RETAINER] * 2
        + [
            ContractType.BLOCK_HOURS,
            ContractType.RECURRING,
        ]
    )
    rows = []
    for i in range(contracts):
        kind = kinds[i % len(kinds)]
        customer = orgs[i % customers]
        contract = Contract(
            tenant=tenant,
            customer=customer,
            billing_organization=orgs[0] if i % 10 == 3 else customer,
            name=f"Contract {i:05d}",
            contract_type=kind,
            start_date=dt.date(2026, 1, 1),
            anchor_day=1,
            currency="EUR",
            taxable=i % 3 != 0,
            tax_rate=Decimal("20.0000") if i % 2 else Decimal("5.5000"),
            rounding_increment_minutes=15,
        )
        if kind == ContractType.RETAINER:
            contract.retainer_fee, contract.included_hours = Decimal("500"), Decimal("5")
            contract.overage_rate = Decimal("120")
        if kind == ContractType.BLOCK_HOURS:
            contract.block_hours, contract.block_price = Decimal("10"), Decimal("900")
            contract.overage_rate = Decimal("110")
        rows.append(contract)
    saved = Contract.objects.bulk_create(rows, batch_size=CHUNK)
    ContractProductLine.objects.bulk_create(
        [
            ContractProductLine(tenant=tenant, contract=c, product=product, quantity=Decimal("3"))
            for c in saved
            if c.contract_type == ContractType.RECURRING
        ],
        batch_size=CHUNK,
    )
    BlockPurchase.objects.bulk_create(
        [
            BlockPurchase(
                tenant=tenant,
                contract=c,
                purchased_on=dt.date(2026, 1, 1),
                hours=Decimal("10"),
                price=Decimal("900"),
            )
            for c in saved
            if c.contract_type == ContractType.BLOCK_HOURS
        ],
        batch_size=CHUNK,
    )
    tickets = Ticket.objects.bulk_create(
        [
            Ticket(
                tenant=tenant,
                number=i + 1,
                title=f"Ticket {i + 1}",
                organization=saved[i // 5].customer,
                contract=saved[i // 5],
            )
            for i in range(len(saved) * 5)
        ],
        batch_size=CHUNK,
    )
    hosts = Host.objects.bulk_create(
        [Host(tenant=tenant, name=f"PC-{i:05d}", organization=org) for i, org in enumerate(orgs)],
        batch_size=CHUNK,
    )
    host_of = {host.organization_id: host for host in hosts}

    def entry(ticket, **extra):
        day = dt.date(2026, 2, 1) + dt.timedelta(days=rng.randrange(0, 40))  # Feb + March
        return TimeEntry(
            tenant=tenant,
            ticket=ticket,
            contract=ticket.contract,
            technician=user,
            work_date=day,
            worked_seconds=rng.randrange(300, 7200),
            billable=rng.random() > 0.1,
            state=TimeEntryState.POSTED,
            **extra,
        )

    for start in range(0, time_entries, CHUNK):
        count = min(CHUNK, time_entries - start)
        TimeEntry.objects.bulk_create([entry(rng.choice(tickets)) for _ in range(count)])
    for start in range(0, sessions, CHUNK):
        count = min(CHUNK, sessions - start)
        picked = [rng.choice(tickets) for _ in range(count)]
        made = []
        for ticket in picked:
            began = dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC) + dt.timedelta(
                minutes=rng.randrange(0, 26 * 24 * 60)
            )
            seconds = rng.randrange(300, 5400)
            made.append(
                RemoteSession(
                    tenant=tenant,
                    host=host_of[ticket.organization_id],
                    technician=user,
                    started_at=began,
                    ended_at=began + dt.timedelta(seconds=seconds),
                    duration_seconds=seconds,
                    comment="Remote support",
                )
            )
        made = RemoteSession.objects.bulk_create(made)
        TimeEntry.objects.bulk_create(
            [
                TimeEntry(
                    tenant=tenant,
                    ticket=ticket,
                    contract=ticket.contract,
                    technician=user,
                    work_date=session.started_at.date(),
                    started_at=session.started_at,
                    ended_at=session.ended_at,
                    worked_seconds=session.duration_seconds,
                    billable=True,
                    state=TimeEntryState.POSTED,
                    source=TimeEntrySource.SESSION,
                    remote_session=session,
                )
                for ticket, session in zip(picked, made, strict=True)
            ]
        )
    if connection.vendor == "postgresql":
        # VACUUM as autovacuum would in production: sets the rows' visibility hints once
        # so the first measured read does not pay for the bulk load.
        tables = [
            m._meta.db_table
            for m in (Organization, Contract, Ticket, TimeEntry, Host, RemoteSession)
        ]
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f'VACUUM ANALYZE "{table}"')
            cursor.execute("ANALYZE")
