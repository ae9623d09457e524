"""Idempotency keys on the API's POSTs that create money or send something: a retry with
the same key and request replays the first answer and changes nothing; another request
with that key is a 422; keys belong to a tenant and are kept at least 24 hours."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, connections
from rest_framework.test import APIClient

from billing_site.api.idempotency import forget_expired_keys
from billing_site.models import IdempotencyKey
from billing_site.roles import Role
from billing_site.tasks import forget_expired_idempotency_keys_task
from invoices.emails.models import InvoiceEmail
from invoices.models import InvoiceStatus, Payment
from tests.invoices.factories import InvoiceFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC)
PAYMENT = {"amount": "20.50", "received_on": "2026-03-15", "method": "card", "reference": "CB-1"}


@pytest.fixture
def invoice(tenant_a, tenant_b):
    InvoiceFactory(tenant=tenant_b, status=InvoiceStatus.SENT)
    return InvoiceFactory(tenant=tenant_a, status=InvoiceStatus.SENT, total=Decimal("120.50"))


def pay(api, invoice, key=None, **changes):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api.post(
        "/api/v1/payments/", {"invoice": invoice.pk, **PAYMENT, **changes}, format="json", **headers
    )


def payments_of(invoice) -> list[Decimal]:
    return list(Payment.all_tenants.filter(invoice=invoice).values_list("amount", flat=True))


def test_a_retry_with_the_same_key_replays_the_first_answer(invoice, staff_a, api_as):
    api = api_as(staff_a.user(Role.BILLING_ADMIN))
    first = pay(api, invoice, "pay-42")
    again = pay(api, invoice, "pay-42")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert payments_of(invoice) == [Decimal("20.50")]
    # Without a key each request acts.
    assert pay(api, invoice).status_code == 201
    assert payments_of(invoice) == [Decimal("20.50"), Decimal("20.50")]


def test_the_same_key_with_another_request_is_a_422(invoice, staff_a, api_as):
    api = api_as(staff_a.user(Role.BILLING_ADMIN))
    assert pay(api, invoice, "pay-42").status_code == 201
    other = pay(api, invoice, "pay-42", amount="30.00")
    assert other.status_code == 422
    assert "another request" in other.json()["Idempotency-Key"][0]
    assert payments_of(invoice) == [Decimal("20.50")]


def test_a_refused_request_keeps_nothing_and_may_be_retried(invoice, staff_a, api_as):
    api = api_as(staff_a.user(Role.BILLING_ADMIN))
    refused = pay(api, invoice, "pay-42", amount="500")
    assert refused.status_code == 400 and "balance due" in refused.json()["amount"][0]
    assert not IdempotencyKey.all_tenants.exists()
    assert pay(api, invoice, "pay-42").status_code == 201
    assert payments_of(invoice) == [Decimal("20.50")]


@pytest.mark.parametrize("key", ["", "   ", "x" * 256, "bad\nkey"])
def test_a_key_that_is_not_printable_text_is_refused(invoice, staff_a, api_as, key):
    response = pay(api_as(staff_a.user(Role.BILLING_ADMIN)), invoice, key)
    assert response.status_code == 400
    assert "printable characters" in response.json()["Idempotency-Key"][0]
    assert payments_of(invoice) == []


def test_keys_belong_to_a_tenant(invoice, tenant_b, staff_a, staff_b, api_as):
    with_a = pay(api_as(staff_a.user(Role.BILLING_ADMIN)), invoice, "same-key")
    assert with_a.status_code == 201
    theirs = InvoiceFactory(tenant=tenant_b, status=InvoiceStatus.SENT, total=Decimal("99.00"))
    with_b = pay(api_as(staff_b.user(Role.BILLING_ADMIN)), theirs, "same-key")
    # B's request acts on B's invoice: nothing of A's answer is replayed to B.
    assert with_b.status_code == 201 and "Idempotent-Replayed" not in with_b
    assert with_b.json()["invoice"] == theirs.pk
    assert payments_of(theirs) == [Decimal("20.50")]


def test_keys_are_kept_a_day_then_forgotten(invoice, staff_a, api_as):
    api = api_as(staff_a.user(Role.BILLING_ADMIN))
    with time_machine.travel(NOW, tick=False) as traveller:
        assert pay(api, invoice, "pay-42").status_code == 201
        traveller.move_to(NOW + dt.timedelta(hours=23, minutes=59))
        assert pay(api, invoice, "pay-42")["Idempotent-Replayed"] == "true"
        assert forget_expired_keys() == 0
        traveller.move_to(NOW + dt.timedelta(hours=24, minutes=1))
        assert forget_expired_idempotency_keys_task() == 1
        again = pay(api, invoice, "pay-42")
        assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert payments_of(invoice) == [Decimal("20.50"), Decimal("20.50")]


def test_a_send_and_a_finalisation_happen_once(tenant_a, staff_a, api_as):
    from billing_site.tenancy import tenant_context
    from billing_site.testing.factories import OrganizationFactory
    from invoices import services

    api = api_as(staff_a.user(Role.BILLING_ADMIN))
    with tenant_context(tenant_a):
        customer = OrganizationFactory(
            tenant=tenant_a, billing_contact_email="ap@example.com", currency="EUR"
        )
        draft = InvoiceFactory(tenant=tenant_a, organization=customer, draft=True)
        services.invoice_line_add(
            invoice=draft, description="Support", quantity="1", unit_price="100.00"
        )
    finalize = [
        api.post(f"/api/v1/invoices/{draft.pk}/finalize/", HTTP_IDEMPOTENCY_KEY="fin-1")
        for _ in range(2)
    ]
    assert [r.status_code for r in finalize] == [200, 200]
    assert finalize[1].json()["number"] == finalize[0].json()["number"]
    sends = [
        api.post(
            f"/api/v1/invoices/{draft.pk}/send/", {}, format="json", HTTP_IDEMPOTENCY_KEY="send-1"
        )
        for _ in range(2)
    ]
    assert [r.status_code for r in sends] == [202, 202]
    assert sends[1].json() == sends[0].json()
    # One message written and queued: the retry sent nothing more.
    assert InvoiceEmail.all_tenants.filter(invoice=draft).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_requests_with_one_key_at_once_pay_once(invoice, staff_a):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent connections need PostgreSQL")
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=staff_a.user(Role.BILLING_ADMIN))
    barrier = threading.Barrier(4)
    answers: list = []

    def request():
        try:
            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
            barrier.wait(timeout=10)
            answers.append(pay(api, invoice, "raced-key"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answer.status_code for answer in answers) == [201, 201, 201, 201]
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert payments_of(invoice) == [Decimal("20.50")]
