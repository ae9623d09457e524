"""Tax on session invoices: the rate comes from the customer, else the tenant default;
tax is computed on the invoice per rate, rounded once; the form suggests exactly what
is billed; the API and the PDF carry the same figures. Tenant B sees none of it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from billing_site.models import Tenant, TenantSequence
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from invoices import selectors, services
from invoices.models import Invoice, InvoiceLine, LineKind, PdfStatus
from invoices.pricing import plan_session_invoice, session_invoice_tax
from sessions.models import RemoteSession

from .conftest import make_host, make_session, pdf_text

NEW = reverse("invoices:session-invoice-new")
FROM_SESSIONS = "/api/v1/invoices/from-sessions/"
RANGE = "The tax rate is a percentage between 0 and 100."


@pytest.fixture
def vat(tenant_a):
    """Tenant A is VAT-registered: 21 % by default, session work taxable."""
    tenant_a.default_tax_rate = Decimal("21")
    tenant_a.session_work_taxable = True
    tenant_a.save()
    return tenant_a


@pytest.fixture
def nordwind(vat):
    """One session of 1 h 02 min 07 s (3727 s) at the tenant's 95.00 EUR/h.

    1.0353 h × 95.0000 = 98.3535 -> 98.35; 21 % of 98.35 = 20.6535 -> 20.65;
    total 119.00.
    """
    vat.default_hourly_rate = Decimal("95")
    vat.save()
    organization = OrganizationFactory(
        tenant=vat, name="Nordwind BV", company_number="C-2001", currency="EUR"
    )
    host = make_host(vat, "NW-DC01", organization=organization)
    session = make_session(host, dt.datetime(2026, 3, 9, 9, 0), 3727, "Restored the mailbox.")
    return session


def create(tenant, **kwargs) -> Invoice:
    with tenant_context(tenant), transaction.atomic():
        invoice = services.session_invoice_create(**kwargs)
    return Invoice.all_tenants.get(pk=invoice.pk)


def lines_of(invoice) -> list[InvoiceLine]:
    return list(InvoiceLine.all_tenants.filter(invoice=invoice).order_by("position"))


def figures(invoice) -> tuple[Decimal, Decimal, Decimal]:
    return invoice.subtotal, invoice.tax_total, invoice.total


def nothing_billed_in(tenant) -> bool:
    return not (
        Invoice.all_tenants.filter(tenant=tenant).exists()
        or RemoteSession.all_tenants.filter(tenant=tenant, invoice_line__isnull=False).exists()
    )


# --- The rule: rate per customer, tax per invoice rounded once ---------------------------


def test_one_session_of_1h02m07s_at_95_an_hour_with_21_percent(nordwind, acme_b):
    invoice = create(nordwind.tenant, scope="session", object_id=nordwind.pk)
    (line,) = lines_of(invoice)
    assert (line.quantity, line.unit_price, line.amount) == (
        Decimal("1.0353"),
        Decimal("95.0000"),
        Decimal("98.35"),
    )
    assert (line.taxable, line.tax_rate) == (True, Decimal("21.0000"))
    assert line.worked_seconds == 3727
    assert figures(invoice) == (Decimal("98.35"), Decimal("20.65"), Decimal("119.00"))
    assert nothing_billed_in(acme_b.tenant)


def test_tax_is_rounded_once_on_the_sum_not_per_session(vat, acme, acme_b):
    # 16.67 + 8.83 = 25.50; 21 % of 25.50 = 5.355 -> 5.36 (per line: 3.50 + 1.85 = 5.35).
    invoice = create(vat, scope="host", object_id=acme.jane.pk, **acme.march)
    assert [line.amount for line in lines_of(invoice)] == [Decimal("16.67"), Decimal("8.83")]
    assert all(line.taxable and line.tax_rate == 21 for line in lines_of(invoice))
    assert figures(invoice) == (Decimal("25.50"), Decimal("5.36"), Decimal("30.86"))
    with tenant_context(vat):
        (row,) = selectors.invoice_tax_breakdown(invoice=invoice)
    assert (row.rate, row.base, row.tax) == (Decimal("21"), Decimal("25.50"), Decimal("5.36"))
    assert nothing_billed_in(acme_b.tenant)


@pytest.mark.parametrize(
    ("own_rate", "expected"),
    [
        # 6 % of 25.50 = 1.53
        (Decimal("6"), (Decimal("25.50"), Decimal("1.53"), Decimal("27.03"))),
        # A customer at 0 % (reverse charge) is taxable at 0, not the default 21.
        (Decimal("0"), (Decimal("25.50"), Decimal("0.00"), Decimal("25.50"))),
        # No rate of its own: the tenant's 21 %.
        (None, (Decimal("25.50"), Decimal("5.36"), Decimal("30.86"))),
    ],
)
def test_the_customers_own_rate_beats_the_tenant_default(vat, acme, acme_b, own_rate, expected):
    acme.organization.tax_rate = own_rate
    acme.organization.save()
    acme_b.organization.tax_rate = Decimal("25")  # tenant B's twin customer: never used here
    acme_b.organization.save()
    invoice = create(vat, scope="host", object_id=acme.jane.pk, **acme.march)
    assert figures(invoice) == expected
    rate = Decimal("21") if own_rate is None else own_rate
    assert {(line.taxable, line.tax_rate) for line in lines_of(invoice)} == {(True, rate)}


def test_a_group_is_taxed_at_its_customers_rate(vat, acme, acme_b):
    # 16.67 + 8.83 + 75.33 = 100.83; 21 % = 21.1743 -> 21.17; total 122.00.
    invoice = create(vat, scope="group", object_id=acme.group.pk, **acme.march)
    assert figures(invoice) == (Decimal("100.83"), Decimal("21.17"), Decimal("122.00"))


def test_a_host_without_customer_is_taxed_at_the_tenant_default(vat, tenant_b):
    host = make_host(vat, "LAB-01")
    make_session(host, dt.datetime(2026, 3, 9, 9, 0), 1800, "Lab reset")  # 0.5 h × 100 = 50.00
    invoice = create(vat, scope="host", object_id=host.pk)
    assert figures(invoice) == (Decimal("50.00"), Decimal("10.50"), Decimal("60.50"))


def test_session_work_not_taxable_bills_no_tax(tenant_a, acme, acme_b):
    tenant_a.default_tax_rate = Decimal("21")
    tenant_a.save()  # a default rate, but session work is not taxable
    invoice = create(tenant_a, scope="host", object_id=acme.jane.pk, **acme.march)
    assert figures(invoice) == (Decimal("25.50"), Decimal("0.00"), Decimal("25.50"))
    assert {(line.taxable, line.tax_rate) for line in lines_of(invoice)} == {(False, 0)}
    with tenant_context(tenant_a):
        assert selectors.invoice_tax_breakdown(invoice=invoice) == ()


def test_a_rate_given_for_one_invoice_is_taxable_unless_told_otherwise(tenant_a, acme, acme_b):
    # 10 % of 25.50 = 2.55.
    invoice = create(tenant_a, scope="host", object_id=acme.jane.pk, tax_rate="10", **acme.march)
    assert figures(invoice) == (Decimal("25.50"), Decimal("2.55"), Decimal("28.05"))
    assert Tenant.objects.get(pk=tenant_a.pk).default_tax_rate == 0  # settings unchanged
    untaxed = create(
        tenant_a,
        scope="session",
        object_id=acme.joseph_printer.pk,
        taxable=False,
        tax_rate="10",
    )
    assert figures(untaxed) == (Decimal("75.33"), Decimal("0.00"), Decimal("75.33"))


def test_untaxed_for_one_invoice_although_the_tenant_taxes_session_work(vat, acme, acme_b):
    invoice = create(vat, scope="session", object_id=acme.jane_updates.pk, taxable=False)
    assert figures(invoice) == (Decimal("16.67"), Decimal("0.00"), Decimal("16.67"))


# --- Agreed amount due: tax included, the adjustment taxed like the sessions -------------


def test_an_agreed_total_includes_tax(vat, acme, acme_b):
    # 24.20 = 20.00 + 21 % (4.20): the adjustment is 20.00 - 25.50 = -5.50 before tax.
    invoice = create(vat, scope="host", object_id=acme.jane.pk, amount_due="24.20", **acme.march)
    adjustment = lines_of(invoice)[-1]
    assert adjustment.kind == LineKind.ADJUSTMENT
    assert (adjustment.amount, adjustment.taxable, adjustment.tax_rate) == (
        Decimal("-5.50"),
        True,
        Decimal("21.0000"),
    )
    # Money printed like the rest of the invoice (the tenant's locale, the currency).
    explanation = adjustment.words.explanation
    assert "Suggested €30.86 (€25.50 + 21 % tax €5.36" in explanation
    assert "amount due set to €24.20 tax included" in explanation
    assert "difference −€5.50 before tax" in explanation
    assert figures(invoice) == (Decimal("20.00"), Decimal("4.20"), Decimal("24.20"))


def test_one_cent_more_than_suggested(nordwind, acme_b):
    # 98.36 + 21 % (20.6556 -> 20.66) = 119.02: an adjustment of +0.01 before tax.
    invoice = create(nordwind.tenant, scope="session", object_id=nordwind.pk, amount_due="119.02")
    assert lines_of(invoice)[-1].amount == Decimal("0.01")
    assert figures(invoice) == (Decimal("98.36"), Decimal("20.66"), Decimal("119.02"))


def test_a_total_no_amount_before_tax_reaches_is_refused(nordwind, acme_b):
    # 98.35 -> 119.00 and 98.36 -> 119.02: no amount before tax gives 119.01.
    with pytest.raises(ValidationError) as error:
        create(nordwind.tenant, scope="session", object_id=nordwind.pk, amount_due="119.01")
    (message,) = error.value.message_dict["amount_due"]
    assert "exactly 119.01 EUR" in message
    assert "the nearest totals are 119.00 EUR and 119.02 EUR" in message
    assert not Invoice.all_tenants.exists()
    assert not TenantSequence.all_tenants.exists()
    assert RemoteSession.all_tenants.get(pk=nordwind.pk).invoice_line_id is None


@pytest.mark.parametrize(
    ("rate", "message"),
    [
        ("100.5", RANGE),
        ("-1", RANGE),
        ("21.00001", "The tax rate has 4 decimal places at most."),
        ("VAT", "Enter a tax rate such as 21 or 7.65."),
        (21.0, "Give the tax rate as a decimal string, not a float."),
    ],
)
def test_a_bad_tax_rate_saves_nothing(vat, acme, acme_b, rate, message):
    with pytest.raises(ValidationError) as error:
        create(vat, scope="host", object_id=acme.jane.pk, tax_rate=rate)
    assert error.value.message_dict["tax_rate"] == [message]
    assert not Invoice.all_tenants.exists()
    assert not TenantSequence.all_tenants.exists()


def test_the_suggestion_is_the_invoice(vat, acme, acme_b):
    """What the form suggests (the plan of the preview) is what is billed, to the cent."""
    acme.organization.tax_rate = Decimal("7.65")
    acme.organization.save()
    with tenant_context(vat):
        preview = selectors.session_invoice_preview(scope="group", object_id=acme.group.pk)
        tax = session_invoice_tax(organization=preview.target.organization)
        plan = plan_session_invoice(preview.lines, currency=preview.currency, tax=tax)
    invoice = create(vat, scope="group", object_id=acme.group.pk)
    # 16.67 + 8.83 + 75.33 + 33.33 (April, 1200 s) = 134.16; 7.65 % = 10.26324 -> 10.26.
    assert (plan.suggested.subtotal, plan.suggested.tax_total, plan.suggested.total) == (
        Decimal("134.16"),
        Decimal("10.26"),
        Decimal("144.42"),
    )
    assert figures(invoice) == (
        plan.suggested.subtotal,
        plan.suggested.tax_total,
        plan.suggested.total,
    )


# --- The PDF -----------------------------------------------------------------------------


def test_the_pdf_prints_subtotal_tax_and_total(
    nordwind, acme_b, django_capture_on_commit_callbacks
):
    with (
        tenant_context(nordwind.tenant),
        django_capture_on_commit_callbacks(execute=True),
        transaction.atomic(),
    ):
        invoice = services.session_invoice_create(scope="session", object_id=nordwind.pk)
    invoice = Invoice.all_tenants.get(pk=invoice.pk)
    assert invoice.pdf_status == PdfStatus.READY
    text = pdf_text(invoice)
    assert "1 h 02 min 07 s" in text and "1.0353 h × €95.00" in text
    # pypdf may split "Tax" with kerning; the figures are what matter.
    assert "Subtotal €98.35" in text
    assert "21 % on €98.35 €20.65" in text
    assert "Total €119.00" in text and "Amount due €119.00" in text
    assert "Nordwind BV" in text and "ACME" not in text


# --- The "Generate invoice" form ---------------------------------------------------------


def form_data(response) -> dict:
    """The form's fields as the browser posts them back (an unticked box is left out)."""
    form = response.context["form"]
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is True:
            data[name] = "on"
        elif value is not False:
            data[name] = "" if value is None else value
    return data


@pytest.fixture
def admin_client(admin_a, client_as):
    return client_as(admin_a)


def jane_in_march(acme) -> dict:
    return {"scope": "host", "id": acme.jane.pk, "date_from": "2026-03-01", "date_to": "2026-03-31"}


def test_form_prefills_the_customers_rate_and_shows_subtotal_tax_and_total(
    vat, acme, acme_b, admin_client
):
    acme.organization.tax_rate = Decimal("6")
    acme.organization.save()
    response = admin_client.get(NEW, jane_in_march(acme))
    form = response.context["form"]
    assert form["taxable"].value() is True
    assert form["tax_rate"].value() == "6"
    assert form["amount_due"].value() == Decimal("27.03")  # 25.50 + 6 % (1.53)
    content = response.content.decode()
    assert "Subtotal" in content and "€25.50" in content
    assert "Tax 6 % on €25.50" in content and "€1.53" in content
    assert "€27.03" in content


def test_saving_the_form_unchanged_bills_the_suggestion(
    vat, acme, acme_b, admin_client, django_capture_on_commit_callbacks
):
    page = admin_client.get(NEW, jane_in_march(acme))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(NEW, form_data(page))
    assert response.status_code == 302
    invoice = Invoice.all_tenants.get()
    assert figures(invoice) == (Decimal("25.50"), Decimal("5.36"), Decimal("30.86"))
    assert not InvoiceLine.all_tenants.filter(kind=LineKind.ADJUSTMENT).exists()
    detail = admin_client.get(reverse("invoices:invoice-detail", args=[invoice.pk]))
    assert "€5.36" in detail.content.decode()
    assert nothing_billed_in(acme_b.tenant)


def test_a_changed_rate_updates_the_figures_before_anything_is_billed(
    vat, acme, acme_b, admin_client, django_capture_on_commit_callbacks
):
    page = admin_client.get(NEW, jane_in_march(acme))
    shown = admin_client.post(NEW, {**form_data(page), "tax_rate": "10"})
    assert shown.status_code == 200
    assert not Invoice.all_tenants.exists()
    assert "The figures below follow the tax rate" in shown.content.decode()
    form = shown.context["form"]
    assert Decimal(form["amount_due"].value()) == Decimal("28.05")  # 25.50 + 10 % (2.55)
    assert "Tax 10 % on €25.50" in shown.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        saved = admin_client.post(NEW, form_data(shown))
    assert saved.status_code == 302
    assert figures(Invoice.all_tenants.get()) == (
        Decimal("25.50"),
        Decimal("2.55"),
        Decimal("28.05"),
    )


def test_unticking_taxable_and_update_figures(
    vat, acme, acme_b, admin_client, django_capture_on_commit_callbacks
):
    page = admin_client.get(NEW, jane_in_march(acme))
    data = form_data(page)
    del data["taxable"]
    shown = admin_client.post(NEW, {**data, "recalculate": "1"})
    assert shown.status_code == 200 and not Invoice.all_tenants.exists()
    assert Decimal(shown.context["form"]["amount_due"].value()) == Decimal("25.50")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(NEW, form_data(shown))
    invoice = Invoice.all_tenants.get()
    assert figures(invoice) == (Decimal("25.50"), Decimal("0.00"), Decimal("25.50"))
    assert not any(line.taxable for line in lines_of(invoice))


def test_an_amount_typed_with_another_rate_is_kept(
    vat, acme, acme_b, admin_client, django_capture_on_commit_callbacks
):
    # At 10 %, 22.00 = 20.00 + 2.00: the adjustment is -5.50 before tax.
    page = admin_client.get(NEW, jane_in_march(acme))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            NEW, {**form_data(page), "tax_rate": "10", "amount_due": "22.00"}
        )
    assert response.status_code == 302
    invoice = Invoice.all_tenants.get()
    assert figures(invoice) == (Decimal("20.00"), Decimal("2.00"), Decimal("22.00"))
    assert lines_of(invoice)[-1].amount == Decimal("-5.50")


@pytest.mark.parametrize(
    ("rate", "message"),
    [("120", RANGE), ("19.60001", "The tax rate has 4 decimal places at most.")],
)
def test_form_shows_a_bad_rate_on_its_field(vat, acme, acme_b, admin_client, rate, message):
    page = admin_client.get(NEW, jane_in_march(acme))
    response = admin_client.post(NEW, {**form_data(page), "tax_rate": rate})
    assert response.status_code == 200
    assert response.context["form"].errors["tax_rate"] == [message]
    assert "€30.86" in response.content.decode()  # the figures at the default rate
    assert not Invoice.all_tenants.exists()


def test_form_of_another_tenants_host_is_404(vat, acme, acme_b, admin_client):
    assert admin_client.get(NEW, {"scope": "host", "id": acme_b.jane.pk}).status_code == 404


# --- The API -----------------------------------------------------------------------------


@pytest.fixture
def post_from_sessions(admin_a, api_as, django_capture_on_commit_callbacks):
    api = api_as(admin_a)

    def run(payload):
        with django_capture_on_commit_callbacks(execute=True):
            return api.post(FROM_SESSIONS, payload, format="json")

    return run


def test_api_taxes_at_the_customers_rate_by_default(vat, acme, acme_b, post_from_sessions):
    response = post_from_sessions({"scope": "host", "id": acme.jane.pk, **jane_dates()})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["subtotal"], body["tax_total"], body["total"]) == ("25.50", "5.36", "30.86")
    assert body["tax_breakdown"] == [{"rate": "21", "base": "25.50", "tax": "5.36"}]
    assert {(line["taxable"], line["tax_rate"]) for line in body["lines"]} == {(True, "21.0000")}


def test_api_takes_a_tax_rate_and_an_agreed_total(tenant_a, acme, acme_b, post_from_sessions):
    # 20 % of 25.50 = 5.10; agreed 24.00 = 20.00 + 4.00, the adjustment -5.50 before tax.
    response = post_from_sessions(
        {
            "scope": "host",
            "id": acme.jane.pk,
            "tax_rate": "20",
            "amount_due": "24.00",
            **jane_dates(),
        }
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["subtotal"], body["tax_total"], body["total"]) == ("20.00", "4.00", "24.00")
    assert body["tax_breakdown"] == [{"rate": "20", "base": "20.00", "tax": "4.00"}]
    untaxed = post_from_sessions(
        {"scope": "session", "id": acme.joseph_printer.pk, "taxable": False, "tax_rate": "20"}
    )
    assert untaxed.json()["tax_total"] == "0.00" and untaxed.json()["tax_breakdown"] == []


@pytest.mark.parametrize(
    ("rate", "message"),
    [
        ("100.01", RANGE),
        ("1000", RANGE),
        ("7.654321", "Ensure that there are no more than 4 decimal places."),
    ],
)
def test_api_refuses_a_bad_tax_rate(vat, acme, acme_b, post_from_sessions, rate, message):
    response = post_from_sessions({"scope": "host", "id": acme.jane.pk, "tax_rate": rate})
    assert response.status_code == 400
    assert response.json() == {"tax_rate": [message]}
    assert not Invoice.all_tenants.exists()


def test_api_unreachable_total_is_a_400_on_amount_due(nordwind, acme_b, post_from_sessions):
    response = post_from_sessions({"scope": "session", "id": nordwind.pk, "amount_due": "119.01"})
    assert response.status_code == 400
    assert "119.00 EUR and 119.02 EUR" in response.json()["amount_due"][0]


def test_api_cannot_invoice_another_tenants_host(vat, acme, acme_b, post_from_sessions):
    response = post_from_sessions({"scope": "host", "id": acme_b.jane.pk, "tax_rate": "21"})
    assert response.status_code == 400
    assert "id" in response.json()
    assert nothing_billed_in(acme_b.tenant)


def jane_dates() -> dict:
    return {"date_from": "2026-03-01", "date_to": "2026-03-31"}
