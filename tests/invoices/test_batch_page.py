"""The batch page a billing admin trusts (issue 18): the batch details in one aligned
table with one tax row per rate, drafts named by customer, contract and period, what
holds items when another batch's drafts do, confirmations that say what will happen, and
Run / Generate as background jobs whose progress the page polls."""

from __future__ import annotations

import datetime as dt
import html as entities
import re

import pytest
from django.urls import reverse

from billing_site import progress
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from invoices.batches import jobs
from invoices.batches import services as batch_services
from invoices.batches.models import BatchStatus, InvoiceBatch
from invoices.models import Invoice, InvoiceStatus

from .batch_factories import AS_OF, build_world

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def world(tenant_a):
    return build_world(tenant_a)


@pytest.fixture
def world_b(tenant_b):
    return build_world(tenant_b)


def detail(batch) -> str:
    return reverse("invoices:batch-detail", args=[batch.pk])


def new_batch(tenant, name="March 2026", as_of=AS_OF) -> InvoiceBatch:
    with tenant_context(tenant):
        return batch_services.batch_create(name=name, as_of=as_of)


def text(html: str) -> str:
    """The page's words, tags dropped and spaces folded (what a reader sees)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    words = entities.unescape(re.sub(r"<[^>]+>", " ", html))
    return re.sub(r"\s+", " ", words.replace("\xa0", " ")).strip()


def details_rows(html: str) -> list[tuple[str, str]]:
    """(label, figure) rows of the batch details, in order."""
    panel = html.split('id="batch-details"')[1].split("</table>")[0]
    return [
        (text(label), text(figure))
        for label, figure in re.findall(
            r"<th scope=\"row\">(.*?)</th>\s*<td[^>]*>(.*?)</td>", panel, re.S
        )
    ]


def run(browser, batch, capture, **data):
    """Run (the task is queued after commit, here run in-process); the page after it."""
    with capture(execute=True):
        browser.post(reverse("invoices:batch-run", args=[batch.pk]), data)
    return browser.get(detail(batch))


# --------------------------------------------------------------------- 1. the page


def test_details_are_one_table_with_one_tax_row_per_rate(client_as, admin_a, world, tenant_a):
    batch = new_batch(tenant_a)
    html = client_as(admin_a).get(detail(batch)).content.decode()
    assert "invoices/batch" in html and 'class="batch-layout"' in html  # its own stylesheet
    assert html.count('class="figures"') == 1  # one table: labels and figures align
    rows = details_rows(html)
    # ACME 20 % on 200.00, Bistro 10 % on 1,180.00: two rates, each once, then their sum;
    # no bare "Tax" beside them.
    assert rows == [
        ("Invoices to create", "5"),
        ("Unbilled tickets", "5"),
        ("Hours worked", "12 h 30 min"),
        ("Billable amount (EUR)", "€1,770.00"),
        ("Tax 10 %", "€118.00"),
        ("Tax 20 %", "€40.00"),
        ("Tax, all rates", "€158.00"),
        ("Total (EUR)", "€1,928.00"),
        ("Billable amount (USD)", "$80.00"),
        ("Tax", "$0.00"),
        ("Total (USD)", "$80.00"),
    ]


def test_one_rate_is_one_tax_row(client_as, admin_a, world, tenant_a):
    batch = new_batch(tenant_a)
    browser = client_as(admin_a)
    # Leave out Bistro (10 %): only ACME's 20 % is left in EUR.
    browser.post(
        reverse("invoices:batch-selection", args=[batch.pk]),
        {"contract": world.bistro.pk, "include": "0"},
        **HTMX,
    )
    rows = details_rows(browser.get(detail(batch)).content.decode())
    eur = rows[rows.index(("Billable amount (EUR)", "€590.00")) :][:3]  # 200 + 300 + 90
    assert eur == [
        ("Billable amount (EUR)", "€590.00"),
        ("Tax 20 %", "€40.00"),
        ("Total (EUR)", "€630.00"),
    ]


def test_contract_rows_show_the_type_under_the_name_and_amounts_unwrapped(
    client_as, admin_a, world, tenant_a
):
    batch = new_batch(tenant_a)
    html = client_as(admin_a).get(detail(batch)).content.decode()
    head = html.split('class="data batch-table">')[1].split("</thead>")[0]
    # Seven columns: the type is under the contract's name, not a column of its own.
    assert text(head) == "Include State Customer Contract Total balance Selected balance Items"
    row = html.split(f'id="contract-{world.bistro.pk}"')[1].split("</tr>")[0]
    assert "Bistro retainer" in row and "Retainer (monthly minimum)" in row
    assert '<td class="num">€1,180.00</td>' in row


def test_drafts_are_named_by_customer_contract_and_period(
    client_as, admin_a, world, tenant_a, django_capture_on_commit_callbacks
):
    batch = new_batch(tenant_a)
    browser = client_as(admin_a)
    run(browser, batch, django_capture_on_commit_callbacks)
    html = browser.get(detail(batch)).content.decode()
    with tenant_context(tenant_a):
        drafts = {i.pk: i for i in Invoice.objects.filter(batch_links__batch=batch, status="draft")}
    rows = {pk: text(html.split(f'data-invoice="{pk}">')[1].split("</tr>")[0]) for pk in drafts}
    named = sorted(rows.values())
    assert named[0].startswith(
        "Draft ACME EUR ACME support 01 Feb 2026 – 28 Feb 2026 Draft 2 €200.00 €40.00 €240.00"
    )
    # Helios is billed for two end clients' contracts: each draft names its contract and,
    # when the bill-to is someone else, the customer.
    assert any(
        r.startswith("Draft Helios IT Partners EUR Dupont via Helios (Dupont & Associés)")
        for r in named
    )
    assert any(
        r.startswith("Draft Helios IT Partners EUR Studio Verde managed (Studio Verde)")
        for r in named
    )
    assert any(
        r.startswith("Draft Helios IT Partners USD Helios US desk 01 Feb 2026") for r in named
    )
    assert len(set(named)) == 5


def test_page_of_drafts_costs_the_same_queries_whatever_their_number(
    client_as,
    admin_a,
    world,
    tenant_a,
    django_capture_on_commit_callbacks,
    django_assert_max_num_queries,
):
    from .test_batch_services import build_world_more

    build_world_more(tenant_a)
    batch = new_batch(tenant_a)
    browser = client_as(admin_a)
    run(browser, batch, django_capture_on_commit_callbacks)
    with django_assert_max_num_queries(60) as few:
        browser.get(detail(batch))
    more = new_batch(tenant_a, name="More")
    build_world_more(tenant_a)
    build_world_more(tenant_a)
    run(browser, more, django_capture_on_commit_callbacks)
    with django_assert_max_num_queries(60) as many:
        browser.get(detail(more))
    assert len(many.captured_queries) == len(few.captured_queries)


# ------------------------------------------------------------- 2. confirmations


def test_delete_asks_naming_the_draft_its_amount_and_what_happens(
    client_as, admin_a, world, tenant_a, django_capture_on_commit_callbacks
):
    batch = new_batch(tenant_a)
    browser = client_as(admin_a)
    run(browser, batch, django_capture_on_commit_callbacks)
    with tenant_context(tenant_a):
        acme = Invoice.objects.get(batch_links__batch=batch, bill_to_name="ACME")
    html = browser.get(detail(batch)).content.decode()
    form = html.split(
        f'action="{reverse("invoices:batch-invoice-delete", args=[batch.pk, acme.pk])}"'
    )[1]
    confirm = entities.unescape(re.search(r'data-confirm="([^"]*)"', form).group(1))
    assert confirm == (
        "Delete the draft for ACME (ACME support), 01 Feb 2026 – 28 Feb 2026, €240.00? "
        "Its 2 line(s) go and the items they bill become unbilled again, to be billed by a "
        "later batch. No invoice number is used."
    )
    done = browser.post(
        reverse("invoices:batch-invoice-delete", args=[batch.pk, acme.pk]), follow=True
    )
    assert "Deleted the draft for ACME; 2 item(s) are unbilled again." in text(
        done.content.decode()
    )


def test_generate_first_says_how_many_invoices_and_their_totals(
    client_as, admin_a, world, tenant_a, django_capture_on_commit_callbacks
):
    batch = new_batch(tenant_a)
    browser = client_as(admin_a)
    run(browser, batch, django_capture_on_commit_callbacks)
    generate = reverse("invoices:batch-generate", args=[batch.pk])
    page = browser.get(detail(batch)).content.decode()
    assert "Generate invoices…" in page and "confirm" not in page.split(generate)[1][:200]

    # Not consolidated: five drafts, five invoices.
    asked = browser.post(generate, {})
    assert asked.status_code == 200
    words = text(asked.content.decode())
    assert (
        "Generate 5 invoices? 5 invoices, totalling €1,928.00 (4 in EUR) and $80.00 (1 in USD)."
        in words
    )
    assert "takes the next invoice number, for good" in words
    # One per customer: Helios's two EUR drafts become one invoice (no tax to re-round).
    asked = text(browser.post(generate, {"consolidate": "on"}).content.decode())
    assert (
        "Generate 4 invoices? The 5 drafts are merged into one invoice per customer and "
        "currency: 4 invoices, totalling €1,928.00 (3 in EUR) and $80.00 (1 in USD)."
    ) in asked
    with tenant_context(tenant_a):
        # Asking wrote nothing: still five drafts, no number taken.
        assert Invoice.objects.filter(batch_links__batch=batch, status="draft").count() == 5
        assert not Invoice.objects.filter(number__isnull=False).exists()

    with django_capture_on_commit_callbacks(execute=True):
        browser.post(generate, {"consolidate": "on", "confirm": "1"})
    words = text(browser.get(detail(batch)).content.decode())
    assert (
        "4 invoice(s) generated, numbered INV-2026-00001 to INV-2026-00004: €1,928.00 and "
        "$80.00. Their PDFs are being rendered."
    ) in words
    with tenant_context(tenant_a):
        finals = list(Invoice.objects.filter(batch_links__batch=batch).order_by("number"))
    assert [str(i.total) for i in finals] == ["240.000", "1298.000", "390.000", "80.000"]
    assert all(i.status == InvoiceStatus.FINAL for i in finals)


# ------------------------------------------------------------- 3. background jobs


def test_run_is_a_job_whose_outcome_the_page_shows(
    client_as, admin_a, world, tenant_a, django_capture_on_commit_callbacks
):
    batch = new_batch(tenant_a)
    browser = client_as(admin_a)
    done = run(browser, batch, django_capture_on_commit_callbacks)
    words = text(done.content.decode())
    assert "Done 5 draft invoice(s) created: €1,928.00 and $80.00." in words
    # Told once: the next visit shows the drafts, not the news again.
    assert "draft invoice(s) created" not in text(browser.get(detail(batch)).content.decode())
    batch.refresh_from_db()
    assert batch.status == BatchStatus.RUN
    state = browser.get(reverse("invoices:batch-progress", args=[batch.pk]), {"format": "json"})
    assert state.json()["status"] == "run"
    assert state.json()["job"]["state"] == "done" and state.json()["job"]["percent"] == 100


def test_a_queued_run_shows_progress_and_refuses_a_second_run_and_changes(
    client_as, admin_a, world, tenant_a
):
    """The job is queued (after commit the worker takes it): meanwhile the page polls its
    progress, a second Run of this batch or another is refused saying why, and the
    selection cannot change."""
    batch = new_batch(tenant_a)
    other = new_batch(tenant_a, name="April 2026", as_of=dt.date(2026, 4, 1))
    browser = client_as(admin_a)
    # Without the commit callbacks nothing reaches a worker: the job stays queued.
    browser.post(reverse("invoices:batch-run", args=[batch.pk]))
    page = browser.get(detail(batch)).content.decode()
    assert f'hx-get="{reverse("invoices:batch-progress", args=[batch.pk])}"' in page
    assert 'hx-trigger="every 1s"' in page
    assert "Running “March 2026”…" in page and "Waiting for a worker" in page
    assert re.search(r"<button[^>]*disabled[^>]*>Run</button>", page)
    assert 'aria-label="Include ACME support"' not in page  # no selection while it runs

    again = text(
        browser.post(reverse("invoices:batch-run", args=[batch.pk]), follow=True).content.decode()
    )
    assert "“March 2026” is already being run (started at 12:00:00, 0 % done)." in again
    elsewhere = browser.post(reverse("invoices:batch-run", args=[other.pk]), follow=True)
    words = text(elsewhere.content.decode())
    assert "Another batch is being run: “March 2026”" in words
    assert "One batch runs or generates at a time" in words
    assert "“March 2026” is being run (0 %): one batch runs or generates at a time." in words
    refused = browser.post(
        reverse("invoices:batch-selection", args=[batch.pk]),
        {"contract": world.bistro.pk, "include": "0"},
        **HTMX,
    )
    assert refused.status_code == 400
    assert refused.content.decode() == "“March 2026” is being run: wait until it is done."

    poll = browser.get(reverse("invoices:batch-progress", args=[batch.pk]), **HTMX)
    assert "HX-Refresh" not in poll and 'hx-trigger="every 1s"' in poll.content.decode()
    with tenant_context(tenant_a):
        assert not Invoice.objects.exists()
        # The worker takes it: the poll then asks the page to reload, with the outcome.
        jobs.execute(tenant=tenant_a, batch_id=batch.pk, action=jobs.RUN, actor_id=admin_a.pk)
    poll = browser.get(reverse("invoices:batch-progress", args=[batch.pk]), **HTMX)
    assert poll["HX-Refresh"] == "true"
    words = text(browser.get(detail(batch)).content.decode())
    assert "5 draft invoice(s) created: €1,928.00 and $80.00." in words
    # The tenant is free again.
    with tenant_context(tenant_a):
        assert jobs.running_job() is None


def test_a_lost_job_goes_stale_and_can_be_started_again(
    client_as, admin_a, world, tenant_a, frozen_now, django_capture_on_commit_callbacks
):
    batch = new_batch(tenant_a)
    browser = client_as(admin_a)
    browser.post(reverse("invoices:batch-run", args=[batch.pk]))  # queued, never taken
    frozen_now.shift(progress.STALE_AFTER + dt.timedelta(seconds=1))
    words = text(browser.get(detail(batch)).content.decode())
    assert "No news of the run It has not reported for ten minutes" in words
    done = run(browser, batch, django_capture_on_commit_callbacks)
    assert "5 draft invoice(s) created" in text(done.content.decode())


def test_a_failed_run_says_why(
    client_as, admin_a, world, tenant_a, django_capture_on_commit_callbacks
):
    empty = new_batch(tenant_a, name="Too early", as_of=dt.date(2026, 1, 1))
    browser = client_as(admin_a)
    words = text(run(browser, empty, django_capture_on_commit_callbacks).content.decode())
    assert (
        "Run failed Nothing was written, for this reason: Nothing is selected: no item is "
        "due as of this date."
    ) in words
    empty.refresh_from_db()
    assert empty.status == BatchStatus.DRAFT  # rolled back with everything else


def test_accountants_see_progress_but_cannot_start_a_job(client_as, staff_a, world, tenant_a):
    batch = new_batch(tenant_a)
    accountant = client_as(staff_a.user(Role.ACCOUNTANT))
    assert accountant.post(reverse("invoices:batch-run", args=[batch.pk])).status_code == 403
    assert accountant.post(reverse("invoices:batch-generate", args=[batch.pk])).status_code == 403
    assert accountant.get(reverse("invoices:batch-progress", args=[batch.pk])).status_code == 200


def test_another_tenants_batch_progress_is_a_404(client_as, staff_b, world, tenant_a):
    batch = new_batch(tenant_a)
    other = client_as(staff_b.user(Role.BILLING_ADMIN))
    assert other.get(reverse("invoices:batch-progress", args=[batch.pk])).status_code == 404
    assert other.post(reverse("invoices:batch-generate", args=[batch.pk])).status_code == 404


# ------------------------------------------------------------- 4. held by drafts


def test_items_on_another_batchs_drafts_say_which_draft_holds_them(
    client_as, admin_a, world, world_b, tenant_a, django_capture_on_commit_callbacks
):
    march = new_batch(tenant_a)
    browser = client_as(admin_a)
    # Leave the March retainer fee out: Bistro is then partly held, partly selectable.
    browser.post(
        reverse("invoices:batch-selection", args=[march.pk]),
        {"contract": world.bistro.pk, "item": "retainer_fee:2026-03-01", "include": "0"},
        **HTMX,
    )
    run(browser, march, django_capture_on_commit_callbacks)
    second = new_batch(tenant_a, name="Second look")
    html = browser.get(detail(second)).content.decode()
    with tenant_context(tenant_a):
        acme_draft = Invoice.objects.get(batch_links__batch=march, bill_to_name="ACME")
        bistro_draft = Invoice.objects.get(batch_links__batch=march, bill_to_name="Bistro Lumière")

    def row(contract):
        return html.split(f'id="contract-{contract.pk}"')[1].split("</tbody>")[0]

    acme = row(world.acme)
    # ACME's February time is on March's draft; its March time waits (period open).
    assert text(acme).count("Held by the draft") == 1
    assert (
        "Held by the draft for ACME, 01 Feb – 28 Feb 2026 (€200.00) in batch “March 2026”"
        in text(acme)
    )
    assert reverse("invoices:invoice-detail", args=[acme_draft.pk]) in acme
    assert reverse("invoices:batch-detail", args=[march.pk]) in acme
    assert "Locked" in text(acme)  # what is left (March) does wait for its period

    # Dupont: everything unbilled is on the draft, nothing waits: not "Locked".
    dupont = text(row(world.dupont))
    assert "On a draft" in dupont and "Locked" not in dupont
    assert "Held by the draft for Helios IT Partners, 01 Feb – 28 Feb 2026 (€300.00)" in dupont

    bistro = text(row(world.bistro))
    assert "Selectable" in bistro  # the March fee left out of March's run is still here
    assert "Held by the draft for Bistro Lumière" in bistro and "(€680.00)" in bistro
    assert reverse("invoices:invoice-detail", args=[bistro_draft.pk]) in row(world.bistro)

    # Expanded, the row keeps saying it.
    expanded = browser.get(
        reverse("invoices:batch-contract", args=[second.pk, world.dupont.pk]), **HTMX
    ).content.decode()
    assert "Its items are on the draft named above." in text(expanded)
    assert "Held by the draft for Helios IT Partners" in text(expanded)

    # Once generated, nothing is held: the items are billed, and the row says nothing.
    generate = reverse("invoices:batch-generate", args=[march.pk])
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(generate, {"confirm": "1"})
    html = browser.get(detail(second)).content.decode()
    assert "Held by the draft" not in html and "On a draft" not in html


def test_save_as_new_batch_keeps_the_selection(client_as, admin_a, world, tenant_a):
    batch = new_batch(tenant_a)
    browser = client_as(admin_a)
    browser.post(
        reverse("invoices:batch-selection", args=[batch.pk]),
        {"contract": world.bistro.pk, "item": "retainer_fee:2026-03-01", "include": "0"},
        **HTMX,
    )
    saved = browser.post(
        detail(batch),
        {"name": "March 2026 (final)", "as_of": "2026-03-01", "save_as": "1"},
        follow=True,
    )
    with tenant_context(tenant_a):
        copy = InvoiceBatch.objects.get(name="March 2026 (final)")
        assert InvoiceBatch.objects.get(pk=batch.pk).name == "March 2026"  # unchanged
    assert saved.redirect_chain[-1][0] == detail(copy)
    words = text(saved.content.decode())
    assert "Saved as “March 2026 (final)”, a new batch with the same selection." in words
    rows = dict(details_rows(saved.content.decode()))
    assert rows["Billable amount (EUR)"] == "€1,270.00"  # the March fee stays left out
