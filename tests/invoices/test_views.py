"""Invoice pages: generate from sessions, list, detail, PDF download, void; roles; tenants."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from invoices import services
from invoices.models import Invoice, InvoiceLine, InvoiceStatus, PdfStatus
from sessions.models import RemoteSession

from .conftest import make_group, make_host, make_session
from .factories import InvoiceFactory, PaymentFactory

NEW = reverse("invoices:session-invoice-new")
LIST = reverse("invoices:invoice-list")


def detail_url(invoice):
    return reverse("invoices:invoice-detail", args=[invoice.pk])


def pdf_url(invoice):
    return reverse("invoices:invoice-pdf", args=[invoice.pk])


def form_data(response) -> dict:
    """The form's fields as the browser would post them back, unchanged."""
    form = response.context["form"]
    data = {}
    for name in form.fields:
        value = form[name].value()
        data[name] = "" if value is None else value
    return data


@pytest.fixture
def admin_client(admin_a, client_as):
    return client_as(admin_a)


@pytest.fixture
def post_invoice(admin_client, django_capture_on_commit_callbacks):
    """Open "Generate invoice", optionally edit fields, and click "Save to PDF"."""

    def run(query: dict, **edits):
        page = admin_client.get(NEW, query)
        assert page.status_code == 200
        data = {**form_data(page), **edits}
        with django_capture_on_commit_callbacks(execute=True):
            return admin_client.post(NEW, data)

    return run


# --- Generate invoice ------------------------------------------------------------------


def test_form_is_prefilled_and_lists_the_sessions(acme, acme_b, admin_client):
    response = admin_client.get(
        NEW,
        {"scope": "host", "id": acme.jane.pk, "date_from": "2026-03-01", "date_to": "2026-03-31"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form["seller_name"].value() == "Alpha IT SARL"
    assert form["seller_street"].value() == acme.tenant.street
    assert form["seller_city"].value() == acme.tenant.city
    assert form["bill_to_postcode"].value() == "69006"
    assert form["bill_to_name"].value() == "ACME"
    assert form["bill_to_email"].value() == "billing@acme.example"
    assert form["amount_due"].value() == Decimal("25.50")
    content = response.content.decode()
    assert "Jane_OFFICE_121" in content
    assert "Installed Windows updates." in content and "Checked the backup job." in content
    assert "15 min 18 s" in content
    assert "2026-03-02 09:00:00" in content  # Paris time, not UTC
    assert "Save to PDF" in content
    assert "Still on it" not in content and "Internal test" not in content


@pytest.fixture
def bistro(tenant_a):
    """Group Bistro: two March sessions of 30 min 5 s and 30 min, 1 h 00 min 05 s in all.

    At the tenant's 100.00 EUR/h: 0.5014 h -> 50.14 and 0.5000 h -> 50.00, 100.14 for
    1.0014 h; shown as "1 h 00 min" the amount would not add up.
    """
    organization = OrganizationFactory(tenant=tenant_a, name="Bistro", currency="EUR")
    group = make_group(tenant_a, "Bistro", organization)
    host = make_host(tenant_a, "BISTRO-TILL", group)
    make_session(host, dt.datetime(2026, 3, 9, 9, 0), 1805, "Till updates.")
    make_session(host, dt.datetime(2026, 3, 10, 9, 0), 1800, "Printer queue.")
    return group


def test_durations_are_shown_to_the_second_from_an_hour_on(
    acme, acme_b, bistro, admin_client, post_invoice
):
    march = {"date_from": "2026-03-01", "date_to": "2026-03-31"}
    by_client = admin_client.get(reverse("sessions:session-by-client"), march)
    assert by_client.status_code == 200
    logs = by_client.content.decode()
    assert "Bistro" in logs and "1 h 00 min 05 s" in logs  # the group and its computer
    assert "30 min 5 s" in logs and "30 min<" in logs  # the sessions

    form = admin_client.get(NEW, {"scope": "group", "id": bistro.pk, **march})
    assert form.status_code == 200
    preview = form.context["preview"]
    assert (preview.total_hours, preview.suggested_amount) == (Decimal("1.0014"), Decimal("100.14"))
    content = form.content.decode()
    assert "1 h 00 min 05 s" in content and "1 h 00 min<" not in content
    # Each line's quantity with its significant places (4 at most), in the tenant's
    # locale, next to the exact duration (it was printed with 4 places whatever its value).
    assert "0.5014 h ×" in content and "0.5 h ×" in content and "0.5000 h" not in content
    assert "1.0014 h" in content  # 1.0014 h × 100.00 = 100.14, the suggested amount

    response = post_invoice({"scope": "group", "id": bistro.pk, **march})
    assert response.status_code == 302
    invoice = Invoice.all_tenants.get()
    with tenant_context(invoice.tenant):
        assert sum(line.amount for line in invoice.lines.all()) == Decimal("100.14")
    detail = admin_client.get(detail_url(invoice)).content.decode()
    assert "1 h 00 min 05 s" in detail  # overall duration on the invoice page


def test_one_session_end_to_end(acme, acme_b, post_invoice, admin_client):
    response = post_invoice({"scope": "session", "id": acme.jane_updates.pk})
    invoice = Invoice.all_tenants.get()
    assert response.status_code == 302
    assert response["Location"] == detail_url(invoice)
    assert invoice.number == "INV-2026-00001"
    assert invoice.pdf_status == PdfStatus.READY
    page = admin_client.get(detail_url(invoice)).content.decode()
    assert "INV-2026-00001" in page and "Download PDF" in page
    assert "Installed Windows updates." in page
    download = admin_client.get(pdf_url(invoice))
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert b"".join(download.streaming_content).startswith(b"%PDF")


def test_group_with_edited_details_and_amount(acme, acme_b, post_invoice):
    response = post_invoice(
        {"scope": "group", "id": acme.group.pk, "date_from": "2026-03-01", "date_to": "2026-03-31"},
        seller_name="Alpha IT – Lyon",
        bill_to_name="ACME Group Holding",
        amount_due="90.00",
    )
    assert response.status_code == 302
    invoice = Invoice.all_tenants.get()
    assert (invoice.seller_name, invoice.bill_to_name) == ("Alpha IT – Lyon", "ACME Group Holding")
    assert invoice.total == Decimal("90.000")
    assert InvoiceLine.all_tenants.filter(invoice=invoice).count() == 4  # 3 sessions + adjustment
    assert RemoteSession.all_tenants.filter(invoice_line__invoice=invoice).count() == 3


def test_errors_are_shown_next_to_fields_and_nothing_is_saved(acme, acme_b, post_invoice):
    response = post_invoice(
        {"scope": "host", "id": acme.jane.pk}, bill_to_email="not-an-email", amount_due="-3"
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "bill_to_email" in form.errors and "amount_due" in form.errors
    assert not Invoice.all_tenants.exists()


def test_sessions_billed_meanwhile_are_reported(acme, acme_b, admin_client, post_invoice):
    page = admin_client.get(NEW, {"scope": "host", "id": acme.jane.pk})
    data = form_data(page)
    with tenant_context(acme.tenant):
        services.session_invoice_create(scope="session", object_id=acme.jane_backup.pk)
    response = admin_client.post(NEW, data)
    assert response.status_code == 200
    assert "billed meanwhile" in response.content.decode()
    assert Invoice.all_tenants.count() == 1


def test_a_billed_session_shows_why_it_cannot_be_invoiced(acme, acme_b, admin_client):
    with tenant_context(acme.tenant):
        services.session_invoice_create(scope="session", object_id=acme.jane_updates.pk)
    response = admin_client.get(NEW, {"scope": "session", "id": acme.jane_updates.pk})
    content = response.content.decode()
    assert response.status_code == 200
    assert "Nothing to invoice" in content and "already billed" in content
    assert "Save to PDF" not in content


@pytest.mark.parametrize(
    "query", [{}, {"scope": "host"}, {"scope": "moon", "id": "1"}, {"scope": "host", "id": "x"}]
)
def test_incomplete_links_are_404(acme, acme_b, admin_client, query):
    assert admin_client.get(NEW, query).status_code == 404


def test_another_tenants_host_is_404(acme, acme_b, admin_client):
    for scope, obj in (
        ("host", acme_b.jane),
        ("group", acme_b.group),
        ("session", acme_b.jane_updates),
    ):
        assert admin_client.get(NEW, {"scope": scope, "id": obj.pk}).status_code == 404
        response = admin_client.post(NEW, {"scope": scope, "id": obj.pk})
        assert response.status_code == 404
    assert not Invoice.all_tenants.exists()


@pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.ACCOUNTANT])
def test_only_billing_managers_generate_invoices(acme, acme_b, staff_a, client_as, role):
    client = client_as(staff_a.user(role))
    query = {"scope": "host", "id": acme.jane.pk}
    assert client.get(NEW, query).status_code == 403
    assert client.post(NEW, query).status_code == 403


# --- List ------------------------------------------------------------------------------


def test_list_shows_invoices_with_status_and_totals(acme, acme_b, admin_client):
    paid = InvoiceFactory(
        tenant=acme.tenant, status=InvoiceStatus.PAID, bill_to_name="Paid Co", total=Decimal("12.5")
    )
    overdue = InvoiceFactory(
        tenant=acme.tenant, bill_to_name="Late Co", due_date=dt.date(2026, 3, 1)
    )
    InvoiceFactory(tenant=acme_b.tenant, bill_to_name="Bravo Only Customer")
    content = admin_client.get(LIST).content.decode()
    assert paid.number in content and overdue.number in content
    assert "€12.50" in content
    assert "Overdue" in content and "Paid" in content
    assert "Bravo Only Customer" not in content


def test_list_filters(acme, acme_b, admin_client):
    march = InvoiceFactory(
        tenant=acme.tenant,
        bill_to_name="March Co",
        issue_date=dt.date(2026, 3, 5),
        due_date=dt.date(2026, 4, 5),
    )
    feb = InvoiceFactory(
        tenant=acme.tenant,
        bill_to_name="Feb Co",
        issue_date=dt.date(2026, 2, 5),
        due_date=dt.date(2026, 3, 5),
    )
    void = InvoiceFactory(tenant=acme.tenant, bill_to_name="Void Co", status=InvoiceStatus.VOID)
    acme_invoice = InvoiceFactory(
        tenant=acme.tenant, organization=acme.organization, bill_to_name="ACME"
    )

    def names(**params):
        page = admin_client.get(LIST, params).context["page_obj"]
        return {invoice.bill_to_name for invoice in page}

    assert names(status="void") == {"Void Co"}
    assert names(status="overdue") == {"Feb Co"}  # due 5 March, open; today is 20 March
    assert names(organization=acme.organization.pk) == {"ACME"}
    assert names(q="march") == {"March Co"}
    assert names(q=feb.number) == {"Feb Co"}
    assert names(issued_from="2026-03-01", issued_to="2026-03-31") == {
        "March Co",
        "Void Co",
        "ACME",
    }
    # Tenant B's customer id is not a choice here: the filter is refused, and a refused
    # filter lists nothing rather than every invoice unfiltered.
    assert names(organization=acme_b.organization.pk) == set()
    assert march and void and acme_invoice


def test_list_htmx_returns_the_table_only(acme, acme_b, admin_client):
    InvoiceFactory(tenant=acme.tenant)
    response = admin_client.get(LIST, HTTP_HX_REQUEST="true")
    assert response.templates[0].name == "invoices/_invoice_table.html"


def test_list_is_paged_and_its_query_count_does_not_grow(
    acme, acme_b, admin_client, django_assert_max_num_queries, django_assert_num_queries
):
    InvoiceFactory.create_batch(3, tenant=acme.tenant, organization=acme.organization)
    admin_client.get(LIST)  # warm the session and caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        admin_client.get(LIST)
    InvoiceFactory.create_batch(30, tenant=acme.tenant)
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get(LIST)
    assert len(many) == len(few)
    assert response.context["page_obj"].paginator.num_pages == 2
    assert len(response.context["page_obj"]) == 25


def test_empty_list_says_how_to_start(acme, acme_b, admin_client):
    assert "No invoices yet" in admin_client.get(LIST).content.decode()


# --- Detail, PDF, void -----------------------------------------------------------------


@pytest.fixture
def jane_invoice(acme, django_capture_on_commit_callbacks):
    with tenant_context(acme.tenant), django_capture_on_commit_callbacks(execute=True):
        invoice = services.session_invoice_create(
            scope="host", object_id=acme.jane.pk, **acme.march
        )
    invoice.refresh_from_db()
    return invoice


def test_detail_shows_lines_totals_and_worked_time(acme, acme_b, admin_client, jane_invoice):
    content = admin_client.get(detail_url(jane_invoice)).content.decode()
    assert "Jane_OFFICE_121" in content and "Checked the backup job." in content
    assert "15 min 18 s" in content
    assert "€25.50" in content
    assert "Void this invoice" in content


def test_pdf_status_polls_while_rendering(acme, acme_b, admin_client, jane_invoice):
    Invoice.all_tenants.filter(pk=jane_invoice.pk).update(pdf_status=PdfStatus.PENDING)
    status_url = reverse("invoices:invoice-pdf-status", args=[jane_invoice.pk])
    content = admin_client.get(detail_url(jane_invoice)).content.decode()
    assert "Rendering PDF" in content and f'hx-get="{status_url}"' in content
    assert admin_client.get(pdf_url(jane_invoice)).status_code == 404
    Invoice.all_tenants.filter(pk=jane_invoice.pk).update(pdf_status=PdfStatus.READY)
    fragment = admin_client.get(status_url).content.decode()
    assert "Download PDF" in fragment and "hx-get" not in fragment


def test_failed_pdf_can_be_rendered_again(
    acme, acme_b, admin_client, jane_invoice, django_capture_on_commit_callbacks
):
    Invoice.all_tenants.filter(pk=jane_invoice.pk).update(
        pdf_status=PdfStatus.FAILED, pdf_error="OSError: disk full"
    )
    assert "PDF failed" in admin_client.get(detail_url(jane_invoice)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("invoices:invoice-pdf-render", args=[jane_invoice.pk]))
    jane_invoice.refresh_from_db()
    assert jane_invoice.pdf_status == PdfStatus.READY


def test_void_from_the_page_releases_the_sessions(
    acme, acme_b, admin_client, jane_invoice, django_capture_on_commit_callbacks
):
    url = reverse("invoices:invoice-void", args=[jane_invoice.pk])
    response = admin_client.post(url, {"reason": ""})
    assert response.status_code == 302
    jane_invoice.refresh_from_db()
    assert jane_invoice.status == InvoiceStatus.FINAL
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"reason": "Customer cancelled"})
    jane_invoice.refresh_from_db()
    assert jane_invoice.status == InvoiceStatus.VOID
    assert not RemoteSession.all_tenants.filter(invoice_line__isnull=False).exists()
    content = admin_client.get(detail_url(jane_invoice)).content.decode()
    assert "Customer cancelled" in content and "Void this invoice" not in content


def test_void_of_a_paid_invoice_explains_why_not(acme, acme_b, admin_client, jane_invoice):
    PaymentFactory(tenant=acme.tenant, invoice=jane_invoice)
    response = admin_client.post(
        reverse("invoices:invoice-void", args=[jane_invoice.pk]), {"reason": "x"}, follow=True
    )
    assert "has payments recorded" in response.content.decode()
    jane_invoice.refresh_from_db()
    assert jane_invoice.status == InvoiceStatus.FINAL


def test_delete_draft_from_the_page(acme, acme_b, admin_client):
    draft = InvoiceFactory(tenant=acme.tenant, draft=True)
    response = admin_client.post(reverse("invoices:invoice-delete", args=[draft.pk]))
    assert response.status_code == 302
    assert not Invoice.all_tenants.filter(pk=draft.pk).exists()


# --- Roles and tenants -----------------------------------------------------------------


def test_technicians_get_403_on_every_invoice_page(acme, acme_b, staff_a, client_as, jane_invoice):
    client = client_as(staff_a.user(Role.TECHNICIAN))
    for url in (LIST, detail_url(jane_invoice), pdf_url(jane_invoice)):
        assert client.get(url).status_code == 403, url
    assert f'href="{LIST}"' not in client.get(reverse("customer-list")).content.decode()


def test_accountants_read_but_do_not_change(acme, acme_b, staff_a, client_as, jane_invoice):
    client = client_as(staff_a.user(Role.ACCOUNTANT))
    assert client.get(LIST).status_code == 200
    content = client.get(detail_url(jane_invoice)).content.decode()
    assert "€25.50" in content and "Void this invoice" not in content
    assert client.get(pdf_url(jane_invoice)).status_code == 200
    void = reverse("invoices:invoice-void", args=[jane_invoice.pk])
    assert client.post(void, {"reason": "no"}).status_code == 403
    jane_invoice.refresh_from_db()
    assert jane_invoice.status == InvoiceStatus.FINAL


def test_nav_shows_invoices_to_billing_roles(acme, acme_b, admin_client):
    assert f'href="{LIST}"' in admin_client.get(reverse("customer-list")).content.decode()


def test_tenant_b_invoice_is_404_for_tenant_a(
    acme, acme_b, admin_client, django_capture_on_commit_callbacks
):
    with tenant_context(acme_b.tenant), django_capture_on_commit_callbacks(execute=True):
        other = services.session_invoice_create(scope="host", object_id=acme_b.jane.pk)
    other.refresh_from_db()
    assert other.pdf_status == PdfStatus.READY
    for url in (
        detail_url(other),
        pdf_url(other),
        reverse("invoices:invoice-pdf-status", args=[other.pk]),
    ):
        assert admin_client.get(url).status_code == 404, url
    for name in ("invoices:invoice-void", "invoices:invoice-delete", "invoices:invoice-pdf-render"):
        assert admin_client.post(reverse(name, args=[other.pk]), {"reason": "x"}).status_code == 404
    other.refresh_from_db()
    assert other.status == InvoiceStatus.FINAL
    # The stored file is not reachable under /media/ either.
    assert admin_client.get("/media/" + other.pdf.name).status_code == 404


def test_dashboard_panel_shows_open_and_overdue_balances(acme, acme_b, staff_a, client_as):
    InvoiceFactory(tenant=acme.tenant, total=Decimal("100"), due_date=dt.date(2026, 3, 1))
    InvoiceFactory(tenant=acme.tenant, total=Decimal("50"), due_date=dt.date(2026, 4, 1))
    other = InvoiceFactory(
        tenant=acme_b.tenant, total=Decimal("987.65"), due_date=dt.date(2026, 3, 1)
    )
    content = client_as(staff_a.user(Role.ACCOUNTANT)).get(reverse("dashboard")).content.decode()
    assert "Open (EUR)" in content and "2 · €150.00" in content
    assert "Overdue (EUR)" in content and "1 · €100.00" in content
    # The other tenant's invoice shows nowhere: not its amount, not a link to it.
    assert "987.65" not in content
    assert f"/invoices/{other.pk}/" not in content
    technician = client_as(staff_a.user(Role.TECHNICIAN)).get(reverse("dashboard"))
    assert "Open (EUR)" not in technician.content.decode()
