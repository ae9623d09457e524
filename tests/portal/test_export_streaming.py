"""The CSV export streams after the request's tenant context has ended: its rows must
still be read as the partner's tenant, also behind PostgreSQL's row-level wall."""

from __future__ import annotations

import csv
import io
import os

import pytest
from django.db import connection
from django.urls import reverse

from billing_site.tenancy import get_current_tenant, iterate_in_tenant, tenant_context
from tests.core.test_row_level_security import as_app_role  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

EXPORT = reverse("portal:end-client-tickets-export")


def test_iteration_runs_each_step_in_the_tenant_and_leaves_none_behind(world):
    seen = []

    def rows():
        for number in range(3):
            seen.append(get_current_tenant())
            yield number

    streamed = iterate_in_tenant(world.tenant, rows())
    assert get_current_tenant() is None
    assert next(streamed) == 0
    # Between items the caller's context is its own again.
    assert get_current_tenant() is None
    assert list(streamed) == [1, 2]
    assert seen == [world.tenant] * 3
    # A context the caller had set is left as it was.
    with tenant_context(world.tenant):
        assert list(iterate_in_tenant(world.tenant, iter(()))) == []
        assert get_current_tenant() == world.tenant


def test_the_streamed_csv_holds_the_rows_as_the_application_role(world, client_as, as_app_role):  # noqa: F811
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("the row-level security tests must run on PostgreSQL in CI")
        pytest.skip("row-level security is PostgreSQL's; SQLite has no second wall")
    partner = client_as(world.portal_user)
    with as_app_role():
        response = partner.get(EXPORT, {"format": "csv", "include_completed": "on"})
        assert response.status_code == 200
        text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    titles = sorted(row[2] for row in rows[1:])
    assert "Printer offline" in titles and "Till not printing" in titles
    assert len(rows) > 1
