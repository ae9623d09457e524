"""Benchmark the streamed import of a big session log (``sessions.bulk_import``).

    python manage.py bench_import --rows 100000 --runs 3

Builds the tenant ``bench-import`` with one technician, writes a deterministic generic CSV
of ``--rows`` rows (500 computers in 50 groups, an external id per row), stages it and
imports it through the streamed path on the configured database, ``--runs`` times (the
sessions, computers and groups are removed between runs), then once more with the file
already imported (adds nothing). Prints rows per second (min / median / max), the peak of
Python allocations during an import (tracemalloc, on one extra run: it slows Python
down), the growth of the process's peak resident size, and the queries per run. The
tenant is removed at the end unless ``--keep`` is given.
"""

from __future__ import annotations

import datetime as dt
import resource
import statistics
import sys
import time
import tracemalloc

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, reset_queries, transaction
from django.test.utils import CaptureQueriesContext

from billing_site.models import Membership, Tenant, User
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from sessions import bulk_import
from sessions.models import Host, HostGroup, ImportStatus, RemoteSession, SessionImport

SLUG = "bench-import"
USERNAME = "bench-import-tech"
HEADER = "host,group,technician,start,end,comment,external_id\n"
BASE = dt.datetime(2020, 1, 6, 8, 0, 0)
# The file's times are read in UTC: every 7 minutes for a year would cross local times
# that a daylight-saving change skips or repeats, which are row errors.
ZONE = "UTC"


def generate_csv(rows: int, *, technician: str, hosts: int = 500, groups: int = 50) -> str:
    """A generic session log of ``rows`` rows, the same for the same arguments: row ``i``
    is on computer ``i % hosts``, starts 7 minutes after row ``i - 1`` and lasts 5 to 64
    minutes; its external id is ``BI-<i>``."""
    lines = [HEADER]
    for i in range(rows):
        start = BASE + dt.timedelta(minutes=7 * i)
        end = start + dt.timedelta(minutes=5 + (i * 37) % 60, seconds=(i * 13) % 60)
        lines.append(
            f"PC-{i % hosts:04d},Client {i % hosts % groups:02d},{technician},"
            f"{start:%Y-%m-%d %H:%M:%S},{end:%Y-%m-%d %H:%M:%S},"
            f"Ticket {i % 9973}: remote help,BI-{i}\n"
        )
    return "".join(lines)


def host_names(hosts: int = 500) -> list[str]:
    """The computers of ``generate_csv``'s file, as the preview's ticks store them."""
    return [f"pc-{i:04d}" for i in range(hosts)]


def _maxrss_mb() -> float:
    # Kilobytes on Linux, bytes on macOS.
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / (1024 * 1024) if sys.platform == "darwin" else value / 1024


class Command(BaseCommand):
    help = "Time the streamed import of a big session log on a synthetic tenant."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=100_000)
        parser.add_argument("--runs", type=int, default=3)
        parser.add_argument("--keep", action="store_true", help="Keep the tenant afterwards.")

    def handle(self, *args, rows: int, runs: int, keep: bool, **options):
        if rows > bulk_import.max_rows():
            raise CommandError(f"At most SESSION_IMPORT_MAX_ROWS={bulk_import.max_rows()} rows.")
        self.cleanup()
        rss_start = _maxrss_mb()
        tenant = Tenant.objects.create(
            name="Bench Import", slug=SLUG, currency="EUR", time_zone="Europe/Paris"
        )
        user = User.objects.create_user(USERNAME, email="bench-import@example.com")
        Membership.objects.create(user=user, tenant=tenant, role=Role.TECHNICIAN)
        text = generate_csv(rows, technician=USERNAME)
        self.stdout.write(
            f"{connection.vendor}: {rows} rows, {len(text.encode()) / 1e6:.1f} MB, chunks of "
            f"{bulk_import.chunk_rows()} rows"
        )
        with tenant_context(tenant):
            staged = SessionImport.objects.create(
                tenant=tenant,
                uploaded_by=user,
                filename="bench.csv",
                content=text,
                time_zone=ZONE,
                create_hosts=host_names(),  # ticked, as a user would on the preview
            )
        del text
        try:
            speeds = []
            for number in range(runs):
                self.reset(tenant, staged)
                seconds, queries, progress = self.run_once(tenant, staged, user)
                self.expect_all(progress, rows)
                speeds.append(rows / seconds)
                self.stdout.write(
                    f"  run {number + 1}: {seconds:.2f} s, {rows / seconds:,.0f} rows/s, "
                    f"{queries} queries"
                )
            self.reset(tenant, staged)
            tracemalloc.start()
            _, _, progress = self.run_once(tenant, staged, user)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            self.expect_all(progress, rows)
            # The same file again: everything is already there.
            with tenant_context(tenant):
                again = SessionImport.objects.create(
                    tenant=tenant,
                    uploaded_by=user,
                    filename="bench-again.csv",
                    time_zone=ZONE,
                    create_hosts=host_names(),
                    content=SessionImport.objects.values_list("content", flat=True).get(
                        pk=staged.pk
                    ),
                )
            seconds, queries, progress = self.run_once(tenant, again, user)
            if progress.state != bulk_import.DONE or progress.sessions_created:
                raise CommandError(f"The re-import added sessions: {progress.message}")
            self.stdout.write(
                f"  re-import: {seconds:.2f} s, {rows / seconds:,.0f} rows/s, "
                f"{progress.duplicates} already imported, 0 added, {queries} queries"
            )
            self.stdout.write(
                f"rows/s min / median / max: {min(speeds):,.0f} / "
                f"{statistics.median(speeds):,.0f} / {max(speeds):,.0f}"
            )
            self.stdout.write(
                f"peak Python allocations during an import (tracemalloc): {peak / 1e6:.1f} MB; "
                f"process peak RSS grew {_maxrss_mb() - rss_start:.0f} MB over the command "
                f"(file generation and staging included), to {_maxrss_mb():.0f} MB"
            )
        finally:
            if not keep:
                self.cleanup()

    def run_once(self, tenant, staged, user):
        # The query log keeps 9,000 entries: once full, a run's slice of it reads as empty.
        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            progress = bulk_import.run(tenant=tenant, import_id=staged.pk, actor_id=user.pk)
            seconds = time.perf_counter() - started
        return seconds, len(queries.captured_queries), progress

    def expect_all(self, progress, rows: int) -> None:
        if progress.state != bulk_import.DONE or progress.sessions_created != rows:
            raise CommandError(f"The import did not import every row: {progress.message}")

    def reset(self, tenant, staged) -> None:
        with tenant_context(tenant), transaction.atomic():
            RemoteSession.objects.all().delete()
            Host.objects.all().delete()
            HostGroup.objects.all().delete()
            SessionImport.objects.filter(pk=staged.pk).update(status=ImportStatus.PENDING)

    def cleanup(self) -> None:
        """Remove the benchmark tenant and its technician, children first."""
        tenant = Tenant.objects.filter(slug=SLUG).first()
        if tenant is not None:
            with tenant_context(tenant), transaction.atomic():
                for model in (RemoteSession, Host, HostGroup, SessionImport):
                    model.objects.all().delete()
                Membership.objects.filter(tenant=tenant).delete()
                tenant.delete()
        User.objects.filter(username=USERNAME).delete()
