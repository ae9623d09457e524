"""Browser pages: login, dashboard by role, customers list/search/paging, create and edit."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing_site.models import Organization
from billing_site.roles import Role
from billing_site.testing.factories import TEST_PASSWORD, OrganizationFactory

pytestmark = pytest.mark.django_db


def test_login_then_dashboard(client, staff_a):
    user = staff_a.user(Role.BILLING_ADMIN)
    response = client.post(reverse("login"), {"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302
    page = client.get(reverse("dashboard"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Alpha IT" in html
    assert reverse("customer-list") in html


def test_navigation_by_role(client_as, staff_a):
    page = client_as(staff_a.user(Role.TECHNICIAN)).get(reverse("dashboard")).content.decode()
    assert "Customers" in page


def test_customer_list_search_and_paging(client_as, admin_a, tenant_a, tenant_b):
    OrganizationFactory(tenant=tenant_a, name="ACME", company_number="C-ACME")
    OrganizationFactory(tenant=tenant_b, name="ACME Bravo", company_number="C-B")
    for index in range(30):
        OrganizationFactory(tenant=tenant_a, name=f"Customer {index:02d}")
    client = client_as(admin_a)
    page = client.get(reverse("customer-list")).content.decode()
    assert "ACME" in page and "ACME Bravo" not in page
    assert "1–25 of 31" in page
    search = client.get(reverse("customer-list"), {"q": "acm"}).content.decode()
    assert "ACME" in search and "Customer 00" not in search
    partial = client.get(reverse("customer-list"), {"q": "acm"}, HTTP_HX_REQUEST="true")
    assert "<html" not in partial.content.decode()


def test_create_customer_with_errors_then_success(client_as, admin_a, tenant_a):
    OrganizationFactory(tenant=tenant_a, company_number="C-1")
    client = client_as(admin_a)
    data = {
        "name": "Newco",
        "company_number": "C-1",
        "currency": "EUR",
        "time_zone": "Europe/Paris",
        "language": "en",
        "country": "fr",
        "is_active": "on",
    }
    response = client.post(reverse("customer-create"), data)
    assert response.status_code == 200
    assert "already used" in response.content.decode()
    assert Organization.all_tenants.filter(name="Newco").count() == 0
    response = client.post(reverse("customer-create"), {**data, "company_number": "C-2"})
    assert response.status_code == 302
    created = Organization.all_tenants.get(name="Newco")
    assert created.country == "FR" and created.tenant == tenant_a


def test_edit_customer_and_add_contact(client_as, admin_a, tenant_a):
    org = OrganizationFactory(tenant=tenant_a, name="ACME", company_number="C-1")
    client = client_as(admin_a)
    form = client.get(reverse("customer-edit", args=[org.pk]))
    assert form.status_code == 200
    response = client.post(
        reverse("customer-edit", args=[org.pk]),
        {
            "name": "ACME Corp",
            "company_number": "C-1",
            "currency": "EUR",
            "time_zone": "Europe/Paris",
            "language": "fr",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.name == "ACME Corp"
    client.post(
        reverse("customer-contact-create", args=[org.pk]),
        {"name": "Jane Roe", "email": "jane@acme.test"},
    )
    detail = client.get(reverse("customer-detail", args=[org.pk])).content.decode()
    assert "Jane Roe" in detail and "mailto:jane@acme.test" in detail


def test_accountant_cannot_create(client_as, staff_a):
    client = client_as(staff_a.user(Role.ACCOUNTANT))
    assert client.get(reverse("customer-list")).status_code == 200
    assert client.get(reverse("customer-create")).status_code == 403


def test_owner_edits_company_settings_with_validation(client_as, staff_a, tenant_a):
    client = client_as(staff_a.user(Role.OWNER))
    assert client.get(reverse("tenant-settings")).status_code == 200
    data = {
        "name": "Alpha IT",
        "legal_name": "Alpha IT SAS",
        "street": "2 rue X\nBâtiment B",
        "postcode": "69002",
        "city": "Lyon",
        "country": "fr",
        "currency": "EUR",
        "time_zone": "Europe/Paris",
        "locale": "fr_FR",
        "brand_color": "#123456",
        "invoice_prefix": "AL-",
        "credit_note_prefix": "AC-",
        "default_hourly_rate": "-5",
        "default_payment_terms_days": "30",
        "default_tax_rate": "7.65",
        "invoice_email_subject": "Facture {number}",
        "invoice_email_body": "Bonjour,\n\nla facture {number} est jointe.",
        "reminder_offsets": "-3, 7, 14",
        "reminder_email_subject": "Rappel : facture {number} {when}",
        "reminder_email_body": "Bonjour,\n\nla facture {number} {when}.",
    }
    bad = client.post(reverse("tenant-settings"), data)
    assert bad.status_code == 200
    assert "default_hourly_rate" in bad.context["form"].errors
    tenant_a.refresh_from_db()
    assert tenant_a.invoice_prefix == "INV-"
    good = client.post(reverse("tenant-settings"), {**data, "default_hourly_rate": "110.50"})
    assert good.status_code == 302
    tenant_a.refresh_from_db()
    assert (tenant_a.legal_name, tenant_a.invoice_prefix, str(tenant_a.default_hourly_rate)) == (
        "Alpha IT SAS",
        "AL-",
        "110.5000",
    )
    assert tenant_a.default_tax_rate == Decimal("7.6500")
    assert (tenant_a.street, tenant_a.postcode, tenant_a.city, tenant_a.country) == (
        "2 rue X\nBâtiment B",
        "69002",
        "Lyon",
        "FR",
    )


def test_billing_admin_cannot_change_settings(client_as, admin_a):
    assert client_as(admin_a).get(reverse("tenant-settings")).status_code == 403


def test_owner_adds_staff_user(client_as, staff_a, tenant_a):
    from billing_site.models import Membership

    client = client_as(staff_a.user(Role.OWNER))
    data = {
        "username": "newtech",
        "email": "newtech@alpha.test",
        "role": Role.TECHNICIAN,
        "password": "password",
    }
    weak = client.post(reverse("staff-users"), data)
    assert weak.status_code == 200
    assert not Membership.objects.filter(user__username="newtech").exists()
    ok = client.post(reverse("staff-users"), {**data, "password": "a-long-unusual-passphrase"})
    assert ok.status_code == 302
    membership = Membership.objects.get(user__username="newtech")
    assert (membership.tenant, membership.role) == (tenant_a, Role.TECHNICIAN)


def test_only_the_deepest_navigation_entry_is_active():
    from billing_site.navigation import nav_for

    sections = nav_for(Role.OWNER, "/invoices/batches/3/")
    active = [i["label"] for s in sections for i in s["items"] if i["active"]]
    assert active == ["Invoice batches"]
