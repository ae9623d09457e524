"""Benchmark of the invoice batch engine on the configured database (not a test).

Builds a synthetic tenant (slug ``bench-batch``; its rows are replaced on every run)
with bulk inserts, then prints: the batch preview time (details for everything due),
the preview's query count at full size and at a tenth of the contracts, run + generate
time (PDF rendering left to the workers, so not included) with their query counts, the
time of one hand-written SQL aggregation over the same items (the floor), and the median
PDF render time of one-page invoices in this process (font configuration reused).

    python manage.py bench_batch --customers 2000 --contracts 4000 \
        --time-entries 200000 --sessions 50000
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
from decimal import Decimal

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from billing_site.models import Organization, Tenant
from billing_site.tenancy import tenant_context
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
AS_OF = dt.date(2026, 3, 1)
CHUNK = 5000


class Command(BaseCommand):
    help = (
        "Benchmark the invoice batch engine (preview, run + generate, PDF) on a synthetic tenant."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=2000)
        parser.add_argument("--contracts", type=int, default=4000)
        parser.add_argument("--time-entries", type=int, default=200000)
        parser.add_argument("--sessions", type=int, default=50000)
        parser.add_argument("--pdf-samples", type=int, default=50)
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, **options):
        from django.contrib.auth import get_user_model

        self.out = self.stdout.write
        self.out(f"database: {connection.vendor} ({connection.settings_dict['NAME']})")
        start = time.perf_counter()
        tenant = self._fresh_tenant()
        user, _ = get_user_model().objects.get_or_create(username="bench-batch-tech")
        with tenant_context(tenant):
            self._build(tenant, user, options)
        self.out(f"built synthetic tenant in {time.perf_counter() - start:.1f} s")
        with tenant_context(tenant):
            self._measure(tenant, options)

    # ------------------------------------------------------------------ data

    def _fresh_tenant(self) -> Tenant:
        """Remove the previous run's rows of the bench tenant (generic: every tenant-owned
        table, retried until foreign keys allow), then recreate it."""
        tenant = Tenant.objects.filter(slug=SLUG).first()
        if tenant is not None:
            owned = [
                m for m in apps.get_models() if any(f.name == "tenant" for f in m._meta.fields)
            ]
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

    def _build(self, tenant, user, options) -> None:
        rng = random.Random(options["seed"])
        n_customers, n_contracts = options["customers"], options["contracts"]
        orgs = Organization.objects.bulk_create(
            [
                Organization(
                    tenant=tenant,
                    name=f"Customer {i:05d}",
                    company_number=f"B{i:05d}",
                    currency="EUR",
                    time_zone="Europe/Paris",
                )
                for i in range(n_customers)
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
        contracts = []
        for i in range(n_contracts):
            kind = kinds[i % len(kinds)]
            customer = orgs[i % n_customers]
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
            contracts.append(contract)
        contracts = Contract.objects.bulk_create(contracts, batch_size=CHUNK)
        ContractProductLine.objects.bulk_create(
            [
                ContractProductLine(
                    tenant=tenant, contract=c, product=product, quantity=Decimal("3")
                )
                for c in contracts
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
                for c in contracts
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
                    organization=contracts[i // 5].customer,
                    contract=contracts[i // 5],
                )
                for i in range(len(contracts) * 5)
            ],
            batch_size=CHUNK,
        )
        hosts = Host.objects.bulk_create(
            [
                Host(tenant=tenant, name=f"PC-{i:05d}", organization=org)
                for i, org in enumerate(orgs)
            ],
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

        for start in range(0, options["time_entries"], CHUNK):
            count = min(CHUNK, options["time_entries"] - start)
            TimeEntry.objects.bulk_create([entry(rng.choice(tickets)) for _ in range(count)])
        for start in range(0, options["sessions"], CHUNK):
            count = min(CHUNK, options["sessions"] - start)
            picked = [rng.choice(tickets) for _ in range(count)]
            sessions = []
            for ticket in picked:
                began = dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC) + dt.timedelta(
                    minutes=rng.randrange(0, 26 * 24 * 60)
                )
                seconds = rng.randrange(300, 5400)
                sessions.append(
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
            sessions = RemoteSession.objects.bulk_create(sessions)
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
                    for ticket, session in zip(picked, sessions, strict=True)
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

    # ------------------------------------------------------------------ measures

    def _timed(self, label, func):
        with CaptureQueriesContext(connection) as queries:
            began, cpu = time.perf_counter(), time.process_time()
            result = func()
            elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
        # CPU time of this process too: on a busy machine the wall time includes waiting.
        self.out(
            f"{label}: {elapsed:.2f} s (this process's CPU {cpu:.2f} s), "
            f"{len(queries.captured_queries)} queries"
        )
        return result, elapsed, len(queries.captured_queries)

    def _measure(self, tenant, options) -> None:
        from invoices import batch_selectors, batch_services

        batch = batch_services.batch_create(name="Bench", as_of=AS_OF)
        contract_ids = list(Contract.objects.order_by("id").values_list("id", flat=True))
        preview, preview_time, _queries = self._timed(
            f"preview, all {len(contract_ids)} contracts",
            lambda: batch_selectors.batch_preview(batch),
        )
        self._timed(
            f"preview, a tenth ({len(contract_ids) // 10} contracts)",
            lambda: batch_selectors.batch_preview(
                batch, contract_ids=contract_ids[: len(contract_ids) // 10]
            ),
        )
        details = preview.details
        self.out(
            f"  details: {details.invoices_to_create} invoices, {details.unbilled_tickets} "
            f"tickets, {details.hours_worked} worked, "
            + ", ".join(
                f"{c.currency} {c.billable} + tax {c.tax} = {c.total}" for c in details.currencies
            )
        )
        floor_sql = (
            "SELECT contract_id, COUNT(*), SUM(worked_seconds) FROM contracts_timeentry "
            "WHERE tenant_id = %s AND state = 'posted' AND billable AND invoice_line_id IS NULL "
            "AND work_date < %s GROUP BY contract_id"
        )
        with connection.cursor() as cursor:
            began = time.perf_counter()
            cursor.execute(floor_sql, [tenant.pk, AS_OF])
            cursor.fetchall()
            floor = time.perf_counter() - began
        self.out(f"SQL floor (one aggregation over the due time entries): {floor:.3f} s")
        self.out(f"  preview / floor: {preview_time / floor:.1f}×")

        def run_and_generate():
            with transaction.atomic():
                drafts = batch_services.batch_run(batch=batch)
                finals = batch_services.batch_generate(batch=batch, consolidate=False)
                # PDFs are the workers' job: drop the render tasks queued for after commit
                # so this measures run + generate alone.
                connection.run_on_commit = []
            return drafts, finals

        (drafts, finals), _t, _q = self._timed("run + generate (no PDFs)", run_and_generate)
        self.out(f"  {len(drafts)} drafts -> {len(finals)} final invoices")
        self._pdf(finals, options["pdf_samples"])

    def _pdf(self, invoices, samples: int) -> None:
        from invoices import pdf, selectors

        one_page = [i.pk for i in invoices][:samples]
        queryset = selectors.invoice_detail_queryset().filter(pk__in=one_page)
        loaded = list(queryset)
        pdf.render_invoice_pdf(loaded[0])  # warm-up: fonts and stylesheet load once
        timings = []
        for invoice in loaded:
            began = time.perf_counter()
            pdf.render_invoice_pdf(invoice)
            timings.append(time.perf_counter() - began)
        self.out(
            f"PDF render: median {statistics.median(timings) * 1000:.0f} ms over "
            f"{len(timings)} invoices (max {max(timings) * 1000:.0f} ms)"
        )
