""" "Generate invoice" is offered only where something is left to invoice: a host or a
group whose sessions are all billed (or running, not billable, or logged as time) shows
none, counted with the page's totals in the same queries, whatever the number of rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from invoices import services

from .conftest import make_host, make_session

pytestmark = pytest.mark.django_db


def link(scope, pk) -> str:
    return f"scope={scope}&amp;id={pk}"


def get(client, name, *args, **params) -> str:
    response = client.get(reverse(name, args=args), params)
    assert response.status_code == 200
    return response.content.decode()


def invoice(acme, scope, pk):
    with tenant_context(acme.tenant):
        services.session_invoice_create(scope=scope, object_id=pk)


def test_no_generate_link_where_every_session_is_billed(client_as, staff_a, acme, acme_b):
    client = client_as(staff_a.user(Role.BILLING_ADMIN))
    tree = get(client, "sessions:host-list")
    assert link("host", acme.jane.pk) in tree and link("group", acme.group.pk) in tree

    # Jane's two billable sessions are invoiced; her others are running or not billable.
    invoice(acme, "host", acme.jane.pk)
    for page in (
        get(client, "sessions:host-list"),
        get(client, "sessions:group-detail", acme.group.pk),
        get(client, "sessions:session-by-client"),
    ):
        assert link("host", acme.jane.pk) not in page
        assert link("host", acme.joseph.pk) in page and link("group", acme.group.pk) in page
    assert "Generate invoice" not in get(client, "sessions:host-detail", acme.jane.pk)
    assert "Generate invoice" in get(client, "sessions:host-detail", acme.joseph.pk)

    # Then the rest of the group: nothing left anywhere in ACME.
    invoice(acme, "group", acme.group.pk)
    for page in (
        get(client, "sessions:host-list"),
        get(client, "sessions:group-detail", acme.group.pk),
        get(client, "sessions:session-by-client"),
        get(client, "sessions:host-detail", acme.joseph.pk),
    ):
        assert "Generate invoice" not in page
    # Within a date range the same holds: billed March offers nothing for March.
    assert "Generate invoice" not in get(
        client, "sessions:host-list", date_from="2026-03-01", date_to="2026-03-31"
    )


def test_the_check_costs_no_query_per_row(client_as, staff_a, acme, acme_b):
    client = client_as(staff_a.user(Role.BILLING_ADMIN))
    invoice(acme, "host", acme.jane.pk)

    def queries(name, *args) -> int:
        get(client, name, *args)  # warm the session and the caches
        with CaptureQueriesContext(connection) as captured:
            get(client, name, *args)
        return len(captured)

    pages = [("sessions:host-list",), ("sessions:session-by-client",)]
    pages.append(("sessions:group-detail", acme.group.pk))
    before = {page: queries(*page) for page in pages}
    with tenant_context(acme.tenant):
        for n in range(6):
            host = make_host(acme.tenant, f"PC-{n}", acme.group)
            make_session(host, dt.datetime(2026, 3, 9, 9, n), 900, f"Visit {n}")
    assert {page: queries(*page) for page in pages} == before
