"""Each staff role signs in, sees the dashboard with their name and role, and can use
every link the navigation offers them — and every kind of link on those pages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from billing_site.roles import Role
from tests.invoices.batch_factories import build_world

from .conftest import login, shot

# A few entries each role must (and must not) be offered; the rest is whatever the
# navigation grows, clicked through all the same.
OFFERED = {
    Role.OWNER: {"Invoices", "Approvals", "Company settings", "Users", "Integrations"},
    Role.BILLING_ADMIN: {"Invoices", "Approvals", "Invoice batches", "Contracts", "Rate rules"},
    Role.TECHNICIAN: {"Timesheet", "Tickets", "Session logs", "Import sessions"},
    Role.ACCOUNTANT: {"Invoices", "Receivables", "Reports", "Session logs", "Contracts"},
}
NOT_OFFERED = {
    Role.OWNER: set(),
    Role.BILLING_ADMIN: {"Company settings", "Users", "Integrations"},
    Role.TECHNICIAN: {"Invoices", "Contracts", "Approvals", "Portal users", "Company settings"},
    Role.ACCOUNTANT: {"Timesheet", "Import sessions", "Approvals", "Portal users", "Users"},
}
# Links shown to roles that cannot open them, reported and awaiting their fix: the link's
# path and the roles it refuses. A fixed one fails the test until it is taken off here.
KNOWN_REFUSED: dict[str, set[str]] = {}
ROLE_NAMES = {
    Role.OWNER: "Owner",
    Role.BILLING_ADMIN: "Billing admin",
    Role.TECHNICIAN: "Technician",
    Role.ACCOUNTANT: "Accountant",
}


# A navigation entry's label is its own text, without the icon's.
LABEL_JS = (
    "a => Array.from(a.childNodes).filter(n => n.nodeType === Node.TEXT_NODE)"
    ".map(n => n.textContent).join('').trim()"
)


def nav_link(nav, label: str):
    # "Users" is not "Portal users": the label ends the link's name, after the icon.
    return nav.get_by_role("link", name=re.compile(rf"(^|\s){re.escape(label)}$"))


def link_kind(path: str) -> str:
    """/invoices/12/pdf/ and /invoices/13/pdf/ are one kind of link: one of each is enough."""
    return re.sub(r"/\d+(?=/|$)", "/<id>", path)


def content_links(page, origin: str) -> dict[str, str]:
    """The main column's links to our own pages, one per kind (the navigation apart)."""
    hrefs = page.locator(".main a[href]").evaluate_all("links => links.map(a => a.href)")
    links = {}
    for href in hrefs:
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != origin or not parts.path:
            continue
        kind = link_kind(parts.path) + ("?" if parts.query else "")
        links.setdefault(kind, href.split("#", 1)[0])
    return links


@pytest.mark.parametrize("role", list(ROLE_NAMES))
def test_each_role_signs_in_and_can_use_every_link_it_is_offered(
    page, live_server, tenant_a, staff_user, role
):
    build_world(tenant_a)  # customers, contracts, tickets and entries, so lists have rows
    user = staff_user(role)
    login(page, user)

    assert urlsplit(page.url).path == "/"
    assert (
        page.get_by_role("heading", level=1).inner_text() == f"Good to see you, {user.first_name}"
    )
    header = page.locator(".topbar .user").inner_text()
    assert user.get_full_name() in header and ROLE_NAMES[role] in header
    assert "Alpha IT" in page.locator(".topbar").inner_text()

    nav = page.get_by_role("navigation", name="Main")
    labels = nav.locator("a").evaluate_all(f"links => links.map({LABEL_JS})")
    assert labels[0] == "Dashboard"
    assert OFFERED[role] <= set(labels), f"{role} misses {OFFERED[role] - set(labels)}"
    assert not NOT_OFFERED[role] & set(labels), (
        f"{role} is offered {NOT_OFFERED[role] & set(labels)}"
    )

    refused = []
    checked: dict[str, tuple[str, str]] = {}
    for label in labels:
        with page.expect_navigation() as navigation:
            nav_link(nav, label).click()
        status = navigation.value.status
        if status >= 400:
            refused.append(f"nav {label!r} -> {status} {page.url}")
            continue
        # The page opened is the one the navigation marks as current, with a heading.
        assert nav.locator("a.active").evaluate(LABEL_JS) == label
        assert page.get_by_role("heading", level=1).first.inner_text().strip()
        for kind, url in content_links(page, live_server.url).items():
            checked.setdefault(kind, (label, url))

    for label, url in sorted(checked.values()):
        where = f"{label}: {url}"
        answer = page.request.get(url, max_redirects=5)
        known = role in KNOWN_REFUSED.get(urlsplit(url).path, ())
        if known and answer.status != 403:
            refused.append(f"link on {where} -> {answer.status}: fixed, take it off KNOWN_REFUSED")
        elif not known and (answer.status in (403, 404) or answer.status >= 500):
            refused.append(f"link on {where} -> {answer.status}")
    assert not refused, f"{ROLE_NAMES[role]} is offered links it cannot use:\n" + "\n".join(refused)

    nav_link(nav, "Dashboard").click()
    shot(page, f"smoke-{role}")
