"""API wiring, roles and tenant wall of the contracts endpoints; bad input answers 400 with
field errors and writes nothing; list query counts do not grow with rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from billing_site.roles import Role
from contracts.choices import TimeEntryState
from contracts.models import Contract, RateRule, Ticket, TimeEntry

from .factories import (
    BlockPurchaseFactory,
    ContractFactory,
    ProductFactory,
    RateRuleFactory,
    TeamFactory,
    TeamMemberFactory,
    TicketFactory,
    TimeEntryFactory,
)

UTC = dt.UTC
NOW = dt.datetime(2026, 2, 10, 10, tzinfo=UTC)


@pytest.fixture
def admin_api(admin_a, api_as):
    return api_as(admin_a)


@pytest.fixture
def tech_api(staff_a, api_as):
    return api_as(staff_a.user(Role.TECHNICIAN))


def test_create_contract_defaults_and_filters(admin_api, acme, in_tenant_a):
    response = admin_api.post(
        "/api/v1/contracts/",
        {
            "customer": acme.pk,
            "name": "Retainer",
            "contract_type": "retainer",
            "start_date": "2026-01-15",
            "retainer_fee": "500",
            "included_hours": "5",
            "overage_rate": "120",
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["billing_organization"] == acme.pk and body["anchor_day"] == 15
    assert body["currency"] == "EUR"
    listed = admin_api.get("/api/v1/contracts/", {"contract_type": "retainer", "customer": acme.pk})
    assert [c["id"] for c in listed.json()["results"]] == [body["id"]]


def test_contract_bad_input_is_a_400_and_nothing_saved(admin_api, acme, in_tenant_a):
    response = admin_api.post(
        "/api/v1/contracts/",
        {
            "customer": acme.pk,
            "name": "Backwards",
            "contract_type": "hourly",
            "start_date": "2026-03-01",
            "end_date": "2026-01-01",
            "colour": "red",
        },
    )
    assert response.status_code == 400
    assert "colour" in response.json()
    response = admin_api.post(
        "/api/v1/contracts/",
        {
            "customer": acme.pk,
            "name": "Backwards",
            "contract_type": "hourly",
            "start_date": "2026-03-01",
            "end_date": "2026-01-01",
        },
    )
    assert response.status_code == 400
    assert response.json()["end_date"] == ["The end date cannot be before the start date."]
    assert not Contract.objects.exists()


def test_contract_billing_state_endpoint(admin_api, in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a, block=True)
    BlockPurchaseFactory(tenant=in_tenant_a, contract=contract)
    body = admin_api.get(
        f"/api/v1/contracts/{contract.pk}/billing/", {"as_of": "2026-01-02"}
    ).json()
    assert body["state"] == "selectable"
    assert body["due_amount"] == "900.00"
    assert body["remaining_block_hours"] == "10.0000"
    assert body["items"][0]["kind"] == "block"


def test_rate_rules_negative_rate_and_tie(admin_api, in_tenant_a, tech):
    bad = admin_api.post("/api/v1/rate-rules/", {"rate": "-1"})
    assert bad.status_code == 400 and "rate" in bad.json()
    first = admin_api.post("/api/v1/rate-rules/", {"rate": "90", "technician": tech.pk})
    assert first.status_code == 201
    tie = admin_api.post("/api/v1/rate-rules/", {"rate": "95", "technician": tech.pk})
    assert tie.status_code == 400
    assert "could tie" in tie.json()["non_field_errors"][0]
    assert RateRule.objects.count() == 1


def test_rate_rule_currency_mismatch(admin_api, in_tenant_a):
    from billing_site.testing.factories import OrganizationFactory

    contract = ContractFactory(
        tenant=in_tenant_a, customer=OrganizationFactory(tenant=in_tenant_a, currency="DKK")
    )
    response = admin_api.post(
        "/api/v1/rate-rules/", {"rate": "100", "currency": "EUR", "contract": contract.pk}
    )
    assert response.status_code == 400
    assert "Currency mismatch" in response.json()["currency"][0]


def test_explain_endpoint(admin_api, in_tenant_a, ticket, tech):
    entry = TimeEntryFactory(tenant=in_tenant_a, ticket=ticket, technician=tech)
    team = TeamFactory(tenant=in_tenant_a)
    TeamMemberFactory(tenant=in_tenant_a, team=team, user=tech)
    team_rule = RateRuleFactory(
        tenant=in_tenant_a, team=team, service_type=None, rate=Decimal("80")
    )
    contract_rule = RateRuleFactory(
        tenant=in_tenant_a, contract=ticket.contract, service_type=None, rate=Decimal("95")
    )
    body = admin_api.get("/api/v1/rate-rules/explain/", {"time_entry": entry.pk}).json()
    assert body["winner"] == contract_rule.pk
    assert [m["id"] for m in body["matches"]] == [contract_rule.pk, team_rule.pk]
    assert body["matches"][0]["specificity"] == ["contract"]
    assert admin_api.get("/api/v1/rate-rules/explain/").status_code == 400
    assert admin_api.get("/api/v1/rate-rules/explain/", {"time_entry": 99999}).status_code == 404


def test_explain_a_session(admin_api, in_tenant_a, acme, tech):
    from tests.sessions.factories import HostFactory, RemoteSessionFactory

    host = HostFactory(tenant=in_tenant_a, organization=acme)
    session = RemoteSessionFactory(tenant=in_tenant_a, host=host, technician=tech)
    body = admin_api.get("/api/v1/rate-rules/explain/", {"session": session.pk}).json()
    assert body["source"] == "tenant_default" and body["rate"] == "100.0000"


def test_ticket_api_numbers_and_contract_check(tech_api, acme, hourly, in_tenant_a):
    created = tech_api.post(
        "/api/v1/tickets/", {"title": "VPN down", "organization": acme.pk, "contract": hourly.pk}
    )
    assert created.status_code == 201 and created.json()["number"] == 1
    foreign = ContractFactory(tenant=in_tenant_a, name="Other customer's")
    refused = tech_api.post(
        "/api/v1/tickets/", {"title": "X", "organization": acme.pk, "contract": foreign.pk}
    )
    assert refused.status_code == 400 and "contract" in refused.json()
    assert Ticket.objects.count() == 1


@time_machine.travel(NOW, tick=False)
def test_time_entry_api_flow(tech_api, admin_api, ticket, in_tenant_a, remote):
    bad = tech_api.post(
        "/api/v1/time-entries/",
        {
            "ticket": ticket.pk,
            "started_at": "2026-02-09T11:00:00Z",
            "ended_at": "2026-02-09T10:00:00Z",
        },
    )
    assert bad.status_code == 400 and bad.json()["ended_at"] == ["The end is before the start."]
    created = tech_api.post(
        "/api/v1/time-entries/",
        {
            "ticket": ticket.pk,
            "service_type": remote.pk,
            "started_at": "2026-02-09T09:00:00Z",
            "ended_at": "2026-02-09T10:30:00Z",
            "summary_note": "Rebuilt the RAID",
        },
    )
    assert created.status_code == 201, created.json()
    entry_id = created.json()["id"]
    assert created.json()["worked_seconds"] == 5400
    assert created.json()["contract"] == ticket.contract_id
    overlap = tech_api.post(
        "/api/v1/time-entries/",
        {
            "ticket": ticket.pk,
            "started_at": "2026-02-09T10:00:00Z",
            "ended_at": "2026-02-09T11:00:00Z",
        },
    )
    assert overlap.status_code == 400 and "overlaps" in overlap.json()["started_at"][0]
    assert tech_api.post("/api/v1/time-entries/approve/", {"ids": [entry_id]}).status_code == 403
    assert admin_api.post("/api/v1/time-entries/post/", {"ids": [entry_id]}).status_code == 400
    assert admin_api.post("/api/v1/time-entries/approve/", {"ids": [entry_id]}).json() == {
        "approved": 1
    }
    assert admin_api.post("/api/v1/time-entries/post/", {"ids": [entry_id]}).json() == {"posted": 1}
    frozen = admin_api.patch(f"/api/v1/time-entries/{entry_id}/", {"summary_note": "changed"})
    assert frozen.status_code == 400 and "frozen" in frozen.json()["state"][0]
    assert TimeEntry.objects.get(pk=entry_id).state == TimeEntryState.POSTED


def test_timer_endpoints(tech_api, ticket, in_tenant_a):
    with time_machine.travel(NOW, tick=False):
        started = tech_api.post("/api/v1/time-entries/timer/start/", {"ticket": ticket.pk})
        assert started.status_code == 201 and started.json()["is_running"]
        again = tech_api.post("/api/v1/time-entries/timer/start/", {"ticket": ticket.pk})
        assert again.status_code == 400 and "already running" in again.json()["timer"][0]
        assert tech_api.get("/api/v1/time-entries/timer/").json()["id"] == started.json()["id"]
    with time_machine.travel(NOW + dt.timedelta(minutes=10), tick=False):
        stopped = tech_api.post("/api/v1/time-entries/timer/stop/", {})
    assert stopped.json()["worked_seconds"] == 600 and not stopped.json()["is_running"]
    assert tech_api.get("/api/v1/time-entries/timer/").status_code == 404


def test_log_session_endpoint(tech_api, ticket, in_tenant_a, acme, tech):
    from tests.sessions.factories import HostFactory, RemoteSessionFactory

    session = RemoteSessionFactory(
        tenant=in_tenant_a, host=HostFactory(tenant=in_tenant_a, organization=acme)
    )
    logged = tech_api.post(
        "/api/v1/time-entries/log-session/", {"session": session.pk, "ticket": ticket.pk}
    )
    assert logged.status_code == 201, logged.json()
    assert logged.json()["remote_session"] == session.pk
    twice = tech_api.post(
        "/api/v1/time-entries/log-session/", {"session": session.pk, "ticket": ticket.pk}
    )
    assert twice.status_code == 400


def test_attachment_upload_and_download(tech_api, ticket, in_tenant_a):
    upload = SimpleUploadedFile("notes.txt", b"disk SMART log", content_type="text/plain")
    response = tech_api.post(
        "/api/v1/ticket-attachments/", {"ticket": ticket.pk, "file": upload}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "notes.txt" and body["size"] == 14
    download = tech_api.get(body["download_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"disk SMART log"


def test_roles_on_billing_endpoints(api_as, staff_a, in_tenant_a):
    ProductFactory(tenant=in_tenant_a)
    technician = api_as(staff_a.user(Role.TECHNICIAN))
    accountant = api_as(staff_a.user(Role.ACCOUNTANT))
    assert technician.get("/api/v1/products/").status_code == 403
    assert technician.get("/api/v1/contracts/").status_code == 403
    assert technician.get("/api/v1/service-types/").status_code == 200
    assert accountant.get("/api/v1/products/").status_code == 200
    assert accountant.post("/api/v1/products/", {"sku": "X", "name": "X"}).status_code == 403


def test_tenant_b_sees_nothing(api_as, staff_b, other_tenant_rows, in_tenant_a):
    client = api_as(staff_b.user(Role.OWNER))
    ticket = TicketFactory(tenant=in_tenant_a)
    assert client.get(f"/api/v1/tickets/{ticket.pk}/").status_code == 404
    assert client.get(f"/api/v1/contracts/{ticket.contract_id}/").status_code == 404
    listed = client.get("/api/v1/tickets/").json()["results"]
    assert [t["id"] for t in listed] == [other_tenant_rows.pk]
    bogus = client.post("/api/v1/tickets/", {"title": "X", "organization": ticket.organization_id})
    assert bogus.status_code == 400 and "organization" in bogus.json()


ENDPOINTS = [
    "/api/v1/contracts/",
    "/api/v1/tickets/",
    "/api/v1/time-entries/",
    "/api/v1/rate-rules/",
    "/api/v1/teams/",
    "/api/v1/products/",
    "/api/v1/service-types/",
    "/api/v1/block-purchases/",
    "/api/v1/ticket-attachments/",
    "/api/v1/contract-product-lines/",
]


def test_list_endpoints_query_count_does_not_grow(admin_api, in_tenant_a, acme, tech):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def grow(count):
        for _ in range(count):
            contract = ContractFactory(tenant=in_tenant_a, customer=acme, block=True)
            BlockPurchaseFactory(tenant=in_tenant_a, contract=contract)
            ticket = TicketFactory(tenant=in_tenant_a, organization=acme, contract=contract)
            TimeEntryFactory(tenant=in_tenant_a, ticket=ticket, technician=tech)
            team = TeamFactory(tenant=in_tenant_a)
            TeamMemberFactory(tenant=in_tenant_a, team=team, user=tech)
            RateRuleFactory(tenant=in_tenant_a, contract=contract, service_type=None)
            ProductFactory(tenant=in_tenant_a)

    def count(url):
        with CaptureQueriesContext(connection) as captured:
            assert admin_api.get(url).status_code == 200
        return len(captured.captured_queries)

    grow(2)
    baseline = {url: count(url) for url in ENDPOINTS}
    grow(8)
    assert {url: count(url) for url in ENDPOINTS} == baseline


def test_patch_changes_only_what_is_sent(tech_api, ticket, in_tenant_a, staff_a):
    internal = TimeEntryFactory(
        tenant=in_tenant_a, ticket=ticket, technician=staff_a.user(Role.TECHNICIAN), billable=False
    )
    response = tech_api.patch(f"/api/v1/time-entries/{internal.pk}/", {"summary_note": "Notes"})
    assert response.status_code == 200, response.json()
    internal.refresh_from_db()
    assert (internal.summary_note, internal.billable) == ("Notes", False)
