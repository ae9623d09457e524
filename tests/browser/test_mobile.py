"""Staff pages on a phone (390 px): no page is wider than the screen, the navigation folds
behind a Menu button that works by touch and keyboard, and wide tables scroll inside their
card, so the invoice's amounts can be reached."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from billing_site.demo import DEMO_PASSWORD, load_demo
from billing_site.money import format_money
from billing_site.tenancy import tenant_context
from invoices.batches.models import InvoiceBatch
from invoices.batches.services import batch_generate, batch_run

from .axe import blocking, describe
from .conftest import login, shot

WIDTH = 390


@pytest.fixture
def demo(live_server):
    """The demo company with its batch generated: final invoices to look at."""
    ctx = load_demo()
    with tenant_context(ctx.tenant):
        batch = InvoiceBatch.objects.get()
        batch_run(batch=batch)
        ctx.invoices = batch_generate(batch=batch)
        ctx.batch = batch
    return ctx


def _page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def _assert_fits(page, pages: dict[str, str]) -> None:
    too_wide = {}
    for label, url in pages.items():
        response = page.goto(url)
        assert response.status == 200, f"{label} ({url}) answered {response.status}"
        page.wait_for_load_state("networkidle")
        if _page_width(page) > WIDTH:
            too_wide[label] = _page_width(page)
    assert not too_wide, f"wider than {WIDTH} px: {too_wide}"


def test_billing_pages_fit_a_phone(mobile_page, demo):
    page = login(mobile_page, demo.users["billing"], DEMO_PASSWORD)
    invoice = demo.invoices[0]
    _assert_fits(
        page,
        {
            "dashboard": reverse("dashboard"),
            "customers": reverse("customer-list"),
            "customer page": reverse("customer-detail", args=[demo.organizations["ACME"].pk]),
            "contracts": reverse("contracts:contract-list"),
            "approvals": reverse("contracts:approvals"),
            "batches": reverse("invoices:batch-list"),
            "batch page": reverse("invoices:batch-detail", args=[demo.batch.pk]),
            "invoices": reverse("invoices:invoice-list"),
            "invoice page": reverse("invoices:invoice-detail", args=[invoice.pk]),
            "receivables": reverse("invoices:receivables"),
            "reports": reverse("reports:index"),
        },
    )


def test_technician_owner_and_portal_pages_fit_a_phone(new_page, demo):
    def phone():
        return new_page(width=WIDTH, height=844, is_mobile=True, has_touch=True)

    _assert_fits(
        login(phone(), demo.users["tech"], DEMO_PASSWORD),
        {
            "dashboard": reverse("dashboard"),
            "session logs": reverse("sessions:session-list"),
            "hosts": reverse("sessions:host-list"),
            "timesheet": reverse("contracts:timesheet"),
        },
    )
    _assert_fits(
        login(phone(), demo.users["owner"], DEMO_PASSWORD),
        {
            "settings": reverse("tenant-settings"),
            "integrations": reverse("integrations:connections"),
        },
    )
    helios = get_user_model().objects.get(username="helios")
    _assert_fits(login(phone(), helios, DEMO_PASSWORD), {"portal home": reverse("portal:home")})
    signed_out = phone()
    _assert_fits(signed_out, {"login": reverse("login")})


def test_the_navigation_opens_and_closes_by_touch_and_keyboard(mobile_page, demo):
    page = login(mobile_page, demo.users["billing"], DEMO_PASSWORD)
    nav = page.get_by_role("navigation", name="Main")
    menu = nav.get_by_role("button", name="Menu")
    invoices = nav.get_by_role("link", name="Invoices", exact=True)

    # Folded: the bar is one line, the links are not shown, the page starts at once.
    assert menu.get_attribute("aria-expanded") == "false"
    assert not invoices.is_visible()
    assert nav.bounding_box()["height"] < 80
    assert page.get_by_role("heading", level=1).bounding_box()["y"] < 300

    menu.tap()
    assert menu.get_attribute("aria-expanded") == "true"
    assert invoices.is_visible()
    shot(page, "mobile/navigation-open")
    menu.tap()
    assert menu.get_attribute("aria-expanded") == "false"
    assert not invoices.is_visible()

    # Keyboard: Enter opens, the links follow the button in the tab order, Escape closes
    # and leaves the focus on the button.
    menu.focus()
    page.keyboard.press("Enter")
    assert menu.get_attribute("aria-expanded") == "true"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Dashboard"
    page.keyboard.press("Escape")
    assert menu.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.getAttribute('aria-controls')") == "nav-links"
    page.keyboard.press("Space")
    assert menu.get_attribute("aria-expanded") == "true"

    # A link in the open menu leads to its page, where the menu is folded again.
    invoices.tap()
    page.wait_for_url("**/invoices/")
    assert page.get_by_role("heading", level=1).inner_text() == "Invoices"
    assert menu.get_attribute("aria-expanded") == "false"


def test_the_invoice_amounts_are_reachable_on_a_phone(mobile_page, demo):
    page = login(mobile_page, demo.users["billing"], DEMO_PASSWORD)
    invoice = demo.invoices[0]
    page.goto(reverse("invoices:invoice-detail", args=[invoice.pk]))
    assert _page_width(page) <= WIDTH

    lines = page.locator(".table-wrap").filter(has=page.get_by_role("columnheader", name="Amount"))
    # The table is wider than the screen: it scrolls inside its card, which the keyboard
    # can reach and a screen reader names.
    assert lines.evaluate("el => el.scrollWidth > el.clientWidth")
    assert lines.get_attribute("tabindex") == "0"
    assert lines.get_attribute("role") == "region"
    assert lines.get_attribute("aria-label") == "Lines (scrolls sideways)"

    total_row = lines.locator("tfoot tr").filter(
        has=page.locator("td", has_text=re.compile("^Total$"))
    )
    amount = total_row.locator("td.num").last
    with tenant_context(demo.tenant):
        invoice.refresh_from_db()
    expected = format_money(invoice.total, invoice.currency, demo.tenant.locale)
    assert amount.inner_text() == expected
    box = amount.bounding_box()
    assert box["x"] + box["width"] > WIDTH  # off to the right at first

    lines.focus()
    for _ in range(40):
        page.keyboard.press("ArrowRight")
    # Keyboard scrolling is animated: wait until it has reached the end.
    page.wait_for_function(
        "el => el.scrollLeft > 0 && el.scrollLeft + el.clientWidth >= el.scrollWidth - 1",
        arg=lines.element_handle(),
    )
    page.wait_for_timeout(300)
    box = amount.bounding_box()
    area = lines.bounding_box()
    assert box["x"] >= area["x"] and box["x"] + box["width"] <= area["x"] + area["width"], box
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, box
    assert _page_width(page) <= WIDTH
    shot(page, "mobile/invoice-amounts")

    found = blocking(page)
    assert not found, describe("invoice page at 390 px", found)
