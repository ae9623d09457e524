"""The report endpoints: the figures of the pages, read-only, scoped, and their queries
validated with a 400 naming the field."""

from __future__ import annotations

import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from contracts.models import Team

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    "report-team-work",
    "report-unbilled-work",
    "report-revenue",
    "report-expected-revenue",
]


@pytest.fixture
def api(world, staff_a, api_as):
    return api_as(staff_a.user(Role.BILLING_ADMIN))


def test_team_work(api, world):
    data = api.get(
        reverse("report-team-work"), {"date_from": "2026-02-01", "date_to": "2026-05-31"}
    ).json()
    assert (data["date_from"], data["date_to"]) == ("2026-02-01", "2026-05-31")
    assert data["total"] == {
        "month": None,
        "group": "total",
        "id": None,
        "name": "Total",
        "worked_seconds": 85620,
        "billable_seconds": 80220,
        "non_billable_seconds": 5400,
        "billed_seconds": 34200,
    }
    no_team = [row for row in data["teams"] if row["id"] is None]
    assert [row["month"] for row in no_team] == ["2026-02-01", "2026-04-01", "2026-05-01"]
    theo = api.get(
        reverse("report-team-work"),
        {"date_from": "2026-02-01", "technician": world.techs["theo"].pk},
    ).json()
    assert theo["total"]["worked_seconds"] == 11520
    desk = api.get(reverse("report-team-work"), {"team": world.teams["desk"].pk}).json()
    assert {row["name"] for row in desk["teams"]} == {"Desk"}
    assert {row["name"] for row in desk["technicians"]} == {"Theo Martin", "Tara Dubois"}


def test_unbilled_work(api):
    data = api.get(reverse("report-unbilled-work")).json()
    assert data["as_of"] == "2026-05-20"
    eur, gbp, usd = data["currencies"]
    assert eur["currency"] == "EUR" and eur["customer"] is None
    assert [b["bucket"] for b in eur["buckets"]] == ["0-30", "31-60", "61-90", "90+"]
    assert [b["amount"] for b in eur["buckets"]] == ["145.00", "125.00", "50.00", "100.00"]
    assert eur["total"] == {
        "bucket": None,
        "entries": 5,
        "worked_seconds": 31620,
        "amount": "420.00",
    }
    assert (gbp["total"]["amount"], gbp["unpriced_entries"]) == ("0.00", 1)
    assert usd["total"]["amount"] == "160.00"
    only = api.get(reverse("report-unbilled-work"), {"currency": "USD"}).json()
    assert [row["name"] for row in only["customers"]] == ["Helios IT Partners"]


def test_revenue(api):
    data = api.get(reverse("report-revenue"), {"date_from": "2026-03-01"}).json()
    assert data["date_to"] == "2026-05-20"
    assert [(t["currency"], t["net"], t["tax"], t["gross"]) for t in data["totals"]] == [
        ("EUR", "1950.00", "168.00", "2118.00"),
        ("USD", "80.00", "0.00", "80.00"),
    ]
    april = data["rows"][1]
    assert april == {
        "month": "2026-04-01",
        "currency": "EUR",
        "invoices": 0,
        "invoiced_net": "0.00",
        "invoiced_gross": "0.00",
        "credit_notes": 1,
        "credited_net": "200.00",
        "credited_gross": "240.00",
        "net": "-200.00",
        "tax": "-40.00",
        "gross": "-240.00",
    }
    # Twelve months by default.
    assert len(api.get(reverse("report-revenue")).json()["rows"]) == 24  # EUR and USD


def test_expected_revenue(api):
    data = api.get(reverse("report-expected-revenue"), {"months": 2, "currency": "EUR"}).json()
    assert (data["first_month"], data["months"], data["unpriced_items"]) == ("2026-05-01", 2, 0)
    assert [(r["period"], r["month"], r["total"]) for r in data["rows"]] == [
        ("now", None, "1010.00"),
        ("2026-05", "2026-05-01", "590.00"),
        ("2026-06", "2026-06-01", "590.00"),
    ]
    assert data["totals"] == [
        {
            "period": "total",
            "month": None,
            "currency": "EUR",
            "retainer_fees": "1500.00",
            "recurring_services": "270.00",
            "unbilled_work": "420.00",
            "total": "2190.00",
        }
    ]


@pytest.mark.parametrize(
    ("name", "query", "field"),
    [
        ("report-team-work", {"date_from": "2026-02-30"}, "date_from"),
        ("report-team-work", {"date_from": "2026-05-01", "date_to": "2026-04-01"}, "date_to"),
        ("report-team-work", {"date_from": "2000-01-01"}, "date_to"),
        ("report-team-work", {"date_to": "9999-12-31"}, "date_to"),
        ("report-team-work", {"team": "x"}, "team"),
        ("report-team-work", {"team": "123456789"}, "team"),
        ("report-team-work", {"technician": str(2**70)}, "technician"),
        ("report-unbilled-work", {"customer": "0"}, "customer"),
        ("report-unbilled-work", {"currency": "EURO"}, "currency"),
        ("report-unbilled-work", {"currency": "XXX"}, "currency"),
        ("report-revenue", {"date_to": "yesterday"}, "date_to"),
        ("report-expected-revenue", {"months": "25"}, "months"),
        ("report-expected-revenue", {"months": "-1"}, "months"),
    ],
)
def test_a_query_that_cannot_be_read_is_a_400_naming_the_field(api, name, query, field):
    response = api.get(reverse(name), query)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_another_tenants_ids_are_refused(api, tenant_b, staff_b):
    with tenant_context(tenant_b):
        team = Team.objects.create(tenant=tenant_b, name="Bravo team")
    bravo = staff_b.user(Role.TECHNICIAN)
    assert api.get(reverse("report-team-work"), {"team": team.pk}).status_code == 400
    assert api.get(reverse("report-team-work"), {"technician": bravo.pk}).status_code == 400


def test_tenant_b_reads_only_its_own_figures(world, staff_b, api_as):
    api = api_as(staff_b.user(Role.ACCOUNTANT))
    unbilled = api.get(reverse("report-unbilled-work")).json()
    assert [(r["name"], r["currency"], r["total"]["amount"]) for r in unbilled["customers"]] == [
        ("ACME", "DKK", "1000.00")
    ]
    revenue = api.get(reverse("report-revenue"), {"date_from": "2026-01-01"}).json()
    assert [(t["currency"], t["net"]) for t in revenue["totals"]] == [("DKK", "5000.00")]
    team = api.get(reverse("report-team-work"), {"date_from": "2026-01-01"}).json()
    assert [row["name"] for row in team["by_technician"]] == ["Tech"]
    expected = api.get(reverse("report-expected-revenue")).json()
    assert [t["currency"] for t in expected["totals"]] == ["DKK"]


@pytest.mark.parametrize("name", ENDPOINTS)
def test_read_only_and_for_billing_roles(world, staff_a, api_as, name):
    url = reverse(name)
    assert api_as(staff_a.user(Role.ACCOUNTANT)).get(url).status_code == 200
    assert api_as(staff_a.user(Role.TECHNICIAN)).get(url).status_code == 403
    assert APIClient().get(url).status_code == 401
    assert api_as(staff_a.user(Role.OWNER)).post(url, {}).status_code == 405


def test_the_schema_documents_every_report_and_its_query():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    expected = {
        "/api/v1/reports/team-work/": {"date_from", "date_to", "team", "technician"},
        "/api/v1/reports/unbilled-work/": {"customer", "currency"},
        "/api/v1/reports/revenue/": {"date_from", "date_to", "currency"},
        "/api/v1/reports/expected-revenue/": {"months", "customer", "currency"},
    }
    for url, params in expected.items():
        operation = paths[url]["get"]
        assert {p["name"] for p in operation["parameters"]} == params
        assert set(paths[url]) == {"get"}
        assert {"200", "400", "401", "403"} <= set(operation["responses"])
