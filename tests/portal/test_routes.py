"""Every route of the portal and its API, walked from the URL resolver.

The foundation's walker leaves the ``portal`` and ``portal-api`` namespaces out (their
users are customers, not staff); this walks them the same way, so a new portal page or
endpoint is covered without being listed here.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from billing_site.roles import Role, role_can
from billing_site.testing.registry import build_for
from billing_site.testing.routes import Route
from billing_site.views_base import StaffViewMixin
from contracts.models import Ticket, TicketAttachment
from portal.api.permissions import PortalPermission
from portal.views import PortalViewMixin

NAMESPACES = {"portal", "portal-api"}
# The invitation link is public by design: its signed, expiring token is the credential.
PUBLIC = {"portal:set-password"}
EXTRA_PARAMS = {
    "portal:end-client-tickets-export": {"format": "csv"},
    "portal-api:end-client-ticket-export": {"format": "csv"},
}
STAFF_ROLES = [Role.OWNER, Role.BILLING_ADMIN, Role.TECHNICIAN, Role.ACCOUNTANT]


def _kwargs_of(pattern) -> list[str]:
    if getattr(pattern, "_route", None) is not None:
        return list(pattern.converters)
    return list(pattern.regex.groupindex)


def _walk(resolver, namespace, inherited, inside):
    for entry in resolver.url_patterns:
        kwargs = inherited + _kwargs_of(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = entry.namespace
            full = ":".join(filter(None, [namespace, ns])) if ns else namespace
            yield from _walk(entry, full, kwargs, inside or ns in NAMESPACES)
        elif isinstance(entry, URLPattern) and inside and entry.name:
            callback = entry.callback
            view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
            yield Route(
                name=f"{namespace}:{entry.name}",
                kwargs=kwargs,
                view_class=view_class,
                is_api=hasattr(view_class, "permission_classes") and hasattr(view_class, "initial"),
            )


ROUTES = sorted(_walk(get_resolver(), None, [], False), key=lambda r: r.name)
WALLED = [r for r in ROUTES if r.name not in PUBLIC]
PORTAL_ROUTES = [r for r in WALLED if not issubclass(r.view_class, StaffViewMixin)]
STAFF_ROUTES = [r for r in WALLED if issubclass(r.view_class, StaffViewMixin)]


def visible_objects(world) -> dict:
    return {Ticket: world.billed, TicketAttachment: world.files.billed}


def url_for(route: Route, objects: dict) -> str:
    kwargs = {name: objects[route.model_for(name)].pk for name in route.kwargs}
    return reverse(route.name, kwargs=kwargs)


def call(client, route: Route, method: str, url: str):
    params = EXTRA_PARAMS.get(route.name, {}) if method == "GET" else {}
    if route.is_api:
        return getattr(client, method.lower())(url, params)
    if method == "GET":
        return client.get(url, params)
    return client.generic(method, url, "")


def test_routes_found():
    names = {route.name for route in ROUTES}
    assert {
        "portal:home",
        "portal:end-client-tickets",
        "portal:end-client-tickets-export",
        "portal:ticket-detail",
        "portal:attachment",
        "portal:logo",
        "portal:set-password",
        "portal:users",
        "portal-api:end-client-ticket-list",
        "portal-api:end-client-ticket-export",
        "portal-api:ticket-detail",
        "portal-api:attachment",
    } <= names


@pytest.mark.parametrize("route", WALLED, ids=str)
def test_route_is_behind_a_wall(route):
    if route.is_api:
        assert PortalPermission in route.view_class.permission_classes, route.name
        assert route.view_class.portal_allowed
    else:
        assert issubclass(route.view_class, (PortalViewMixin, StaffViewMixin)), route.name


@pytest.mark.parametrize("route", PORTAL_ROUTES, ids=str)
@pytest.mark.django_db
def test_portal_user_reaches_each_portal_route(route, world, client_as, api_as):
    client = api_as(world.portal_user) if route.is_api else client_as(world.portal_user)
    url = url_for(route, visible_objects(world))
    for method in sorted(route.methods):
        response = call(client, route, method, url)
        expected = (200, 404) if route.name == "portal:logo" else (200,)  # no logo uploaded
        assert response.status_code in expected, (method, url, response.status_code)


@pytest.mark.parametrize("route", WALLED, ids=str)
@pytest.mark.django_db
def test_anonymous_is_turned_away(route, world, client):
    url = url_for(route, visible_objects(world))
    anonymous = APIClient() if route.is_api else client
    for method in sorted(route.methods):
        response = call(anonymous, route, method, url)
        if route.is_api:
            assert response.status_code in (401, 403), (method, url, response.status_code)
        else:
            assert response.status_code == 302, (method, url, response.status_code)
            assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("route", PORTAL_ROUTES, ids=str)
@pytest.mark.django_db
def test_staff_of_this_and_other_tenants_are_refused(
    route, world, staff_a, staff_b, client_as, api_as
):
    url = url_for(route, visible_objects(world))
    for staff in (staff_a, staff_b):
        for role in STAFF_ROLES:
            user = staff.user(role)
            client = api_as(user) if route.is_api else client_as(user)
            for method in sorted(route.methods):
                response = call(client, route, method, url)
                assert response.status_code == 403, (role, method, url, response.status_code)


@pytest.mark.parametrize("route", [r for r in PORTAL_ROUTES if r.kwargs], ids=str)
@pytest.mark.django_db
def test_other_organizations_and_tenants_get_404_for_the_objects(
    route, world, world_b, client_as, api_as
):
    url = url_for(route, visible_objects(world))
    for user in (world.harbor_user, world_b.portal_user):
        client = api_as(user) if route.is_api else client_as(user)
        for method in sorted(route.methods):
            response = call(client, route, method, url)
            assert response.status_code == 404, (user, method, url, response.status_code)


@pytest.mark.parametrize("route", [r for r in PORTAL_ROUTES if r.kwargs], ids=str)
@pytest.mark.django_db
def test_objects_of_another_tenant_from_the_registry_are_404(
    route, world, tenant_b, client_as, api_as
):
    objects = {model: build_for(model, tenant_b) for model in (Ticket, TicketAttachment)}
    url = url_for(route, objects)
    client = api_as(world.portal_user) if route.is_api else client_as(world.portal_user)
    for method in sorted(route.methods):
        assert call(client, route, method, url).status_code == 404, (method, url)


@pytest.mark.parametrize("route", STAFF_ROUTES, ids=str)
@pytest.mark.django_db
def test_staff_routes_refuse_portal_users_and_roles_without_the_capability(
    route, world, staff_a, client_as
):
    url = url_for(route, visible_objects(world))
    for user in (world.portal_user, world.harbor_user):
        for method in sorted(route.methods):
            assert call(client_as(user), route, method, url).status_code == 403
    for role in STAFF_ROLES:
        client = client_as(staff_a.user(role))
        for method in sorted(route.methods):
            capability = (
                route.view_class.read_capability
                if method == "GET"
                else route.view_class.write_capability
            )
            allowed = role_can(role, capability)
            if allowed and method != "GET":
                continue  # allowed writes are exercised in test_invitations.py
            response = call(client, route, method, url)
            if allowed:
                assert response.status_code == 200, (role, method, url, response.status_code)
            else:
                assert response.status_code == 403, (role, method, url, response.status_code)


@pytest.mark.django_db
def test_staff_actions_on_another_tenants_portal_user_are_404(world, staff_b, client_as):
    from billing_site.models import Membership

    membership = Membership.objects.get(user=world.portal_user)
    client = client_as(staff_b.user(Role.BILLING_ADMIN))
    for name in ("portal:user-resend", "portal:user-revoke"):
        response = client.post(reverse(name), {"membership": membership.pk})
        assert response.status_code == 404
    assert "helios-portal" not in client.get(reverse("portal:users")).content.decode()
    membership.refresh_from_db()
    world.portal_user.refresh_from_db()
    assert world.portal_user.is_active


@pytest.mark.django_db
def test_a_portal_user_with_a_login_at_two_msps_sees_each_separately(world, world_b, client_as):
    """One login, portal memberships at two MSPs: the bound tenant decides, never both."""
    from billing_site.models import Membership

    Membership.objects.create(
        user=world.portal_user,
        tenant=world_b.tenant,
        role=Role.PORTAL,
        organization=world_b.partner,
    )
    html = client_as(world.portal_user).get(reverse("portal:end-client-tickets")).content.decode()
    assert reverse("portal:ticket-detail", args=[world.billed.pk]) in html
    assert reverse("portal:ticket-detail", args=[world_b.billed.pk]) not in html
