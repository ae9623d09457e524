"""ConnectWise PSA in the browser and the API: Settings › Integrations, the customer's
ConnectWise tab, "Send now" (twice), against the fake site."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from billing_site.roles import Role
from billing_site.testing.factories import OrganizationFactory
from integrations.core.models import Connection, Delivery, DeliveryStatus
from tests.contracts.factories import ContractFactory, ContractProductLineFactory, ProductFactory

UTC = dt.UTC


@pytest.mark.django_db
def test_the_seed_flow_in_the_browser(
    in_tenant_a, fake_cw, staff_a, client_as, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(dt.datetime(2027, 4, 10, 8, 0, tzinfo=UTC), tick=False)
    owner = client_as(staff_a.user(Role.OWNER))
    page = owner.get(reverse("integrations:connections")).content.decode()
    assert "ConnectWise PSA" in page and "Connect ConnectWise" in page
    refused = owner.post(
        reverse("integrations:connectwise-connect"),
        {"site": fake_cw.site, "company": "mspco", "public_key": "pub123", "private_key": "bad"},
        follow=True,
    ).content.decode()
    assert "refused the API keys (401)" in refused
    owner.post(
        reverse("integrations:connectwise-connect"),
        {
            "site": fake_cw.site,
            "company": "mspco",
            "public_key": "pub123",
            "private_key": "priv456",
        },
    )
    connection = Connection.objects.get(provider="connectwise")
    tested = owner.post(reverse("integrations:connectwise-test"), follow=True).content.decode()
    assert "Agreements (Finance › Agreements): readable" in tested
    owner.post(
        reverse("integrations:connection-schedule", args=[connection.pk]),
        {"schedule": "monthly", "schedule_day": "31"},
    )
    page = owner.get(reverse("integrations:connections")).content.decode()
    assert "30 Apr 2027" in page  # next run: 31 means April's last day

    org = OrganizationFactory(tenant=in_tenant_a, name="ACME", company_number="ACME")
    contract = ContractFactory(tenant=in_tenant_a, customer=org, recurring=True)
    for sku, quantity in (("MEP", "20"), ("BKP", "3")):
        ContractProductLineFactory(
            tenant=in_tenant_a,
            contract=contract,
            product=ProductFactory(tenant=in_tenant_a, sku=sku, unit_price=Decimal("10")),
            quantity=Decimal(quantity),
        )
    company = fake_cw.add_company("ACME", "ACME Corporation")
    managed = fake_cw.add_agreement(company, "ACME Managed", "Managed Services")
    fake_cw.add_agreement(company, "ACME Security", "Security")
    tab = reverse("integrations:connectwise-customer", args=[org.pk])
    body = owner.get(tab).content.decode()
    assert "ACME Corporation" in body and "Use this company" in body
    owner.post(
        tab, {"what": "company", "company_id": company["id"], "company_name": "ACME Corporation"}
    )
    body = owner.get(f"{tab}?type=Managed Services").content.decode()
    assert "Unmapped, billed this month: BKP, MEP" in body
    assert "Managed Services › ACME Managed" in body and "Security › ACME Security" not in body
    for sku in ("MEP", "BKP"):
        owner.post(
            tab,
            {
                "what": "agreement",
                "sku": sku,
                "agreement": f"{managed['id']}::Managed Services › ACME Managed",
            },
        )
    body = owner.get(tab).content.decode()
    assert "Unmapped" not in body
    assert "Every month on day 31 (the global settings)" in body

    with django_capture_on_commit_callbacks(execute=True):
        sent = owner.post(
            reverse("integrations:connectwise-send-now"), follow=True
        ).content.decode()
    assert "sending April 2027 for ACME" in sent
    assert len(fake_cw.additions(managed["id"])) == 2
    with django_capture_on_commit_callbacks(execute=True):
        again = owner.post(tab, {"what": "send-now"}, follow=True).content.decode()
    assert "April 2027 was already sent for ACME: nothing sent again" in again
    assert len(fake_cw.additions(managed["id"])) == 2
    log = owner.get(reverse("integrations:deliveries")).content.decode()
    assert "ACME" in log and "April 2027" in log
    assert (
        "ConnectWise tab" in owner.get(reverse("customer-detail", args=[org.pk])).content.decode()
    )

    # Billing staff read the tab; only the owner changes the mapping.
    admin = client_as(staff_a.user(Role.BILLING_ADMIN))
    assert admin.get(tab).status_code == 200
    assert admin.post(tab, {"what": "company", "company_id": "1"}).status_code == 403


@pytest.mark.django_db
def test_send_now_through_the_api(
    connectwise,
    fake_cw,
    in_tenant_a,
    staff_a,
    api_as,
    time_machine,
    django_capture_on_commit_callbacks,
):
    from integrations.connectwise import services as cw

    time_machine.move_to(dt.datetime(2027, 4, 10, 8, 0, tzinfo=UTC), tick=False)
    org = OrganizationFactory(tenant=in_tenant_a, name="ACME")
    company = fake_cw.add_company("ACME", "ACME Corporation")
    cw.customer_company_set(organization=org, company_id=str(company["id"]))
    api = api_as(staff_a.user(Role.OWNER))
    url = f"/api/v1/integrations/connections/{connectwise.pk}/send-now/"
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(url, {}, format="json")
    assert first.status_code == 202, first.json()
    assert first.json()["queued"] == [org.pk] and first.json()["period"] == "2027-04-01"
    assert Delivery.objects.get().status == DeliveryStatus.DONE
    with django_capture_on_commit_callbacks(execute=True):
        second = api.post(url, {"organization": org.pk}, format="json")
    assert second.json()["already_sent"] == [org.pk] and second.json()["queued"] == []
    off = api.post(
        f"/api/v1/integrations/connections/{connectwise.pk}/schedule/",
        {"schedule": "on_finalise"},
        format="json",
    )
    assert off.status_code == 400 and "schedule" in off.json()
