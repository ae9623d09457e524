"""User text never executes: not on staff pages, not in the portal, not in the invoice PDF.

Script, an attribute break-out and a ``javascript:`` URL are stored in every field a
person types that these pages show (customer, contact, contract, ticket, time entry,
session, invoice line, invoice notes, the tenant's own names), then each page is
rendered and parsed as a browser would: the text must be there, escaped, and the page
must hold no inline script, no ``on*`` handler and no script URL.
"""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from pypdf import PdfReader

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import TEST_PASSWORD, ContactFactory, OrganizationFactory
from billing_site.testing.html import executable_markup, is_unsafe_url
from contracts.choices import TimeEntryState
from invoices.models import InvoiceStatus
from invoices.pdf import render_invoice_html, render_invoice_pdf
from invoices.selectors import invoice_get
from tests.contracts.factories import ContractFactory, TicketFactory, TimeEntryFactory, technician
from tests.invoices.factories import InvoiceFactory, InvoiceLineFactory
from tests.portal.factories import portal_user
from tests.sessions.factories import HostFactory, RemoteSessionFactory

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
JS_URL = "javascript:alert(1)"
TEXTAREA = "</textarea><script>alert(2)</script>"
EVIL = f"{SCRIPT} {BREAKOUT} {JS_URL}"
# How each shows when escaped by the template engine.
SCRIPT_SHOWN = "&lt;script&gt;alert(1)&lt;/script&gt;"
BREAKOUT_SHOWN = "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"


def assert_inert(html: str, where: str, *, shown=(SCRIPT_SHOWN,)) -> None:
    assert executable_markup(html) == [], where
    assert SCRIPT not in html and "<img src=x" not in html, where
    assert "<script>alert(2)" not in html, where
    for text in shown:
        assert text in html, f"{where}: the stored text is not shown (escaped)"


@pytest.fixture
def evil(tenant_a):
    """Tenant A's data, every free-text field holding script."""
    tenant_a.name = f"Alpha {SCRIPT}"
    tenant_a.legal_name = f"Alpha SAS {BREAKOUT}"
    tenant_a.save()
    partner = OrganizationFactory(tenant=tenant_a, name=f"Partner {SCRIPT}")
    customer = OrganizationFactory(
        tenant=tenant_a,
        name=f"ACME {SCRIPT}",
        billing_contact_name=BREAKOUT,
        street=EVIL,
    )
    contact = ContactFactory(tenant=tenant_a, organization=customer, name=f"Wile {BREAKOUT}")
    contract = ContractFactory(
        tenant=tenant_a, customer=customer, billing_organization=partner, name=f"Care {SCRIPT}"
    )
    ticket = TicketFactory(
        tenant=tenant_a,
        organization=customer,
        contract=contract,
        contact=contact,
        title=f"Printer {SCRIPT}",
        description=f"{EVIL}\n{TEXTAREA}",
    )
    tech = technician(tenant_a, username="alpha-evil-tech")
    TimeEntryFactory(
        tenant=tenant_a,
        ticket=ticket,
        technician=tech,
        state=TimeEntryState.POSTED,
        summary_note=f"Fixed {SCRIPT} {BREAKOUT}",
        internal_note=EVIL,
    )
    TimeEntryFactory(
        tenant=tenant_a,
        ticket=ticket,
        technician=tech,
        state=TimeEntryState.SUBMITTED,
        summary_note=f"Checked {SCRIPT}",
    )
    own_ticket = TicketFactory(
        tenant=tenant_a, organization=partner, title=f"VPN {SCRIPT}", description=EVIL
    )
    host = HostFactory(tenant=tenant_a, name=f"PC {SCRIPT}", organization=customer)
    session = RemoteSessionFactory(
        tenant=tenant_a, host=host, technician=tech, comment=f"{EVIL}\n{TEXTAREA}"
    )
    invoice = InvoiceFactory(
        tenant=tenant_a,
        organization=customer,
        bill_to_name=f"ACME {SCRIPT}",
        bill_to_street=BREAKOUT,
        notes=EVIL,
    )
    InvoiceLineFactory(tenant=tenant_a, invoice=invoice, description=f"Line {EVIL}")
    draft = InvoiceFactory(tenant=tenant_a, organization=customer, draft=True, notes=EVIL)
    InvoiceLineFactory(tenant=tenant_a, invoice=draft, description=f"Draft line {EVIL}")
    assert draft.status == InvoiceStatus.DRAFT
    return {
        "tenant": tenant_a,
        "partner": partner,
        "customer": customer,
        "contract": contract,
        "ticket": ticket,
        "own_ticket": own_ticket,
        "host": host,
        "session": session,
        "invoice": invoice,
        "draft": draft,
        "portal_user": portal_user(partner, username="evil-portal", contact=None),
    }


def test_staff_pages_show_user_text_escaped(evil, staff_a, client_as):
    client = client_as(staff_a.user(Role.OWNER))
    pages = {
        reverse("dashboard"): (),
        reverse("customer-list"): (SCRIPT_SHOWN,),
        reverse("customer-detail", args=[evil["customer"].pk]): (SCRIPT_SHOWN, BREAKOUT_SHOWN),
        reverse("customer-edit", args=[evil["customer"].pk]): (SCRIPT_SHOWN,),
        reverse("contracts:contract-list"): (SCRIPT_SHOWN,),
        reverse("contracts:contract-detail", args=[evil["contract"].pk]): (SCRIPT_SHOWN,),
        reverse("contracts:ticket-list"): (SCRIPT_SHOWN, BREAKOUT_SHOWN),
        reverse("contracts:ticket-detail", args=[evil["ticket"].pk]): (
            SCRIPT_SHOWN,
            BREAKOUT_SHOWN,
        ),
        reverse("contracts:ticket-edit", args=[evil["ticket"].pk]): (SCRIPT_SHOWN,),
        reverse("contracts:approvals"): (SCRIPT_SHOWN,),
        reverse("invoices:invoice-list"): (SCRIPT_SHOWN,),
        reverse("invoices:invoice-detail", args=[evil["invoice"].pk]): (
            SCRIPT_SHOWN,
            BREAKOUT_SHOWN,
        ),
        reverse("invoices:invoice-edit", args=[evil["draft"].pk]): (SCRIPT_SHOWN,),
        reverse("sessions:session-list"): (SCRIPT_SHOWN, BREAKOUT_SHOWN),
        reverse("sessions:session-by-client"): (SCRIPT_SHOWN,),
        reverse("sessions:host-list"): (SCRIPT_SHOWN,),
        reverse("sessions:host-detail", args=[evil["host"].pk]): (SCRIPT_SHOWN, BREAKOUT_SHOWN),
        reverse("sessions:session-edit", args=[evil["session"].pk]): (SCRIPT_SHOWN,),
        reverse("portal:users"): (SCRIPT_SHOWN,),
    }
    for url, shown in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert_inert(response.content.decode(), url, shown=shown)


def test_htmx_partials_show_user_text_escaped(evil, staff_a, client_as):
    client = client_as(staff_a.user(Role.OWNER))
    for url in (
        reverse("customer-list"),
        reverse("contracts:ticket-list"),
        reverse("sessions:session-list"),
        reverse("invoices:invoice-list"),
    ):
        response = client.get(url, {"q": "alert"}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200, url
        assert_inert(response.content.decode(), url)


def test_portal_pages_show_user_text_escaped(evil, client_as):
    client = client_as(evil["portal_user"])
    pages = {
        reverse("portal:home"): (SCRIPT_SHOWN,),
        reverse("portal:end-client-tickets"): (SCRIPT_SHOWN, BREAKOUT_SHOWN),
        reverse("portal:ticket-detail", args=[evil["ticket"].pk]): (SCRIPT_SHOWN, BREAKOUT_SHOWN),
        reverse("portal:ticket-detail", args=[evil["own_ticket"].pk]): (SCRIPT_SHOWN,),
    }
    for url, shown in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert_inert(response.content.decode(), url, shown=shown)


def test_invoice_pdf_shows_user_text_as_text(evil):
    with tenant_context(evil["tenant"]):
        invoice = invoice_get(pk=evil["invoice"].pk)
        html = render_invoice_html(invoice)
        pdf = render_invoice_pdf(invoice)
    assert_inert(html, "invoice PDF", shown=(SCRIPT_SHOWN, BREAKOUT_SHOWN))
    # In the PDF the characters are printed as typed, not taken as markup.
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "<script>alert(1)</script>" in text


def test_links_never_carry_a_script_url(client, evil, staff_a):
    """The only URL a visitor chooses, the login's ``next``, is never followed as script."""
    user = staff_a.user(Role.BILLING_ADMIN)
    page = client.get(reverse("login"), {"next": JS_URL})
    assert_inert(page.content.decode(), "login", shown=())
    response = client.post(
        reverse("login") + f"?next={JS_URL}",
        {"username": user.username, "password": TEST_PASSWORD, "next": JS_URL},
    )
    assert response.status_code == 302
    assert not is_unsafe_url(response["Location"])


@pytest.mark.parametrize(
    "value",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\tscript:alert(1)",
        "\x01javascript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html,<script>alert(1)</script>",
    ],
)
def test_script_urls_are_recognised_however_written(value):
    assert is_unsafe_url(value)
    assert executable_markup(f'<a href="{value}">x</a>')


def test_the_checker_finds_what_a_browser_would_run():
    assert executable_markup("<script>alert(1)</script>")
    assert executable_markup('<img src=x onerror="alert(1)">')
    assert executable_markup('<div hx-on:click="alert(1)"></div>')
    assert executable_markup("<div hx-vals='js:{a: alert(1)}'></div>")
    assert executable_markup('<form action="javascript:alert(1)"></form>')
    assert not executable_markup('<script src="/static/js/app.js" defer></script>')
    assert not executable_markup('<script type="application/json">{"a": 1}</script>')
    assert not executable_markup(f"<p>{SCRIPT_SHOWN} {BREAKOUT_SHOWN}</p>")
    assert not executable_markup('<a href="mailto:javascript:alert(1)@x.test">x</a>')
