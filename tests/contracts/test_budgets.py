"""Budgets of contracts and tickets: the figures to the cent on a built world (posted,
unposted, billed, drafts), thresholds and states, validation by field, tenant B's budgets
unseen, a constant number of queries, and the page, the CSV and the API agreeing."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from contracts import budgets
from contracts.budgets import BudgetState, budget_figures, budget_of, budget_report, budget_set
from contracts.choices import RoundingScope, TimeEntryState
from contracts.models import BudgetKind, Contract, Ticket
from invoices.models import InvoiceStatus, LineKind
from tests.invoices.factories import InvoiceFactory, InvoiceLineFactory

from .factories import (
    ContractFactory,
    RateRuleFactory,
    TicketFactory,
    TimeEntryFactory,
    bill_entries,
)

NOW = dt.datetime(2026, 2, 10, 10, tzinfo=dt.UTC)
POSTED, SUBMITTED, APPROVED = (
    TimeEntryState.POSTED,
    TimeEntryState.SUBMITTED,
    TimeEntryState.APPROVED,
)


def entry(contract, seconds, state=POSTED, ticket=None, billable=True, day=5):
    return TimeEntryFactory(
        tenant=contract.tenant,
        ticket=ticket,
        contract=contract,
        worked_seconds=seconds,
        state=state,
        billable=billable,
        work_date=dt.date(2026, 1, day),
    )


def issued_line(tenant, entries, amount: str, status=InvoiceStatus.FINAL):
    """An invoice line of ``status`` billing ``entries`` (claimed as a run claims them)."""
    if status == InvoiceStatus.DRAFT:
        invoice = InvoiceFactory(tenant=tenant, draft=True)
    else:
        invoice = InvoiceFactory(tenant=tenant, status=status)
    line = InvoiceLineFactory(
        tenant=tenant, invoice=invoice, kind=LineKind.TIME, amount=Decimal(amount)
    )
    assert bill_entries(line, entries) == len(entries)
    return line


@pytest.fixture
def world(in_tenant_a, acme, hourly, ticket):
    """ACME's hourly contract at 95.50 EUR/h (a contract rule), its ticket, and work:

    on the ticket: 2 h posted and billed on a final invoice (line 191.00), 1 h 07 min 30 s
    posted, 45 min submitted, 20 min approved non-billable; on the contract without a
    ticket: 1 h posted.
    """
    RateRuleFactory(tenant=in_tenant_a, contract=hourly, service_type=None, rate=Decimal("95.5000"))
    billed = entry(hourly, 7200, ticket=ticket)
    issued_line(in_tenant_a, [billed], "191.000")
    entry(hourly, 4050, ticket=ticket)
    entry(hourly, 2700, SUBMITTED, ticket=ticket)
    entry(hourly, 1200, APPROVED, ticket=ticket, billable=False)
    entry(hourly, 3600, day=6)
    return {"contract": hourly, "ticket": ticket}


def with_budget(target, kind, amount, warn=80):
    return budget_set(
        target=target, budget_kind=kind, budget_amount=Decimal(amount), budget_warn_percent=warn
    )


# ------------------------------------------------------------------- figures


def test_contract_hours_budget(world):
    contract = with_budget(world["contract"], BudgetKind.HOURS, "20")
    figures = budget_of(contract)
    assert figures.posted_seconds == 7200 + 4050 + 3600
    assert figures.unposted_seconds == 2700 + 1200
    assert figures.billed_seconds == 7200
    assert figures.used == Decimal("5.21")  # 18 750 s worked
    assert figures.remaining == Decimal("14.79")
    assert figures.percent_used == Decimal("26.0")
    assert figures.state == BudgetState.OK


def test_contract_money_budget_to_the_cent(world):
    contract = with_budget(world["contract"], BudgetKind.MONEY, "1000")
    figures = budget_of(contract)
    assert figures.currency == "EUR"
    assert figures.billed_amount == Decimal("191.00")
    # The ticket's unbilled 1 h 52 min 30 s are one invoice line: 1.875 h × 95.50 =
    # 179.0625 -> 179.06 (pricing each entry would give 107.44 + 71.63 = 179.07); the
    # contract's own hour is another line: 95.50.
    assert figures.unbilled_amount == Decimal("274.56")
    assert figures.value_amount == figures.used == Decimal("465.56")
    assert figures.remaining == Decimal("534.44")
    assert figures.percent_used == Decimal("46.5")
    assert figures.problems == []


def test_ticket_budget_counts_only_the_tickets_work(world):
    ticket = with_budget(world["ticket"], BudgetKind.MONEY, "400")
    figures = budget_of(ticket)
    assert figures.posted_seconds == 7200 + 4050
    assert figures.unposted_seconds == 2700 + 1200
    assert (figures.billed_amount, figures.unbilled_amount) == (
        Decimal("191.00"),
        Decimal("179.06"),
    )
    assert figures.value_amount == Decimal("370.06")
    assert figures.percent_used == Decimal("92.5")
    assert figures.state == BudgetState.WARNING


def test_threshold_crossed_is_a_warning_and_beyond_the_budget_is_over(world):
    ticket = world["ticket"]
    # 4 h 21 min 10 s worked on the ticket = 15 150 s.
    with_budget(ticket, BudgetKind.HOURS, "5.5", warn=80)  # 76.5 %
    assert budget_of(ticket).state == BudgetState.OK
    with_budget(ticket, BudgetKind.HOURS, "5.25", warn=80)  # 80.1 %
    assert (budget_of(ticket).percent_used, budget_of(ticket).state) == (
        Decimal("80.1"),
        BudgetState.WARNING,
    )
    budget_set(target=ticket, budget_warn_percent=90)
    assert budget_of(ticket).state == BudgetState.OK
    with_budget(ticket, BudgetKind.HOURS, "4.2")  # 100.2 %
    figures = budget_of(ticket)
    assert figures.state == BudgetState.OVER
    assert figures.overrun == Decimal("0.01")  # 4.21 h used of 4.20
    assert figures.meter_max == figures.percent_used == Decimal("100.1")


def test_exactly_the_budget_is_not_over(in_tenant_a, hourly):
    entry(hourly, 3600)
    with_budget(hourly, BudgetKind.HOURS, "1")
    figures = budget_of(hourly)
    assert (figures.percent_used, figures.state) == (Decimal("100.0"), BudgetState.WARNING)


def test_a_draft_line_is_not_billed_yet(world):
    contract = world["contract"]
    drafted = entry(contract, 1800, ticket=world["ticket"], day=7)
    issued_line(contract.tenant, [drafted], "999.000", status=InvoiceStatus.DRAFT)
    figures = budget_of(with_budget(contract, BudgetKind.MONEY, "1000"))
    assert figures.billed_amount == Decimal("191.00")
    # The ticket's line now holds 2 h 22 min 30 s: 2.375 h × 95.50 = 226.8125 -> 226.81.
    assert figures.unbilled_amount == Decimal("226.81") + Decimal("95.50")


def test_a_line_over_several_tickets_is_shared_by_charged_time(in_tenant_a, acme):
    contract = ContractFactory(
        tenant=in_tenant_a, customer=acme, name="Periods", rounding_scope=RoundingScope.PERIOD
    )
    first, second = (
        TicketFactory(tenant=in_tenant_a, organization=acme, contract=contract) for _ in range(2)
    )
    entries = [entry(contract, 3600, ticket=first), entry(contract, 7200, ticket=second)]
    issued_line(in_tenant_a, entries, "100.000")
    for target in (contract, first, second):
        with_budget(target, BudgetKind.MONEY, "1000")
    figures = budget_figures([contract, first, second])
    assert figures[f"contract:{contract.pk}"].billed_amount == Decimal("100.00")
    assert figures[f"ticket:{first.pk}"].billed_amount == Decimal("33.33")
    assert figures[f"ticket:{second.pk}"].billed_amount == Decimal("66.67")


def test_work_in_another_currency_counts_in_hours_only(world, acme):
    ticket = with_budget(world["ticket"], BudgetKind.MONEY, "400")
    danish = ContractFactory(tenant=ticket.tenant, customer=acme, name="DKK", currency="DKK")
    entry(danish, 1800, ticket=ticket)
    figures = budget_of(Ticket.objects.select_related("organization", "contract").get(pk=ticket.pk))
    assert figures.value_amount == Decimal("370.06")
    assert figures.posted_seconds == 7200 + 4050 + 1800
    assert figures.problems == [
        "30 min of work priced in another currency than EUR is not counted in the amounts."
    ]


def test_a_ticket_without_contract_budgets_in_its_organizations_currency(in_tenant_a):
    danish = OrganizationFactory(tenant=in_tenant_a, currency="DKK")
    ticket = TicketFactory(tenant=in_tenant_a, organization=danish, contract=None)
    assert ticket.budget_currency == "DKK"
    assert budget_of(with_budget(ticket, BudgetKind.MONEY, "250")).currency == "DKK"


def test_no_budget_no_figures(world):
    assert budget_of(world["contract"]) is None
    assert budget_report() == []


def test_query_count_does_not_grow_with_budgets(in_tenant_a, acme):
    RateRuleFactory(tenant=in_tenant_a, service_type=None, rate=Decimal("80.0000"))

    def add_world(index):
        contract = ContractFactory(tenant=in_tenant_a, customer=acme, name=f"C{index}")
        ticket = TicketFactory(tenant=in_tenant_a, organization=acme, contract=contract)
        billed = entry(contract, 3600, ticket=ticket)
        issued_line(in_tenant_a, [billed], "80.000")
        entry(contract, 1800, ticket=ticket)
        entry(contract, 900, SUBMITTED)
        with_budget(contract, BudgetKind.HOURS, "10")
        with_budget(ticket, BudgetKind.MONEY, "500")

    add_world(0)
    with CaptureQueriesContext(connection) as one:
        assert len(budget_report()) == 2
    for index in range(1, 6):
        add_world(index)
    with CaptureQueriesContext(connection) as many:
        rows = budget_report()
    assert len(rows) == 12
    assert len(many) == len(one)
    assert {row.value_amount for row in rows if row.kind == "ticket"} == {Decimal("120.00")}


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("terms", "field", "message"),
    [
        ({"budget_kind": "days"}, "budget_kind", "Choose no budget, hours or money."),
        ({"budget_kind": "hours", "budget_amount": None}, "budget_amount", "hours"),
        ({"budget_kind": "money", "budget_amount": None}, "budget_amount", "in EUR"),
        ({"budget_kind": "hours", "budget_amount": "0"}, "budget_amount", "more than zero"),
        ({"budget_kind": "hours", "budget_amount": "-3"}, "budget_amount", "between 0"),
        ({"budget_kind": "hours", "budget_amount": "1.234"}, "budget_amount", "2 decimal"),
        ({"budget_kind": "money", "budget_amount": "1.005"}, "budget_amount", "2 decimal"),
        ({"budget_kind": "money", "budget_amount": "abc"}, "budget_amount", "Enter a number"),
        ({"budget_warn_percent": 0}, "budget_warn_percent", "1 to 100"),
        ({"budget_warn_percent": 101}, "budget_warn_percent", "1 to 100"),
    ],
)
def test_bad_terms_are_refused_by_field(in_tenant_a, hourly, terms, field, message):
    with pytest.raises(ValidationError) as error:
        budget_set(target=hourly, **terms)
    assert message in " ".join(error.value.message_dict[field])
    hourly.refresh_from_db()
    assert (hourly.budget_kind, hourly.budget_amount) == (BudgetKind.NONE, None)


def test_money_follows_the_currencys_minor_unit(in_tenant_a):
    yen = OrganizationFactory(tenant=in_tenant_a, currency="JPY")
    contract = ContractFactory(tenant=in_tenant_a, customer=yen)
    with pytest.raises(ValidationError) as error:
        with_budget(contract, BudgetKind.MONEY, "5000.5")
    assert error.value.message_dict["budget_amount"] == ["The budget is a whole number."]
    assert with_budget(contract, BudgetKind.MONEY, "5000").budget_amount == Decimal("5000")


def test_changing_the_kind_needs_the_amount_and_no_budget_clears_it(in_tenant_a, hourly):
    with_budget(hourly, BudgetKind.HOURS, "40")
    with pytest.raises(ValidationError) as error:
        budget_set(target=hourly, budget_kind=BudgetKind.MONEY)
    assert "budget_amount" in error.value.message_dict
    budget_set(target=hourly, budget_kind=BudgetKind.NONE)
    hourly.refresh_from_db()
    assert (hourly.budget_kind, hourly.budget_amount) == (BudgetKind.NONE, None)


@pytest.mark.parametrize(
    "values",
    [
        {"budget_kind": "hours", "budget_amount": None},
        {"budget_kind": "hours", "budget_amount": Decimal("0")},
        {"budget_kind": "none", "budget_amount": Decimal("5")},
        {"budget_kind": "weeks", "budget_amount": Decimal("5")},
        {"budget_warn_percent": 0},
        {"budget_warn_percent": 101},
    ],
)
@pytest.mark.parametrize("model", [Contract, Ticket])
def test_the_database_refuses_broken_budgets(in_tenant_a, ticket, model, values):
    target = ticket if model is Ticket else ticket.contract
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.filter(pk=target.pk).update(**values)


# ----------------------------------------------------------------- pages


@pytest.fixture
def admin_client(admin_a, client_as):
    return client_as(admin_a)


@time_machine.travel(NOW, tick=False)
def test_contract_form_sets_the_budget(admin_client, world):
    contract = world["contract"]
    url = reverse("contracts:contract-edit", args=[contract.pk])
    form = admin_client.get(url).context["form"]
    data = {
        name: "" if value is None else value
        for name, value in form.initial.items()
        if name in form.fields and name != "customer"
    }
    data.update(budget_kind="hours", budget_amount="", budget_warn_percent="80")
    refused = admin_client.post(url, data)
    assert refused.status_code == 200
    assert refused.context["form"].errors["budget_amount"] == ["Give the budget in hours."]
    data.update(budget_kind="hours", budget_amount="6", budget_warn_percent="75")
    assert admin_client.post(url, data).status_code == 302
    contract.refresh_from_db()
    assert (contract.budget_kind, contract.budget_amount, contract.budget_warn_percent) == (
        "hours",
        Decimal("6.000"),
        75,
    )
    page = admin_client.get(reverse("contracts:contract-detail", args=[contract.pk]))
    text = page.content.decode()
    assert "86.8 % of the 6 h budget used — over the 75 % warning." in text
    assert "<meter" in text


@time_machine.travel(NOW, tick=False)
def test_contract_form_shows_errors_of_contract_and_budget_together(admin_client, acme, world):
    url = reverse("contracts:contract-create")
    response = admin_client.post(
        url,
        {
            "customer": acme.pk,
            "name": "Backwards",
            "contract_type": "hourly",
            "status": "active",
            "start_date": "2026-01-01",
            "end_date": "2025-12-01",
            "billing_cycle": "monthly",
            "tax_rate": "0",
            "rounding_increment_minutes": "0",
            "rounding_minimum_minutes": "0",
            "rounding_scope": "entry",
            "budget_kind": "money",
            "budget_amount": "12.345",
            "budget_warn_percent": "80",
        },
    )
    errors = response.context["form"].errors
    assert "end_date" in errors
    assert errors["budget_amount"] == ["The budget has 2 decimal places at most."]


@time_machine.travel(NOW, tick=False)
def test_ticket_budget_is_edited_by_billing_roles_only(staff_a, world):
    ticket = world["ticket"]
    url = reverse("contracts:ticket-edit", args=[ticket.pk])
    technician, admin = Client(), Client()
    technician.force_login(staff_a.user(Role.TECHNICIAN))
    admin.force_login(staff_a.user(Role.BILLING_ADMIN))
    assert "budget_kind" not in technician.get(url).context["form"].fields
    form = admin.get(url).context["form"]
    data = {
        name: "" if value is None else value
        for name, value in form.initial.items()
        if name in form.fields
    }
    data.update(budget_kind="money", budget_amount="400", budget_warn_percent="80")
    assert admin.post(url, data).status_code == 302
    page = admin.get(reverse("contracts:ticket-detail", args=[ticket.pk])).content.decode()
    assert "92.5 % of the €400.00 budget used — over the 80 % warning." in page
    seen_by_technician = technician.get(reverse("contracts:ticket-detail", args=[ticket.pk]))
    text = seen_by_technician.content.decode()
    assert "92.5 % of the money budget used" in text and "€400.00" not in text


@time_machine.travel(NOW, tick=False)
def test_report_page_csv_and_api_agree(admin_client, admin_a, api_as, world, other_tenant_rows):
    contract, ticket = world["contract"], world["ticket"]
    with_budget(contract, BudgetKind.HOURS, "5")  # 104.1 %: over
    with_budget(ticket, BudgetKind.MONEY, "400")  # 92.5 %: warning
    with tenant_context(other_tenant_rows.tenant):
        with_budget(other_tenant_rows, BudgetKind.HOURS, "1")
        with_budget(other_tenant_rows.contract, BudgetKind.HOURS, "1")

    page = admin_client.get(reverse("contracts:budget-report"))
    assert page.status_code == 200
    shown = list(page.context["page_obj"].object_list)
    assert [row.key for row in shown] == [f"contract:{contract.pk}", f"ticket:{ticket.pk}"]
    text = page.content.decode()
    assert "104.1 %" in text and "92.5 %" in text

    response = admin_client.get(reverse("contracts:budget-report-csv"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    lines = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["What"], r["% used"], r["State"], r["Used"]) for r in lines] == [
        ("contract", "104.1", "over", "5.21"),
        ("ticket", "92.5", "warning", "370.06"),
    ]
    assert lines[0]["Remaining"] == "-0.21"

    api = api_as(admin_a).get("/api/v1/budgets/")
    assert api.status_code == 200
    results = api.json()["results"]
    assert results == [row.as_row() for row in shown]
    assert [r["percent_used"] for r in results] == ["104.1", "92.5"]
    assert results[1]["billed_amount"] == "191.00" and results[1]["unbilled_amount"] == "179.06"

    # Filters, on the three alike.
    over = {"state": "over"}
    assert [
        r.key
        for r in admin_client.get(reverse("contracts:budget-report"), over)
        .context["page_obj"]
        .object_list
    ] == [f"contract:{contract.pk}"]
    assert (
        len(
            list(
                csv.reader(
                    io.StringIO(
                        admin_client.get(
                            reverse("contracts:budget-report-csv"), over
                        ).content.decode()
                    )
                )
            )
        )
        == 2
    )
    assert [r["key"] for r in api_as(admin_a).get("/api/v1/budgets/", over).json()["results"]] == [
        f"contract:{contract.pk}"
    ]
    other = OrganizationFactory(tenant=contract.tenant, name="Zeta")
    assert api_as(admin_a).get("/api/v1/budgets/", {"customer": other.pk}).json()["results"] == []
    assert api_as(admin_a).get("/api/v1/budgets/", {"kind": "ticket"}).json()["count"] == 1


def test_other_tenants_budgets_are_unseen(
    admin_a, api_as, client_as, in_tenant_a, other_tenant_rows
):
    with tenant_context(other_tenant_rows.tenant):
        with_budget(other_tenant_rows, BudgetKind.HOURS, "1")
        with_budget(other_tenant_rows.contract, BudgetKind.MONEY, "100")
    assert budget_report() == []
    api = api_as(admin_a)
    assert api.get("/api/v1/budgets/").json()["results"] == []
    foreign_org = other_tenant_rows.organization.pk
    assert api.get("/api/v1/budgets/", {"customer": foreign_org}).status_code == 400
    assert api.get(f"/api/v1/contracts/{other_tenant_rows.contract_id}/").status_code == 404
    client = client_as(admin_a)
    assert client.get(reverse("contracts:budget-report")).context["page_obj"].paginator.count == 0
    detail = reverse("contracts:ticket-detail", args=[other_tenant_rows.pk])
    assert client.get(detail).status_code == 404


def test_the_report_pages_like_other_lists(admin_client, in_tenant_a, acme):
    for index in range(30):
        with_budget(
            ContractFactory(tenant=in_tenant_a, customer=acme, name=f"C{index:02d}"),
            BudgetKind.HOURS,
            "10",
        )
    first = admin_client.get(reverse("contracts:budget-report"))
    assert len(first.context["page_obj"].object_list) == 25
    second = admin_client.get(reverse("contracts:budget-report"), {"page": 2})
    assert len(second.context["page_obj"].object_list) == 5
    csv_rows = admin_client.get(reverse("contracts:budget-report-csv")).content.decode()
    assert len(csv_rows.strip().splitlines()) == 31  # every page


def test_accountants_read_the_report_technicians_do_not(client_as, staff_a, in_tenant_a):
    url = reverse("contracts:budget-report")
    assert client_as(staff_a.user(Role.ACCOUNTANT)).get(url).status_code == 200
    assert client_as(staff_a.user(Role.TECHNICIAN)).get(url).status_code == 403


def test_csv_text_never_runs_as_a_formula(admin_client, in_tenant_a):
    evil = OrganizationFactory(tenant=in_tenant_a, name='=HYPERLINK("http://x")')
    with_budget(ContractFactory(tenant=in_tenant_a, customer=evil), BudgetKind.HOURS, "1")
    body = admin_client.get(reverse("contracts:budget-report-csv")).content.decode("utf-8-sig")
    row = list(csv.reader(io.StringIO(body)))[1]
    assert row[0] == '\'=HYPERLINK("http://x")'


# ------------------------------------------------------------------- API


@pytest.fixture
def admin_api(admin_a, api_as):
    return api_as(admin_a)


def test_api_writes_and_validates_budgets(admin_api, world, acme):
    contract = world["contract"]
    response = admin_api.patch(
        f"/api/v1/contracts/{contract.pk}/", {"budget_kind": "money", "budget_amount": "12.345"}
    )
    assert response.status_code == 400
    assert response.json()["budget_amount"] == ["The budget has 2 decimal places at most."]
    response = admin_api.patch(
        f"/api/v1/contracts/{contract.pk}/",
        {"budget_kind": "money", "budget_amount": "500", "budget_warn_percent": 90},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["budget_kind"] == "money"
    assert response.json()["budget_amount"] == "500.000"
    created = admin_api.post(
        "/api/v1/contracts/",
        {
            "customer": acme.pk,
            "name": "Project",
            "start_date": "2026-01-01",
            "budget_kind": "hours",
            "budget_amount": "40",
        },
    )
    assert created.status_code == 201, created.json()
    assert Contract.objects.get(pk=created.json()["id"]).budget_amount == Decimal("40")
    refused = admin_api.post(
        "/api/v1/contracts/",
        {"customer": acme.pk, "name": "", "start_date": "2026-01-01", "budget_kind": "hours"},
    )
    assert refused.status_code == 400
    assert not Contract.objects.filter(name="").exists()
    bad_percent = admin_api.patch(
        f"/api/v1/tickets/{world['ticket'].pk}/", {"budget_warn_percent": 150}
    )
    assert bad_percent.status_code == 400 and "budget_warn_percent" in bad_percent.json()


def test_technicians_edit_tickets_but_not_their_budgets(api_as, staff_a, world):
    ticket = world["ticket"]
    tech = api_as(staff_a.user(Role.TECHNICIAN))
    url = f"/api/v1/tickets/{ticket.pk}/"
    refused = tech.patch(url, {"budget_kind": "hours", "budget_amount": "5"})
    assert refused.status_code == 403
    body = tech.get(url).json()
    unchanged = {k: body[k] for k in ("title", "budget_kind", "budget_amount")}
    assert tech.patch(url, {**unchanged, "title": "Renamed"}).status_code == 200
    ticket.refresh_from_db()
    assert (ticket.title, ticket.budget_kind) == ("Renamed", "none")


def test_demo_has_a_budget_past_its_warning(db):
    from billing_site import demo

    tenant = demo.load_demo().tenant
    with tenant_context(tenant):
        rows = budget_report()
        states = {row.name: (row.percent_used, row.state) for row in rows}
    assert states["Monthly retainer"] == (Decimal("84.9"), BudgetState.WARNING)
    assert {state for _percent, state in states.values()} == set(BudgetState.values)


@time_machine.travel(NOW, tick=False)
def test_a_post_without_the_budget_fields_keeps_the_budget(admin_client, world):
    contract = with_budget(world["contract"], BudgetKind.HOURS, "40", warn=70)
    form = admin_client.get(reverse("contracts:contract-edit", args=[contract.pk])).context["form"]
    data = {
        name: "" if value is None else value
        for name, value in form.initial.items()
        if name in form.fields and name != "customer" and name not in budgets.BUDGET_FIELDS
    }
    data["name"] = "Renamed"
    response = admin_client.post(reverse("contracts:contract-edit", args=[contract.pk]), data)
    assert response.status_code == 302
    contract.refresh_from_db()
    assert (contract.name, contract.budget_kind, contract.budget_warn_percent) == (
        "Renamed",
        "hours",
        70,
    )
