"""Tenant wall and role permissions on every route, walked from the URL resolver.

New pages and endpoints are covered automatically; a view whose URL objects cannot
be built (no factory, no declared model) fails here instead of going untested.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from billing_site.api.permissions import RolePermission
from billing_site.roles import Role, role_can
from billing_site.testing.registry import build_for
from billing_site.testing.routes import Route, all_routes
from billing_site.views_base import StaffViewMixin

ROUTES = all_routes()
STAFF_ROLES = [Role.OWNER, Role.BILLING_ADMIN, Role.TECHNICIAN, Role.ACCOUNTANT]
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def expected_capability(route: Route, method: str):
    view = route.view_class
    if route.actions:
        action = route.actions[method.lower()]
        overrides = getattr(view, "action_capabilities", {}) or {}
        if action in overrides:
            return overrides[action]
    if method == "GET":
        return getattr(view, "read_capability", None)
    return getattr(view, "write_capability", None)


def build_url(route: Route, tenant, cache: dict) -> str:
    kwargs = {}
    for name in route.kwargs:
        model = route.model_for(name)
        key = (tenant.pk, model)
        if key not in cache:
            cache[key] = build_for(model, tenant)
        kwargs[name] = cache[key].pk
    return reverse(route.name, kwargs=kwargs)


def call(client, method: str, url: str, api: bool):
    if api:
        return getattr(client, method.lower())(url, {}, format="json")
    if method == "GET":
        return client.get(url)
    return client.generic(method, url, "")


def client_for(user, api: bool, client_as, api_as):
    return api_as(user) if api else client_as(user)


def test_routes_found():
    names = {route.name for route in ROUTES}
    assert {"dashboard", "customer-list", "customer-detail"} <= names
    assert {"organization-list", "organization-detail"} <= {r.name for r in ROUTES if r.is_api}


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_route_is_behind_the_wall(route):
    if route.is_api:
        assert RolePermission in route.view_class.permission_classes, route.name
    else:
        assert issubclass(route.view_class, StaffViewMixin), route.name


@pytest.mark.parametrize("route", [r for r in ROUTES if r.kwargs], ids=str)
@pytest.mark.django_db
def test_other_tenants_objects_are_404(route, tenant_a, tenant_b, staff_a, client_as, api_as):
    owner = staff_a.user(Role.OWNER)
    url = build_url(route, tenant_b, {})
    client = client_for(owner, route.is_api, client_as, api_as)
    for method in sorted(route.methods):
        response = call(client, method, url, route.is_api)
        assert response.status_code == 404, (method, url, response.status_code)


@pytest.mark.parametrize("route", ROUTES, ids=str)
@pytest.mark.django_db
def test_each_role_reaches_only_what_it_may(route, tenant_a, staff_a, client_as, api_as):
    objects: dict = {}
    url = build_url(route, tenant_a, objects)
    for role in STAFF_ROLES:
        user = staff_a.user(role)
        client = client_for(user, route.is_api, client_as, api_as)
        for method in sorted(route.methods):
            allowed = role_can(role, expected_capability(route, method))
            if allowed and method in WRITE_METHODS:
                continue  # allowed writes are exercised by each app's own tests
            response = call(client, method, url, route.is_api)
            if allowed:
                assert response.status_code not in (401, 403, 500), (role, method, url)
            else:
                assert response.status_code == 403, (role, method, url, response.status_code)


@pytest.mark.parametrize("route", ROUTES, ids=str)
@pytest.mark.django_db
def test_portal_users_never_reach_staff_routes(route, tenant_a, client_as, api_as):
    from billing_site.testing.factories import MembershipFactory, OrganizationFactory, UserFactory

    organization = OrganizationFactory(tenant=tenant_a)
    user = UserFactory(username="portal-user")
    MembershipFactory(user=user, tenant=tenant_a, role=Role.PORTAL, organization=organization)
    url = build_url(route, tenant_a, {})
    client = client_for(user, route.is_api, client_as, api_as)
    for method in sorted(route.methods):
        response = call(client, method, url, route.is_api)
        if route.name == "dashboard":  # the landing page after login sends them on
            assert response.status_code == 302
            assert response["Location"] == reverse("portal:home")
            continue
        assert response.status_code in (403, 404), (method, url, response.status_code)


@pytest.mark.parametrize("route", ROUTES, ids=str)
@pytest.mark.django_db
def test_anonymous_is_turned_away(route, tenant_a, client):
    from rest_framework.test import APIClient

    url = build_url(route, tenant_a, {})
    anonymous = APIClient() if route.is_api else client
    for method in sorted(route.methods):
        response = call(anonymous, method, url, route.is_api)
        if route.is_api:
            assert response.status_code in (401, 403), (method, url, response.status_code)
        else:
            assert response.status_code in (302, 403), (method, url, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith(reverse("login"))
