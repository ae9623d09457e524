"""Lists of deliveries read a fixed number of queries, whatever their length."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing_site.roles import Role
from integrations.core.models import DeliveryStatus
from tests.invoices.factories import InvoiceFactory

from .factories import ConnectionFactory, DeliveryFactory

pytestmark = pytest.mark.django_db


def deliveries(tenant, count: int):
    connection_ = ConnectionFactory(tenant=tenant)
    for _ in range(count):
        DeliveryFactory(
            tenant=tenant,
            connection=connection_,
            status=DeliveryStatus.DONE,
            invoice=InvoiceFactory(tenant=tenant),
        )


def queries(call) -> int:
    with CaptureQueriesContext(connection) as context:
        response = call()
    assert response.status_code == 200
    return len(context.captured_queries)


def test_log_page_and_api_do_not_grow_with_deliveries(tenant_a, staff_a, client_as, api_as):
    browser = client_as(staff_a.user(Role.BILLING_ADMIN))
    api = api_as(staff_a.user(Role.BILLING_ADMIN))
    page = lambda: browser.get(reverse("integrations:deliveries"))  # noqa: E731
    listed = lambda: api.get("/api/v1/integrations/deliveries/")  # noqa: E731
    deliveries(tenant_a, 2)
    few = (queries(page), queries(listed))
    deliveries(tenant_a, 20)
    assert (queries(page), queries(listed)) == few


def test_invoice_page_reads_its_deliveries_at_once(tenant_a, staff_a, client_as):
    browser = client_as(staff_a.user(Role.BILLING_ADMIN))
    invoice = InvoiceFactory(tenant=tenant_a)
    first = ConnectionFactory(tenant=tenant_a)
    DeliveryFactory(tenant=tenant_a, connection=first, invoice=invoice)
    url = reverse("invoices:invoice-detail", args=[invoice.pk])
    one = queries(lambda: browser.get(url))
    second = ConnectionFactory(tenant=tenant_a, provider="xero")
    DeliveryFactory(tenant=tenant_a, connection=second, invoice=invoice)
    assert queries(lambda: browser.get(url)) == one


def test_auto_export_adds_the_same_queries_for_any_number_of_invoices(quickbooks, in_tenant_a):
    from invoices.services import invoices_finalize

    from .conftest import draft

    def finalise_count(count: int) -> int:
        drafts = [draft(in_tenant_a) for _ in range(count)]
        with CaptureQueriesContext(connection) as context:
            invoices_finalize(invoices=drafts)
        return len(context.captured_queries)

    finalise_count(1)  # the year's number sequence is created once
    assert finalise_count(2) == finalise_count(8)
