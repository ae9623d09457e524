"""Organizations API: auth, filters, paging and clear 400s that write nothing."""

import pytest

from billing_site.models import Organization
from billing_site.roles import Role
from billing_site.testing.factories import TEST_PASSWORD, OrganizationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/organizations/"


def test_token_endpoint(staff_a, client):
    user = staff_a.user(Role.BILLING_ADMIN)
    response = client.post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": TEST_PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200
    token = response.json()["token"]
    listing = client.get(URL, HTTP_AUTHORIZATION=f"Token {token}")
    assert listing.status_code == 200

    bad = client.post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": "wrong"},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert "non_field_errors" in bad.json()


def test_create_and_list(admin_a, api_as, tenant_a, tenant_b):
    OrganizationFactory(tenant=tenant_b, name="ACME", company_number="C-1")
    api = api_as(admin_a)
    response = api.post(
        URL, {"name": "ACME", "company_number": "C-1", "country": "fr"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["currency"] == "EUR"
    listing = api.get(URL).json()
    assert listing["count"] == 1
    assert listing["results"][0]["id"] == body["id"]


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"name": "X", "company_number": "C-9", "currency": "EURO"}, {"currency"}),
        ({"name": "X", "company_number": "C-1"}, {"company_number"}),
        ({"name": "X", "company_number": "C-9", "colour": "red"}, {"colour"}),
        ({"company_number": "C-9", "time_zone": "Nowhere/City"}, {"name", "time_zone"}),
        (
            {"name": "X", "company_number": "C-9", "billing_contact_email": "nope", "tenant": 5},
            {"billing_contact_email", "tenant"},
        ),
    ],
    ids=[
        "bad-currency",
        "duplicate-company-number",
        "unknown-field",
        "missing-and-zone",
        "email-tenant",
    ],
)
def test_bad_input_is_400_with_field_errors(admin_a, api_as, tenant_a, payload, fields):
    OrganizationFactory(tenant=tenant_a, company_number="C-1")
    response = api_as(admin_a).post(URL, payload, format="json")
    assert response.status_code == 400
    assert fields <= set(response.json()), response.json()
    assert Organization.all_tenants.count() == 1


def test_malformed_json_is_400(admin_a, api_as):
    response = api_as(admin_a).generic("POST", URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert Organization.all_tenants.count() == 0


def test_update_and_bad_update(admin_a, api_as, tenant_a):
    org = OrganizationFactory(tenant=tenant_a, company_number="C-1")
    OrganizationFactory(tenant=tenant_a, company_number="C-2")
    api = api_as(admin_a)
    ok = api.patch(f"{URL}{org.pk}/", {"name": "Renamed"}, format="json")
    assert ok.status_code == 200
    clash = api.patch(f"{URL}{org.pk}/", {"company_number": "C-2"}, format="json")
    assert clash.status_code == 400
    assert "company_number" in clash.json()
    org.refresh_from_db()
    assert (org.name, org.company_number) == ("Renamed", "C-1")


def test_filters_and_paging(admin_a, api_as, tenant_a):
    for index in range(60):
        OrganizationFactory(tenant=tenant_a, name=f"Org {index:02d}", currency="EUR")
    OrganizationFactory(tenant=tenant_a, name="Zeta", currency="DKK", is_active=False)
    api = api_as(admin_a)
    page = api.get(URL).json()
    assert page["count"] == 61
    assert len(page["results"]) == 50
    assert api.get(URL, {"page": 2}).json()["results"][-1]["name"] == "Zeta"
    assert api.get(URL, {"currency": "DKK"}).json()["count"] == 1
    assert api.get(URL, {"is_active": "false"}).json()["count"] == 1
    assert api.get(URL, {"name": "org 1"}).json()["count"] == 10
    assert api.get(URL, {"search": "Zeta"}).json()["count"] == 1


def test_list_query_count_does_not_grow(admin_a, api_as, tenant_a, django_assert_max_num_queries):
    api = api_as(admin_a)
    OrganizationFactory.create_batch(3, tenant=tenant_a)
    with django_assert_max_num_queries(8) as small:
        api.get(URL)
    OrganizationFactory.create_batch(40, tenant=tenant_a)
    with django_assert_max_num_queries(8) as large:
        api.get(URL)
    assert len(large.captured_queries) == len(small.captured_queries)


def test_schema_and_docs_are_served_locally(client, admin_a):
    client.force_login(admin_a)  # they need a login (tests/core/test_login_throttling.py)
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/organizations/" in schema.content
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()


def test_technician_reads_but_cannot_write(staff_a, api_as):
    api = api_as(staff_a.user(Role.TECHNICIAN))
    assert api.get(URL).status_code == 200
    assert api.post(URL, {"name": "X", "company_number": "C-1"}, format="json").status_code == 403
