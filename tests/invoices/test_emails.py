"""Invoices by e-mail, through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import html

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from billing_site import services as core_services
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from invoices.emails.models import EmailStatus, InvoiceEmail
from invoices.models import Invoice, InvoiceStatus

from .factories import InvoiceFactory, InvoiceLineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def final_invoice(tenant_a):
    org = OrganizationFactory(
        tenant=tenant_a, name="Bistro Lumière", billing_contact_email="ap@bistro.example"
    )
    with tenant_context(tenant_a):
        core_services.contact_create(organization=org, name="Chef", email="chef@bistro.example")
    invoice = InvoiceFactory(
        tenant=tenant_a,
        organization=org,
        bill_to_name=org.name,
        total="120.000",
        payment_instructions="IBAN FR76 3000 6000",
        currency="EUR",
    )
    InvoiceLineFactory(tenant=tenant_a, invoice=invoice, amount="120.000", unit_price="120")
    return invoice


@pytest.fixture
def admin(staff_a, client_as):
    return client_as(staff_a.user(Role.BILLING_ADMIN))


def test_the_billing_contact_gets_the_invoice_with_its_pdf(
    mailbox, final_invoice, admin, tenant_a, django_capture_on_commit_callbacks
):
    url = reverse("invoices:invoice-email", args=[final_invoice.pk])
    form = admin.get(url).content.decode()
    assert "ap@bistro.example" in form and "chef@bistro.example" in form
    assert f"Invoice {final_invoice.number} from" in form
    assert "IBAN FR76 3000 6000" in form  # the payment instructions placeholder
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            url,
            {
                "to": "ap@bistro.example",
                "cc": "chef@bistro.example",
                "subject": f"Invoice {final_invoice.number}",
                "body": "Please find it attached.",
            },
        )
    assert response.status_code == 302
    ((recipients, message),) = mailbox.messages
    assert sorted(recipients) == ["ap@bistro.example", "chef@bistro.example"]
    assert message["To"] == "ap@bistro.example" and message["Cc"] == "chef@bistro.example"
    assert message["Subject"] == f"Invoice {final_invoice.number}"
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == f"{final_invoice.number}.pdf"
    assert attachment.get_content().startswith(b"%PDF")
    with tenant_context(tenant_a):
        sent = InvoiceEmail.objects.get()
        assert sent.status == EmailStatus.SENT and sent.message_id == message["Message-ID"]
        assert Invoice.objects.get(pk=final_invoice.pk).status == InvoiceStatus.SENT
    page = admin.get(reverse("invoices:invoice-detail", args=[final_invoice.pk])).content.decode()
    assert "Accepted by the mail server" in page and sent.message_id.strip("<>") in page


def test_a_refused_recipient_fails_and_the_invoice_stays_unsent(
    mailbox, final_invoice, admin, tenant_a, django_capture_on_commit_callbacks
):
    mailbox.refuse = "550 5.1.1 No such user here"
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(
            reverse("invoices:invoice-email", args=[final_invoice.pk]),
            {"to": "nobody@bistro.example", "subject": "Invoice", "body": "Attached."},
        )
    with tenant_context(tenant_a):
        failed = InvoiceEmail.objects.get()
        assert failed.status == EmailStatus.FAILED
        assert "550" in failed.error and "No such user" in failed.error
        assert Invoice.objects.get(pk=final_invoice.pk).status == InvoiceStatus.FINAL


def test_a_temporary_refusal_is_not_taken_for_a_send(
    mailbox, final_invoice, admin, tenant_a, django_capture_on_commit_callbacks
):
    # In-process (no worker) there is no later: recorded as failed, never as sent.
    mailbox.refuse = "451 4.3.0 Try again later"
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(
            reverse("invoices:invoice-email", args=[final_invoice.pk]),
            {"to": "ap@bistro.example", "subject": "Invoice", "body": "Attached."},
        )
    with tenant_context(tenant_a):
        failed = InvoiceEmail.objects.get()
        assert failed.status == EmailStatus.FAILED and "did not take it" in failed.error
        assert "451" in failed.error


def test_bad_addresses_and_a_customer_without_one_are_named(final_invoice, admin, tenant_a):
    url = reverse("invoices:invoice-email", args=[final_invoice.pk])
    bad = admin.post(url, {"to": "not-an-address", "cc": "x@", "subject": "S", "body": "B"})
    assert bad.status_code == 400
    body = bad.content.decode()
    assert "Not an e-mail address: not-an-address" in body and "Not an e-mail address: x@" in body
    with tenant_context(tenant_a):
        assert not InvoiceEmail.objects.exists()
        nobody = OrganizationFactory(tenant=tenant_a, billing_contact_email="")
        invoice = InvoiceFactory(tenant=tenant_a, organization=nobody, bill_to_email="")
        from invoices.emails import services

        with pytest.raises(ValidationError) as error:
            services.invoice_email_send(invoice=invoice, to="", subject="S", body="B")
        assert "has no billing e-mail address" in error.value.message_dict["to"][0]
        draft = InvoiceFactory(tenant=tenant_a, draft=True)
        with pytest.raises(ValidationError, match="Finalise the draft"):
            services.invoice_email_send(invoice=draft, to="a@b.example", subject="S", body="B")


def test_a_batch_is_sent_all_or_nothing(
    mailbox, tenant_a, staff_a, api_as, django_capture_on_commit_callbacks
):
    from invoices.batches.models import BatchInvoice, InvoiceBatch

    with tenant_context(tenant_a):
        batch = InvoiceBatch.objects.create(
            tenant=tenant_a, name="March", as_of="2026-03-31", status="generated"
        )
        orgs = [
            OrganizationFactory(tenant=tenant_a, billing_contact_email=f"ap{n}@x.example")
            for n in range(3)
        ]
        silent = OrganizationFactory(tenant=tenant_a, name="Silent SARL", billing_contact_email="")
        invoices = [InvoiceFactory(tenant=tenant_a, organization=org) for org in [*orgs, silent]]
        for invoice in invoices:
            BatchInvoice.objects.create(tenant=tenant_a, batch=batch, invoice=invoice)
    api = api_as(staff_a.user(Role.BILLING_ADMIN))
    refused = api.post(f"/api/v1/batches/{batch.pk}/send/")
    assert refused.status_code == 400
    assert "Silent SARL has no billing e-mail address" in str(refused.json())
    assert mailbox.messages == []
    silent.billing_contact_email = "ap@silent.example"
    silent.save()
    with django_capture_on_commit_callbacks(execute=True):
        sent = api.post(f"/api/v1/batches/{batch.pk}/send/")
    assert sent.status_code == 202 and len(sent.json()) == 4
    assert len(mailbox.messages) == 4
    log = api.get(f"/api/v1/invoices/{invoices[0].pk}/emails/").json()
    assert log[0]["status"] == "sent" and log[0]["to"] == ["ap0@x.example"]


def test_the_api_sends_with_the_template_by_default(
    mailbox, final_invoice, api_as, staff_a, django_capture_on_commit_callbacks
):
    api = api_as(staff_a.user(Role.BILLING_ADMIN))
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(f"/api/v1/invoices/{final_invoice.pk}/send/", {})
    assert answer.status_code == 202, answer.json()
    ((recipients, message),) = mailbox.messages
    assert recipients == ["ap@bistro.example", "chef@bistro.example"]
    assert final_invoice.number in message["Subject"]
    bad = api.post(f"/api/v1/invoices/{final_invoice.pk}/send/", {"to": ["nope"]})
    assert bad.status_code == 400 and "to" in bad.json()
    assert (
        api_as(staff_a.user(Role.ACCOUNTANT))
        .post(f"/api/v1/invoices/{final_invoice.pk}/send/", {})
        .status_code
        == 403
    )


def test_an_unknown_placeholder_is_refused_when_the_template_is_saved(tenant_a):
    with pytest.raises(ValidationError) as error:
        core_services.tenant_update(tenant=tenant_a, invoice_email_subject="Invoice {numbr}")
    assert "Unknown placeholder {numbr}" in error.value.message_dict["invoice_email_subject"][0]
    with pytest.raises(ValidationError, match="brace"):
        core_services.tenant_update(tenant=tenant_a, invoice_email_body="Dear {customer")
    core_services.tenant_update(tenant=tenant_a, invoice_email_subject="Facture {number}")


def test_a_batch_send_reads_the_same_for_any_number_of_invoices(tenant_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from invoices.emails import services

    def queries(count: int) -> int:
        with tenant_context(tenant_a):
            invoices = []
            for n in range(count):
                org = OrganizationFactory(tenant=tenant_a, billing_contact_email=f"a{n}@x.example")
                core_services.contact_create(organization=org, name="Boss", email=f"b{n}@x.example")
                invoices.append(InvoiceFactory(tenant=tenant_a, organization=org))
            invoices = list(
                Invoice.objects.filter(pk__in=[i.pk for i in invoices]).select_related(
                    "organization"
                )
            )
            with CaptureQueriesContext(connection) as context:
                emails = services.invoices_email_send(invoices=invoices)
            assert len(emails) == count and all(e.cc for e in emails)
        return len(context.captured_queries)

    assert queries(2) == queries(6)


@pytest.mark.parametrize(
    ("language", "due", "amount"),
    [
        ("fr", "31 mars 2026", "120,00 €"),
        ("de", "31. März 2026", "120,00 €"),
        ("en", "March 31, 2026", "€120.00"),
    ],
)
def test_the_due_date_and_amount_read_in_the_documents_language(
    final_invoice, admin, tenant_a, language, due, amount
):
    from invoices.pdf import pdf_context
    from invoices.selectors import invoice_get

    with tenant_context(tenant_a):
        core_services.tenant_update(
            tenant=tenant_a,
            invoice_email_subject="Invoice {number}, due {due_date}",
            invoice_email_body="{amount_due} by {due_date}.",
        )
        final_invoice.organization.language = language
        final_invoice.organization.save(update_fields=["language"])
        printed = pdf_context(invoice_get(pk=final_invoice.pk))["due_date"]
    form = admin.get(reverse("invoices:invoice-email", args=[final_invoice.pk])).content.decode()
    form = html.unescape(form).replace("\xa0", " ").replace("\u202f", " ")
    printed = printed.replace("\xa0", " ")
    # The customer's language (the tenant's is en_US), as the PDF prints it.
    assert printed == due
    assert f"Invoice {final_invoice.number}, due {due}" in form
    assert f"{amount} by {due}." in form
    assert "31 Mar 2026" not in form
