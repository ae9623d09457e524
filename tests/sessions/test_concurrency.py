"""Races that only a real database can show: two requests starting a timer at once."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from billing_site.tenancy import tenant_context
from sessions import services
from sessions.models import RemoteSession

from .factories import HostFactory, technician_in


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_timers_started_at_once_leave_one_running(tenant_a, tenant_b):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent connections and a unique index wait")
    tech = technician_in(tenant_a)
    hosts = [HostFactory(tenant=tenant_a), HostFactory(tenant=tenant_a)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def start(host):
        try:
            with tenant_context(tenant_a):
                barrier.wait(timeout=10)
                services.session_timer_start(host=host, technician=tech)
            outcomes.append("started")
        except ValidationError as error:
            outcomes.append(error.message_dict["host"][0])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=start, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(outcomes) == 2 and outcomes.count("started") == 1
    assert RemoteSession.all_tenants.filter(ended_at__isnull=True).count() == 1
    with tenant_context(tenant_b):
        assert not RemoteSession.objects.exists()
