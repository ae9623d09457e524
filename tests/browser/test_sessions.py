"""Session journeys in the browser: the technician's timer, a manual session with a bad
then a good end, and a session log import with a bad row then a good file."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from playwright.sync_api import expect

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.timeutils import format_duration
from sessions.models import Host, RemoteSession
from tests.sessions.factories import HostFactory

from .conftest import login, shot

pytestmark = pytest.mark.django_db(transaction=True)

PARIS = zoneinfo.ZoneInfo("Europe/Paris")  # tenant_a's zone


def logs_row(page, text: str):
    """The session logs' row holding ``text``."""
    return page.locator("#session-table tbody tr", has_text=text)


def test_technician_timer_runs_across_a_reload_then_is_stopped_and_commented(
    page, tenant_a, staff_user
):
    tech = staff_user(Role.TECHNICIAN)
    with tenant_context(tenant_a):
        HostFactory(tenant=tenant_a, name="Jane_OFFICE_121")
    login(page, tech)
    page.goto("/")
    page.get_by_label("Computer", exact=True).select_option(label="Jane_OFFICE_121")
    page.get_by_label("What are you doing?").fill("Printer queue")
    page.get_by_role("button", name="Start timer").click()

    running = page.locator(".stat", has_text="Running on Jane_OFFICE_121")
    expect(running).to_be_visible()
    expect(running).to_contain_text("Printer queue")
    # The elapsed time ticks in the page: seconds, counted from the server's start time.
    expect(running.locator("[data-timer-start]")).to_have_text(re.compile(r"^[1-9]\d* s$"))

    page.wait_for_timeout(1500)
    page.reload()
    running = page.locator(".stat", has_text="Running on Jane_OFFICE_121")
    expect(running).to_be_visible()  # still running after the reload
    timer = running.locator("[data-timer-start]")
    expect(timer).to_have_text(re.compile(r"^([2-9]|\d{2,}) s$"))

    running.get_by_role("button", name="Stop timer").click()
    expect(page.get_by_text("Timer on Jane_OFFICE_121 stopped. Add a comment")).to_be_visible()
    comment = page.get_by_label("Comment")
    expect(comment).to_have_value("Printer queue")
    comment.fill("Printer queue cleared, driver reinstalled")
    page.get_by_role("button", name="Save").click()

    with tenant_context(tenant_a):
        session = RemoteSession.objects.get()
    assert session.ended_at is not None and session.duration_seconds >= 2
    page.goto("/sessions/logs/")
    row = logs_row(page, "Jane_OFFICE_121")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Printer queue cleared, driver reinstalled")
    expect(row.locator("td").nth(2)).to_have_text(format_duration(session.duration_seconds))
    expect(row).to_contain_text(session.started_at.astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S"))
    shot(page, "sessions-timer")


def test_manual_session_bad_end_then_good(page, tenant_a, staff_user):
    tech = staff_user(Role.TECHNICIAN)
    with tenant_context(tenant_a):
        host = HostFactory(tenant=tenant_a, name="Joseph_OFFICE_121")
    day = (dt.datetime.now(PARIS) - dt.timedelta(days=2)).date()
    start, bad_end, good_end = (
        f"{day:%Y-%m-%d}T{time}" for time in ("10:00:10", "09:15:20", "10:45:40")
    )
    login(page, tech)
    page.goto("/sessions/new/")
    computer = page.get_by_label(re.compile(r"^Computer\b"))
    computer.select_option(label="Joseph_OFFICE_121")
    page.get_by_label(re.compile(r"^Start\b")).fill(start)
    page.get_by_label(re.compile(r"^End\b")).fill(bad_end)
    page.get_by_label("Comment").fill("Mailbox migration")
    page.get_by_role("button", name="Save").click()

    # The error is on the End field; what was typed is kept.
    end_field = page.locator(".field.has-error", has=page.get_by_label(re.compile(r"^End\b")))
    expect(end_field).to_contain_text("The end must be after the start.")
    expect(page.get_by_label(re.compile(r"^Start\b"))).to_have_value(start)
    expect(page.get_by_label(re.compile(r"^End\b"))).to_have_value(bad_end)
    expect(page.get_by_label("Comment")).to_have_value("Mailbox migration")
    expect(computer).to_have_value(str(host.pk))
    with tenant_context(tenant_a):
        assert not RemoteSession.objects.exists()

    page.get_by_label(re.compile(r"^End\b")).fill(good_end)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Session on Joseph_OFFICE_121 logged (45 min 30 s).")).to_be_visible()
    page.goto("/sessions/logs/")
    row = logs_row(page, "Mailbox migration")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"{day:%Y-%m-%d} 10:00:10")
    expect(row).to_contain_text(f"{day:%Y-%m-%d} 10:45:40")
    expect(row).to_contain_text("45 min 30 s")
    expect(row).to_contain_text("Joseph_OFFICE_121")
    shot(page, "sessions-manual")


BAD_FILE = (
    "host,technician,start,end,comment,external_id\n"
    "RECEPTION-PC,{user},2026-10-12 09:05:00,2026-10-12 09:35:00,Updates,RS-1\n"
    "RECEPTION-PC,{user},2026-10-13 11:00:00,2026-10-13 10:00:00,Backwards,RS-2\n"
)
# Times with an offset, and one without (read in the company's zone, Europe/Paris).
GOOD_FILE = (
    "host,technician,start,end,comment,external_id\n"
    "RECEPTION-PC,{user},2026-10-12T07:05:00Z,2026-10-12T07:35:00Z,Updates,RS-1\n"
    "RECEPTION-PC,{user},2026-10-13 10:00:00,2026-10-13 10:20:15,Printer,RS-2\n"
)


def preview_row(page, text: str):
    """The preview's row holding ``text`` (the one with a status badge, not the mapping
    step's sample of the same row)."""
    return page.locator("tr", has_text=text).filter(has=page.locator("td .badge"))


def _upload(page, tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    page.goto("/sessions/import/")
    page.get_by_label("Session log (CSV, TXT or JSON)").set_input_files(str(path))
    page.get_by_role("button", name="Check file").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()


def test_session_import_bad_row_then_good_file(page, tenant_a, staff_user, tmp_path):
    tech = staff_user(Role.TECHNICIAN)
    login(page, tech)
    _upload(page, tmp_path, "bad.csv", BAD_FILE.format(user=tech.username))
    errors = page.locator("section", has_text="Errors — nothing will be imported")
    bad_row = errors.locator("tbody tr").filter(has_text="The end must be after the start.")
    expect(bad_row).to_have_count(1)
    expect(bad_row.locator("td").nth(0)).to_have_text("3")  # the file's line
    expect(bad_row.locator("td").nth(1)).to_have_text("end")
    # The row's own error, in the rows table; importing is impossible.
    expect(preview_row(page, "Backwards")).to_contain_text("Error")
    expect(preview_row(page, "Backwards")).to_contain_text("end: The end must be after the start.")
    confirm = page.locator("#import-confirm button[type=submit]")
    expect(confirm).to_be_disabled()
    expect(confirm).to_have_text("Fix the errors to import")
    with tenant_context(tenant_a):
        assert not RemoteSession.objects.exists() and not Host.objects.exists()

    _upload(page, tmp_path, "good.csv", GOOD_FILE.format(user=tech.username))
    # The new computer must be ticked first: until then its rows are errors.
    new_hosts = page.locator("#new-hosts")
    expect(new_hosts).to_contain_text("RECEPTION-PC")
    expect(new_hosts).to_contain_text("1 not ticked")
    expect(confirm).to_be_disabled()
    new_hosts.get_by_label("RECEPTION-PC").check()
    new_hosts.get_by_role("button", name="Update the preview").click()
    expect(page.locator("#new-hosts h2")).to_have_text("New computers (1)")

    # Each start and end in the company's zone, beside the text as written.
    first = preview_row(page, "Updates")
    expect(first).to_contain_text("2026-10-12 09:05:00")  # 07:05 UTC in Paris (summer time)
    expect(first).to_contain_text("2026-10-12T07:05:00Z")
    expect(first).to_contain_text("30 min")
    second = preview_row(page, "Printer")
    expect(second).to_contain_text("2026-10-13 10:00:00")
    expect(second).to_contain_text("2026-10-13 10:20:15")
    expect(second).to_contain_text("20 min 15 s")
    expect(page.get_by_text("1 new computer and 0 new groups will be created.")).to_be_visible()

    confirm = page.get_by_role("button", name="Import 2 sessions")
    expect(confirm).to_be_enabled()
    confirm.click()
    expect(
        page.get_by_text("Imported 2 session(s); 1 new computer(s), 0 new group(s); 0 already")
    ).to_be_visible()
    rows = page.locator("#session-table tbody tr", has_text="RECEPTION-PC")
    expect(rows).to_have_count(2)
    expect(logs_row(page, "Updates")).to_contain_text("2026-10-12 09:05:00")
    expect(logs_row(page, "Printer")).to_contain_text("20 min 15 s")
    with tenant_context(tenant_a):
        assert RemoteSession.objects.count() == 2
    shot(page, "sessions-import")
