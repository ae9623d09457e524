"""Explain is linked from every finished session in the logs and the by-client view, for
the roles that read billing (the page answers 403 to anyone else)."""

import datetime as dt

import pytest
from django.urls import reverse

from billing_site.roles import Role

from .factories import HostFactory, HostGroupFactory, RemoteSessionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["sessions:session-list", "sessions:session-by-client"])
def test_each_finished_session_links_to_its_explanation(client_as, staff_a, tenant_a, tech, page):
    group = HostGroupFactory(tenant=tenant_a, name="ACME", organization__name="ACME")
    host = HostFactory(tenant=tenant_a, name="Jane_OFFICE_121", group=group)
    started = dt.datetime(2026, 10, 12, 9, 5, tzinfo=dt.UTC)
    finished = [
        RemoteSessionFactory(tenant=tenant_a, host=host, technician=tech, started_at=started),
        RemoteSessionFactory(tenant=tenant_a, host=host, started_at=started + dt.timedelta(days=1)),
    ]
    explain = reverse("contracts:rate-rule-explain")
    params = {"date_from": "2026-10-01", "date_to": "2026-10-31"}
    for role, shown in [
        (Role.OWNER, True),
        (Role.BILLING_ADMIN, True),
        (Role.ACCOUNTANT, True),
        (Role.TECHNICIAN, False),
    ]:
        response = client_as(staff_a.user(role)).get(reverse(page), params)
        assert response.status_code == 200
        html = response.content.decode()
        for session in finished:
            assert (f'href="{explain}?session={session.pk}"' in html) is shown, role
    # The link opens the explanation of that session.
    answer = client_as(staff_a.user(Role.BILLING_ADMIN)).get(explain, {"session": finished[0].pk})
    assert answer.status_code == 200
    assert "Jane_OFFICE_121" in answer.content.decode()
