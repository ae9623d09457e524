"""Races on PostgreSQL: two connections invoicing the same sessions, concurrent numbering."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction

from billing_site.tenancy import tenant_context
from invoices import services
from invoices.models import Invoice, InvoiceLine, InvoiceStatus, LineKind
from sessions.models import RemoteSession

from .conftest import build_acme, make_session
from .factories import InvoiceFactory, InvoiceLineFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("row locks and concurrent connections need PostgreSQL")


def run_in_threads(tenant, jobs):
    """Run each job in its own thread and connection, started together; return outcomes."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list = [None] * len(jobs)

    def worker(index, job):
        try:
            with tenant_context(tenant):
                barrier.wait(timeout=10)
                outcomes[index] = job()
        except ValidationError as error:
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_two_requests_invoicing_the_same_group_bill_each_session_once(tenant_a, tenant_b):
    acme = build_acme(tenant_a)
    for day in range(6, 26):  # more sessions widen the window the race has to hit
        make_session(acme.joseph, dt.datetime(2026, 3, day, 15, 0), 900 + day, f"Visit {day}")
    billable = list(
        RemoteSession.all_tenants.filter(
            tenant=tenant_a, billable=True, ended_at__isnull=False
        ).values_list("pk", flat=True)
    )

    def invoice_group():
        return services.session_invoice_create(scope="group", object_id=acme.group.pk)

    outcomes = run_in_threads(tenant_a, [invoice_group, invoice_group])

    invoices = [o for o in outcomes if isinstance(o, Invoice)]
    refused = [o for o in outcomes if isinstance(o, ValidationError)]
    assert len(invoices) == 1 and len(refused) == 1, outcomes
    assert "sessions" in refused[0].message_dict
    winner = invoices[0]
    session_lines = InvoiceLine.all_tenants.filter(invoice__tenant=tenant_a, kind=LineKind.SESSION)
    # Every billable session is on exactly one line, and every line bills one session.
    assert session_lines.count() == len(billable)
    billed = dict(
        RemoteSession.all_tenants.filter(pk__in=billable).values_list("pk", "invoice_line__invoice")
    )
    assert set(billed.values()) == {winner.pk}
    assert Invoice.all_tenants.filter(tenant=tenant_a).count() == 1
    assert winner.number == "INV-2026-00001"


def test_overlapping_scopes_racing_never_share_a_session(tenant_a, tenant_b):
    acme = build_acme(tenant_a)

    def invoice_host():
        return services.session_invoice_create(scope="host", object_id=acme.jane.pk)

    def invoice_group():
        return services.session_invoice_create(scope="group", object_id=acme.group.pk)

    def invoice_session():
        return services.session_invoice_create(scope="session", object_id=acme.jane_updates.pk)

    outcomes = run_in_threads(tenant_a, [invoice_host, invoice_group, invoice_session])
    assert any(isinstance(o, Invoice) for o in outcomes), outcomes
    lines = InvoiceLine.all_tenants.filter(invoice__tenant=tenant_a, kind=LineKind.SESSION)
    sessions = RemoteSession.all_tenants.filter(tenant=tenant_a, invoice_line__isnull=False)
    assert lines.count() == sessions.count()  # no line without its session, none shared
    numbers = sorted(Invoice.all_tenants.filter(tenant=tenant_a).values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:05d}" for n in range(1, len(numbers) + 1)]


def test_concurrent_finalisation_keeps_numbers_unique_and_gapless(tenant_a, tenant_b):
    drafts = []
    for _ in range(6):
        draft = InvoiceFactory(tenant=tenant_a, draft=True)
        InvoiceLineFactory(tenant=tenant_a, invoice=draft)
        drafts.append(draft)
    other = InvoiceFactory(tenant=tenant_b, draft=True)
    InvoiceLineFactory(tenant=tenant_b, invoice=other)

    def finalize(draft):
        def job():
            with transaction.atomic():
                return services.invoice_finalize(invoice=draft)

        return job

    outcomes = run_in_threads(tenant_a, [finalize(draft) for draft in drafts])
    assert all(isinstance(o, Invoice) for o in outcomes), outcomes
    numbers = sorted(o.number for o in outcomes)
    assert numbers == [f"INV-2026-{n:05d}" for n in range(1, 7)]
    assert not Invoice.all_tenants.filter(tenant=tenant_a, status=InvoiceStatus.DRAFT).exists()
    with tenant_context(tenant_b), transaction.atomic():
        assert services.invoice_finalize(invoice=other).number == "INV-2026-00001"
