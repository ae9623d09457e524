"""The whole flow as the owner clicks it: connect (against the fake), map, generate a
batch, see the invoices arrive there with our numbers and amounts, retry a failed push
from the log, mark one paid there, read the payments, see it paid here."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlparse

import httpx2
import pytest
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from integrations.core import ledger
from integrations.core.models import Delivery, DeliveryStatus
from invoices.batches.models import InvoiceBatch
from invoices.models import Invoice, InvoiceStatus
from tests.invoices.batch_factories import AS_OF, build_world

from .fakes.server import Scripted

pytestmark = pytest.mark.django_db

# What the owner types on the mapping page, per system: the tax rates of the world's
# contracts (20 %, 10 %, untaxed), the tenant's default 0 % and the default income account.
MAPPINGS = {
    "quickbooks": {"tax": {"20": "5", "10": "10", "0": "6", "exempt": "6"}, "income": "79"},
    "xero": {
        "tax": {"20": "OUTPUT2", "10": "OUTPUT10", "0": "NONE", "exempt": "NONE"},
        "income": "200",
    },
}


def remote_invoices(system, fake) -> dict[str, Decimal]:
    if system == "quickbooks":
        return {i["DocNumber"]: Decimal(str(i["TotalAmt"])) for i in fake.invoices()}
    return {i["InvoiceNumber"]: Decimal(str(i["Total"])) for i in fake.invoices.values()}


@pytest.mark.parametrize("system", ["quickbooks", "xero"])
def test_owner_connects_generates_and_sees_the_payment_come_back(
    system, request, tenant_a, staff_a, client_as, django_capture_on_commit_callbacks
):
    fake = request.getfixturevalue("fake_qbo" if system == "quickbooks" else "fake_xero")
    if system == "quickbooks":
        fake.tax_codes["10"] = Decimal("10")
    else:
        fake.tax_types["OUTPUT10"] = Decimal("10")
    world = build_world(tenant_a)
    browser = client_as(staff_a.user(Role.OWNER))

    # Connect: the button sends the browser to the provider's consent page, which sends
    # it back to our callback with the code and the state.
    page = browser.get(reverse("integrations:connections")).content.decode()
    assert f"Connect {'QuickBooks Online' if system == 'quickbooks' else 'Xero'}" in page
    start = browser.post(reverse(f"integrations:connect-{system}"))
    assert start.status_code == 302 and start["Location"].startswith(fake.url)
    consent = httpx2.get(start["Location"], follow_redirects=False)
    back = urlparse(consent.headers["Location"])
    assert back.path == reverse(f"integrations:callback-{system}")
    done = browser.get(f"{back.path}?{back.query}", follow=True)
    body = done.content.decode()
    assert "Connected to" in body, body

    # Map what the mapping page says is required.
    mapping_url = f"{reverse('integrations:mapping')}?system={system}"
    page = browser.get(mapping_url).content.decode()
    assert "required mapping" in page
    values = MAPPINGS[system]
    for rate, code in values["tax"].items():
        browser.post(
            mapping_url,
            {
                "system": system,
                "kind": "tax_rate",
                "local_key": rate,
                "external_id": code,
                "external_name": f"Tax {rate}",
            },
        )
    browser.post(
        mapping_url,
        {
            "system": system,
            "kind": "account",
            "local_key": "income",
            "external_id": values["income"],
            "external_name": "Sales",
        },
    )
    assert "required mapping" not in browser.get(mapping_url).content.decode()

    # Generate a batch: every invoice is pushed after commit; the provider refuses the
    # first call once (a validation fault), so one push fails and is retried from the log.
    browser.post(reverse("invoices:batch-list"), {"name": "March", "as_of": AS_OF.isoformat()})
    with tenant_context(tenant_a):
        batch = InvoiceBatch.objects.get(name="March")
    with django_capture_on_commit_callbacks(execute=True):  # Run is a job queued after commit
        browser.post(reverse("invoices:batch-run", args=[batch.pk]))
    refusal = (
        {
            "Fault": {
                "Error": [
                    {"Message": "Request has invalid or unsupported property", "code": "2010"}
                ],
                "type": "ValidationFault",
            }
        }
        if system == "quickbooks"
        else {
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": [{"ValidationErrors": [{"Message": "The contact is archived."}]}],
        }
    )
    fake.fail_next(Scripted(400, refusal))
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(reverse("invoices:batch-generate", args=[batch.pk]), {"confirm": "1"})
    with tenant_context(tenant_a):
        finals = {i.number: i for i in Invoice.objects.filter(batch_links__batch=batch)}
        failed = Delivery.objects.get(status=DeliveryStatus.FAILED)
    assert len(finals) == 5
    log = browser.get(reverse("integrations:deliveries")).content.decode()
    assert "Failed" in log and "Retry" in log
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(reverse("integrations:delivery-retry", args=[failed.pk]))
    arrived = remote_invoices(system, fake)
    assert arrived == {number: invoice.total for number, invoice in finals.items()}

    # Paid there (the fake's own page), read back here.
    first = min(finals)
    httpx2.post(f"{fake.url}/_fake/pay", data={"number": first})
    with tenant_context(tenant_a):
        connection_id = failed.connection_id
    synced = browser.post(
        reverse("integrations:connection-sync", args=[connection_id]), follow=True
    )
    assert "1 recorded" in synced.content.decode()
    invoice_page = browser.get(reverse("invoices:invoice-detail", args=[finals[first].pk]))
    with tenant_context(tenant_a):
        assert Invoice.objects.get(pk=finals[first].pk).status == InvoiceStatus.PAID
    assert "Delivered" in invoice_page.content.decode()
    # Mapped ids went into the ledger, so the exports name the same accounts.
    with tenant_context(tenant_a):
        assert ledger.export_options()["iif" if system == "quickbooks" else "xero"]
    assert world  # the world's contracts were billed
