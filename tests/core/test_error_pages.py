"""Error pages: 403 and 404 inside the layout for staff (a card for anyone else), a 500 that
renders with no request context, a favicon, and no link a role cannot follow."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.template.loader import get_template
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

from billing_site.roles import Role
from billing_site.testing.factories import (
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)
from contracts.models import Contract
from tests.contracts.factories import ContractFactory

pytestmark = pytest.mark.django_db

LAYOUT = 'aria-label="Main"'  # the staff navigation


def test_404_for_staff_is_inside_the_layout(client_as, admin_a):
    response = client_as(admin_a).get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert LAYOUT in html and "Alpha IT" in html
    assert "<h1>Page not found</h1>" in html
    assert "There is no page at this address." in html
    assert f'href="{reverse("dashboard")}"' in html
    assert 'href="/static/css/app.css"' in html


def test_404_of_an_object_names_what_was_not_found(client_as, admin_a, tenant_b):
    foreign = ContractFactory(tenant=tenant_b)
    url = reverse("contracts:contract-detail", args=[foreign.pk])
    response = client_as(admin_a).get(url)
    assert response.status_code == 404
    assert "contract not found" in response.content.decode()


def test_404_for_a_visitor_is_a_card_with_a_login_link(client):
    response = client.get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert LAYOUT not in html and "Log out" not in html
    assert "Page not found" in html and 'class="auth-card"' in html
    assert f'href="{reverse("login")}?next=/no-such-page/"' in html


def test_api_404_stays_json(client_as, admin_a):
    response = client_as(admin_a).get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_403_for_a_role_is_inside_the_layout_with_the_reason(client_as, staff_a):
    response = client_as(staff_a.user(Role.ACCOUNTANT)).get(reverse("contracts:ticket-create"))
    html = response.content.decode()
    assert response.status_code == 403
    assert LAYOUT in html
    assert "You cannot open this page" in html
    assert "<p data-error-message>Your role does not allow this.</p>" in html
    assert "ask an owner of Alpha IT to change your role" in html


def test_403_for_a_portal_user_is_a_card(client_as, tenant_a):
    user = UserFactory(username="portal-pat")
    organization = OrganizationFactory(tenant=tenant_a)
    MembershipFactory(user=user, tenant=tenant_a, role=Role.PORTAL, organization=organization)
    response = client_as(user).get(reverse("customer-list"))
    html = response.content.decode()
    assert response.status_code == 403
    assert LAYOUT not in html and 'class="auth-card"' in html
    assert "Staff pages need a staff account of this MSP." in html
    assert "Back to the start page" in html


def test_csrf_refusal_is_a_styled_403(admin_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_a)
    response = client.post(reverse("contracts:rate-rule-list"), {"rate": "10"})
    html = response.content.decode()
    assert response.status_code == 403
    assert "The form was not sent" in html and LAYOUT in html
    assert "CSRF verification failed" not in html


def test_500_page_renders_without_any_context():
    # django.views.defaults.server_error renders it with an empty context: no request,
    # no user, no tenant. Nothing in it may need them.
    html = get_template("500.html").render()
    assert "Something went wrong" in html
    assert 'href="/static/css/app.css"' in html and 'href="/static/favicon.svg"' in html
    assert "{%" not in html and "Log out" not in html


def test_500_of_a_failing_view(client_as, admin_a, monkeypatch):
    from billing_site import views

    def fail(self, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(views.DashboardView, "get_context_data", fail)
    client = client_as(admin_a)
    client.raise_request_exception = False
    response = client.get(reverse("dashboard"))
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html and "database went away" not in html
    direct = server_error(RequestFactory().get("/"))
    assert direct.status_code == 500 and b"Something went wrong" in direct.content


def test_favicon_is_local_and_linked(client_as, admin_a, client):
    assert finders.find("favicon.svg")
    page = client_as(admin_a).get(reverse("dashboard")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    login = Client().get(reverse("login")).content.decode()
    assert 'rel="icon"' in login


def test_pages_carry_the_alert_region_for_failed_requests(client_as, admin_a):
    page = client_as(admin_a).get(reverse("dashboard")).content.decode()
    assert (
        '<div id="request-alert" class="request-alert" role="alert" aria-live="assertive">' in page
    )


@pytest.mark.parametrize(
    ("role", "shown"),
    [(Role.ACCOUNTANT, False), (Role.BILLING_ADMIN, True), (Role.OWNER, True)],
)
def test_contract_page_offers_ticket_only_to_roles_that_open_tickets(
    client_as, staff_a, in_tenant_a, role, shown
):
    contract = ContractFactory(tenant=in_tenant_a)
    assert Contract.objects.count() == 1
    html = client_as(staff_a.user(role)).get(
        reverse("contracts:contract-detail", args=[contract.pk])
    )
    assert html.status_code == 200
    assert ("+ Ticket" in html.content.decode()) is shown
    assert (reverse("contracts:ticket-create") in html.content.decode()) is shown
