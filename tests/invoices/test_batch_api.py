"""Invoice batch API: the Atera flow end to end, roles, tenant wall, exports."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from contracts.models import TimeEntry
from invoices.models import Invoice, InvoiceStatus

from .batch_factories import build_world

BATCHES = "/api/v1/batches/"


@pytest.fixture
def world(tenant_a):
    return build_world(tenant_a)


@pytest.fixture
def api(api_as, admin_a):
    return api_as(admin_a)


def contracts_by_name(data):
    return {row["name"]: row for row in data["contracts"]}


def eur(data):
    return next(c for c in data["details"]["currencies"] if c["currency"] == "EUR")


def test_atera_flow_through_the_api(api, world, tenant_a):
    created = api.post(BATCHES, {"name": "March 2026", "as_of": "2026-03-01"}, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    url = f"{BATCHES}{data['id']}/"
    assert data["status"] == "draft"
    rows = contracts_by_name(data)
    assert rows["ACME support"]["state"] == "partial"
    assert rows["Harbor support"]["state"] == "locked"
    assert (rows["ACME support"]["total_balance"], rows["ACME support"]["selected_balance"]) == (
        "400.00",
        "200.00",
    )
    march = next(i for i in rows["ACME support"]["items"] if not i["due"])
    assert (march["selected"], march["selectable"]) == (False, False)
    assert data["details"]["invoices_to_create"] == 5
    assert data["details"]["hours_worked"] == "12 h 30 min"
    assert eur(data)["billable_amount"] == "1770.00"
    assert eur(data)["tax_by_rate"] == [
        {"rate": "10", "tax": "118.00"},
        {"rate": "20", "tax": "40.00"},
    ]
    assert eur(data)["total"] == "1928.00"

    # Selection changes the details.
    changed = api.post(
        f"{url}selection/",
        {"contract": world.bistro.pk, "item": "retainer_fee:2026-03-01", "include": False},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert contracts_by_name(changed.json())["Bistro retainer"]["selected_balance"] == "680.00"
    assert eur(changed.json())["billable_amount"] == "1270.00"
    assert eur(changed.json())["tax"] == "108.00"  # 40.00 + 68.00

    ran = api.post(f"{url}run/")
    assert ran.status_code == 200, ran.content
    assert ran.json()["status"] == "run"
    drafts = ran.json()["invoices"]
    assert len(drafts) == 5 and ran.json()["invoice_count"] == 5  # null before: schema said int
    assert sum(Decimal(i["total"]) for i in drafts if i["currency"] == "EUR") == Decimal("1378.00")
    again = api.post(f"{url}run/")
    assert again.status_code == 400
    assert "already been run" in str(again.json())

    # Delete an unwanted draft: its items return to unbilled.
    acme = next(i for i in drafts if i["bill_to_name"] == "ACME")
    deleted = api.post(f"{url}delete-invoice/", {"invoice": acme["id"]}, format="json")
    assert deleted.status_code == 200, deleted.content
    assert len(deleted.json()["invoices"]) == 4
    with tenant_context(tenant_a):
        assert TimeEntry.objects.get(pk=world.entries["acme1"].pk).invoice_line_id is None

    generated = api.post(f"{url}generate/", {"consolidate": True}, format="json")
    assert generated.status_code == 200, generated.content
    final = generated.json()["invoices"]
    assert generated.json()["status"] == "generated"
    assert sorted((i["bill_to_name"], i["currency"], i["total"]) for i in final) == [
        ("Bistro Lumière", "EUR", "748.00"),
        ("Helios IT Partners", "EUR", "390.00"),
        ("Helios IT Partners", "USD", "80.00"),
    ]
    assert all(i["status"] == InvoiceStatus.FINAL and i["number"] for i in final)
    assert api.post(f"{url}generate/", {}, format="json").status_code == 400

    exported = api.get(f"{url}export/?format=csv")
    assert exported.status_code == 200, exported.content
    assert exported["Content-Disposition"] == 'attachment; filename="march-2026.csv"'
    text = exported.content.decode("utf-8-sig")
    assert "MSP-DEV" in text and "390.00" in text
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) > 3
    # MSP-DEV-2026-00001 is longer than QuickBooks Desktop keeps: refused unless shortened.
    refused = api.get(f"{url}export/?format=iif")
    assert refused.status_code == 400
    assert "at most 11 characters" in refused.json()["invoices"][0]
    for fmt, ext in (("iif", "iif"), ("xero", "csv")):
        response = api.get(f"{url}export/?format={fmt}&shorten_numbers=true")
        assert response.status_code == 200, response.content
        assert response["Content-Disposition"].endswith(f'.{ext}"')
    assert api.get(f"{url}export/?format=pdfx").status_code == 400

    ids = ",".join(str(i["id"]) for i in final[:2])
    selection = api.get(f"/api/v1/invoices/export/?ids={ids}&format=xero")
    assert selection.status_code == 200, selection.content
    assert selection["Content-Disposition"] == 'attachment; filename="invoices-xero.csv"'
    assert api.get("/api/v1/invoices/export/?ids=x&format=csv").status_code == 400


def test_unknown_fields_and_waiting_items_are_refused(api, world):
    assert (
        api.post(
            BATCHES, {"name": "X", "as_of": "2026-03-01", "tenant": 2}, format="json"
        ).status_code
        == 400
    )
    batch = api.post(BATCHES, {"name": "X", "as_of": "2026-03-01"}, format="json").json()
    response = api.post(
        f"{BATCHES}{batch['id']}/selection/",
        {
            "contract": world.acme.pk,
            "item": f"time:{world.entries['acme_march'].pk}",
            "include": True,
        },
        format="json",
    )
    assert response.status_code == 400
    assert "not due" in str(response.json())


def test_roles(api_as, staff_a, world):
    admin = api_as(staff_a.user(Role.BILLING_ADMIN))
    batch = admin.post(BATCHES, {"name": "X", "as_of": "2026-03-01"}, format="json").json()
    tech = api_as(staff_a.user(Role.TECHNICIAN))
    assert tech.get(BATCHES).status_code == 403
    assert tech.get(f"{BATCHES}{batch['id']}/").status_code == 403
    accountant = api_as(staff_a.user(Role.ACCOUNTANT))
    assert accountant.get(BATCHES).status_code == 200
    assert accountant.get(f"{BATCHES}{batch['id']}/").status_code == 200
    assert accountant.post(f"{BATCHES}{batch['id']}/run/").status_code == 403
    assert (
        accountant.post(BATCHES, {"name": "Y", "as_of": "2026-03-01"}, format="json").status_code
        == 403
    )
    assert not Invoice.all_tenants.filter(tenant=world.tenant).exists()


def test_tenant_b_sees_nothing(api_as, admin_a, staff_b, world, tenant_b):
    batch = (
        api_as(admin_a).post(BATCHES, {"name": "X", "as_of": "2026-03-01"}, format="json").json()
    )
    other = api_as(staff_b.user(Role.BILLING_ADMIN))
    listed = other.get(BATCHES).json()
    assert (listed["results"] if isinstance(listed, dict) else listed) == []
    assert other.get(f"{BATCHES}{batch['id']}/").status_code == 404
    assert other.post(f"{BATCHES}{batch['id']}/run/").status_code == 404
    # A contract of tenant A cannot be named in tenant B's selection.
    own = other.post(BATCHES, {"name": "B", "as_of": "2026-03-01"}, format="json").json()
    response = other.post(
        f"{BATCHES}{own['id']}/selection/",
        {"contract": world.acme.pk, "include": False},
        format="json",
    )
    assert response.status_code == 400


def test_batch_list_queries_are_constant(api, world, django_assert_max_num_queries):
    for index in range(3):
        api.post(BATCHES, {"name": f"B{index}", "as_of": "2026-03-01"}, format="json")
    with django_assert_max_num_queries(12) as few:
        assert api.get(BATCHES).status_code == 200
    for index in range(10):
        api.post(BATCHES, {"name": f"C{index}", "as_of": "2026-03-01"}, format="json")
    with django_assert_max_num_queries(12) as many:
        api.get(BATCHES)
    assert len(many.captured_queries) == len(few.captured_queries)
