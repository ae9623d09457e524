"""API fields that take a user id take only the tenant's staff: another tenant's user,
a portal user and an id that does not exist get the same answer."""

from __future__ import annotations

import pytest

from billing_site.roles import Role
from billing_site.testing.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def error_of(response, field: str) -> str:
    assert response.status_code == 400, response.content
    return response.json()[field][0]


def test_a_team_takes_only_the_tenants_staff(tenant_a, tenant_b, staff_a, staff_b, api_as):
    api = api_as(staff_a.user(Role.OWNER))
    theirs = staff_b.user(Role.TECHNICIAN)
    portal = UserFactory(username="portal-a")
    MembershipFactory(
        user=portal,
        tenant=tenant_a,
        role=Role.PORTAL,
        organization=OrganizationFactory(tenant=tenant_a),
    )
    answers = {}
    for name, user_id in {"theirs": theirs.pk, "portal": portal.pk, "missing": 999999}.items():
        response = api.post(
            "/api/v1/teams/", {"name": f"T {name}", "members": [user_id]}, format="json"
        )
        answers[name] = error_of(response, "members").replace(str(user_id), "<id>")
    assert answers["theirs"] == answers["portal"] == answers["missing"]
    assert answers["missing"] == "No staff member of this company has id <id>."
    ours = staff_a.user(Role.TECHNICIAN)
    created = api.post("/api/v1/teams/", {"name": "Desk", "members": [ours.pk]}, format="json")
    assert created.status_code == 201 and created.json()["members"] == [ours.pk]


def test_a_session_technician_from_another_tenant_is_not_found(staff_a, staff_b, api_as):
    from tests.sessions.factories import HostFactory

    owner = staff_a.user(Role.OWNER)
    host = HostFactory(tenant=owner.memberships.get().tenant)
    body = {
        "host": host.pk,
        "started_at": "2026-03-02T09:00:00Z",
        "ended_at": "2026-03-02T10:00:00Z",
    }
    api = api_as(owner)
    theirs = staff_b.user(Role.TECHNICIAN).pk
    other = error_of(
        api.post("/api/v1/sessions/", {**body, "technician": theirs}, format="json"), "technician"
    )
    missing = error_of(
        api.post("/api/v1/sessions/", {**body, "technician": 999999}, format="json"), "technician"
    )
    assert other.replace(str(theirs), "<id>") == missing.replace("999999", "<id>")
