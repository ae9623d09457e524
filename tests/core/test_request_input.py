"""Input no request may break anything with: nested JSON, lone surrogates, NUL bytes, naive
date-times, and writes that fail half-way. Every case is a 400 (or 413) naming the field and
the reason, never a 500, and nothing is written.

The JSON cases walk every API write operation from the URL resolver, checked against the
OpenAPI schema, so a new endpoint is covered without being listed here.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers as drf_serializers
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser as DRFJSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.routers import SimpleRouter
from rest_framework.test import APIClient

from billing_site.api.base import TenantModelViewSet
from billing_site.api.errors import exception_handler
from billing_site.api.parsers import MAX_DEPTH, JSONParser
from billing_site.models import Organization
from billing_site.request_input import NUL_MESSAGE, SURROGATE_MESSAGE
from billing_site.roles import Cap, Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from billing_site.testing.registry import build_for
from billing_site.testing.routes import all_routes
from invoices.batches.models import InvoiceBatch
from sessions import services as session_services
from sessions.models import HostGroup, RemoteSession, SessionImport

from ..contracts.factories import ContractFactory, TicketFactory
from ..portal.factories import portal_user
from ..sessions.factories import HostFactory

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("POST", "PUT", "PATCH")
DEEP = "[" * 100_000 + "]" * 100_000
DEPTH_MESSAGE = f"JSON nested deeper than {MAX_DEPTH} levels; send a flatter document."


def api_write_operations() -> list[tuple[str, str]]:
    """(route name, method) of every API write on the staff and core routes."""
    return [
        (route.name, method)
        for route in all_routes()
        if route.is_api
        for method in sorted(route.methods & set(WRITE_METHODS))
    ]


ROUTES = {route.name: route for route in all_routes()}
OPERATIONS = api_write_operations()


def parsers_of(route, method: str) -> list[type]:
    view = route.view_class
    action = route.actions.get(method.lower())
    handler = getattr(view, action, None) if action else None
    declared = getattr(handler, "kwargs", {}).get("parser_classes")
    return list(declared or view.parser_classes)


def url_of(route, tenant, cache: dict) -> str:
    kwargs = {}
    for name in route.kwargs:
        model = route.model_for(name)
        if (tenant.pk, model) not in cache:
            cache[(tenant.pk, model)] = build_for(model, tenant)
        kwargs[name] = cache[(tenant.pk, model)].pk
    return reverse(route.name, kwargs=kwargs)


def raw_json(client, method: str, url: str, body: str):
    return client.generic(method, url, body.encode(), content_type="application/json")


# --- Nested JSON, size, and the parser on every endpoint ---------------------------------


def test_the_walk_finds_the_write_endpoints():
    names = {name for name, _ in OPERATIONS}
    assert {"organization-list", "batch-list", "session-list", "time-entry-list"} <= names
    assert len(OPERATIONS) > 30


def test_every_api_view_reads_json_with_the_project_parser():
    for name, method in OPERATIONS:
        for parser in parsers_of(ROUTES[name], method):
            if issubclass(parser, DRFJSONParser):
                assert issubclass(parser, JSONParser), (name, method, parser)


def test_every_json_operation_of_the_schema_is_walked(tenant_a, staff_a):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    urls = []
    cache: dict = {}
    for name, method in OPERATIONS:
        urls.append((method, url_of(ROUTES[name], tenant_a, cache)))
    missing = []
    for template, operations in schema["paths"].items():
        if template == "/api/v1/auth/token/":
            continue  # outside the tenant wall; tested below
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {})
            walked = any(m == method.upper() and pattern.match(u) for m, u in urls)
            if method.upper() in WRITE_METHODS and "application/json" in body and not walked:
                missing.append((method, template))
    assert missing == []


@pytest.mark.parametrize(("name", "method"), OPERATIONS, ids=lambda v: str(v))
def test_nested_json_is_a_400_on_every_write(name, method, tenant_a, staff_a, api_as):
    route = ROUTES[name]
    url = url_of(route, tenant_a, {})
    api = api_as(staff_a.user(Role.OWNER))
    response = raw_json(api, method, url, DEEP)
    if JSONParser in parsers_of(route, method):
        assert response.status_code == 400, (method, url, response.status_code)
        assert response.json() == {"detail": DEPTH_MESSAGE}
    else:  # multipart-only uploads
        assert response.status_code == 415, (method, url, response.status_code)


def test_nesting_under_the_recursion_limit_is_refused_too(admin_a, api_as):
    body = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    response = raw_json(api_as(admin_a), "POST", "/api/v1/organizations/", body)
    assert response.status_code == 400 and response.json() == {"detail": DEPTH_MESSAGE}
    nested = {"name": "Deep"}
    for _ in range(MAX_DEPTH):
        nested = {"name": nested}
    response = raw_json(api_as(admin_a), "POST", "/api/v1/organizations/", json.dumps(nested))
    assert response.status_code == 400 and response.json() == {"detail": DEPTH_MESSAGE}
    assert Organization.all_tenants.count() == 0


def test_token_endpoint_refuses_nested_json(client):
    response = raw_json(client, "POST", reverse("api-token"), DEEP)
    assert response.status_code == 400 and response.json() == {"detail": DEPTH_MESSAGE}


def test_a_body_over_the_limit_is_a_413(admin_a, api_as, settings):
    settings.JSON_BODY_MAX_BYTES = 1000
    body = json.dumps({"name": "x" * 1000})
    response = raw_json(api_as(admin_a), "POST", "/api/v1/organizations/", body)
    assert response.status_code == 413
    assert response.json() == {"detail": "The JSON body is larger than 1000 bytes."}
    assert Organization.all_tenants.count() == 0


def test_a_body_that_is_not_utf8_is_a_400(admin_a, api_as):
    api = api_as(admin_a)
    response = api.generic(
        "POST", "/api/v1/organizations/", b'{"name": "\xff"}', content_type="application/json"
    )
    assert response.status_code == 400 and "utf-8" in response.json()["detail"]


def test_an_ignored_body_is_still_read(tenant_a, admin_a, api_as):
    """Endpoints that take no body refuse a broken one rather than act on it."""
    batch = build_for(InvoiceBatch, tenant_a)
    response = raw_json(api_as(admin_a), "POST", f"/api/v1/batches/{batch.pk}/run/", DEEP)
    assert response.status_code == 400
    batch.refresh_from_db()
    assert batch.status == "draft"


# --- Lone surrogates and NUL in JSON text ------------------------------------------------


def ascii_json(data) -> str:
    # json.dumps escapes a lone surrogate as \ud800, as a client would send it.
    return json.dumps(data, ensure_ascii=True)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("currency", "\ud800", SURROGATE_MESSAGE),  # a choice field: used to echo it, a 500
        ("name", "Acme\ud800", SURROGATE_MESSAGE),
        ("name", "Acme\x00", NUL_MESSAGE),
        ("time_zone", "Europe/Paris\x00", NUL_MESSAGE),
        ("currency", "\udfff", SURROGATE_MESSAGE),
    ],
    ids=["choice-surrogate", "text-surrogate", "text-nul", "zone-nul", "low-surrogate"],
)
def test_surrogates_and_nul_are_400_naming_the_field(admin_a, api_as, field, value, reason):
    body = ascii_json({"name": "Acme", "currency": "EUR", field: value})
    response = raw_json(api_as(admin_a), "POST", "/api/v1/organizations/", body)
    assert response.status_code == 400
    assert response.json() == {field: [reason]}
    # The value is never repeated, raw or escaped.
    assert b"\\ud" not in response.content and b"\\u0000" not in response.content
    assert Organization.all_tenants.count() == 0


def test_bad_text_deep_in_a_document_is_named_by_its_path(tenant_a, admin_a, api_as):
    ticket = TicketFactory(tenant=tenant_a)
    body = ascii_json({"ids": [1, "\x00"], "note": {"text\ud800": 1}, "ticket": ticket.pk})
    response = raw_json(api_as(admin_a), "POST", "/api/v1/time-entries/approve/", body)
    assert response.status_code == 400
    data = response.json()
    assert data in (
        {"ids": {"1": [NUL_MESSAGE]}},
        {"note": {"text\\ud800": [SURROGATE_MESSAGE]}},
    )


def test_valid_astral_characters_pass(admin_a, api_as):
    body = ascii_json(
        {"name": "Café 😀", "currency": "EUR", "company_number": "C-1"}
    )  # a surrogate *pair* on the wire
    response = raw_json(api_as(admin_a), "POST", "/api/v1/organizations/", body)
    assert response.status_code == 201, response.json()
    assert Organization.all_tenants.get().name == "Café 😀"


def test_an_echoed_surrogate_is_rendered_escaped():
    """Safety net: a message that repeats its input (a choice field's) still renders."""
    field = drf_serializers.ChoiceField(choices=["a", "b"])
    with pytest.raises(ValidationError) as caught:
        field.run_validation("\ud800")
    response = exception_handler(caught.value, {})
    content = JSONRenderer().render(response.data)
    assert json.loads(content) == ['"\\ud800" is not a valid choice.']


# --- Forms and query strings on pages and the API ----------------------------------------


def test_nul_in_a_page_form_is_a_400_naming_the_field(client_as, admin_a):
    client = client_as(admin_a)
    body = b"name=Newco%00&currency=EUR&time_zone=Europe%2FParis&language=en&country=fr"
    response = client.generic(
        "POST", reverse("customer-create"), body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "<strong>name</strong>" in page and "NUL character" in page and "Newco" not in page
    assert Organization.all_tenants.count() == 0


def test_nul_in_a_multipart_page_form_is_a_form_error(client_as, admin_a):
    data = {
        "name": "Newco",
        "currency": "\x00",
        "time_zone": "Europe/Paris\x00",
        "language": "en",
        "country": "fr",
    }
    response = client_as(admin_a).post(reverse("customer-create"), data)  # multipart
    assert response.status_code == 200
    assert response.context["form"].errors.keys() >= {"currency", "time_zone"}
    assert Organization.all_tenants.count() == 0


def test_a_surrogate_in_a_page_form_never_reaches_the_form_raw(client_as, admin_a):
    """Browsers send UTF-8; bytes of a lone surrogate are decoded with replacement."""
    client = client_as(admin_a)
    body = b"name=Newco&currency=%ED%A0%80&time_zone=Europe%2FParis&language=en&country=fr"
    response = client.generic(
        "POST",
        reverse("customer-create"),
        body,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200  # the form shows "select a valid choice"
    assert Organization.all_tenants.count() == 0


STAFF_SEARCH_PAGES = [
    ("customer-list", "q"),
    ("sessions:session-list", "q"),
    ("contracts:contract-list", "q"),
    ("contracts:ticket-list", "q"),
    ("invoices:invoice-list", "q"),
    ("portal:users", "q"),
]


@pytest.mark.parametrize(("name", "param"), STAFF_SEARCH_PAGES)
def test_nul_in_a_staff_search_box_is_a_400(name, param, client_as, admin_a):
    client = client_as(admin_a)
    assert client.get(reverse(name), {param: "acme"}).status_code == 200
    response = client.get(reverse(name), {param: "ac\x00me"})
    assert response.status_code == 400
    assert param in response.content.decode() and "NUL character" in response.content.decode()


@pytest.fixture
def portal_client(tenant_a, client_as):
    partner = OrganizationFactory(tenant=tenant_a)
    # A billing partner, so it has the End Client Tickets page.
    ContractFactory(tenant=tenant_a, billing_organization=partner)
    return client_as(portal_user(partner))


@pytest.mark.parametrize("name", ["portal:home", "portal:end-client-tickets"])
def test_nul_in_a_portal_search_box_is_a_400(name, portal_client):
    assert portal_client.get(reverse(name), {"q": "acme"}).status_code == 200
    response = portal_client.get(reverse(name), {"q": "ac\x00me"})
    assert response.status_code == 400 and "NUL character" in response.content.decode()


@pytest.mark.parametrize(
    "url", ["/api/v1/organizations/", "/api/v1/sessions/", "/api/v1/invoices/"]
)
def test_nul_in_an_api_search_is_a_400(url, admin_a, api_as):
    api = api_as(admin_a)
    assert api.get(url, {"search": "acme"}).status_code == 200
    response = api.get(url, {"search": "ac\x00me"})
    assert response.status_code == 400 and response.json() == {"search": [NUL_MESSAGE]}


def test_nul_in_a_portal_api_search_is_a_400(tenant_a, api_as):
    api = api_as(portal_user(OrganizationFactory(tenant=tenant_a)))
    response = api.get(reverse("portal-api:ticket-list"), {"q": "\x00"})
    assert response.status_code == 400 and response.json() == {"q": [NUL_MESSAGE]}


def test_nul_in_a_url_encoded_api_body_is_a_400(admin_a, api_as):
    response = api_as(admin_a).post(
        "/api/v1/organizations/", {"name": "Acme\x00", "currency": "EUR"}, format="multipart"
    )
    assert response.status_code == 400 and "name" in response.json()
    response = api_as(admin_a).generic(
        "POST",
        "/api/v1/organizations/",
        b"name=Acme%00&currency=EUR",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400 and response.json() == {"name": [NUL_MESSAGE]}
    assert Organization.all_tenants.count() == 0


# --- NUL in a CSV import -------------------------------------------------------------------

IMPORT_URL = "/api/v1/sessions/import/"
GENERIC_NUL = (
    "host,technician,start,end,comment\n"
    "PC-1,alpha-technician,2026-10-12 09:05:00,2026-10-12 09:14:40,Up\x00dates\n"
)
TEAMVIEWER_NUL = (
    "User;Computer;ID;Group;Start;End;Duration;Billing state;Notes;Connection ID\n"
    "alpha-technician;FRONT\x00DESK;1;Harbor;05.10.2026 08:00;05.10.2026 08:12;12m;;x;c1\n"
)
NUL_FILE_MESSAGE = (
    "The file contains a NUL character (line 2), so it is not CSV text; "
    "save it as “CSV UTF-8” and upload it again."
)


def upload(text: str | bytes, name="log.csv"):
    data = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


@pytest.mark.parametrize("text", [GENERIC_NUL, TEAMVIEWER_NUL], ids=["generic", "teamviewer"])
def test_nul_in_a_csv_import_is_a_400_through_the_api(text, tenant_a, staff_a, api_as):
    api = api_as(staff_a.user(Role.TECHNICIAN))
    for dry_run in ("true", "false"):
        response = api.post(
            IMPORT_URL, {"file": upload(text), "dry_run": dry_run}, format="multipart"
        )
        assert response.status_code == 400
        assert response.json() == {"file": [NUL_FILE_MESSAGE]}
    with tenant_context(tenant_a):
        assert not RemoteSession.objects.exists() and not SessionImport.objects.exists()


@pytest.mark.parametrize("text", [GENERIC_NUL, TEAMVIEWER_NUL], ids=["generic", "teamviewer"])
def test_nul_in_a_csv_import_is_a_form_error_on_the_page(text, tenant_a, staff_a, client_as):
    client = client_as(staff_a.user(Role.TECHNICIAN))
    response = client.post(
        reverse("sessions:session-import"), {"file": upload(text), "format": "auto"}
    )
    assert response.status_code == 200
    assert "contains a NUL character (line 2)" in response.content.decode()
    with tenant_context(tenant_a):
        assert not SessionImport.objects.exists()


def test_broken_utf16_is_a_400_not_a_500(tenant_a, staff_a, api_as):
    data = "\ufeffhost,technician,start,end\n".encode("utf-16-le") + b"\x00\xd8"  # lone surrogate
    response = api_as(staff_a.user(Role.TECHNICIAN)).post(
        IMPORT_URL, {"file": upload(data)}, format="multipart"
    )
    assert response.status_code == 400 and "not valid UTF-16" in response.json()["file"][0]


def test_a_staged_text_with_nul_is_refused(tenant_a):
    with pytest.raises(Exception) as caught:
        session_services.session_import(tenant=tenant_a, file=GENERIC_NUL, dry_run=True)
    assert caught.value.message_dict == {"file": [NUL_FILE_MESSAGE]}


# --- Naive date-times: one rule for every login method ------------------------------------

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def test_naive_times_are_read_in_the_tenant_zone_with_token_and_session_auth(
    tenant_a, staff_a, api_as, client_as, frozen
):
    tech = staff_a.user(Role.TECHNICIAN)
    host = HostFactory(tenant=tenant_a)
    clients = {"token": api_as(tech), "session": client_as(tech)}
    stored = {}
    for how, client in clients.items():
        hour = {"token": "08", "session": "09"}[how]
        body = {
            "host": host.pk,
            "started_at": f"2026-11-20T{hour}:00:00",
            "ended_at": f"2026-11-20T{hour}:30:00",
        }
        response = client.post(
            "/api/v1/sessions/", json.dumps(body), content_type="application/json"
        )
        assert response.status_code == 201, (how, response.json())
        # Answered in the same zone too: Paris is UTC+1 in November.
        assert response.json()["started_at"] == f"2026-11-20T{hour}:00:00+01:00"
        stored[how] = RemoteSession.all_tenants.get(pk=response.json()["id"]).started_at
    assert stored["token"] == dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.UTC)
    assert stored["session"] == dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


def test_an_explicit_offset_is_taken_as_written(tenant_a, staff_a, api_as, frozen):
    tech = staff_a.user(Role.TECHNICIAN)
    host = HostFactory(tenant=tenant_a)
    body = {"host": host.pk, "started_at": "2026-11-20T08:00:00Z", "ended_at": "2026-11-20T08:30Z"}
    response = api_as(tech).post("/api/v1/sessions/", body, format="json")
    assert response.status_code == 201
    assert RemoteSession.all_tenants.get().started_at == dt.datetime(
        2026, 11, 20, 8, 0, tzinfo=dt.UTC
    )


@pytest.mark.parametrize("how", ["token", "session"])
@pytest.mark.parametrize(
    "day",
    # In Paris the clocks skip 02:00-03:00 on 2026-03-29 and repeat it on 2026-10-25.
    [dt.date(2026, 3, 29), dt.date(2026, 10, 25)],
    ids=["skipped", "repeated"],
)
def test_a_local_time_the_clocks_skip_or_repeat_is_a_400(
    how, day, tenant_a, staff_a, api_as, client_as
):
    tech = staff_a.user(Role.TECHNICIAN)
    host = HostFactory(tenant=tenant_a)
    client = api_as(tech) if how == "token" else client_as(tech)
    body = {"host": host.pk, "started_at": f"{day}T02:30:00", "ended_at": f"{day}T04:00:00"}
    with time_machine.travel(dt.datetime(2026, 11, 1, tzinfo=dt.UTC), tick=False):
        response = client.post(
            "/api/v1/sessions/", json.dumps(body), content_type="application/json"
        )
    assert response.status_code == 400
    assert response.json() == {
        "started_at": [
            "This time does not exist or is ambiguous in Europe/Paris (a clock change); "
            "add its UTC offset, e.g. 2026-03-29T03:30:00+02:00."
        ]
    }
    assert not RemoteSession.all_tenants.exists()


# --- One write, one transaction ------------------------------------------------------------


def test_batch_create_with_a_preview_that_cannot_be_built_writes_nothing(admin_a, api_as):
    response = api_as(admin_a).post(
        "/api/v1/batches/", {"name": "Far", "as_of": "9999-12-31"}, format="json"
    )
    assert response.status_code == 400 and "as_of" in response.json()
    assert not InvoiceBatch.all_tenants.exists()


class _GroupSerializer(drf_serializers.ModelSerializer):
    class Meta:
        model = HostGroup
        fields = ["id", "name"]


class FailingAfterWriteViewSet(TenantModelViewSet):
    """A viewset whose writes fail after their first write: a 400, or a crash."""

    queryset = HostGroup.objects.all()
    serializer_class = _GroupSerializer
    read_capability = write_capability = Cap.MANAGE_WORK

    def _fail(self):
        if self.request.query_params.get("crash"):
            raise RuntimeError("crashed after the write")
        raise ValidationError({"name": ["Refused after the write."]})

    def perform_create(self, serializer):
        session_services.host_group_create(name=serializer.validated_data["name"])
        self._fail()

    def perform_update(self, serializer):
        serializer.save()
        self._fail()

    def perform_destroy(self, instance):
        instance.delete()
        self._fail()


_router = SimpleRouter()
_router.register("failing", FailingAfterWriteViewSet, basename="failing")
# This module is the URLconf of the test below (``pytest.mark.urls``).
urlpatterns = _router.urls


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("crash", [False, True], ids=["400", "crash"])
def test_a_viewset_write_that_fails_late_leaves_nothing(tenant_a, admin_a, crash):
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(admin_a)
    query = "?crash=1" if crash else ""
    expected = 500 if crash else 400
    with tenant_context(tenant_a):
        group = HostGroup.objects.create(tenant=tenant_a, name="Kept")

    created = api.post(f"/failing/{query}", {"name": "New"}, format="json")
    assert created.status_code == expected
    changed = api.patch(f"/failing/{group.pk}/{query}", {"name": "Renamed"}, format="json")
    assert changed.status_code == expected
    deleted = api.delete(f"/failing/{group.pk}/{query}")
    assert deleted.status_code == expected
    assert list(HostGroup.all_tenants.values_list("name", flat=True)) == ["Kept"]
