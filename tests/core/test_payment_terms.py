"""Payment terms and instructions: the tenant's default, the customer's override, the
draft's own; the due date follows the draft's terms at finalisation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from billing_site import selectors, services
from billing_site.roles import Role
from billing_site.testing.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def test_a_customer_overrides_the_tenants_terms(in_tenant_a):
    in_tenant_a.default_payment_terms_days = 30
    in_tenant_a.default_payment_instructions = "IBAN FR76 0000"
    in_tenant_a.save()
    plain = OrganizationFactory(tenant=in_tenant_a)
    own = OrganizationFactory(
        tenant=in_tenant_a, payment_terms_days=0, payment_instructions="Pay by card"
    )
    assert selectors.organization_payment_terms(organization=plain) == {
        "payment_terms_days": 30,
        "payment_instructions": "IBAN FR76 0000",
    }
    # Zero days is a choice (due on receipt), not "use the default".
    assert selectors.organization_payment_terms(organization=own) == {
        "payment_terms_days": 0,
        "payment_instructions": "Pay by card",
    }
    assert selectors.organization_payment_terms(organization=None)["payment_terms_days"] == 30


def test_terms_are_checked_and_shown(in_tenant_a, staff_a, client_as):
    org = OrganizationFactory(tenant=in_tenant_a)
    with pytest.raises(ValidationError) as error:
        services.organization_update(organization=org, payment_terms_days=366)
    assert "payment_terms_days" in error.value.message_dict
    services.organization_update(organization=org, payment_terms_days=14)
    page = (
        client_as(staff_a.user(Role.BILLING_ADMIN))
        .get(reverse("customer-detail", args=[org.pk]))
        .content.decode()
    )
    assert "14 days" in page


def test_batch_drafts_take_the_customers_terms_and_finalising_dates_them(tenant_a):
    from billing_site.tenancy import tenant_context
    from invoices.batches import services as batch_services
    from invoices.models import Invoice
    from invoices.services import invoices_finalize
    from tests.invoices.batch_factories import AS_OF, build_world

    world = build_world(tenant_a)
    with tenant_context(tenant_a):
        services.organization_update(
            organization=world.bistro.billing_organization,
            payment_terms_days=10,
            payment_instructions="Virement",
        )
        batch = batch_services.batch_create(name="March", as_of=AS_OF)
        drafts = batch_services.batch_run(batch=batch)
        bistro = [d for d in drafts if d.organization_id == world.bistro.billing_organization_id]
        others = [d for d in drafts if d not in bistro]
        assert {(d.payment_terms_days, d.payment_instructions) for d in bistro} == {
            (10, "Virement")
        }
        assert {d.payment_terms_days for d in others} == {tenant_a.default_payment_terms_days}
        (final,) = invoices_finalize(invoices=bistro[:1])
        final = Invoice.objects.get(pk=final.pk)
        assert final.due_date == final.issue_date + dt.timedelta(days=10)
