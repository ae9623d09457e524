"""ConnectWise PSA: the connection, the mapping, and the monthly push, against the fake
site on loopback (request shapes checked there)."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db import connection as db

from billing_site.testing.factories import OrganizationFactory
from integrations.connectwise import mapping
from integrations.connectwise import services as cw
from integrations.connectwise.client import ConnectWiseClient
from integrations.core import schedules, services
from integrations.core.models import (
    Connection,
    ConnectionStatus,
    Delivery,
    DeliveryAction,
    DeliveryStatus,
)
from tests.contracts.factories import (
    ContractFactory,
    ContractProductLineFactory,
    ProductFactory,
)
from tests.sessions.factories import HostFactory

from .conftest import connect_connectwise
from .fakes.connectwise import PREFIX
from .fakes.server import Scripted

UTC = dt.UTC


def paris(year, month, day, hour=10):
    """``hour`` o'clock in Paris (tenant A's zone), as UTC (summer time: UTC+2)."""
    return dt.datetime(year, month, day, hour, 0, tzinfo=UTC) - dt.timedelta(hours=2)


# --- Connection -----------------------------------------------------------------------


@pytest.mark.django_db
def test_connecting_reads_the_codebase_and_keeps_the_keys_encrypted(connectwise, fake_cw):
    assert connectwise.status == ConnectionStatus.ACTIVE
    assert connectwise.codebase == "v4_6_release/"
    assert connectwise.external_name == "MSP Co"
    call = fake_cw.api_requests("GET", "system/info")[0]
    assert call["path"] == f"{PREFIX}system/info"
    token = base64.b64encode(b"mspco+pub123:priv456").decode()
    assert call["headers"]["authorization"] == f"Basic {token}"
    assert call["headers"]["clientid"] == fake_cw.client_id
    with db.cursor() as cursor:
        cursor.execute(
            "select api_public_key, api_private_key from integrations_connection where id = %s",
            [connectwise.pk],
        )
        public, private = cursor.fetchone()
    assert "priv456" not in private and "pub123" not in public and private


@pytest.mark.django_db
def test_what_is_wrong_is_said_in_words(in_tenant_a, fake_cw):
    with pytest.raises(ValidationError, match="could not be reached"):
        cw.connection_save(
            site="http://127.0.0.1:9", company="mspco", public_key="a", private_key="b"
        )
    with pytest.raises(ValidationError, match="knows no company “nobody”"):
        cw.connection_save(site=fake_cw.site, company="nobody", public_key="a", private_key="b")
    with pytest.raises(ValidationError, match=r"refused the API keys \(401\)"):
        cw.connection_save(
            site=fake_cw.site, company="mspco", public_key="pub123", private_key="wrong"
        )
    with pytest.raises(ValidationError, match="HTTPS only"):
        from django.test import override_settings

        with override_settings(CONNECTWISE={"client_id": "x", "allow_http": False}):
            cw.connection_save(site=fake_cw.site, company="mspco", public_key="a", private_key="b")
    assert not Connection.objects.exists()  # nothing stored while it does not work

    connection = connect_connectwise(fake_cw)
    fake_cw.forbidden.add("finance/agreements")
    checks = cw.connection_test(connection=connection)
    assert [(c.label, c.ok) for c in checks] == [
        ("Site and company", True),
        ("API keys", True),
        ("Companies (Company › view)", True),
        ("Agreements (Finance › Agreements)", False),
    ]
    assert "may not do this (reading agreements, 403)" in checks[-1].words
    assert "You do not have access to finance records" in checks[-1].words
    connection.refresh_from_db()
    assert "403" in connection.last_error
    fake_cw.forbidden.clear()
    fake_cw.private_key = "rotated"  # the key was revoked over there
    checks = cw.connection_test(connection=connection)
    assert not checks[-1].ok and "401" in checks[-1].words
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.BROKEN


# --- Mapping ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_companies_are_suggested_and_agreements_offered_by_type(connectwise, fake_cw, in_tenant_a):
    acme = fake_cw.add_company("ACME", "ACME Corporation")
    fake_cw.add_company("ACMEX", "Acme Export")
    fake_cw.add_company("OTHER", "Other Ltd")
    fake_cw.add_agreement(acme, "ACME Managed", "Managed Services")
    fake_cw.add_agreement(acme, "ACME Security", "Security")
    fake_cw.add_agreement(acme, "Old", "Managed Services", cancelled=True)
    with ConnectWiseClient(connectwise) as api:
        found = mapping.companies_matching(api, identifier="ACME", name="acme")
        agreements = mapping.company_agreements(api, str(acme["id"]))
    assert [(c["identifier"], c["by"]) for c in found] == [
        ("ACME", "identifier"),
        ("ACMEX", "name"),
    ]
    assert [(a["type"], a["name"]) for a in agreements] == [
        ("Managed Services", "ACME Managed"),
        ("Security", "ACME Security"),
    ]
    conditions = [r["args"].get("conditions") for r in fake_cw.api_requests("GET", "company")]
    assert conditions == ['identifier="ACME"', 'name contains "acme"']
    assert fake_cw.api_requests("GET", "finance/agreements")[0]["args"]["conditions"] == (
        f"company/id={acme['id']} and cancelledFlag=False"
    )

    org = OrganizationFactory(tenant=in_tenant_a, name="ACME")
    ProductFactory(tenant=in_tenant_a, sku="MEP")
    with pytest.raises(ValidationError, match="company first"):
        cw.product_agreement_set(organization=org, sku="MEP", agreement_id="1")
    cw.customer_company_set(
        organization=org, company_id=str(acme["id"]), company_name="ACME Corporation"
    )
    cw.product_agreement_set(organization=org, sku="MEP", agreement_id="5", agreement_name="x")
    # Another company: the agreements were the old company's.
    cw.customer_company_set(organization=org, company_id="999", company_name="Other")
    from integrations.core.models import Mapping, MappingKind

    assert not Mapping.objects.filter(kind=MappingKind.AGREEMENT).exists()


# --- Push ---------------------------------------------------------------------------


@pytest.fixture
def acme(in_tenant_a, connectwise, fake_cw):
    """ACME billed 20 managed endpoints at 12.50 and one line per managed device (2 hosts),
    mapped to two agreements; ConnectWise's catalog knows both SKUs."""
    org = OrganizationFactory(tenant=in_tenant_a, name="ACME", company_number="ACME")
    contract = ContractFactory(
        tenant=in_tenant_a, customer=org, recurring=True, start_date=dt.date(2027, 1, 1)
    )
    mep = ProductFactory(tenant=in_tenant_a, sku="MEP", name="Managed endpoint")
    dev = ProductFactory(
        tenant=in_tenant_a,
        sku="DEV",
        name="Device care",
        unit="device",
        unit_price=Decimal("7.2500"),
    )
    ContractProductLineFactory(
        tenant=in_tenant_a,
        contract=contract,
        product=mep,
        quantity=Decimal("20"),
        unit_price=Decimal("12.5000"),
    )
    ContractProductLineFactory(
        tenant=in_tenant_a, contract=contract, product=dev, quantity_mode="per_device"
    )
    for _ in range(2):
        HostFactory(tenant=in_tenant_a, group=None, organization=org)
    company = fake_cw.add_company("ACME", "ACME Corporation")
    managed = fake_cw.add_agreement(company, "ACME Managed", "Managed Services")
    devices = fake_cw.add_agreement(company, "ACME Devices", "Managed Services")
    fake_cw.add_product("MEP")
    fake_cw.add_product("DEV")
    cw.customer_company_set(
        organization=org, company_id=str(company["id"]), company_name="ACME Corporation"
    )
    cw.product_agreement_set(
        organization=org, sku="MEP", agreement_id=str(managed["id"]), agreement_name="ACME Managed"
    )
    cw.product_agreement_set(
        organization=org, sku="DEV", agreement_id=str(devices["id"]), agreement_name="ACME Devices"
    )
    return {"org": org, "managed": managed, "devices": devices, "contract": contract}


def tick(capture, now=None):
    """One beat tick of the sweep: plan what is due, send it."""
    with capture(execute=True):
        cw.deliveries_plan_due(now=now)
        services.deliveries_due(now=now)


@pytest.mark.django_db
def test_day_31_sends_april_on_30_april_once_then_updates_the_quantity_in_may(
    acme, connectwise, fake_cw, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(paris(2027, 4, 10), tick=False)
    Connection.objects.filter(pk=connectwise.pk).update(connected_at=paris(2027, 4, 1))
    services.connection_schedule_set(connection=connectwise, schedule="monthly", day=31)
    time_machine.move_to(paris(2027, 4, 29, 23), tick=False)
    tick(django_capture_on_commit_callbacks)
    assert fake_cw.all_additions() == [] and not Delivery.objects.exists()

    time_machine.move_to(paris(2027, 4, 30, 0) + dt.timedelta(minutes=1), tick=False)
    tick(django_capture_on_commit_callbacks)
    tick(django_capture_on_commit_callbacks)  # a second tick the same day
    managed = fake_cw.additions(acme["managed"]["id"])
    devices = fake_cw.additions(acme["devices"]["id"])
    assert [(a["product"]["identifier"], a["quantity"], a["unitPrice"]) for a in managed] == [
        ("MEP", 20.0, 12.5)
    ]
    assert [(a["product"]["identifier"], a["quantity"], a["unitPrice"]) for a in devices] == [
        ("DEV", 2.0, 7.25)
    ]
    assert managed[0]["effectiveDate"] == "2027-04-01T00:00:00Z"
    assert managed[0]["billCustomer"] == "Billable"
    # Looked up by product before creating.
    lookups = {r["args"]["conditions"] for r in fake_cw.api_requests("GET", "/additions")}
    assert lookups == {'product/identifier="MEP"', 'product/identifier="DEV"'}
    (delivery,) = Delivery.objects.all()
    assert (delivery.status, delivery.period_start) == (DeliveryStatus.DONE, dt.date(2027, 4, 1))
    assert delivery.our_total == Decimal("264.50")  # 20 × 12.50 + 2 × 7.25

    # "Send now" for the month already sent: says so, sends nothing.
    posts = len(fake_cw.api_requests("POST"))
    with django_capture_on_commit_callbacks(execute=True):
        again = cw.send_now(connection=connectwise)
    assert "April 2027 was already sent for ACME: nothing sent again" in again.message
    assert len(fake_cw.api_requests("POST")) == posts

    # May: a third device; the same additions get their quantity replaced.
    HostFactory(tenant=acme["org"].tenant, group=None, organization=acme["org"])
    time_machine.move_to(paris(2027, 5, 31, 9), tick=False)
    tick(django_capture_on_commit_callbacks)
    patch = fake_cw.api_requests("PATCH")
    assert [p["body"] for p in patch] == [[{"op": "replace", "path": "quantity", "value": 3.0}]]
    assert len(fake_cw.all_additions()) == 2
    assert fake_cw.additions(acme["devices"]["id"])[0]["quantity"] == 3.0
    assert Delivery.objects.filter(status=DeliveryStatus.DONE).count() == 2


@pytest.mark.django_db
def test_a_day_missed_while_beat_was_down_is_sent_at_the_next_tick(
    acme, connectwise, fake_cw, time_machine, django_capture_on_commit_callbacks
):
    Connection.objects.filter(pk=connectwise.pk).update(connected_at=paris(2027, 4, 1))
    services.connection_schedule_set(connection=connectwise, schedule="monthly", day=31)
    # Beat was down from 29 April to 2 May.
    time_machine.move_to(paris(2027, 5, 2), tick=False)
    tick(django_capture_on_commit_callbacks)
    tick(django_capture_on_commit_callbacks)
    assert list(Delivery.objects.values_list("period_start", flat=True)) == [dt.date(2027, 4, 1)]
    assert len(fake_cw.all_additions()) == 2


@pytest.mark.django_db
def test_a_customers_own_day_and_off(
    acme, connectwise, in_tenant_a, time_machine, django_capture_on_commit_callbacks
):
    Connection.objects.filter(pk=connectwise.pk).update(connected_at=paris(2027, 4, 1))
    services.connection_schedule_set(connection=connectwise, schedule="off")
    services.customer_schedule_set(
        connection=connectwise, organization=acme["org"], mode="custom", day=5
    )
    time_machine.move_to(paris(2027, 4, 4), tick=False)
    tick(django_capture_on_commit_callbacks)
    assert not Delivery.objects.exists()  # the connection is off, ACME's day is the 5th
    time_machine.move_to(paris(2027, 4, 5), tick=False)
    tick(django_capture_on_commit_callbacks)
    assert Delivery.objects.get().period_start == dt.date(2027, 4, 1)
    services.customer_schedule_set(connection=connectwise, organization=acme["org"], mode="off")
    time_machine.move_to(paris(2027, 5, 6), tick=False)
    tick(django_capture_on_commit_callbacks)
    assert Delivery.objects.count() == 1


@pytest.mark.django_db
def test_one_delivery_per_customer_and_month_in_the_database(acme, connectwise):
    row = {
        "tenant_id": connectwise.tenant_id,
        "connection": connectwise,
        "action": DeliveryAction.PUSH,
        "organization": acme["org"],
        "period_start": dt.date(2027, 4, 1),
    }
    Delivery.objects.create(**row)
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(**row)


@pytest.mark.django_db
def test_throttling_and_server_errors_are_retried_without_a_second_addition(
    acme, connectwise, fake_cw, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(paris(2027, 4, 10), tick=False)
    fake_cw.fail_next(
        Scripted(
            429, {"error": "ConnectWiseAPI", "message": "Too many requests."}, {"Retry-After": "7"}
        )
    )
    with django_capture_on_commit_callbacks(execute=True):
        cw.send_now(connection=connectwise, organization=acme["org"])
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    attempt = delivery.attempt_log.get()
    assert (attempt.http_status, attempt.outcome) == (429, "retry")
    assert "Throttled by ConnectWise" in attempt.message
    assert delivery.next_attempt_at == paris(2027, 4, 10) + dt.timedelta(seconds=7)

    # Its time has come: sent, one addition per product.
    time_machine.move_to(paris(2027, 4, 10) + dt.timedelta(seconds=8), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.deliveries_due()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DONE
    assert len(fake_cw.all_additions()) == 2

    # A retry after a lost answer finds the additions and creates none.
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        services.delivery_retry(delivery=delivery)
    assert len(fake_cw.all_additions()) == 2
    assert Delivery.objects.get().status == DeliveryStatus.DONE


@pytest.mark.django_db
def test_server_errors_back_off_and_connectwise_errors_are_words(
    acme, connectwise, fake_cw, in_tenant_a, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(paris(2027, 4, 10), tick=False)
    fake_cw.fail_next(Scripted(503, {"code": "ServerError", "message": "busy"}))
    with django_capture_on_commit_callbacks(execute=True):
        cw.send_now(connection=connectwise, organization=acme["org"])
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert "ConnectWise had a server error (503)" in delivery.last_error
    assert delivery.next_attempt_at == paris(2027, 4, 10) + dt.timedelta(seconds=30)

    # ConnectWise does not know the catalog item: its error body, in words.
    fake_cw.catalog.pop("DEV")
    fake_cw.add_product("OTHER")
    time_machine.move_to(paris(2027, 4, 10, 11), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.deliveries_due()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "ConnectWise refused adding to an agreement (400): addition object is invalid" in (
        delivery.last_error
    )
    assert "Product DEV was not found. (field product)" in delivery.last_error
    assert "[InvalidObject]" in delivery.last_error


@pytest.mark.django_db
def test_a_product_without_agreement_is_listed_not_skipped(
    acme, connectwise, fake_cw, in_tenant_a, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(paris(2027, 4, 10), tick=False)
    cw.product_agreement_set(organization=acme["org"], sku="DEV", agreement_id="")
    with django_capture_on_commit_callbacks(execute=True):
        cw.send_now(connection=connectwise, organization=acme["org"])
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert "MEP × 20 added to agreement ACME Managed" in delivery.last_error
    assert "Not sent, no agreement chosen: DEV" in delivery.last_error
    # Mapped, retried: DEV is added, MEP is not added twice.
    cw.product_agreement_set(
        organization=acme["org"],
        sku="DEV",
        agreement_id=str(acme["devices"]["id"]),
        agreement_name="ACME Devices",
    )
    with django_capture_on_commit_callbacks(execute=True):
        again = cw.send_now(connection=connectwise, organization=acme["org"])
    assert "trying April 2027 again for ACME" in again.message
    assert Delivery.objects.get().status == DeliveryStatus.DONE
    assert sorted(a["product"]["identifier"] for a in fake_cw.all_additions()) == ["DEV", "MEP"]


@pytest.mark.django_db
def test_quantities_are_the_invoice_engines(acme, in_tenant_a):
    """The month's figures are contract_period_amounts' (the contract page, the batch)."""
    from contracts.pricing import contract_period_amount
    from contracts.pricing.periods import period_containing

    products, problems = mapping.month_products(acme["org"].pk, dt.date(2027, 4, 1))
    period = period_containing(acme["contract"], dt.date(2027, 4, 1))
    engine = {
        line.sku: (line.quantity, line.unit_price)
        for line in contract_period_amount(acme["contract"], period).lines
    }
    assert {sku: (p.quantity, p.unit_price) for sku, p in products.items()} == engine
    assert engine == {
        "MEP": (Decimal("20"), Decimal("12.5000")),
        "DEV": (Decimal("2"), Decimal("7.2500")),
    }
    assert problems == []


def test_the_last_due_month():
    assert schedules.last_due_period(dt.date(2027, 5, 2), 31) == dt.date(2027, 4, 1)
    assert schedules.last_due_period(dt.date(2027, 4, 30), 31) == dt.date(2027, 4, 1)
    assert schedules.last_due_period(dt.date(2028, 2, 29), 30) == dt.date(2028, 2, 1)
    assert schedules.last_due_period(dt.date(2027, 1, 3), 5) == dt.date(2026, 12, 1)


@pytest.mark.django_db
def test_the_beat_sweep_plans_and_sends_the_due_months_once(
    acme, connectwise, fake_cw, time_machine, django_capture_on_commit_callbacks
):
    from integrations.core.tasks import deliveries_sweep_task

    Connection.objects.filter(pk=connectwise.pk).update(connected_at=paris(2027, 4, 1))
    services.connection_schedule_set(connection=connectwise, schedule="monthly", day=31)
    time_machine.move_to(paris(2027, 4, 30, 6), tick=False)
    for _ in range(2):  # two ticks
        with django_capture_on_commit_callbacks(execute=True):
            deliveries_sweep_task()
    assert Delivery.objects.get().status == DeliveryStatus.DONE
    assert len(fake_cw.all_additions()) == 2
