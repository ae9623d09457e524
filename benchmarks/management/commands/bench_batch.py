"""Benchmark of the invoice batch engine on the configured database (not a test).

Builds a synthetic tenant (slug ``bench-batch``; its rows are replaced on every run)
with bulk inserts, then prints: the batch preview time (details for everything due),
the preview's query count at full size and at a tenth of the contracts, two SQL floors,
run + generate time (PDF rendering left to the workers, so not included) with their query
counts, and the median PDF render time of one-page invoices in this process (font
configuration reused).

The preview and the floors are each timed five times and their medians compared: the
machine's speed drifts between runs, and one run of each can land on either side.

The floors, each one hand-written statement timed with its fetch:

- no pricing: the due worked time summed per contract (what reading the items costs);
- same figures (PostgreSQL only): one statement that prices everything due the way the
  product does and returns the preview's batch details (invoices, tickets, worked time,
  per currency billable, tax and total, one invoice per contract). Its figures are
  printed beside the preview's and compared to the cent, so the ratio compares equal
  work. It is specialised to the data built here: monthly periods anchored on day 1,
  per-entry rounding, one unscoped rate rule, fixed product quantities, one currency
  with two minor digits, and nothing billed yet (no frozen time or block usage).

With ``--preview-only`` the run, generate and PDF measures are skipped.

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
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from billing_site.models import Organization, Tenant
from billing_site.tenancy import tenant_context
from billing_site.timeutils import format_duration
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
REPEAT = 5  # timings of the preview and the floors: the median of five
CHUNK = 5000

# Everything due as of %(as_of)s for tenant %(tenant)s, priced as the batch preview prices
# it (not consolidated, no exclusions), as the batch details: one row per currency with
# invoices, billable, tax and total, and the tickets and worked seconds of the due time.
# Periods are calendar months (the contracts built here are monthly from day 1). It reads
# nothing the product computes, so matching the preview to the cent checks both.
SAME_FIGURES_SQL = """
WITH terms AS NOT MATERIALIZED (
    -- Active contracts and what pricing reads of them. Hourly work is charged at the
    -- tenant's unscoped rate rule in the contract's currency (else the tenant default),
    -- time beyond a retainer's or block's pool at the contract's overage rate.
    SELECT c.id, c.contract_type AS kind, c.currency,
           c.contract_type IN ('retainer', 'block_hours') AS pooled,
           c.taxable AND c.tax_rate <> 0 AS taxed, c.tax_rate,
           c.rounding_increment_minutes * 60 AS step, c.rounding_minimum_minutes * 60 AS minimum,
           (COALESCE(c.included_hours, 0) * 3600)::bigint AS included,
           ROUND(COALESCE(c.retainer_fee, 0), 4) AS fee,
           c.start_date, date_trunc('month', c.start_date::timestamp)::date AS first_period,
           LEAST(%(as_of)s::date, c.end_date) AS fees_until,
           CASE WHEN c.contract_type IN ('retainer', 'block_hours')
                THEN ROUND(COALESCE(c.overage_rate, 0), 4)
                ELSE ROUND(COALESCE(r.rate, CASE WHEN c.currency = t.currency
                                                 THEN t.default_hourly_rate END), 4)
           END AS rate
    FROM contracts_contract c
    JOIN billing_site_tenant t ON t.id = c.tenant_id
    LEFT JOIN (
        SELECT DISTINCT ON (currency) currency, rate
        FROM contracts_raterule
        WHERE tenant_id = %(tenant)s AND contract_id IS NULL AND organization_id IS NULL
          AND technician_id IS NULL AND team_id IS NULL AND service_type_id IS NULL
        ORDER BY currency, id
    ) r ON r.currency = c.currency
    WHERE c.tenant_id = %(tenant)s AND c.status = 'active'
),
entries AS NOT MATERIALIZED (
    -- Every unbilled posted billable entry (pools are drawn over all, due or not),
    -- rounded up per entry to the increment, then at least the minimum.
    SELECT e.id, e.contract_id, e.ticket_id, e.worked_seconds, e.work_date, x.kind, x.pooled,
           x.included, date_trunc('month', e.work_date::timestamp)::date AS period_start,
           e.work_date < date_trunc('month', %(as_of)s::timestamp)::date AS due,
           COALESCE(e.started_at, e.work_date::timestamp AT TIME ZONE 'UTC') AS started,
           CASE WHEN e.worked_seconds <= 0 THEN 0
                ELSE GREATEST(
                    CASE WHEN x.step > 0
                         THEN (e.worked_seconds + x.step - 1) / x.step * x.step
                         ELSE e.worked_seconds END,
                    x.minimum)
           END AS billed
    FROM contracts_timeentry e
    JOIN terms x ON x.id = e.contract_id
    WHERE e.tenant_id = %(tenant)s AND e.state = 'posted' AND e.billable
      AND e.invoice_line_id IS NULL
),
bought AS (
    -- Block seconds bought up to each purchase date, until the next purchase.
    SELECT contract_id, purchased_on AS since,
           LEAD(purchased_on) OVER (PARTITION BY contract_id ORDER BY purchased_on) AS until,
           (SUM(SUM(hours)) OVER (PARTITION BY contract_id ORDER BY purchased_on)
            * 3600)::bigint AS seconds
    FROM contracts_blockpurchase
    WHERE tenant_id = %(tenant)s
    GROUP BY contract_id, purchased_on
),
drawn AS (
    -- Pools: a retainer's included hours per period; a block's balance over all its time,
    -- counting purchases made by the end of the entry's period.
    SELECT en.id, en.contract_id, en.ticket_id, en.worked_seconds, en.due, en.work_date,
           en.started, pool.key AS pool, pool.cap,
           SUM(en.billed) OVER (PARTITION BY en.contract_id, pool.key
                                ORDER BY en.work_date, en.started, en.id
                                ROWS UNBOUNDED PRECEDING) AS billed_upto
    FROM entries en
    LEFT JOIN bought b ON en.kind = 'block_hours' AND b.contract_id = en.contract_id
     AND b.since < en.period_start + interval '1 month'
     AND (b.until IS NULL OR b.until >= en.period_start + interval '1 month')
    CROSS JOIN LATERAL (
        SELECT CASE WHEN en.kind = 'retainer' THEN en.period_start END AS key,
               CASE WHEN en.kind = 'retainer' THEN en.included
                    ELSE COALESCE(b.seconds, 0) END AS cap
    ) pool
    WHERE en.pooled
),
pooled AS (
    -- Entries draw the pool one by one in chronological order. The pool drawn after entry
    -- i is C_i + min(0, min over k <= i of (cap_k - C_k)), C the running billed time (the
    -- cap never decreases in that order); what an entry does not draw is charged.
    SELECT contract_id, ticket_id, worked_seconds, due,
           LEAST(0, COALESCE(MIN(cap - billed_upto) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING
                                                             AND 1 PRECEDING), 0))
           - LEAST(0, MIN(cap - billed_upto) OVER (w ROWS UNBOUNDED PRECEDING)) AS charged
    FROM drawn
    WINDOW w AS (PARTITION BY contract_id, pool ORDER BY work_date, started, id)
),
time_lines AS (
    -- One line per ticket (one rate per contract here): the line's charged seconds as
    -- hours to 4 places, converted once.
    SELECT contract_id, ticket_id, SUM(worked_seconds) AS worked,
           ROUND(SUM(charged)::numeric / 3600, 4) AS hours
    FROM (
        SELECT contract_id, ticket_id, worked_seconds, charged FROM pooled WHERE due
        UNION ALL
        SELECT contract_id, ticket_id, worked_seconds, billed FROM entries
        WHERE due AND NOT pooled
    ) due_time
    GROUP BY contract_id, ticket_id
),
fees AS (
    -- Retainer fees and recurring product lines: one line per unbilled period begun by
    -- as_of, all alike, so counted rather than listed.
    SELECT x.id AS contract_id,
           CASE WHEN x.start_date > x.fees_until THEN 0
                ELSE (EXTRACT(YEAR FROM x.fees_until) - EXTRACT(YEAR FROM x.first_period)) * 12
                     + EXTRACT(MONTH FROM x.fees_until) - EXTRACT(MONTH FROM x.first_period) + 1
           END - COUNT(DISTINCT pc.period_start) AS periods,
           CASE WHEN l.id IS NULL THEN ROUND(x.fee, 2)
                ELSE ROUND(l.quantity * ROUND(COALESCE(l.unit_price, p.unit_price), 4), 2)
           END AS amount
    FROM terms x
    LEFT JOIN contracts_contractproductline l ON x.kind = 'recurring' AND l.contract_id = x.id
    LEFT JOIN contracts_product p ON p.id = l.product_id
    LEFT JOIN contracts_periodcharge pc ON pc.contract_id = x.id
     AND pc.invoice_line_id IS NOT NULL
     AND pc.kind = CASE WHEN l.id IS NULL THEN 'retainer_fee' ELSE 'product' END
     AND pc.product_line_id IS NOT DISTINCT FROM l.id
     AND pc.period_start BETWEEN x.first_period AND x.fees_until
    WHERE x.kind = 'retainer' OR l.id IS NOT NULL
    GROUP BY x.id, x.start_date, x.first_period, x.fees_until, x.fee, l.id, l.quantity,
             l.unit_price, p.unit_price
),
lines AS (
    SELECT tl.contract_id, ROUND(tl.hours * x.rate, 2) AS amount
    FROM time_lines tl
    JOIN terms x ON x.id = tl.contract_id
    UNION ALL
    SELECT contract_id, periods * amount FROM fees WHERE periods > 0
    UNION ALL
    -- block purchases: invoiced once, from the purchase date
    SELECT p.contract_id, ROUND(ROUND(p.price, 4), 2)
    FROM contracts_blockpurchase p
    JOIN terms x ON x.id = p.contract_id AND x.kind = 'block_hours'
    WHERE p.invoice_line_id IS NULL AND p.purchased_on <= %(as_of)s::date
),
invoices AS (
    -- One invoice per contract: tax on its lines at its rate, rounded once.
    SELECT x.currency, SUM(l.amount) AS billable,
           CASE WHEN x.taxed THEN ROUND(SUM(l.amount) * x.tax_rate / 100, 2) ELSE 0 END AS tax
    FROM lines l
    JOIN terms x ON x.id = l.contract_id
    GROUP BY x.id, x.currency, x.taxed, x.tax_rate
)
SELECT i.currency, COUNT(*), SUM(i.billable), SUM(i.tax), SUM(i.billable + i.tax),
       u.tickets, u.worked
FROM invoices i
CROSS JOIN (SELECT COUNT(DISTINCT ticket_id) AS tickets,
                   COALESCE(SUM(worked), 0)::bigint AS worked
            FROM time_lines) u
GROUP BY i.currency, u.tickets, u.worked
ORDER BY i.currency
"""


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
        parser.add_argument(
            "--preview-only",
            action="store_true",
            help="Measure the preview and the floors only; leave the tenant unbilled.",
        )

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

    def _timed(self, label, func, repeat: int = 1):
        """Run ``func`` ``repeat`` times; print and return the median time (the machine's
        speed drifts between runs), with the result and query count of the first run."""
        runs = []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as queries:
                began, cpu = time.perf_counter(), time.process_time()
                outcome = func()
                runs.append((time.perf_counter() - began, time.process_time() - cpu))
            if len(runs) == 1:
                result, query_count = outcome, len(queries.captured_queries)
        elapsed = statistics.median(wall for wall, _cpu in runs)
        cpu = statistics.median(cpu for _wall, cpu in runs)
        spread = (
            f", median of {repeat}: {min(w for w, _c in runs):.2f}–{max(w for w, _c in runs):.2f} s"
            if repeat > 1
            else ""
        )
        # CPU time of this process too: on a busy machine the wall time includes waiting.
        self.out(
            f"{label}: {elapsed:.2f} s (this process's CPU {cpu:.2f} s{spread}), "
            f"{query_count} queries"
        )
        return result, elapsed, query_count

    def _timed_sql(self, sql, params, repeat: int = REPEAT) -> tuple[list, float]:
        """Rows of ``sql`` and its median time (with the fetch) over ``repeat`` runs."""
        timings = []
        with connection.cursor() as cursor:
            for _ in range(repeat):
                began = time.perf_counter()
                cursor.execute(sql, params)
                rows = cursor.fetchall()
                timings.append(time.perf_counter() - began)
        return rows, statistics.median(timings)

    def _measure(self, tenant, options) -> None:
        from invoices.batches import selectors as batch_selectors
        from invoices.batches import services as batch_services

        batch = batch_services.batch_create(name="Bench", as_of=AS_OF)
        contract_ids = list(Contract.objects.order_by("id").values_list("id", flat=True))
        preview, preview_time, _queries = self._timed(
            f"preview, all {len(contract_ids)} contracts",
            lambda: batch_selectors.batch_preview(batch),
            repeat=REPEAT,
        )
        self._timed(
            f"preview, a tenth ({len(contract_ids) // 10} contracts)",
            lambda: batch_selectors.batch_preview(
                batch, contract_ids=contract_ids[: len(contract_ids) // 10]
            ),
            repeat=REPEAT,
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
        _rows, floor = self._timed_sql(floor_sql, [tenant.pk, AS_OF])
        self.out(f"SQL floor, no pricing (sum of due worked time): {floor:.3f} s (median)")
        self.out(f"  preview / no-pricing floor: {preview_time / floor:.1f}×")
        self._same_figures_floor(tenant, details, preview_time)

        if options["preview_only"]:
            return

        def run_and_generate():
            with transaction.atomic():
                drafts = batch_services.batch_run(batch=batch)
                finals = batch_services.batch_generate(batch=batch, consolidate=False)
                # PDFs are the workers' job: drop the render tasks queued for after commit
                # so this measures run + generate alone. The statistics refresh queued
                # for after commit stays: the product runs it in the same request.
                connection.run_on_commit = [
                    callback
                    for callback in connection.run_on_commit
                    if callback[1].__module__ == "billing_site.dbstats"
                ]
            return drafts, finals

        (drafts, finals), _t, _q = self._timed("run + generate (no PDFs)", run_and_generate)
        self.out(f"  {len(drafts)} drafts -> {len(finals)} final invoices")
        self._pdf(finals, options["pdf_samples"])

    def _same_figures_floor(self, tenant, details, preview_time: float) -> None:
        """Time ``SAME_FIGURES_SQL`` and check that its figures are the preview's."""
        label = "SQL floor, same figures (one statement pricing the due items)"
        if connection.vendor != "postgresql":
            self.out(f"{label}: skipped (PostgreSQL only)")
            return
        rows, floor = self._timed_sql(SAME_FIGURES_SQL, {"tenant": tenant.pk, "as_of": AS_OF})
        self.out(f"{label}: {floor:.3f} s (median of {REPEAT})")
        self.out(f"  preview / same-figures floor: {preview_time / floor:.1f}×")

        tickets, worked = (rows[0][5], rows[0][6]) if rows else (0, 0)
        figures = {
            "invoices": sum(row[1] for row in rows),
            "tickets": tickets,
            "worked seconds": worked,
            **{
                f"{currency} {name}": value
                for currency, _n, billable, tax, total, *_usage in rows
                for name, value in (("billable", billable), ("tax", tax), ("total", total))
            },
        }
        expected = {
            "invoices": details.invoices_to_create,
            "tickets": details.unbilled_tickets,
            "worked seconds": details.worked_seconds,
            **{
                f"{c.currency} {name}": value
                for c in details.currencies
                for name, value in (("billable", c.billable), ("tax", c.tax), ("total", c.total))
            },
        }
        self.out(
            f"  floor's details: {figures['invoices']} invoices, {figures['tickets']} tickets, "
            f"{format_duration(figures['worked seconds'])} worked, "
            + ", ".join(
                f"{currency} {billable} + tax {tax} = {total}"
                for currency, _n, billable, tax, total, *_usage in rows
            )
        )
        # Decimals compare by value: 12.50 equals 12.5, a cent apart does not.
        names = [*expected, *(name for name in figures if name not in expected)]
        mismatches = [
            (name, expected.get(name), figures.get(name))
            for name in names
            if expected.get(name) != figures.get(name)
        ]
        if not mismatches:
            self.out("  figures equal: yes (preview details = same-figures floor)")
        for name, preview_value, floor_value in mismatches:
            self.out(f"  MISMATCH {name}: preview {preview_value}, floor {floor_value}")

    def _pdf(self, invoices, samples: int) -> None:
        from invoices import pdf, selectors

        # One-page invoices: up to six lines (with their contract and ticket headings,
        # more lines run onto a second page).
        queryset = (
            selectors.invoice_detail_queryset()
            .filter(pk__in=[i.pk for i in invoices])
            .annotate(line_count=Count("lines"))
            .filter(line_count__lte=6)
            .order_by("id")
        )
        loaded = list(queryset[:samples])
        pdf.render_invoice_pdf(loaded[0])  # warm-up: fonts and stylesheet load once
        timings = []
        for invoice in loaded:
            began = time.perf_counter()
            pdf.render_invoice_pdf(invoice)
            timings.append(time.perf_counter() - began)
        self.out(
            f"PDF render: median {statistics.median(timings) * 1000:.0f} ms over "
            f"{len(timings)} one-page invoices (max {max(timings) * 1000:.0f} ms)"
        )
