"""Benchmark of the invoice batch engine on the configured database (not a test).

Builds a synthetic tenant (slug ``bench-batch``; its rows are replaced on every run)
with bulk inserts, then prints: the batch preview time (details for everything due),
the preview's query count at full size and at a tenth of the contracts, two SQL floors,
run + generate time (PDF rendering left to the workers, so not included) with their query
counts, and the median PDF render time of one-page invoices in this process (font
configuration reused).

The preview and the floors are each timed five times and their medians compared: the
machine's speed drifts between runs, and one run of each can land on either side.

The floors (``benchmarks.floors``), each one hand-written statement timed with its fetch:

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

import statistics
import time

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from benchmarks import batch_tenant, floors
from benchmarks.batch_tenant import AS_OF
from billing_site.tenancy import tenant_context
from billing_site.timeutils import format_duration
from contracts.models import Contract

REPEAT = 5  # timings of the preview and the floors: the median of five


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
        tenant = batch_tenant.fresh_tenant()
        user, _ = get_user_model().objects.get_or_create(username="bench-batch-tech")
        with tenant_context(tenant):
            batch_tenant.build(
                tenant,
                user,
                customers=options["customers"],
                contracts=options["contracts"],
                time_entries=options["time_entries"],
                sessions=options["sessions"],
                seed=options["seed"],
            )
        self.out(f"built synthetic tenant in {time.perf_counter() - start:.1f} s")
        with tenant_context(tenant):
            self._measure(tenant, options)

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
        _rows, floor = floors.timed(floors.NO_PRICING_SQL, [tenant.pk, AS_OF], repeat=REPEAT)
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
        """Time ``floors.SAME_FIGURES_SQL`` and check that its figures are the preview's."""
        label = "SQL floor, same figures (one statement pricing the due items)"
        if connection.vendor != "postgresql":
            self.out(f"{label}: skipped (PostgreSQL only)")
            return
        rows, floor = floors.timed(
            floors.SAME_FIGURES_SQL, {"tenant": tenant.pk, "as_of": AS_OF}, repeat=REPEAT
        )
        self.out(f"{label}: {floor:.3f} s (median of {REPEAT})")
        self.out(f"  preview / same-figures floor: {preview_time / floor:.1f}×")

        figures = floors.same_figures(rows)
        self.out(
            f"  floor's details: {figures['invoices']} invoices, {figures['tickets']} tickets, "
            f"{format_duration(figures['worked seconds'])} worked, "
            + ", ".join(
                f"{currency} {billable} + tax {tax} = {total}"
                for currency, _n, billable, tax, total, *_usage in rows
            )
        )
        mismatches = floors.mismatches(floors.preview_figures(details), figures)
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
