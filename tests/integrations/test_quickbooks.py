"""Pushing to QuickBooks Online (the fake checks the documented request shapes)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from integrations.core import ledger, services
from integrations.core.models import (
    AttemptOutcome,
    Delivery,
    DeliveryAction,
    DeliveryStatus,
    Mapping,
    MappingKind,
    MappingOrigin,
    Provider,
)
from invoices.models import InvoiceStatus
from invoices.services import invoice_void

from .conftest import draft, finalise
from .fakes.server import Scripted

pytestmark = pytest.mark.django_db


def test_generated_invoice_arrives_with_our_number_and_amounts(
    quickbooks, fake_qbo, in_tenant_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        (invoice,) = finalise(draft(in_tenant_a))
    delivery = Delivery.objects.get(invoice=invoice, action=DeliveryAction.PUSH)
    assert delivery.status == DeliveryStatus.DONE, delivery.last_error
    remote = fake_qbo.invoice(invoice.number)
    assert invoice.total == Decimal("477.00")
    assert Decimal(str(remote["TotalAmt"])) == invoice.total
    assert remote["TxnDate"] == invoice.issue_date.isoformat()
    assert remote["DueDate"] == invoice.due_date.isoformat()
    assert [Decimal(str(line["Amount"])) for line in remote["Line"]] == [
        Decimal("250"),
        Decimal("135"),
        Decimal("15"),
    ]
    assert [line["SalesItemLineDetail"]["TaxCodeRef"]["value"] for line in remote["Line"]] == [
        "5",
        "5",
        "6",
    ]
    assert delivery.external_id == remote["Id"]
    assert delivery.their_total == invoice.total and delivery.drift is None
    # The documented shapes: minorversion on every call, requestid on every write.
    calls = fake_qbo.api_requests(path_part="/v3/company/")
    assert all(call["args"].get("minorversion") == "75" for call in calls)
    writes = [call for call in calls if call["method"] == "POST"]
    assert writes and all(call["args"].get("requestid") for call in writes)
    (create,) = [call for call in writes if call["path"].endswith("/invoice")]
    assert create["args"]["requestid"] == delivery.idempotency_key
    assert create["headers"]["authorization"].startswith("Bearer ")
    # Customer and items were created once and are in the ledger now.
    customer = Mapping.objects.get(system=Provider.QUICKBOOKS, kind=MappingKind.CUSTOMER)
    assert customer.origin == MappingOrigin.CREATED
    assert customer.external_id == remote["CustomerRef"]["value"]
    items = {m.local_key: m for m in Mapping.objects.filter(kind=MappingKind.ITEM)}
    assert set(items) == {"MEP", ""}
    # The product's income account 4010 is mapped to QuickBooks account 80.
    mep = fake_qbo.entities["Item"][items["MEP"].external_id]
    assert mep["IncomeAccountRef"]["value"] == "80"
    assert delivery.attempt_log.get().outcome == AttemptOutcome.OK


def test_second_invoice_reuses_customer_and_items(
    quickbooks, fake_qbo, in_tenant_a, django_capture_on_commit_callbacks
):
    first = draft(in_tenant_a)
    second = draft(in_tenant_a, organization=first.organization)
    with django_capture_on_commit_callbacks(execute=True):
        finalise(first, second)
    assert len(fake_qbo.invoices()) == 2
    assert len(fake_qbo.entities["Customer"]) == 1
    assert len(fake_qbo.entities["Item"]) == 2


def test_unmapped_tax_rate_fails_at_once_with_the_rate_named(
    quickbooks, fake_qbo, in_tenant_a, django_capture_on_commit_callbacks
):
    ledger.mapping_set(system=Provider.QUICKBOOKS, kind=MappingKind.TAX_RATE, local_key="20")
    with django_capture_on_commit_callbacks(execute=True):
        (invoice,) = finalise(draft(in_tenant_a))
    delivery = Delivery.objects.get(invoice=invoice)
    assert delivery.status == DeliveryStatus.FAILED
    assert "20 %" in delivery.last_error and "tax" in delivery.last_error
    assert fake_qbo.invoices() == []
    # Fixed in the mapping, then retried from the log: delivered.
    ledger.mapping_set(
        system=Provider.QUICKBOOKS, kind=MappingKind.TAX_RATE, local_key="20", external_id="5"
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.delivery_retry(delivery=delivery)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DONE
    assert delivery.attempts == 2
    assert len(fake_qbo.invoices()) == 1


def test_throttled_push_waits_for_retry_after_then_delivers(
    quickbooks, fake_qbo, in_tenant_a, django_capture_on_commit_callbacks, time_machine
):
    time_machine.move_to("2026-03-20 11:00:00Z", tick=False)
    # The customer lookup is answered 429 with the provider's own wait.
    fake_qbo.fail_next(Scripted(429, {"Fault": {}}, {"Retry-After": "42"}))
    with django_capture_on_commit_callbacks(execute=True):
        (invoice,) = finalise(draft(in_tenant_a))
    delivery = Delivery.objects.get(invoice=invoice)
    assert delivery.status == DeliveryStatus.PENDING
    assert (delivery.next_attempt_at - delivery.attempt_log.get().started_at).total_seconds() == 42
    assert delivery.attempt_log.get().http_status == 429
    # Not due yet: the sweep leaves it.
    assert services.deliveries_due() == []
    time_machine.move_to("2026-03-20 11:00:43Z", tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert [d.pk for d in services.deliveries_due()] == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DONE
    assert len(fake_qbo.invoices()) == 1


def test_server_errors_back_off_exponentially_then_give_up(
    quickbooks, fake_qbo, in_tenant_a, settings, time_machine
):
    settings.INTEGRATIONS_MAX_ATTEMPTS = 3
    time_machine.move_to("2026-03-20 11:00:00Z", tick=False)
    invoice = finalise(draft(in_tenant_a))[0]
    delivery = Delivery.objects.get(invoice=invoice)
    waits = []
    for _ in range(3):
        fake_qbo.fail_next(Scripted(503, {}))
        result = services.delivery_run(delivery_id=delivery.pk)
        waits.append(result.retry_in)
        delivery.refresh_from_db()
        if delivery.next_attempt_at:
            time_machine.move_to(delivery.next_attempt_at, tick=False)
    assert waits == [30.0, 60.0, None]
    assert delivery.status == DeliveryStatus.FAILED
    assert "Gave up after 3 attempts" in delivery.last_error
    assert fake_qbo.invoices() == []


def test_fault_with_http_200_fails_at_once(quickbooks, fake_qbo, in_tenant_a):
    invoice = finalise(draft(in_tenant_a))[0]
    delivery = Delivery.objects.get(invoice=invoice)
    fake_qbo.fail_next(
        Scripted(
            200,
            {
                "Fault": {
                    "Error": [
                        {
                            "Message": "Business Validation Error",
                            "Detail": "Customer is inactive",
                            "code": "6000",
                        }
                    ],
                    "type": "ValidationFault",
                }
            },
        )
    )
    result = services.delivery_run(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert result.status == DeliveryStatus.FAILED
    assert "Customer is inactive" in delivery.last_error and "6000" in delivery.last_error
    assert delivery.attempts == 1


def test_duplicate_doc_number_is_refused_with_quickbooks_message(quickbooks, fake_qbo, in_tenant_a):
    invoice = finalise(draft(in_tenant_a))[0]
    fake_qbo.entities["Invoice"]["1"] = {"Id": "1", "DocNumber": invoice.number, "TotalAmt": 1}
    delivery = Delivery.objects.get(invoice=invoice)
    services.delivery_run(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "Duplicate Document Number Error (code 6210)" in delivery.last_error


def test_a_retry_after_a_lost_answer_adopts_the_invoice_instead_of_creating_another(
    quickbooks, fake_qbo, in_tenant_a, time_machine
):
    """The provider created the invoice but its answer never reached us (the process
    died, the connection dropped): the retry finds it by number."""
    time_machine.move_to("2026-03-20 11:00:00Z", tick=False)
    invoice = finalise(draft(in_tenant_a))[0]
    delivery = Delivery.objects.get(invoice=invoice)
    fake_qbo.hold_creates = 0  # answer at once; the drop is simulated below
    original = fake_qbo.write

    def create_then_drop(path, request):
        response = original(path, request)
        if path == "invoice":
            raise ConnectionResetError("dropped after the create")
        return response

    fake_qbo.write = create_then_drop
    first = services.delivery_run(delivery_id=delivery.pk)
    fake_qbo.write = original
    assert first.status == DeliveryStatus.PENDING
    assert len(fake_qbo.invoices()) == 1
    time_machine.move_to("2026-03-20 11:05:00Z", tick=False)
    second = services.delivery_run(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert second.status == DeliveryStatus.DONE
    assert len(fake_qbo.invoices()) == 1
    assert delivery.external_id == fake_qbo.invoices()[0]["Id"]
    assert "already in QuickBooks" in delivery.summary


def test_tax_computed_differently_there_is_recorded_as_drift(quickbooks, fake_qbo, in_tenant_a):
    # QuickBooks' code 6 is 0 %: its own tax engine disagrees with our 20 %.
    ledger.mapping_set(
        system=Provider.QUICKBOOKS, kind=MappingKind.TAX_RATE, local_key="20", external_id="6"
    )
    invoice = finalise(draft(in_tenant_a))[0]
    delivery = Delivery.objects.get(invoice=invoice)
    services.delivery_run(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DONE
    assert delivery.their_total == Decimal("400") and delivery.our_total == Decimal("477")
    assert delivery.drift == Decimal("-77")
    assert "differs from ours" in delivery.summary
    from integrations.core.selectors import delivery_list

    assert list(delivery_list(drift=True)) == [delivery]


def test_void_is_voided_there(
    quickbooks, fake_qbo, in_tenant_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        (invoice,) = finalise(draft(in_tenant_a))
    with django_capture_on_commit_callbacks(execute=True):
        invoice_void(invoice=invoice, reason="Wrong customer")
    void = Delivery.objects.get(invoice=invoice, action=DeliveryAction.VOID)
    assert void.status == DeliveryStatus.DONE, void.last_error
    assert fake_qbo.invoice(invoice.number)["TotalAmt"] == 0
    assert void.their_status == "voided"


def test_credit_note_becomes_a_credit_memo(
    quickbooks, fake_qbo, in_tenant_a, django_capture_on_commit_callbacks
):
    from invoices.models import CreditDisposition
    from invoices.services import credit_note_create

    with django_capture_on_commit_callbacks(execute=True):
        (invoice,) = finalise(draft(in_tenant_a))
    with django_capture_on_commit_callbacks(execute=True):
        note = credit_note_create(
            invoice=invoice, reason="Goodwill", credit_disposition=CreditDisposition.WRITE_OFF
        )
    delivery = Delivery.objects.get(invoice=note)
    assert delivery.status == DeliveryStatus.DONE, delivery.last_error
    (memo,) = fake_qbo.entities["CreditMemo"].values()
    assert memo["DocNumber"] == note.number
    assert Decimal(str(memo["TotalAmt"])) == note.total == invoice.total
    assert memo["PrivateNote"] == f"Credit for {invoice.number}"


def test_push_without_connection_or_of_a_draft_is_refused(in_tenant_a):
    invoice = draft(in_tenant_a)
    with pytest.raises(ValidationError, match="Finalise the draft"):
        services.invoice_push(invoice=invoice)
    (final,) = finalise(invoice)
    with pytest.raises(ValidationError, match="No accounting system is connected"):
        services.invoice_push(invoice=final)


def test_no_push_when_auto_export_is_off_until_asked(
    quickbooks, fake_qbo, in_tenant_a, django_capture_on_commit_callbacks
):
    services.connection_update(connection=quickbooks, auto_export=False)
    with django_capture_on_commit_callbacks(execute=True):
        (invoice,) = finalise(draft(in_tenant_a))
    assert not Delivery.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_push(invoice=invoice)
    assert Delivery.objects.get(invoice=invoice).status == DeliveryStatus.DONE
    with pytest.raises(ValidationError, match="Already delivered"):
        services.invoice_push(invoice=invoice)
    assert invoice.status == InvoiceStatus.FINAL
