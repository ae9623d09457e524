"""Report pages and CSV files: charts and tables show the figures of the API, the CSV
holds the page's rows, filters refuse what they cannot read, tenant B sees nothing of A."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.urls import include, path, reverse

from billing_site.money import format_money
from billing_site.roles import Role
from billing_site.timeutils import format_duration
from contracts.pricing import hours

from .pages import SVG, charts, is_chart, svgs, table_rows

pytestmark = pytest.mark.django_db

SPRING = "?date_from=2026-02-01&date_to=2026-05-31"
PAGES = ["team-work", "unbilled-work", "revenue", "expected-revenue"]


@pytest.fixture
def browser(world, staff_a, client_as):
    return client_as(staff_a.user(Role.ACCOUNTANT))


@pytest.fixture
def api(world, staff_a, api_as):
    return api_as(staff_a.user(Role.ACCOUNTANT))


def read_csv(response) -> list[dict]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    text = response.content.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.DictReader(io.StringIO(text)))


def eur(amount, currency="EUR") -> str:
    return format_money(Decimal(amount), currency, "en_US")


def month_label(value: str) -> str:
    import datetime as dt

    return f"{dt.date.fromisoformat(value):%b %Y}"


# ----------------------------------------------------------------- pages and charts


def test_the_index_links_every_report(browser):
    response = browser.get(reverse("reports:index"))
    assert response.status_code == 200
    html = response.content.decode()
    for name in PAGES:
        assert f'href="{reverse(f"reports:{name}")}"' in html


def test_the_index_links_budgets_only_when_that_page_exists(browser, settings):
    """The budgets report belongs to the contracts app; the index works with or without
    it (a URL configuration with and one without the route)."""
    import billing_site.urls as site
    import contracts.urls as contract_urls

    def urlconf(with_budgets: bool):
        routes = [p for p in contract_urls.urlpatterns if p.name != "budget-report"]
        if with_budgets:
            routes.append(path("budgets/", lambda request: None, name="budget-report"))
        patterns = [
            path("contracts/", include((routes, "contracts")))
            if getattr(p, "namespace", None) == "contracts"
            else p
            for p in site.urlpatterns
        ]
        return type("URLConf", (), {"urlpatterns": patterns})

    settings.ROOT_URLCONF = urlconf(False)
    html = browser.get("/reports/").content.decode()
    assert "Budgets" not in html and 'href="/reports/team-work/"' in html
    settings.ROOT_URLCONF = urlconf(True)
    html = browser.get("/reports/").content.decode()
    assert '<a href="/contracts/budgets/">Budgets</a>' in html


@pytest.mark.parametrize("name", PAGES)
def test_each_page_draws_well_formed_accessible_charts(browser, name):
    response = browser.get(reverse(f"reports:{name}"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "css/charts.css" in html
    found = charts(html)
    assert found, name
    # Each chart card holds one chart; every other inline SVG is an icon, hidden from
    # screen readers beside its label.
    assert html.count('class="card chart-card"') == len(found)
    icons = [svg for svg in svgs(html) if not is_chart(svg)]
    assert icons and all('aria-hidden="true"' in svg.split(">", 1)[0] for svg in icons)
    for svg in found:
        assert svg.tag == f"{SVG}svg"
        assert svg.get("role") == "img" and svg.get("aria-label")
        assert svg.get("viewBox") and "style" not in svg.attrib
        assert all(
            rect.find(f"{SVG}title") is not None
            for rect in svg.iter(f"{SVG}rect")
            if "chart-bar" in rect.get("class", "")
        )
    assert "style=" not in "".join(svgs(html))


def test_team_work_page_csv_and_api_agree(browser, api):
    page = browser.get(reverse("reports:team-work") + SPRING).content.decode()
    data = api.get(reverse("report-team-work") + SPRING).json()
    technicians = table_rows(page, "technician-rows")
    assert technicians == [
        [
            month_label(row["month"]),
            row["name"],
            format_duration(row["worked_seconds"]),
            format_duration(row["billable_seconds"]),
            format_duration(row["non_billable_seconds"]),
            format_duration(row["billed_seconds"]),
        ]
        for row in data["technicians"]
    ]
    assert len(technicians) == 9
    assert table_rows(page, "team-rows") == [
        [
            month_label(row["month"]),
            row["name"],
            *(
                format_duration(row[f"{name}_seconds"])
                for name in ("worked", "billable", "non_billable", "billed")
            ),
        ]
        for row in data["teams"]
    ]
    rows = read_csv(browser.get(reverse("reports:team-work-csv") + SPRING))
    assert rows == [
        {
            "month": row["month"][:7],
            "group": row["group"],
            "name": row["name"],
            "worked_hours": f"{hours(row['worked_seconds'])}",
            "billable_hours": f"{hours(row['billable_seconds'])}",
            "non_billable_hours": f"{hours(row['non_billable_seconds'])}",
            "billed_hours": f"{hours(row['billed_seconds'])}",
        }
        for row in data["technicians"] + data["teams"]
    ]
    assert rows[0] == {
        "month": "2026-02",
        "group": "technician",
        "name": "Tara Dubois",
        "worked_hours": "8.0000",
        "billable_hours": "7.0000",
        "non_billable_hours": "1.0000",
        "billed_hours": "7.0000",
    }
    # The chart: one stacked bar per technician, billable and non-billable hours.
    (chart,) = charts(page)
    titles = [
        r.find(f"{SVG}title").text
        for r in chart.iter(f"{SVG}rect")
        if r.find(f"{SVG}title") is not None
    ]
    assert titles == [
        "Tara Dubois · Billable: 14.08 h",
        "Tara Dubois · Non-billable: 1.50 h",
        "Theo Martin · Billable: 3.20 h",
        "Una Leroy · Billable: 5.00 h",
    ]


def test_unbilled_work_page_csv_and_api_agree(browser, api):
    page = browser.get(reverse("reports:unbilled-work")).content.decode()
    data = api.get(reverse("report-unbilled-work")).json()
    assert table_rows(page, "customer-rows") == [
        [
            row["name"],
            row["currency"],
            *(eur(bucket["amount"], row["currency"]) for bucket in row["buckets"]),
            eur(row["total"]["amount"], row["currency"]),
            str(row["total"]["entries"]),
            format_duration(row["total"]["worked_seconds"]),
        ]
        for row in data["customers"]
    ]
    assert table_rows(page, "ages-EUR") == [
        ["0–30 days", "2", "6 h 12 min", "€145.00"],
        ["31–60 days", "1", "1 h 05 min", "€125.00"],
        ["61–90 days", "1", "30 min", "€50.00"],
        ["Over 90 days", "1", "1 h 00 min", "€100.00"],
    ]
    assert "1 GBP entry has no rate" in page
    rows = read_csv(browser.get(reverse("reports:unbilled-work-csv")))
    assert [
        [
            row["customer"],
            row["currency"],
            row["value_0_30_days"],
            row["value_31_60_days"],
            row["value_61_90_days"],
            row["value_90_plus_days"],
            row["total_value"],
            row["entries"],
            row["unpriced_entries"],
        ]
        for row in rows
    ] == [
        [
            c["name"],
            c["currency"],
            *(b["amount"] for b in c["buckets"]),
            c["total"]["amount"],
            str(c["total"]["entries"]),
            str(c["unpriced_entries"]),
        ]
        for c in data["customers"]
    ]
    assert rows[0]["total_value"] == "300.00" and rows[0]["worked_hours"] == "2.7833"
    # One chart per currency, a bar per age bucket.
    eur_chart = charts(page)[0]
    assert eur_chart.get("aria-label") == "Value of unbilled work by age in EUR"
    assert [r.find(f"{SVG}title").text for r in eur_chart.iter(f"{SVG}rect")] == [
        "0–30 days: €145.00",
        "31–60 days: €125.00",
        "61–90 days: €50.00",
        "Over 90 days: €100.00",
    ]


def test_revenue_page_csv_and_api_agree(browser, api):
    query = "?date_from=2026-01-01&date_to=2026-05-20"
    page = browser.get(reverse("reports:revenue") + query).content.decode()
    data = api.get(reverse("report-revenue") + query).json()
    for code in ("EUR", "USD"):
        assert table_rows(page, f"revenue-{code}") == [
            [
                month_label(row["month"]),
                str(row["invoices"]),
                eur(row["invoiced_net"], code),
                str(row["credit_notes"]),
                eur(row["credited_net"], code),
                eur(row["net"], code),
                eur(row["tax"], code),
                eur(row["gross"], code),
            ]
            for row in data["rows"]
            if row["currency"] == code
        ]
    rows = read_csv(browser.get(reverse("reports:revenue-csv") + query))
    assert [list(row.values()) for row in rows] == [
        [
            row["month"][:7],
            row["currency"],
            str(row["invoices"]),
            row["invoiced_net"],
            str(row["credit_notes"]),
            row["credited_net"],
            row["net"],
            row["tax"],
            row["gross"],
        ]
        for row in data["rows"]
    ]
    april = next(row for row in rows if row["month"] == "2026-04" and row["currency"] == "EUR")
    assert (april["net_revenue"], april["gross_revenue"]) == ("-200.00", "-240.00")
    eur_chart = charts(page)[0]
    bars = [r.find(f"{SVG}title").text for r in eur_chart.iter(f"{SVG}rect")]
    assert bars == ["Mar 2026: €2,150.00", "Apr 2026: -€200.00"]


def test_expected_revenue_page_csv_and_api_agree(browser, api):
    page = browser.get(reverse("reports:expected-revenue")).content.decode()
    data = api.get(reverse("report-expected-revenue")).json()
    assert table_rows(page, "expected-EUR") == [
        ["Unbilled now", "€500.00", "€90.00", "€420.00", "€1,010.00"],
        ["May 2026", "€500.00", "€90.00", "€0.00", "€590.00"],
        ["Jun 2026", "€500.00", "€90.00", "€0.00", "€590.00"],
        ["Jul 2026", "€500.00", "€90.00", "€0.00", "€590.00"],
    ]
    rows = read_csv(browser.get(reverse("reports:expected-revenue-csv")))
    assert [list(row.values()) for row in rows] == [
        [
            row["period"],
            row["currency"],
            row["retainer_fees"],
            row["recurring_services"],
            row["unbilled_work"],
            row["total"],
        ]
        for row in data["rows"]
    ]
    assert rows[0] == {
        "period": "now",
        "currency": "EUR",
        "retainer_fees": "500.00",
        "recurring_services": "90.00",
        "unbilled_work": "420.00",
        "total": "1010.00",
    }
    eur_chart = charts(page)[0]
    legend = [t.text for t in eur_chart.iter(f"{SVG}text") if t.get("class") == "chart-legend"]
    assert legend == ["Retainer fees", "Recurring services", "Unbilled work"]


def test_csv_text_cannot_run_as_a_formula(browser, world):
    world.techs["una"].first_name = '=HYPERLINK("http://x")'
    world.techs["una"].save()
    rows = read_csv(browser.get(reverse("reports:team-work-csv") + SPRING))
    names = {row["name"] for row in rows}
    assert '\'=HYPERLINK("http://x") Leroy' in names


# ------------------------------------------------------------------------ filters


@pytest.mark.parametrize(
    ("name", "query", "field", "message"),
    [
        ("team-work", "?date_from=2026-13-01", "date_from", "Enter a valid date."),
        ("team-work", "?date_from=2026-05-01&date_to=2026-04-01", "date_to", "before its start"),
        ("team-work", "?date_from=2016-01-01&date_to=2026-04-01", "date_to", "at most 60 months"),
        ("revenue", "?date_from=0001-01-01", "date_from", "between"),
        ("team-work", "?team=abc", "team", "Select a valid choice"),
        ("team-work", "?technician=99999999999999999999999", "technician", "Select a valid"),
        ("unbilled-work", "?currency=XYZ", "currency", "Select a valid choice"),
        ("unbilled-work", "?customer=-4", "customer", "Select a valid choice"),
        ("expected-revenue", "?months=0", "months", "greater than or equal to 1"),
        ("expected-revenue", "?months=25", "months", "less than or equal to 24"),
        ("expected-revenue", "?months=many", "months", "Enter a whole number."),
    ],
)
def test_a_filter_that_cannot_be_read_is_its_fields_error(browser, name, query, field, message):
    response = browser.get(reverse(f"reports:{name}") + query)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field])
    html = response.content.decode()
    # The message is announced (role="alert") and no chart is drawn from a filter not read.
    assert 'role="alert">Some filters were not understood' in html and not charts(html)
    csv_response = browser.get(reverse(f"reports:{name}-csv") + query)
    assert csv_response.status_code == 400
    assert field in csv_response.content.decode()


def test_empty_filters_take_the_defaults(browser):
    response = browser.get(reverse("reports:revenue") + "?date_from=&currency=")
    assert response.status_code == 200
    form = response.context["form"]
    assert form.cleaned_data["date_from"].isoformat() == "2025-06-01"
    assert form.cleaned_data["date_to"].isoformat() == "2026-05-20"
    assert len(response.context["report"].months) == 12


# ---------------------------------------------------------------- tenants and roles


def test_another_tenants_choices_are_refused(browser, tenant_b):
    from billing_site.tenancy import tenant_context
    from contracts.models import Team

    with tenant_context(tenant_b):
        team = Team.objects.create(tenant=tenant_b, name="Bravo team")
    response = browser.get(reverse("reports:team-work") + f"?team={team.pk}")
    assert response.status_code == 400 and "team" in response.context["form"].errors


def test_tenant_b_sees_nothing_of_tenant_a(world, staff_b, client_as):
    browser = client_as(staff_b.user(Role.OWNER))
    unbilled = browser.get(reverse("reports:unbilled-work")).content.decode()
    rows = table_rows(unbilled, "customer-rows")
    # 10 h on 1 April (49 days old) at B's default 100.00/h.
    assert rows == [
        [
            "ACME",
            "DKK",
            "DKK0.00",
            "DKK1,000.00",
            "DKK0.00",
            "DKK0.00",
            "DKK1,000.00",
            "1",
            "10 h 00 min",
        ]
    ]
    team = browser.get(reverse("reports:team-work") + SPRING).content.decode()
    assert "Tara" not in team and "Theo" not in team and "Desk" not in team
    revenue = read_csv(browser.get(reverse("reports:revenue-csv") + "?date_from=2026-01-01"))
    assert {row["currency"] for row in revenue} == {"DKK"}
    assert sum(Decimal(row["net_revenue"]) for row in revenue) == Decimal("5000.00")
    expected = read_csv(browser.get(reverse("reports:expected-revenue-csv")))
    # B's retainer: January to April unbilled (2,000.00) and its 1,000.00 of time now.
    assert [row["total"] for row in expected] == ["3000.00", "500.00", "500.00", "500.00"]


@pytest.mark.parametrize("name", ["index", *PAGES, *(f"{p}-csv" for p in PAGES)])
def test_only_roles_that_see_billing_reach_the_reports(world, staff_a, client_as, name):
    for role, status in ((Role.TECHNICIAN, 403), (Role.OWNER, 200), (Role.BILLING_ADMIN, 200)):
        response = client_as(staff_a.user(role)).get(reverse(f"reports:{name}"))
        assert response.status_code == status, (role, name)


def test_the_navigation_shows_reports_to_billing_roles(world, staff_a, client_as):
    html = client_as(staff_a.user(Role.ACCOUNTANT)).get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("reports:index")}"' in html
    html = client_as(staff_a.user(Role.TECHNICIAN)).get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("reports:index")}"' not in html
