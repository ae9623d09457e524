"""Upload size limits per kind (settings.UPLOAD_LIMITS, billing_site/uploads.py).

For each kind — session log imports, ticket attachments, tenant logos — a file of exactly
the limit is accepted and one byte more is refused (413 naming the field on the API, the
form's field error on pages), and nothing is stored. A request far over the limit is
answered 413 before its body is read: the tests claim a ``Content-Length`` the body does
not have, so any read of it would fail the test. Logos must be PNG, JPEG, GIF or WebP;
SVG is refused and never printed on a PDF. Tenant B's users and data stay untouched.
"""

from __future__ import annotations

import io

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import encode_multipart
from django.urls import reverse
from PIL import Image

from billing_site import services
from billing_site.models import Tenant
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.uploads import FORM_OVERHEAD
from contracts.models import TicketAttachment
from invoices.pdf import _logo_data_uri
from sessions.models import RemoteSession, SessionImport
from tests.contracts.factories import TicketFactory
from tests.core.test_tax_rates import settings_data

pytestmark = pytest.mark.django_db

SESSION_LOG = (
    b"host,group,technician,start,end,comment,external_id\n"
    b"Jane_OFFICE_121,ACME,alpha-technician,2026-10-12 09:05:00,2026-10-12 09:14:40,"
    b"Updates,RS-1\n"
)
SESSION_IMPORT_API = "/api/v1/sessions/import/"
ATTACHMENT_API = "/api/v1/ticket-attachments/"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.UPLOAD_LIMITS = {"session_log": 4096, "attachment": 4096, "logo": 4096}
    with time_machine.travel("2026-11-02 12:00Z", tick=False):
        yield


def padded_log(size: int) -> bytes:
    """A valid session log of exactly ``size`` bytes (the comment is padded)."""
    padding = size - len(SESSION_LOG)
    assert padding >= 0
    return SESSION_LOG.replace(b"Updates", b"Updates" + b"x" * padding)


def png(size: int) -> bytes:
    """An 8×8 PNG of exactly ``size`` bytes: a text chunk takes up the difference."""
    from PIL import PngImagePlugin

    def encode(padding: str) -> bytes:
        info = PngImagePlugin.PngInfo()
        info.add_text("pad", padding)
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), "#123456").save(buffer, format="PNG", pnginfo=info)
        return buffer.getvalue()

    data = encode("x" * (size - len(encode(""))))
    assert len(data) == size
    return data


def stored_files(folder: str) -> list[str]:
    if not default_storage.exists(folder):
        return []
    found, pending = [], [folder]
    while pending:
        current = pending.pop()
        dirs, files = default_storage.listdir(current)
        found += [f"{current}/{name}" for name in files]
        pending += [f"{current}/{name}" for name in dirs]
    return found


def claimed_post(client, url, *, claimed: int, data: dict):
    """A multipart POST whose Content-Length claims ``claimed`` bytes: reading the body
    would fail (the test client's payload refuses reads past its real length)."""
    body = encode_multipart("BoUnDaRy", data)
    return client.generic(
        "POST",
        url,
        body,
        content_type="multipart/form-data; boundary=BoUnDaRy",
        CONTENT_LENGTH=str(claimed),
    )


@pytest.fixture
def tech(staff_a):
    return staff_a.user(Role.TECHNICIAN)


@pytest.fixture
def ticket(tenant_a):
    return TicketFactory(tenant=tenant_a)


@pytest.fixture
def other_tenant(tenant_b, staff_b):
    """Tenant B: a ticket and an owner that no upload of A may touch."""
    return TicketFactory(tenant=tenant_b), staff_b.user(Role.OWNER)


# --- Session log imports -------------------------------------------------------------


def test_session_log_api_at_the_limit_imports_and_one_byte_more_is_413(tenant_a, tech, api_as):
    api = api_as(tech)
    over = SimpleUploadedFile("log.csv", padded_log(4097), content_type="text/csv")
    refused = api.post(SESSION_IMPORT_API, {"file": over}, format="multipart")
    assert refused.status_code == 413
    assert refused.json() == {
        "file": [
            "The file is 4,097 bytes; session logs can be at most 4,096 bytes. Nothing was stored."
        ]
    }
    with tenant_context(tenant_a):
        assert not RemoteSession.objects.exists()

    exact = SimpleUploadedFile("log.csv", padded_log(4096), content_type="text/csv")
    # Its computer is new: the API creates it only when asked to.
    done = api.post(SESSION_IMPORT_API, {"file": exact, "create_hosts": "*"}, format="multipart")
    assert done.status_code == 201, done.json()
    with tenant_context(tenant_a):
        assert RemoteSession.objects.count() == 1


def test_session_log_api_far_over_the_limit_is_refused_unread(tenant_a, tech, api_as):
    api = api_as(tech)
    data = {"file": SimpleUploadedFile("log.csv", SESSION_LOG, content_type="text/csv")}
    response = claimed_post(api, SESSION_IMPORT_API, claimed=4096 + FORM_OVERHEAD + 1, data=data)
    assert response.status_code == 413
    assert response.json() == {
        "file": ["The upload is too large; session logs can be at most 4 KB. Nothing was stored."]
    }
    with tenant_context(tenant_a):
        assert not RemoteSession.objects.exists()


def test_session_log_page_over_the_limit_is_a_field_error(tenant_a, tech, client_as):
    client = client_as(tech)
    url = reverse("sessions:session-import")
    assert "Up to 4 KB, 20000 sessions." in client.get(url).content.decode()
    over = SimpleUploadedFile("log.csv", padded_log(4097))
    refused = client.post(url, {"file": over, "format": "auto"})
    assert refused.context["form"].errors["file"] == [
        "The file is 4,097 bytes; session logs can be at most 4,096 bytes. Nothing was stored."
    ]
    assert not SessionImport.all_tenants.exists()

    exact = SimpleUploadedFile("log.csv", padded_log(4096))
    staged = client.post(url, {"file": exact, "format": "auto"})
    assert staged.status_code == 302
    assert SessionImport.all_tenants.get().content == padded_log(4096).decode()

    far = claimed_post(client, url, claimed=4096 + FORM_OVERHEAD + 1, data={"format": "auto"})
    assert far.status_code == 413
    assert "session logs can be at most 4 KB" in far.content.decode()
    assert SessionImport.all_tenants.count() == 1


# --- Ticket attachments --------------------------------------------------------------


def test_attachment_api_at_the_limit_is_stored_and_one_byte_more_is_413(
    tenant_a, tech, api_as, ticket, other_tenant
):
    api = api_as(tech)
    over = SimpleUploadedFile("big.bin", b"x" * 4097)
    refused = api.post(ATTACHMENT_API, {"ticket": ticket.pk, "file": over}, format="multipart")
    assert refused.status_code == 413
    assert refused.json() == {
        "file": [
            "The file is 4,097 bytes; attachments can be at most 4,096 bytes. Nothing was stored."
        ]
    }
    assert not TicketAttachment.all_tenants.exists()
    assert stored_files("ticket-attachments") == []

    exact = SimpleUploadedFile("fits.bin", b"x" * 4096)
    done = api.post(ATTACHMENT_API, {"ticket": ticket.pk, "file": exact}, format="multipart")
    assert done.status_code == 201, done.json()
    assert done.json()["size"] == 4096

    far = claimed_post(
        api, ATTACHMENT_API, claimed=4096 + FORM_OVERHEAD + 1, data={"ticket": ticket.pk}
    )
    assert far.status_code == 413 and "attachments can be at most 4 KB" in far.json()["file"][0]
    assert TicketAttachment.all_tenants.count() == 1
    # Tenant B's ticket is not A's to attach to, whatever the size.
    foreign = api.post(
        ATTACHMENT_API,
        {"ticket": other_tenant[0].pk, "file": SimpleUploadedFile("a.txt", b"a")},
        format="multipart",
    )
    assert foreign.status_code == 400 and "ticket" in foreign.json()


def test_attachment_page_over_the_limit_is_a_field_error(tech, client_as, ticket):
    client = client_as(tech)
    url = reverse("contracts:ticket-detail", args=[ticket.pk])
    over = SimpleUploadedFile("big.bin", b"x" * 4097)
    refused = client.post(url, {"action": "attachment", "file": over})
    assert refused.status_code == 400
    assert "attachments can be at most 4,096 bytes" in refused.content.decode()
    assert not TicketAttachment.all_tenants.exists()
    assert stored_files("ticket-attachments") == []

    exact = SimpleUploadedFile("fits.bin", b"x" * 4096)
    assert client.post(url, {"action": "attachment", "file": exact}).status_code == 302
    assert TicketAttachment.all_tenants.get().size == 4096

    far = claimed_post(client, url, claimed=4096 + FORM_OVERHEAD + 1, data={"action": "x"})
    assert far.status_code == 413
    assert "attachments can be at most 4 KB" in far.content.decode()


# --- Tenant logos --------------------------------------------------------------------


def post_logo(client, tenant, name: str, content: bytes):
    data = settings_data(tenant, default_tax_rate="0", logo=SimpleUploadedFile(name, content))
    return client.post(reverse("tenant-settings"), data)


def test_logo_at_the_limit_is_kept_and_one_byte_more_is_a_field_error(
    tenant_a, staff_a, client_as, other_tenant
):
    client = client_as(staff_a.user(Role.OWNER))
    refused = post_logo(client, tenant_a, "logo.png", png(4097))
    assert refused.context["form"].errors["logo"] == [
        "The file is 4,097 bytes; logos can be at most 4,096 bytes. Nothing was stored."
    ]
    assert not Tenant.objects.get(pk=tenant_a.pk).logo
    assert stored_files("tenant-logos") == []

    saved = post_logo(client, tenant_a, "logo.png", png(4096))
    assert saved.status_code == 302, saved.context["form"].errors
    logo = Tenant.objects.get(pk=tenant_a.pk).logo
    assert logo.size == 4096
    assert _logo_data_uri(Tenant.objects.get(pk=tenant_a.pk)).startswith("data:image/png;base64,")
    assert not Tenant.objects.get(pk=other_tenant[0].tenant_id).logo

    far = claimed_post(
        client, reverse("tenant-settings"), claimed=4096 + FORM_OVERHEAD + 1, data={}
    )
    assert far.status_code == 413 and "logos can be at most 4 KB" in far.content.decode()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "SVG logos are not accepted (they can carry scripts); upload a PNG or JPEG.",
        ),
        (
            "logo.png",
            b"not an image at all",
            "The logo is not a readable image; upload a PNG, JPEG, GIF or WebP file.",
        ),
    ],
)
def test_a_logo_must_be_an_accepted_image(tenant_a, staff_a, client_as, name, content, message):
    client = client_as(staff_a.user(Role.OWNER))
    refused = post_logo(client, tenant_a, name, content)
    assert message in refused.context["form"].errors["logo"]
    assert not Tenant.objects.get(pk=tenant_a.pk).logo
    # The service refuses the same file from any other caller.
    with pytest.raises(services.ValidationError) as error:
        services.tenant_update(tenant=tenant_a, logo=ContentFile(content, name=name))
    assert message in error.value.message_dict["logo"]


def test_an_svg_logo_stored_before_the_check_is_not_printed(tenant_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(
        logo=default_storage.save("tenant-logos/old.svg", ContentFile(b"<svg></svg>"))
    )
    assert _logo_data_uri(Tenant.objects.get(pk=tenant_a.pk)) == ""


def test_a_request_to_a_page_without_uploads_is_bounded_too(settings, staff_a, client_as):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    client = client_as(staff_a.user(Role.BILLING_ADMIN))
    far = claimed_post(
        client, reverse("customer-create"), claimed=1024 + FORM_OVERHEAD + 1, data={}
    )
    assert far.status_code == 413


def test_the_site_admin_checks_logos_the_same_way(rf, tenant_a):
    from django.contrib import admin

    from billing_site.forms import LogoField

    request = rf.get("/admin/")
    request.user = type("Superuser", (), {"is_superuser": True, "is_active": True})()
    form_class = admin.site._registry[Tenant].get_form(request, obj=tenant_a)
    assert isinstance(form_class.base_fields["logo"], LogoField)


def test_the_schema_documents_the_413_of_each_upload_endpoint():
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path in (SESSION_IMPORT_API, ATTACHMENT_API):
        answer = paths[path]["post"]["responses"]["413"]
        schema = answer["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/UploadTooLargeError"}
