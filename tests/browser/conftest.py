"""Browser journeys: Playwright for Python driving Debian's ``chromium`` against the
live test server.

Every test here is marked ``browser``. They are skipped when Chromium is missing
(``/usr/bin/chromium``, or the path in ``CHROMIUM``) or ``SKIP_BROWSER_TESTS=1`` is set;
under ``CI=true`` a missing Chromium fails them instead, so CI cannot pass by skipping.

Fixtures and helpers (see README, "Browser tests"):

- ``page`` — a fresh context and page at 1440×900; ``mobile_page`` at 390×844;
  ``new_page(width=..., height=..., **context_options)`` for anything else. Relative
  URLs resolve against the live server: ``page.goto("/login/")``.
- ``staff_user(role, tenant=None, **user_fields)`` — a staff member of ``tenant_a`` (or
  ``tenant``) with a recognisable name; password ``TEST_PASSWORD``.
- ``login(page, user, password=TEST_PASSWORD, tenant=None)`` — signs in through the
  real form (and the two-factor step when the user has an authenticator).
- ``shot(page, name)`` — a full-page PNG at ``test-artifacts/browser/<name>.png``.
- ``watch(page)`` — what the page's guard has seen (below); ``watch(page).allow_5xx(...)``
  for a test that means to provoke a server error.

On PostgreSQL the live server connects as the application role (``DB_APP_ROLE``), so the
row-level security wall of ``billing_site/rls.py`` is on for every page, as in production.

Each page is guarded: no host but the live server resolves, and a request to one, what
the Content Security Policy refuses, an uncaught JavaScript error or a 5xx answer fails
the test after its body has run.
Console errors are collected and printed with a failure (a 4xx an htmx form answers
logs one, so they do not fail a test by themselves).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db.backends.signals import connection_created

from billing_site.models import Membership
from billing_site.roles import STAFF_ROLES, Role
from billing_site.testing.factories import TEST_PASSWORD, MembershipFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
DESKTOP = {"width": 1440, "height": 900}
MOBILE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    # No other host resolves, so nothing can load from one; the guard sees the attempt.
    # (Stopping requests in the browser instead of routing each one through Python keeps a
    # page load at the speed of the page.)
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
# Playwright's default of 30 s hides a hung page behind a long wait; pages answer in well
# under a second, Run / Generate on the test worlds in a few.
TIMEOUT_MS = 15_000
HERE = Path(__file__).resolve().parent

# Names the people by role so a test (and a screenshot) shows who is signed in.
PEOPLE = {
    Role.OWNER: ("Olivia", "Owner"),
    Role.BILLING_ADMIN: ("Bianca", "Billing"),
    Role.TECHNICIAN: ("Theo", "Tech"),
    Role.ACCOUNTANT: ("Ada", "Accounts"),
}


def chromium_path() -> str:
    return os.environ.get("CHROMIUM") or "/usr/bin/chromium"


def _skip_reason() -> str | None:
    if os.environ.get("SKIP_BROWSER_TESTS") == "1":
        return "browser tests skipped (SKIP_BROWSER_TESTS=1)"
    path = chromium_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        if os.environ.get("CI", "").lower() == "true":
            return None  # the browser fixture fails instead
        return (
            f"no Chromium at {path} (apt-get install chromium, or set CHROMIUM); "
            "SKIP_BROWSER_TESTS=1 skips these on purpose"
        )
    return None


def _in_browser_suite(item) -> bool:
    return HERE in Path(str(item.fspath)).resolve().parents


def pytest_collection_modifyitems(config, items):
    reason = _skip_reason()
    for item in items:
        if not _in_browser_suite(item):
            continue
        item.add_marker(pytest.mark.browser)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
    # The browser tests run last: once Playwright has started, its event loop stays up
    # (and Django's async guard lifted, see ``browser``) for the rest of the process, so
    # no other test runs without that guard.
    items.sort(key=_in_browser_suite)


# --- the browser ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if not os.path.isfile(path):
        pytest.fail(f"CI=true and no Chromium at {path}: .ci/run installs Debian's chromium")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread for as long as it is
    # started, and Django refuses ORM calls from a thread with a running loop. The tests'
    # ORM calls are plain synchronous code, so lift the guard while the browser is up.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


# --- the live server behind the tenancy wall ------------------------------------------

# On PostgreSQL the live server answers as the application role (no table owned, no
# BYPASSRLS), as production does: a page that reads outside its tenant's context gets
# nothing, as it would there. The test's own set-up stays on the owner's connection.
_wall_role: str | None = None


def _behind_the_wall(sender, connection, **kwargs) -> None:
    live_server_thread = threading.current_thread() is not threading.main_thread()
    if _wall_role and connection.vendor == "postgresql" and live_server_thread:
        with connection.cursor() as cursor:
            cursor.execute(f'SET ROLE "{_wall_role}"')


connection_created.connect(_behind_the_wall, dispatch_uid="browser-tests-wall")


@pytest.fixture(autouse=True)
def _live_server_as_app_role(request):
    global _wall_role
    from django.conf import settings
    from django.db import connection

    if "live_server" not in request.fixturenames or connection.vendor != "postgresql":
        yield
        return
    role = settings.DB_APP_ROLE
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [role])
        found = cursor.fetchone()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(
                f"no {role} role: run scripts/db-app-role.sql (CI must test behind the wall)"
            )
        yield  # no application role in this cluster (migrate grants it when it exists)
        return
    assert found == (False, False), f"{role} must not bypass row-level security"
    _wall_role = role
    try:
        yield
    finally:
        _wall_role = None


# --- the guard on every page --------------------------------------------------------


@dataclass
class Watch:
    """What one browser context saw that a test must not ignore."""

    origin: str
    external: list[str] = field(default_factory=list)
    js_errors: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    blocked_by_csp: list[str] = field(default_factory=list)
    allowed_5xx: list[re.Pattern] = field(default_factory=list)

    def allow_5xx(self, url_pattern: str) -> None:
        """Let a 5xx from a URL matching ``url_pattern`` (a regex) pass: for a test that
        provokes a server error on purpose to see how the page shows it."""
        self.allowed_5xx.append(re.compile(url_pattern))

    def on_request(self, request) -> None:
        url = request.url
        if urlsplit(url).scheme in ("data", "blob", "about") or _origin(url) == self.origin:
            return
        self.external.append(url)

    def on_response(self, response) -> None:
        if response.status >= 500 and not any(p.search(response.url) for p in self.allowed_5xx):
            self.server_errors.append(f"{response.status} {response.request.method} {response.url}")

    def on_page(self, page) -> None:
        page.on("pageerror", lambda error: self.js_errors.append(f"{page.url}: {error}"))
        page.on("console", self._on_console)
        page.on("response", self.on_response)

    def _on_console(self, message) -> None:
        if message.type == "error":
            location = message.location or {}
            self.console_errors.append(f"{location.get('url', '')}: {message.text}")
            # The policy stops a CDN asset before any request is made, and an inline
            # script or style it refuses is a page that does not work as written.
            if "Content Security Policy" in message.text:
                self.blocked_by_csp.append(message.text)

    def problems(self) -> list[str]:
        return (
            [f"request to another host (must be served locally): {url}" for url in self.external]
            + [f"blocked by the Content Security Policy: {text}" for text in self.blocked_by_csp]
            + [f"uncaught JavaScript error: {error}" for error in self.js_errors]
            + [f"server error: {line}" for line in self.server_errors]
        )

    def report(self) -> str:
        lines = self.problems()
        if self.console_errors:
            lines += ["console errors:"] + [f"  {line}" for line in self.console_errors]
        return "\n".join(lines)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _watch_key(page):
    return page.context


@pytest.fixture
def _watches(request):
    watches: dict = {}
    request.node._browser_watches = watches
    return watches


@pytest.fixture
def watch(_watches):
    """``watch(page)``: the page's guard (``.console_errors``, ``.allow_5xx(regex)``, ...)."""

    def get(page) -> Watch:
        return _watches[_watch_key(page)]

    return get


@pytest.fixture
def new_page(browser, live_server, _watches):
    """``new_page(width=1440, height=900, **context_options)``: a page in a context of its
    own (its own cookies), guarded, with relative URLs on the live server."""
    contexts = []

    def make(width: int = DESKTOP["width"], height: int = DESKTOP["height"], **options):
        options.setdefault("accept_downloads", True)
        options.setdefault("locale", "en-US")
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": width, "height": height}, **options
        )
        context.set_default_timeout(TIMEOUT_MS)
        guard = Watch(origin=_origin(live_server.url))
        context.on("request", guard.on_request)
        context.on("page", guard.on_page)
        contexts.append(context)
        _watches[context] = guard
        page = context.new_page()
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    """A desktop page, 1440×900."""
    return new_page(**DESKTOP)


@pytest.fixture
def mobile_page(new_page):
    """A phone-sized page, 390×844, touch enabled."""
    return new_page(**MOBILE, is_mobile=True, has_touch=True, device_scale_factor=2)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Fail the test for what its pages' guards saw; on any failure keep a screenshot."""
    watches = getattr(item, "_browser_watches", None)
    try:
        result = yield
    except BaseException as exc:
        if watches:
            report = "\n".join(w.report() for w in watches.values() if w.report())
            if report:
                exc.add_note(f"The browser saw:\n{report}")
            _failure_shots(item, watches)
        raise
    if watches:
        problems = [p for w in watches.values() for p in w.problems()]
        if problems:
            _failure_shots(item, watches)
            report = "\n".join(w.report() for w in watches.values() if w.report())
            pytest.fail(f"The browser saw:\n{report}", pytrace=False)
    return result


def _failure_shots(item, watches) -> None:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", item.nodeid.split("::", 1)[-1]).strip("-")
    for n, context in enumerate(watches):
        for m, open_page in enumerate(context.pages):
            # A page closed by the test leaves nothing to keep.
            with contextlib.suppress(Exception):
                shot(open_page, f"failed/{slug}-{n}-{m}")


# --- people and signing in ----------------------------------------------------------


@pytest.fixture
def staff_user(tenant_a):
    """``staff_user(role, tenant=None, **user_fields)``: a staff member of ``tenant_a`` (or
    ``tenant``), named for the role ("Bianca Billing"), password ``TEST_PASSWORD``."""

    def make(role: str = Role.BILLING_ADMIN, tenant=None, **user_fields):
        if role not in STAFF_ROLES:
            raise ValueError(f"role: {role!r} is not a staff role ({sorted(STAFF_ROLES)})")
        tenant = tenant or tenant_a
        first, last = PEOPLE[role]
        user_fields.setdefault("username", f"{tenant.slug}-{role}")
        user_fields.setdefault("first_name", first)
        user_fields.setdefault("last_name", last)
        user = UserFactory(**user_fields)
        if not Membership.objects.filter(user=user, tenant=tenant).exists():
            MembershipFactory(user=user, tenant=tenant, role=role)
        return user

    return make


def login(page, user, password: str = TEST_PASSWORD, tenant=None):
    """Sign ``user`` in through the login form (and the two-factor step when they have a
    confirmed authenticator); with ``tenant``, switch to it with the header's MSP switch.
    Returns the page, on the page the login led to."""
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    if urlsplit(page.url).path.startswith("/login/"):
        errors = page.locator(".errorlist, .non-field-errors, [role=alert]").all_inner_texts()
        pytest.fail(f"{user.username} could not sign in: {' '.join(errors) or page.url}")
    if urlsplit(page.url).path.startswith("/two-factor/verify/"):
        page.get_by_label(re.compile("code", re.I)).first.fill(_current_code(user))
        page.get_by_role("button", name=re.compile("verify|continue|sign in", re.I)).click()
        page.wait_for_load_state()
    if tenant is not None:
        switch = page.get_by_label("Switch MSP")
        if switch.input_value() != tenant.slug:
            with page.expect_navigation():
                switch.select_option(tenant.slug)
    return page


def _current_code(user) -> str:
    from django_otp.oath import TOTP

    from billing_site.two_factor import confirmed_authenticator

    device = confirmed_authenticator(user)
    if device is None:
        pytest.fail(f"{user.username} is asked for a code but has no authenticator")
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


@pytest.fixture(name="login")
def login_fixture():
    """The ``login`` helper as a fixture: ``login(page, user)``."""
    return login


# --- screenshots --------------------------------------------------------------------


def shot(page, name: str) -> Path:
    """Save a full-page PNG of ``page`` at ``test-artifacts/browser/<name>.png``."""
    path = ARTIFACTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(name="shot")
def shot_fixture():
    """The ``shot`` helper as a fixture: ``shot(page, "portal-exports")``."""
    return shot


__all__ = ["TEST_PASSWORD", "Watch", "login", "shot"]
