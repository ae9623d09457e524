"""Two workers refreshing one connection's token at once (PostgreSQL row lock): the
second waits and refreshes with the token the first stored, so the grant survives."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from billing_site.tenancy import tenant_context
from integrations.core import oauth
from integrations.core.models import Connection, ConnectionStatus

from .conftest import connect

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_refreshes_never_use_a_retired_refresh_token(tenant_a, fake_qbo):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    with tenant_context(tenant_a):
        connected = connect("quickbooks")
    barrier = threading.Barrier(4)
    tokens, errors = [], []

    def refresh():
        try:
            with tenant_context(tenant_a):
                barrier.wait(timeout=10)
                tokens.append(oauth.access_token(connected.pk, force_refresh=True))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    stored = Connection.all_tenants.get(pk=connected.pk)
    assert stored.status == ConnectionStatus.ACTIVE
    # Four refreshes one after the other, each with the token the one before stored.
    assert stored.token_version == 1 + 4
    assert len(fake_qbo.retired_refresh_tokens) == 4
    assert len(set(tokens)) == 4
