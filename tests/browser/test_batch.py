"""Browser journey: a billing admin bills the month with an invoice batch at 1440 px —
opens the batch, excludes an item and watches the batch details change, saves it as a
new batch, runs it, deletes a draft after a confirmation naming it, consolidates and
generates after a confirmation that says how many invoices and for how much, and sees
the numbered invoices with their amounts.

Tasks run in-process here (no worker): Run and Generate are over when their page comes
back, so the page shows each job's outcome; the progress bar a worker's job shows is
covered by ``tests/invoices/test_batch_worker.py``."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from billing_site.roles import Role
from tests.invoices.batch_factories import build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def figure(page, label: str) -> str:
    """A figure of the batch details, by its label."""
    return (
        page.locator("#batch-details tr", has=page.get_by_text(label, exact=True))
        .locator("td")
        .inner_text()
    )


def test_billing_admin_bills_the_month_with_a_batch(page, tenant_a, staff_user, login, shot):
    build_world(tenant_a)
    login(page, staff_user(Role.BILLING_ADMIN))

    page.goto("/invoices/batches/")
    page.get_by_label("Save as").fill("March 2026")
    page.get_by_label("As of").fill("2026-03-01")
    page.get_by_role("button", name="Save batch").click()
    expect(page.get_by_role("heading", name="March 2026", level=1)).to_be_visible()

    # The contract table has the width it needs: nothing behind a horizontal scroll.
    wrap = page.locator("#batch-contracts .table-wrap")
    assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth"), "the table scrolls sideways"
    assert figure(page, "Billable amount (EUR)") == "€1,770.00"
    assert figure(page, "Tax 10 %") == "€118.00" and figure(page, "Tax 20 %") == "€40.00"
    assert figure(page, "Total (EUR)") == "€1,928.00"
    # The details' figures line up in one column.
    lefts = page.locator("#batch-details td").evaluate_all(
        "cells => cells.map(c => Math.round(c.getBoundingClientRect().right))"
    )
    assert len(set(lefts)) == 1, lefts

    # Exclude Bistro's March retainer fee: the row and the details follow.
    bistro = page.locator("tbody", has_text="Bistro retainer")
    bistro.get_by_role("button", name=re.compile(r"Items \(\d+\)")).click()
    fee = bistro.locator('input[hx-vals*="retainer_fee:2026-03-01"]')
    expect(fee).to_be_checked()
    fee.uncheck()

    expect(page.locator("#batch-details")).to_contain_text("€1,270.00")
    assert figure(page, "Tax 10 %") == "€68.00"
    assert figure(page, "Total (EUR)") == "€1,378.00"
    expect(page.locator("tbody", has_text="Bistro retainer").locator("td.num strong")).to_have_text(
        "€680.00"
    )

    # Save as a new batch: the same selection under a new name.
    page.get_by_label("Save as").fill("March 2026 (final)")
    page.get_by_role("button", name="Save as new batch").click()
    expect(page.get_by_role("heading", name="March 2026 (final)", level=1)).to_be_visible()
    expect(page.locator(".messages")).to_contain_text("a new batch with the same selection")
    assert figure(page, "Total (EUR)") == "€1,378.00"

    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("#batch-job")).to_contain_text(
        "Done 5 draft invoice(s) created: €1,378.00 and $80.00."
    )
    acme = page.locator("tr", has_text="ACME support")
    expect(acme).to_contain_text("01 Feb 2026 – 28 Feb 2026")
    expect(acme).to_contain_text("€240.00")

    # Delete ACME's draft: the confirmation names it and says what happens.
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    acme.get_by_role("button", name="Delete").click()
    expect(page.locator(".messages")).to_contain_text(
        "Deleted the draft for ACME; 2 item(s) are unbilled again."
    )
    assert asked == [
        "Delete the draft for ACME (ACME support), 01 Feb 2026 – 28 Feb 2026, €240.00? Its 2 "
        "line(s) go and the items they bill become unbilled again, to be billed by a later "
        "batch. No invoice number is used."
    ]
    expect(page.locator("tr", has_text="ACME support")).to_have_count(0)

    # Consolidate and generate: first what it will do.
    page.get_by_label("One invoice per customer").check()
    page.get_by_role("button", name="Generate invoices…").click()
    confirm = page.locator("#generate-confirm")
    expect(confirm).to_contain_text("Generate 3 invoices?")
    expect(confirm).to_contain_text(
        "The 4 drafts are merged into one invoice per customer and currency: 3 invoices, "
        "totalling €1,138.00 (2 in EUR) and $80.00 (1 in USD)."
    )
    expect(confirm).to_contain_text("takes the next invoice number, for good")
    page.get_by_role("button", name="Generate 3 invoices").click()

    job = page.locator("#batch-job")
    expect(job).to_contain_text("3 invoice(s) generated, numbered")
    expect(job).to_contain_text("€1,138.00 and $80.00. Their PDFs are being rendered.")
    rows = page.locator("tr[data-invoice]")
    expect(rows).to_have_count(3)
    numbered = [
        (
            row.locator("td").nth(0).inner_text(),
            row.locator("td").nth(1).inner_text(),
            row.locator("td").nth(8).inner_text(),
        )
        for row in rows.all()
    ]
    assert [(name, total) for _n, name, total in numbered] == [
        ("Bistro Lumière EUR", "€748.00"),
        ("Helios IT Partners EUR", "€390.00"),
        ("Helios IT Partners USD", "$80.00"),
    ]
    numbers = [number for number, _name, _total in numbered]
    assert all(re.fullmatch(r"[A-Z-]+-\d{4}-\d{5}", n) for n in numbers), numbers
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    expect(page.locator("tr", has_text="Helios IT Partners EUR")).to_contain_text(
        "Dupont via Helios"
    )
    expect(page.locator("tr", has_text="Helios IT Partners EUR")).to_contain_text(
        "Studio Verde managed"
    )
    shot(page, "batch-generated")
