"""Rate rules are edited in place with the checks of a new rule; a tie names the other rule
by its description and links to its edit page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from billing_site.roles import Role
from contracts import services
from contracts.models import RateRule

from .factories import RateRuleFactory

LIST = reverse("contracts:rate-rule-list")


def edit_url(rule) -> str:
    return reverse("contracts:rate-rule-edit", args=[rule.pk])


@pytest.fixture
def admin_client(admin_a, client_as):
    return client_as(admin_a)


@pytest.fixture
def senior(in_tenant_a, tech):
    return RateRuleFactory(
        tenant=in_tenant_a,
        technician=tech,
        service_type=None,
        rate=Decimal("120"),
        description="Senior rate",
    )


@pytest.fixture
def remote_rule(in_tenant_a, remote):
    return RateRuleFactory(
        tenant=in_tenant_a, service_type=remote, rate=Decimal("80"), description="Remote work"
    )


def test_the_list_links_each_rule_to_its_edit_page(admin_client, senior):
    html = admin_client.get(LIST).content.decode()
    assert f'href="{edit_url(senior)}"' in html
    assert "Senior rate" in html
    assert f"#{senior.pk}<" not in html


def test_edit_page_shows_the_rule_and_saves_a_change(admin_client, senior, tech):
    page = admin_client.get(edit_url(senior))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Edit rule “Senior rate”" in html
    assert page.context["form"]["rate"].value() == Decimal("120.0000")
    response = admin_client.post(
        edit_url(senior),
        {"rate": "135", "technician": tech.pk, "currency": "", "description": "Senior rate 2026"},
    )
    assert response.status_code == 302 and response.url == LIST
    senior.refresh_from_db()
    assert senior.rate == Decimal("135") and senior.description == "Senior rate 2026"
    assert senior.currency == "EUR"  # left empty: the tenant's currency
    listing = admin_client.get(LIST).content.decode()
    assert "Rate rule “Senior rate 2026” saved." in listing


def test_an_edit_that_would_tie_is_refused_with_a_link_to_the_other_rule(
    admin_client, senior, remote_rule, remote
):
    response = admin_client.post(
        edit_url(senior), {"rate": "95", "service_type": remote.pk, "description": "Senior rate"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "could tie with rule “Remote work”" in html
    assert "Edit rule “Remote work”" in html
    assert f'href="{edit_url(remote_rule)}"' in html
    assert f"#{remote_rule.pk}" not in html
    # The page still names the rule being edited by what it was; nothing was saved.
    assert "<h1>Edit rule “Senior rate”</h1>" in html
    senior.refresh_from_db()
    assert senior.service_type_id is None and senior.rate == Decimal("120")


def test_a_new_rule_that_would_tie_links_to_the_rule_it_ties_with(
    admin_client, remote_rule, remote
):
    response = admin_client.post(LIST, {"rate": "90", "service_type": remote.pk})
    html = response.content.decode()
    assert "could tie with rule “Remote work”" in html
    assert f'<a href="{edit_url(remote_rule)}">Edit rule “Remote work”</a>' in html
    assert RateRule.objects.count() == 1


def test_a_rule_without_description_is_named_by_its_scopes(admin_client, in_tenant_a, remote):
    plain = RateRuleFactory(tenant=in_tenant_a, service_type=remote, rate=Decimal("80"))
    response = admin_client.post(LIST, {"rate": "90", "service_type": remote.pk})
    assert "Edit rule “service type Remote support”" in response.content.decode()
    assert f'href="{edit_url(plain)}"' in response.content.decode()


def test_edit_validates_like_create(admin_client, senior, tech):
    response = admin_client.post(edit_url(senior), {"rate": "-5", "technician": tech.pk})
    assert response.status_code == 200
    assert response.context["form"].errors["rate"] == ["A rate cannot be negative."]
    senior.refresh_from_db()
    assert senior.rate == Decimal("120")


def test_service_update_refuses_a_tie_in_one_place(senior, remote_rule, remote):
    with pytest.raises(ValidationError) as error:
        services.rate_rule_update(rule=senior, technician=None, service_type=remote)
    assert services.tie_rule_id(error.value) == remote_rule.pk
    assert "Remote work" in error.value.messages[0]
    senior.refresh_from_db()
    assert senior.technician_id is not None


def test_a_percent_sign_in_a_description_stays_as_typed(in_tenant_a, remote):
    RateRuleFactory(
        tenant=in_tenant_a, service_type=remote, rate=Decimal("80"), description="-10 % partner"
    )
    with pytest.raises(ValidationError) as error:
        services.rate_rule_create(rate=Decimal("90"), service_type=remote)
    assert "“-10 % partner”" in error.value.messages[0]


@pytest.mark.parametrize("role", [Role.ACCOUNTANT, Role.TECHNICIAN])
def test_roles_that_do_not_manage_billing_cannot_edit(client_as, staff_a, senior, role):
    client = client_as(staff_a.user(role))
    assert client.get(edit_url(senior)).status_code == 403
    assert client.post(edit_url(senior), {"rate": "1"}).status_code == 403
    senior.refresh_from_db()
    assert senior.rate == Decimal("120")


def test_the_accountant_sees_rules_without_edit_links(client_as, staff_a, senior):
    html = client_as(staff_a.user(Role.ACCOUNTANT)).get(LIST).content.decode()
    assert "Senior rate" in html and edit_url(senior) not in html


def test_another_tenants_rule_is_not_found(admin_client, in_tenant_a, tenant_b):
    from billing_site.tenancy import tenant_context

    with tenant_context(tenant_b):
        foreign = RateRuleFactory(tenant=tenant_b, description="Theirs")
    assert admin_client.get(edit_url(foreign)).status_code == 404
