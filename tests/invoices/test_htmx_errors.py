"""Failed htmx requests show their error where the user acted: a refused draft line comes
back as the lines fragment with the error on its field (static/js/app.js swaps a 400 HTML
fragment), a refused batch toggle as a plain-text reason shown next to the checkbox, and
every page has the alert region app.js announces other failures in."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from billing_site.tenancy import tenant_context
from invoices.batches.models import InvoiceBatch
from invoices.models import InvoiceLine

from .batch_factories import AS_OF, build_world
from .factories import InvoiceFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
LINE = {
    "kind": "product",
    "description": "Backup check",
    "quantity": "2",
    "unit_price": "12.50",
    "tax_rate": "0",
}


@pytest.fixture
def draft(tenant_a):
    return InvoiceFactory(tenant=tenant_a, draft=True, subtotal=0, total=0)


@pytest.fixture
def browser(admin_a, client_as):
    return client_as(admin_a)


def cell(html: str, name: str, row_class: str) -> str:
    """The table cell holding field ``name`` in the row of ``row_class``."""
    row = re.search(rf'<tr class="{row_class}">(.*?)</tr>', html, re.S)
    assert row, f"no {row_class} row"
    for td in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S):
        if f'name="{name}"' in td:
            return td
    raise AssertionError(f"no cell for {name}")


def assert_fragment(response):
    """What app.js swaps in: the #draft-lines fragment as HTML, not a whole page."""
    body = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert not body.lstrip().lower().startswith(("<!doctype", "<html"))
    assert body.lstrip().startswith('<div id="draft-lines"')
    return body


def lines(draft):
    with tenant_context(draft.tenant):
        return list(InvoiceLine.objects.filter(invoice=draft))


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("description", "", "Describe the line; it is printed on the invoice."),
        ("unit_price", "abc", "Enter a number from"),
    ],
)
def test_a_refused_new_line_shows_its_error_on_the_field(browser, draft, field, value, error):
    response = browser.post(
        reverse("invoices:invoice-line-add", args=[draft.pk]), {**LINE, field: value}, **HTMX
    )
    assert response.status_code == 400
    body = assert_fragment(response)
    at_fault = cell(body, field, "add-line")
    assert error in at_fault and 'class="errorlist' in at_fault
    assert 'aria-invalid="true"' in at_fault
    # What was typed in the other fields is kept, and nothing was written.
    assert 'value="Backup check"' in body or field == "description"
    assert 'value="2"' in cell(body, "quantity", "add-line")
    assert lines(draft) == []


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("description", "", "Describe the line; it is printed on the invoice."),
        ("unit_price", "abc", "Enter a number from"),
    ],
)
def test_a_refused_line_edit_keeps_the_row_open_with_the_error(browser, draft, field, value, error):
    added = browser.post(reverse("invoices:invoice-line-add", args=[draft.pk]), LINE, **HTMX)
    assert added.status_code == 200
    (line,) = lines(draft)
    url = reverse("invoices:invoice-line-edit", args=[draft.pk, line.pk])
    response = browser.post(url, {**LINE, "quantity": "3", field: value}, **HTMX)
    assert response.status_code == 400
    body = assert_fragment(response)
    at_fault = cell(body, field, "editing")
    assert error in at_fault and 'aria-invalid="true"' in at_fault
    assert 'value="3"' in cell(body, "quantity", "editing")
    assert f'hx-post="{url}"' in body  # Save is offered again
    (unchanged,) = lines(draft)
    assert unchanged.quantity == 2 and unchanged.unit_price == line.unit_price


def test_every_bad_field_of_a_line_is_shown_at_once(browser, draft):
    bad = {**LINE, "description": "", "unit_price": "abc", "tax_rate": "x"}
    response = browser.post(reverse("invoices:invoice-line-add", args=[draft.pk]), bad, **HTMX)
    assert response.status_code == 400
    body = assert_fragment(response)
    assert "Describe the line" in cell(body, "description", "add-line")
    assert "Enter a number from" in cell(body, "unit_price", "add-line")
    assert 'aria-invalid="true"' in cell(body, "tax_rate", "add-line")
    assert 'value="2"' in cell(body, "quantity", "add-line")
    assert lines(draft) == []


def test_a_good_line_after_a_bad_one_is_added(browser, draft):
    url = reverse("invoices:invoice-line-add", args=[draft.pk])
    assert browser.post(url, {**LINE, "unit_price": "abc"}, **HTMX).status_code == 400
    fixed = browser.post(url, LINE, **HTMX)
    assert fixed.status_code == 200
    body = fixed.content.decode()
    assert "Backup check" in body and "25.00" in body and "errorlist" not in body
    assert len(lines(draft)) == 1


@pytest.fixture
def batch(tenant_a):
    world = build_world(tenant_a)
    with tenant_context(tenant_a):
        batch = InvoiceBatch.objects.create(tenant=tenant_a, name="March 2026", as_of=AS_OF)
    return world, batch


def test_a_refused_batch_toggle_answers_its_reason_as_text(browser, batch):
    world, batch = batch
    url = reverse("invoices:batch-selection", args=[batch.pk])
    response = browser.post(
        url, {"contract": world.acme.pk, "item": "time:999999", "include": "1"}, **HTMX
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == "No unbilled item time:999999 on ACME · ACME support."


def test_a_malformed_batch_toggle_says_what_to_do(browser, batch):
    _world, batch = batch
    url = reverse("invoices:batch-selection", args=[batch.pk])
    response = browser.post(url, {"include": "1"}, **HTMX)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == "Choose an item to include or exclude."


def test_batch_page_wires_toggles_to_htmx_and_has_the_alert_region(browser, batch):
    world, batch = batch
    page = browser.get(reverse("invoices:batch-detail", args=[batch.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert f'hx-post="{reverse("invoices:batch-selection", args=[batch.pk])}"' in html
    assert f'hx-target="#contract-{world.acme.pk}"' in html
    assert 'id="request-alert"' in html and 'aria-live="assertive"' in html
    assert '<script src="/static/js/app.js" defer></script>' in html


def test_app_js_swaps_form_errors_and_reports_other_failures():
    """The browser half, checked by hand with Playwright (see the report): app.js turns
    400/422 HTML fragments into swaps and announces everything else."""
    from pathlib import Path

    from django.contrib.staticfiles import finders

    source = Path(finders.find("js/app.js")).read_text(encoding="utf-8")
    for hook in (
        "htmx:beforeSwap",
        "htmx:responseError",
        "htmx:sendError",
        "htmx:timeout",
        "request-alert",
        "data-error-message",
    ):
        assert hook in source
