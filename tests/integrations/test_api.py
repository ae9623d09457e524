"""The integrations API: connections, the mapping ledger, the delivery log, push."""

from __future__ import annotations

import pytest

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from integrations.core.models import Delivery, DeliveryStatus, Mapping

from .conftest import draft, finalise
from .fakes.server import Scripted

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_api(api_as, staff_a):
    return api_as(staff_a.user(Role.OWNER))


def test_connections_are_for_the_owner(quickbooks, api_as, staff_a, owner_api):
    rows = owner_api.get("/api/v1/integrations/connections/").json()["results"]
    assert [(r["provider"], r["status"]) for r in rows] == [("quickbooks", "active")]
    assert "access_token" not in rows[0] and "refresh_token" not in rows[0]
    admin = api_as(staff_a.user(Role.BILLING_ADMIN))
    assert admin.get("/api/v1/integrations/connections/").status_code == 403
    off = owner_api.post(
        f"/api/v1/integrations/connections/{quickbooks.pk}/auto-export/", {"auto_export": False}
    )
    assert off.status_code == 200 and off.json()["auto_export"] is False
    bad = owner_api.post(
        f"/api/v1/integrations/connections/{quickbooks.pk}/auto-export/", {"auto_export": "maybe"}
    )
    assert bad.status_code == 400 and "auto_export" in bad.json()


def test_mappings_are_set_listed_and_removed(in_tenant_a, owner_api, api_as, staff_a):
    created = owner_api.post(
        "/api/v1/integrations/mappings/",
        {
            "system": "xero",
            "kind": "tax_rate",
            "local_key": "20",
            "external_id": "OUTPUT2",
            "external_name": "20% (VAT on Income)",
        },
    )
    assert created.status_code == 201, created.json()
    again = owner_api.post(
        "/api/v1/integrations/mappings/",
        {"system": "xero", "kind": "tax_rate", "local_key": "20", "external_id": "OUTPUT3"},
    )
    assert again.json()["id"] == created.json()["id"]
    assert Mapping.objects.get().external_id == "OUTPUT3"
    listed = owner_api.get("/api/v1/integrations/mappings/", {"system": "xero"}).json()
    assert listed["count"] == 1
    bad = owner_api.post(
        "/api/v1/integrations/mappings/", {"system": "sage", "kind": "account", "local_key": "nope"}
    )
    assert bad.status_code == 400 and "system" in bad.json()
    role = owner_api.post(
        "/api/v1/integrations/mappings/",
        {"system": "xero", "kind": "account", "local_key": "receivable", "external_id": "610"},
    )
    assert role.status_code == 400 and "local_key" in role.json()
    # An accountant reads the mapping, changes nothing.
    accountant = api_as(staff_a.user(Role.ACCOUNTANT))
    assert accountant.get("/api/v1/integrations/mappings/").status_code == 200
    assert accountant.post("/api/v1/integrations/mappings/", {}).status_code == 403
    gone = owner_api.delete(f"/api/v1/integrations/mappings/{created.json()['id']}/")
    assert gone.status_code == 204 and not Mapping.objects.exists()


def test_delivery_log_filters_and_retries(
    quickbooks, fake_qbo, in_tenant_a, api_as, staff_a, django_capture_on_commit_callbacks
):
    fake_qbo.fail_next(
        Scripted(
            400,
            {
                "Fault": {
                    "Error": [{"Message": "Invalid Reference Id", "code": "2500"}],
                    "type": "ValidationFault",
                }
            },
        )
    )
    with django_capture_on_commit_callbacks(execute=True):
        _first, second = finalise(draft(in_tenant_a), draft(in_tenant_a))
    admin = api_as(staff_a.user(Role.BILLING_ADMIN))
    failed = admin.get("/api/v1/integrations/deliveries/", {"status": "failed"}).json()
    assert failed["count"] == 1
    row = failed["results"][0]
    assert "Invalid Reference Id (code 2500)" in row["last_error"]
    assert row["attempt_log"][0]["outcome"] == "failed"
    assert row["attempt_log"][0]["http_status"] == 400
    with django_capture_on_commit_callbacks(execute=True):
        retried = admin.post(f"/api/v1/integrations/deliveries/{row['id']}/retry/")
    # Queued: the worker runs it after the request commits.
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    after = admin.get(f"/api/v1/integrations/deliveries/{row['id']}/").json()
    assert after["status"] == "done" and after["attempts"] == 2
    again = admin.post(f"/api/v1/integrations/deliveries/{row['id']}/retry/")
    assert again.status_code == 400 and "Only a failed delivery" in str(again.json())
    by_invoice = admin.get("/api/v1/integrations/deliveries/", {"invoice": second.pk}).json()
    assert [r["invoice_number"] for r in by_invoice["results"]] == [second.number]


def test_invoice_push_endpoint(
    quickbooks, fake_qbo, in_tenant_a, api_as, staff_a, django_capture_on_commit_callbacks
):
    from integrations.core import services

    services.connection_update(connection=quickbooks, auto_export=False)
    (invoice,) = finalise(draft(in_tenant_a))
    admin = api_as(staff_a.user(Role.BILLING_ADMIN))
    with django_capture_on_commit_callbacks(execute=True):
        pushed = admin.post(f"/api/v1/invoices/{invoice.pk}/push/")
    assert pushed.status_code == 200, pushed.json()
    assert Delivery.objects.get(invoice=invoice).status == DeliveryStatus.DONE
    twice = admin.post(f"/api/v1/invoices/{invoice.pk}/push/")
    assert twice.status_code == 400 and "Already delivered" in str(twice.json())
    technician = api_as(staff_a.user(Role.TECHNICIAN))
    assert technician.post(f"/api/v1/invoices/{invoice.pk}/push/").status_code == 403


def test_another_tenants_delivery_is_a_404(
    quickbooks, fake_qbo, in_tenant_a, tenant_b, api_as, staff_b
):
    finalise(draft(in_tenant_a))
    delivery = Delivery.objects.get()
    other = api_as(staff_b.user(Role.OWNER))
    with tenant_context(tenant_b):
        assert other.get(f"/api/v1/integrations/deliveries/{delivery.pk}/").status_code == 404
        assert (
            other.post(f"/api/v1/integrations/deliveries/{delivery.pk}/retry/").status_code == 404
        )
        assert other.get("/api/v1/integrations/deliveries/").json()["count"] == 0


def test_the_api_sync_runs_after_the_request_commits(
    quickbooks, fake_qbo, in_tenant_a, owner_api, django_capture_on_commit_callbacks
):
    from invoices.models import InvoiceStatus

    with django_capture_on_commit_callbacks(execute=True):
        (invoice,) = finalise(draft(in_tenant_a))
    fake_qbo.pay(invoice.number)
    with django_capture_on_commit_callbacks(execute=True):
        answer = owner_api.post(f"/api/v1/integrations/connections/{quickbooks.pk}/sync/")
    assert answer.status_code == 202
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    from integrations.core import services

    services.connection_disconnect(connection=quickbooks)
    refused = owner_api.post(f"/api/v1/integrations/connections/{quickbooks.pk}/sync/")
    assert refused.status_code == 400 and "not connected" in str(refused.json())
