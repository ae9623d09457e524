"""Pushing to Xero (the fake checks the documented request shapes)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integrations.core import ledger, services
from integrations.core.models import Delivery, DeliveryStatus, Mapping, MappingKind, Provider

from .conftest import draft, finalise
from .fakes.server import Scripted

pytestmark = pytest.mark.django_db


def test_invoice_arrives_in_xero_with_our_tax_to_the_cent(
    xero, fake_xero, in_tenant_a, django_capture_on_commit_callbacks
):
    # Three lines at 20 % whose per-line taxes round differently from the invoice's tax.
    lines = [("MEP", "1", "0.1250", True), ("", "1", "0.1250", True), ("", "1", "0.1250", True)]
    with django_capture_on_commit_callbacks(execute=True):
        (invoice,) = finalise(draft(in_tenant_a, lines=lines))
    delivery = Delivery.objects.get(invoice=invoice)
    assert delivery.status == DeliveryStatus.DONE, delivery.last_error
    remote = fake_xero.invoice(invoice.number)
    assert Decimal(str(remote["Total"])) == invoice.total
    assert Decimal(str(remote["TotalTax"])) == invoice.tax_total
    assert remote["Type"] == "ACCREC" and remote["Status"] == "AUTHORISED"
    assert remote["CurrencyCode"] == "EUR"
    assert [line["TaxType"] for line in remote["LineItems"]] == ["OUTPUT2"] * 3
    # The product's income account 4010 is mapped to Xero account 260; the others take
    # the default account code.
    assert [line["AccountCode"] for line in remote["LineItems"]] == ["260", "200", "200"]
    assert remote["LineItems"][0]["ItemCode"] == "MEP"
    put = fake_xero.api_requests("PUT", "/Invoices")[0]
    assert put["headers"]["idempotency-key"] == delivery.idempotency_key
    assert put["headers"]["xero-tenant-id"] == fake_xero.tenant_id
    assert put["args"]["unitdp"] == "4"
    contact = Mapping.objects.get(system=Provider.XERO, kind=MappingKind.CUSTOMER)
    assert contact.external_id == remote["Contact"]["ContactID"]


def test_duplicate_invoice_number_is_refused_with_xeros_message(xero, fake_xero, in_tenant_a):
    invoice = finalise(draft(in_tenant_a))[0]
    delivery = Delivery.objects.get(invoice=invoice)
    fake_xero.fail_next(
        Scripted(
            400,
            {
                "ErrorNumber": 10,
                "Type": "ValidationException",
                "Message": "A validation exception occurred",
                "Elements": [{"ValidationErrors": [{"Message": "Invoice # must be unique."}]}],
            },
        )
    )
    services.delivery_run(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error == "Xero: Invoice # must be unique."


def test_rate_limit_problem_is_named_and_retry_after_kept(xero, fake_xero, in_tenant_a):
    invoice = finalise(draft(in_tenant_a))[0]
    delivery = Delivery.objects.get(invoice=invoice)
    fake_xero.fail_next(Scripted(429, {}, {"Retry-After": "7", "X-Rate-Limit-Problem": "minute"}))
    result = services.delivery_run(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert result.retry_in == 7.0
    assert "minute limit" in delivery.last_error


def test_unmapped_account_code_stops_the_push(xero, fake_xero, in_tenant_a):
    ledger.mapping_set(system=Provider.XERO, kind=MappingKind.ACCOUNT, local_key="income")
    invoice = finalise(draft(in_tenant_a))[0]
    delivery = Delivery.objects.get(invoice=invoice)
    services.delivery_run(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "account code" in delivery.last_error
    assert fake_xero.invoices == {}


def test_credit_note_is_an_accreccredit(
    xero, fake_xero, in_tenant_a, django_capture_on_commit_callbacks
):
    from invoices.models import CreditDisposition
    from invoices.services import credit_note_create

    with django_capture_on_commit_callbacks(execute=True):
        (invoice,) = finalise(draft(in_tenant_a))
        note = credit_note_create(
            invoice=invoice, reason="Goodwill", credit_disposition=CreditDisposition.WRITE_OFF
        )
    assert Delivery.objects.get(invoice=note).status == DeliveryStatus.DONE
    (remote,) = fake_xero.credit_notes.values()
    assert remote["Type"] == "ACCRECCREDIT"
    assert remote["CreditNoteNumber"] == note.number
    assert remote["Reference"] == invoice.number
    assert Decimal(str(remote["Total"])) == note.total


def test_contact_is_matched_by_our_customer_id_before_its_name(
    xero, fake_xero, in_tenant_a, django_capture_on_commit_callbacks
):
    from billing_site.testing.factories import OrganizationFactory

    org = OrganizationFactory(
        tenant=in_tenant_a, name="Bistro Lumière SARL", company_number="C-00042"
    )
    # In Xero under another name, with our customer id as its account number.
    fake_xero.contacts["c-1"] = {
        "ContactID": "c-1",
        "Name": "Bistro Lumiere",
        "AccountNumber": "C-00042",
    }
    with django_capture_on_commit_callbacks(execute=True):
        (invoice,) = finalise(draft(in_tenant_a, organization=org))
    assert fake_xero.invoice(invoice.number)["Contact"]["ContactID"] == "c-1"
    mapping = Mapping.objects.get(system=Provider.XERO, kind=MappingKind.CUSTOMER)
    assert (mapping.external_id, mapping.origin) == ("c-1", "matched")
    # A new customer is created with its id as the account number.
    other = OrganizationFactory(tenant=in_tenant_a, name="Harbor Logistics", company_number="C-7")
    with django_capture_on_commit_callbacks(execute=True):
        finalise(draft(in_tenant_a, organization=other))
    created = next(c for c in fake_xero.contacts.values() if c["Name"] == "Harbor Logistics")
    assert created["AccountNumber"] == "C-7"
