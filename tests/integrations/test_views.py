"""The integration pages: mapping (paged, what is unmapped), retry all failed, roles."""

from __future__ import annotations

import pytest
from django.urls import reverse

from billing_site.roles import Role
from billing_site.testing.factories import OrganizationFactory
from integrations.core import ledger
from integrations.core.models import Delivery, DeliveryStatus, MappingKind, Provider
from tests.contracts.factories import ContractFactory

from .conftest import draft, finalise
from .fakes.server import Scripted

pytestmark = pytest.mark.django_db


def test_mapping_lists_every_rate_in_use_and_pages_the_rest(in_tenant_a, staff_a, client_as):
    ContractFactory(tenant=in_tenant_a, taxable=True, tax_rate="8.5")
    for n in range(60):
        OrganizationFactory(tenant=in_tenant_a, name=f"Customer {n:02d}")
    browser = client_as(staff_a.user(Role.OWNER))
    url = reverse("integrations:mapping")
    first = browser.get(url, {"system": "xero"}).content.decode()
    # The default account, the tenant's default rate (0 %), the contract's 8.5 % and
    # untaxed lines are required.
    assert "4 required mappings missing" in first
    assert "8.5 %" in first and "Untaxed lines" in first
    assert "Page 1 / 2" in first
    browser.post(
        url,
        {
            "system": "xero",
            "kind": "tax_rate",
            "local_key": "8.5",
            "external_id": "OUTPUT3",
            "external_name": "8.5% (VAT)",
        },
    )
    assert ledger.ledger("xero").external_id(MappingKind.TAX_RATE, "8.5") == "OUTPUT3"
    unmapped = browser.get(url, {"system": "xero", "show": "unmapped"}).content.decode()
    assert "3 required mappings missing" in unmapped and "8.5 %" not in unmapped
    bad = browser.post(
        url,
        {"system": "xero", "kind": "account", "local_key": "receivable", "external_id": "610"},
        follow=True,
    )
    assert "Unknown default account" in bad.content.decode()
    # Read-only for billing staff, closed to technicians.
    admin = client_as(staff_a.user(Role.BILLING_ADMIN))
    assert admin.get(url).status_code == 200
    assert (
        admin.post(
            url, {"system": "xero", "kind": "tax_rate", "local_key": "0", "external_id": "NONE"}
        ).status_code
        == 403
    )
    assert client_as(staff_a.user(Role.TECHNICIAN)).get(url).status_code == 403


def test_retry_all_failed_after_fixing_the_mapping(
    quickbooks, fake_qbo, in_tenant_a, staff_a, client_as, django_capture_on_commit_callbacks
):
    ledger.mapping_set(system=Provider.QUICKBOOKS, kind=MappingKind.TAX_RATE, local_key="20")
    with django_capture_on_commit_callbacks(execute=True):
        finalise(draft(in_tenant_a), draft(in_tenant_a))
    assert Delivery.objects.filter(status=DeliveryStatus.FAILED).count() == 2
    browser = client_as(staff_a.user(Role.BILLING_ADMIN))
    log = browser.get(reverse("integrations:deliveries")).content.decode()
    assert "Retry all failed (2)" in log and "Map these tax rates" in log
    ledger.mapping_set(
        system=Provider.QUICKBOOKS, kind=MappingKind.TAX_RATE, local_key="20", external_id="5"
    )
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(reverse("integrations:deliveries-retry-failed"))
    assert Delivery.objects.filter(status=DeliveryStatus.DONE).count() == 2
    assert len(fake_qbo.invoices()) == 2
    again = browser.post(reverse("integrations:deliveries-retry-failed"), follow=True)
    assert "No failed delivery to retry" in again.content.decode()


def test_connections_page_allows_the_consent_redirect_and_only_for_owners(
    in_tenant_a, staff_a, client_as, fake_qbo, fake_xero
):
    page = client_as(staff_a.user(Role.OWNER)).get(reverse("integrations:connections"))
    policy = page["Content-Security-Policy"]
    form_action = next(part for part in policy.split(";") if "form-action" in part)
    assert fake_qbo.url in form_action and fake_xero.url in form_action
    assert "'self'" in form_action
    assert "/integrations/callback/quickbooks/" in page.content.decode()
    admin = client_as(staff_a.user(Role.BILLING_ADMIN))
    assert admin.get(reverse("integrations:connections")).status_code == 403
    assert admin.post(reverse("integrations:connect-quickbooks")).status_code == 403


def test_a_server_error_shows_as_waiting_with_its_next_try(
    quickbooks, fake_qbo, in_tenant_a, staff_a, client_as, django_capture_on_commit_callbacks
):
    fake_qbo.fail_next(Scripted(503, {}))
    with django_capture_on_commit_callbacks(execute=True):
        finalise(draft(in_tenant_a))
    log = client_as(staff_a.user(Role.ACCOUNTANT)).get(reverse("integrations:deliveries"))
    body = log.content.decode()
    assert "Waiting" in body and "next try" in body and "server error (503)" in body
    assert "Retry all failed" not in body  # an accountant reads, changes nothing
