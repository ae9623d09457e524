"""Security headers and a strict Content-Security-Policy on every page.

Every staff page (as the owner) and every portal page (as a portal user) is walked from
the URL resolver, so a new page is covered without being listed here. Each answer carries
the CSP (scripts from this site only: no inline script, handler or eval) and the other
headers; each HTML page has no inline script or handler, since the browser would refuse
them. The API docs pages and the Django admin work under their own, narrow policies.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from billing_site.roles import Role
from billing_site.testing.factories import OrganizationFactory, UserFactory
from billing_site.testing.html import executable_markup
from billing_site.testing.registry import build_for
from billing_site.testing.routes import Route, all_routes
from contracts.models import Ticket, TicketAttachment
from portal.views import PortalViewMixin
from tests.contracts.factories import ContractFactory, TicketAttachmentFactory, TicketFactory
from tests.portal.factories import portal_user

ROOT = Path(__file__).resolve().parents[2]
STAFF_PAGES = [r for r in all_routes() if not r.is_api and "GET" in r.methods]
# Query strings a page needs to answer its normal page (not its error) to a GET.
PORTAL_PARAMS = {"portal:end-client-tickets-export": {"format": "csv"}}


def _portal_pages() -> list[Route]:
    def walk(resolver, namespace, inherited):
        for entry in resolver.url_patterns:
            kwargs = inherited + list(getattr(entry.pattern, "converters", {}))
            if isinstance(entry, URLResolver):
                ns = ":".join(filter(None, [namespace, entry.namespace])) or None
                yield from walk(entry, ns, kwargs)
            elif isinstance(entry, URLPattern) and namespace == "portal" and entry.name:
                view_class = getattr(entry.callback, "view_class", None)
                if view_class and issubclass(view_class, PortalViewMixin):
                    yield Route(name=f"portal:{entry.name}", kwargs=kwargs, view_class=view_class)

    return sorted(walk(get_resolver(), None, []), key=lambda r: r.name)


PORTAL_PAGES = _portal_pages()


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parts = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in parts}


def widened_form_action(where: str) -> set[str]:
    """The one page whose forms may lead elsewhere: "Connect" on the integrations page is
    redirected to the providers' consent pages (``integrations.views.ConnectionsView``)."""
    if where != reverse("integrations:connections"):
        return set()
    from urllib.parse import urlsplit

    from django.conf import settings

    urls = (settings.QUICKBOOKS["authorize_url"], settings.XERO["authorize_url"])
    return {f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" for url in urls}


def assert_secure_headers(response, where) -> dict[str, list[str]]:
    assert "Content-Security-Policy" in response, where
    csp = policy(response)
    assert csp["script-src"] == ["'self'"], (where, csp["script-src"])
    assert csp["default-src"] == ["'self'"], where
    # A PDF is shown by the browser's viewer plugin (billing_site/security.py).
    is_pdf = response.get("Content-Type", "").startswith("application/pdf")
    assert csp["object-src"] == (["'self'"] if is_pdf else ["'none'"]), where
    assert csp["base-uri"] == ["'none'"], where
    assert csp["frame-ancestors"] == ["'none'"], where
    assert set(csp["form-action"]) == {"'self'", *widened_form_action(where)}, where
    assert response["X-Content-Type-Options"] == "nosniff", where
    assert response["Referrer-Policy"] == "same-origin", where
    assert response["X-Frame-Options"] == "DENY", where
    assert response["Cross-Origin-Opener-Policy"] == "same-origin", where
    return csp


def assert_page_runs_no_inline_script(response, where) -> None:
    if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
        assert executable_markup(response.content.decode()) == [], where


def url_of(route: Route, objects: dict, tenant) -> str:
    kwargs = {}
    for name in route.kwargs:
        model = route.model_for(name)
        if model not in objects:
            objects[model] = build_for(model, tenant)
        kwargs[name] = objects[model].pk
    return reverse(route.name, kwargs=kwargs)


@pytest.mark.django_db
def test_every_staff_page_has_the_headers_and_no_inline_script(tenant_a, staff_a, client_as):
    assert len(STAFF_PAGES) > 40  # the walk found the pages
    client = client_as(staff_a.user(Role.OWNER))
    objects: dict = {}
    answered = 0
    for route in STAFF_PAGES:
        url = url_of(route, objects, tenant_a)
        response = client.get(url)
        assert response.status_code != 500, url
        assert_secure_headers(response, url)
        assert_page_runs_no_inline_script(response, url)
        answered += response.status_code == 200
    assert answered > 40  # most pages rendered, so their HTML was checked
    # The staff page of the portal (the walk leaves the portal namespace to its own test).
    response = client.get(reverse("portal:users"))
    assert response.status_code == 200
    assert_secure_headers(response, "portal:users")
    assert_page_runs_no_inline_script(response, "portal:users")


@pytest.fixture
def portal_world(tenant_a):
    """A partner P with a portal login: its own ticket, and an end client's ticket billed to P."""
    partner = OrganizationFactory(tenant=tenant_a, name="Helios IT Partners")
    client_org = OrganizationFactory(tenant=tenant_a, name="ACME")
    via_partner = ContractFactory(
        tenant=tenant_a, customer=client_org, billing_organization=partner
    )
    TicketFactory(tenant=tenant_a, organization=client_org, contract=via_partner)
    own = TicketFactory(tenant=tenant_a, organization=partner)
    attachment = TicketAttachmentFactory(tenant=tenant_a, ticket=own)
    return {"user": portal_user(partner), Ticket: own, TicketAttachment: attachment}


@pytest.mark.django_db
def test_every_portal_page_has_the_headers_and_no_inline_script(portal_world, client_as):
    names = {route.name for route in PORTAL_PAGES}
    assert {"portal:home", "portal:end-client-tickets", "portal:ticket-detail"} <= names
    client = client_as(portal_world["user"])
    for route in PORTAL_PAGES:
        url = reverse(
            route.name, kwargs={k: portal_world[route.model_for(k)].pk for k in route.kwargs}
        )
        response = client.get(url, PORTAL_PARAMS.get(route.name, {}))
        if route.name in ("portal:home", "portal:end-client-tickets", "portal:ticket-detail"):
            assert response.status_code == 200, url
        assert_secure_headers(response, url)
        assert_page_runs_no_inline_script(response, url)


@pytest.mark.django_db
def test_a_pdf_may_be_shown_by_the_browsers_viewer(portal_world, client_as):
    client = client_as(portal_world["user"])
    url = reverse("portal:end-client-tickets-export")
    response = client.get(url, {"format": "pdf"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/pdf")
    csp = policy(response)
    assert csp["object-src"] == ["'self'"]  # Chrome embeds its PDF viewer as a plugin
    assert csp["script-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
def test_public_pages_have_the_headers(client, tenant_a):
    pages = [
        reverse("login"),
        reverse("login") + "?next=javascript:alert(1)",
        reverse("portal:set-password", kwargs={"uidb64": "MQ", "token": "not-a-token"}),
        reverse("admin:login"),
        reverse("healthz"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code in (200, 302), url
        assert_secure_headers(response, url)
        assert_page_runs_no_inline_script(response, url)


@pytest.mark.django_db
def test_htmx_is_configured_not_to_eval(client_as, admin_a):
    html = client_as(admin_a).get(reverse("dashboard")).content.decode()
    match = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html)
    assert match, "the htmx-config meta tag is missing"
    config = json.loads(match.group(1))
    assert config["allowEval"] is False
    assert config["includeIndicatorStyles"] is False
    # The page's own behaviour (confirmations, the MSP switcher, print) is a static file.
    assert '/static/js/app.js"' in html


@pytest.mark.django_db
def test_admin_works_under_the_policy(client):
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(superuser)
    for url in (reverse("admin:index"), reverse("admin:billing_site_organization_changelist")):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_secure_headers(response, url)
        assert_page_runs_no_inline_script(response, url)


@pytest.mark.django_db
def test_api_docs_pages_work_under_a_narrow_policy(client_as, admin_a):
    client = client_as(admin_a)
    swagger = client.get(reverse("api-docs"))
    assert swagger.status_code == 200
    csp = assert_secure_headers(swagger, "api-docs")
    assert "data:" in csp["img-src"]  # Swagger UI's icons
    assert executable_markup(swagger.content.decode()) == []
    # Swagger UI's start-up script is served by the same view, as a file.
    script = client.get(reverse("api-docs"), {"script": ""})
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()

    redoc = client.get(reverse("api-redoc"))
    assert redoc.status_code == 200
    csp = assert_secure_headers(redoc, "api-redoc")
    assert csp["worker-src"] == ["'self'", "blob:"]  # ReDoc's search runs in a blob worker
    html = redoc.content.decode()
    assert executable_markup(html) == []
    assert "fonts.googleapis.com" not in html  # nothing fetched from outside

    # The widening is for those pages only.
    dashboard = policy(client.get(reverse("dashboard")))
    assert "worker-src" not in dashboard
    assert "data:" not in dashboard["img-src"]


def _templates() -> list[Path]:
    found = list((ROOT / "templates").rglob("*.html"))
    for folder in ROOT.glob("*/templates"):
        if folder.parent.name not in {".venv", "staticfiles", "node_modules"}:
            found += folder.rglob("*.html")
    return sorted(found)


TEMPLATES = _templates()
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
HTMX_HANDLER = re.compile(r"\shx-on[:\-=]", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
SCRIPT_URL = re.compile(
    r"""(href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.IGNORECASE
)
# htmx asks hx-confirm only before its own requests: on a plain submit button it is dead.
DEAD_CONFIRM = re.compile(
    r"<button\b(?![^>]*\bhx-(?:get|post|put|patch|delete)=)[^>]*\bhx-confirm="
)
STATIC_SCRIPT = re.compile(r"""<script[^>]*\bsrc="\{% static ['"]([^'"]+)['"] %\}""")


def test_templates_are_found():
    names = {path.relative_to(ROOT).as_posix() for path in TEMPLATES}
    assert "templates/base.html" in names
    assert "invoices/templates/invoices/invoice_detail.html" in names
    assert "portal/templates/portal/base.html" in names


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_template_has_no_inline_script_or_handler(path):
    text = path.read_text()
    assert not INLINE_HANDLER.findall(text), "inline on* handler: use data-* and static JS"
    assert not HTMX_HANDLER.findall(text), "hx-on evaluates code: use static JS"
    assert not SCRIPT_URL.findall(text), "javascript: URL"
    assert not DEAD_CONFIRM.findall(text), "hx-confirm without an htmx request: use data-confirm"
    for attributes in SCRIPT_TAG.findall(text):
        assert re.search(r"\bsrc=", attributes), "inline <script>: move it to a static file"
    # Every script a template loads is a file the project serves.
    for static_path in STATIC_SCRIPT.findall(text):
        assert finders.find(static_path), f"{static_path} is not a static file"
