"""The import wizard's steps: mapping columns, saved profiles, technician aliases and
ticking new computers, in the browser and through the API."""

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from sessions import importers, services
from sessions.models import Host, ImportProfile, RemoteSession, SessionImport, TechnicianAlias

from .factories import HostFactory

pytestmark = pytest.mark.django_db

IMPORT_URL = "/api/v1/sessions/import/"
PROFILES_URL = "/api/v1/sessions/import-profiles/"

# A tool we do not know: its own header names.
UNKNOWN = (
    "Machine,Agent,Begin,Finish,Description\n"
    "PC-1,alpha-technician,2026-10-12 09:05:00,2026-10-12 09:35:00,Updates\n"
    "PC-2,alpha-technician,2026-10-13 10:00:00,2026-10-13 10:20:00,Printer\n"
)
# The same tool's file, without its header line.
HEADERLESS = "PC-1;2026-10-12 09:05:00;30m;Updates\nPC-2;2026-10-13 10:00:00;20m;Printer\n"
CONSOLE = (
    "\ufeffComputer;ID;Group;Start;End;Duration;Notes\r\n"
    "FRONTDESK-PC;123456789;Harbor;2026-10-05 08:00:00;2026-10-05 08:12:00;12m;Label\r\n"
    "KIOSK-2;987654321;Harbor;2026-10-05 09:00:00;2026-10-05 09:30:00;30m;\r\n"
)


def upload(text: str, name="log.csv"):
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def post_upload(client, text, **fields):
    return client.post(
        reverse("sessions:session-import"), {"file": upload(text), "format": "auto", **fields}
    )


def stage(tenant, actor, text, **kwargs):
    return services.session_import_stage(tenant=tenant, actor=actor, file=text, **kwargs)


def read_fine(result) -> bool:
    """Every row read; the only errors are those of new computers not ticked yet."""
    return all("not chosen to be created" in error.message for error in result.errors)


def generic_rows(count: int, technician: str, hosts: int = 3) -> str:
    lines = ["host,technician,start,end,comment"]
    for number in range(count):
        day, minute = 1 + number // 40, (number % 40) * 20
        start = f"2026-10-{day:02d} {8 + minute // 60:02d}:{minute % 60:02d}:00"
        end = f"2026-10-{day:02d} {8 + minute // 60:02d}:{minute % 60 + 10:02d}:00"
        lines.append(f"PC-{number % hosts},{technician},{start},{end},row {number}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def tech(staff_a):
    user = staff_a.user(Role.TECHNICIAN)
    user.email = "tech@alpha.example"
    user.save(update_fields=["email"])
    return user


# Mapping step ----------------------------------------------------------------------------


def test_known_layout_comes_pre_mapped(tenant_a, tech, frozen):
    proposal = importers.propose_mapping(CONSOLE)
    assert proposal.layout.key == importers.FORMAT_TEAMVIEWER and not proposal.guessed
    assert proposal.columns == ["Computer", "ID", "Group", "Start", "End", "Duration", "Notes"]
    assert proposal.mapping == {
        "host": 0,
        "host_external_id": 1,
        "group": 2,
        "start": 3,
        "end": 4,
        "duration": 5,
        "comment": 6,
    }
    assert proposal.sample[1][0] == "KIOSK-2" and len(proposal.sample) == 2
    staged, result = stage(tenant_a, tech, CONSOLE)
    assert staged.mapping == {} and staged.mapping_source == "" and read_fine(result)


def test_unknown_file_is_guessed_and_must_be_confirmed(client_as, tenant_a, tech, frozen):
    client = client_as(tech)
    response = post_upload(client, UNKNOWN)
    assert response.status_code == 302
    staged = SessionImport.all_tenants.get()
    assert staged.mapping_source == "guessed"
    assert staged.mapping == {"host": 1, "technician": 2, "start": 3, "end": 4, "comment": 5}
    html = client.get(response["Location"]).content.decode()
    assert "were guessed from their headers" in html and "Confirm these columns" in html
    assert '<option value="start" selected>' in html
    # Not importable before the columns are confirmed.
    with pytest.raises(ValidationError) as excinfo:
        services.session_import_confirm(staged=staged, actor=tech, create_hosts=["PC-1"])
    assert "mapping" in excinfo.value.message_dict
    url = reverse("sessions:import-preview", args=[staged.pk])
    posted = {
        "action": "mapping",
        **{f"col_{i}": f for i, f in enumerate(["host", "technician", "start", "end", "comment"])},
    }
    assert client.post(url, posted).status_code == 302
    staged.refresh_from_db()
    assert staged.mapping_source == "user"
    done = client.post(url, {"hosts_shown": "1", "create_host": ["PC-1", "PC-2"]})
    assert done.status_code == 302
    with tenant_context(tenant_a):
        assert sorted(RemoteSession.objects.values_list("comment", flat=True)) == [
            "Printer",
            "Updates",
        ]


def test_headerless_file_shows_numbered_columns(client_as, tenant_a, tech, frozen):
    client = client_as(tech)
    response = post_upload(client, HEADERLESS)
    staged = SessionImport.all_tenants.get()
    assert staged.mapping == {} and staged.mapping_source == "guessed"
    html = client.get(response["Location"]).content.decode()
    for number in (1, 2, 3, 4):
        assert f"Column {number}" in html
    assert "PC-2" in html  # the first rows are shown
    url = reverse("sessions:import-preview", args=[staged.pk])
    mapping = {
        "action": "mapping",
        "col_0": "host",
        "col_1": "start",
        "col_2": "duration",
        "col_3": "comment",
    }
    assert client.post(url, mapping).status_code == 302
    staged.refresh_from_db()
    assert staged.mapping == {"host": 1, "start": 2, "duration": 3, "comment": 4}
    result = services.session_import_preview(staged=staged, actor=tech)
    assert read_fine(result) and [row.duration_seconds for row in result.rows] == [1800, 1200]
    assert [row.host for row in result.rows] == ["PC-1", "PC-2"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (["host", "comment", "end", ""], "Map a column to Start"),
        (["host", "start", "", "comment"], "Map a column to End or to Duration"),
        (
            ["host", "start", "duration", "host"],
            "Host is mapped to two columns: “Column 1” and “Column 4”",
        ),
    ],
    ids=["no-start", "no-end", "twice"],
)
def test_mapping_errors(client_as, tenant_a, tech, frozen, fields, message):
    client = client_as(tech)
    post_upload(client, HEADERLESS)
    staged = SessionImport.all_tenants.get()
    url = reverse("sessions:import-preview", args=[staged.pk])
    posted = {"action": "mapping", **{f"col_{i}": name for i, name in enumerate(fields)}}
    response = client.post(url, posted)
    assert response.status_code == 400
    assert message in response.content.decode()
    staged.refresh_from_db()
    assert staged.mapping_source == "guessed"
    with pytest.raises(ValidationError):
        services.session_import_mapping(staged=staged, actor=tech, columns=fields)


# Profiles --------------------------------------------------------------------------------


def test_profile_saved_from_the_preview_and_reused(client_as, tenant_a, tech, frozen):
    client = client_as(tech)
    post_upload(client, UNKNOWN)
    staged = SessionImport.all_tenants.get()
    url = reverse("sessions:import-preview", args=[staged.pk])
    fields = ["host", "technician", "start", "end", "comment"]
    client.post(url, {"action": "mapping", **{f"col_{i}": f for i, f in enumerate(fields)}})
    assert client.post(url, {"action": "profile", "name": "Our RMM"}).status_code == 302
    with tenant_context(tenant_a):
        profile = ImportProfile.objects.get()
    assert profile.name == "Our RMM" and profile.file_format == "auto"
    assert profile.mapping == {
        "host": "Machine",
        "technician": "Agent",
        "start": "Begin",
        "end": "Finish",
        "comment": "Description",
    }
    # The same name again is a form error.
    again = client.post(url, {"action": "profile", "name": "Our RMM"})
    assert again.status_code == 400 and "exists already" in again.content.decode()

    # The next file of that tool, its columns in another order, read with the profile.
    moved = "Description,Begin,Finish,Machine,Agent\nVPN,2026-10-14 08:00:00,2026-10-14 08:45:00,PC-3,tech@alpha.example\n"
    page = client.get(reverse("sessions:session-import")).content.decode()
    assert "Our RMM" in page and "Import profiles" in page
    response = post_upload(client, moved, profile=profile.pk)
    assert response.status_code == 302
    second = SessionImport.all_tenants.latest("id")
    assert second.mapping_source == "profile"
    assert second.mapping == {"host": 4, "technician": 5, "start": 2, "end": 3, "comment": 1}
    result = services.session_import_preview(staged=second, actor=tech)
    assert read_fine(result) and len(result.errors) == 1
    assert result.rows[0].host == "PC-3" and result.rows[0].comment == "VPN"


def test_profile_missing_columns_are_named(client_as, tenant_a, tech, frozen):
    with tenant_context(tenant_a):
        profile = services.import_profile_save(
            name="RMM", mapping={"host": "Machine", "start": "Begin", "end": "Stop"}, actor=tech
        )
    client = client_as(tech)
    response = post_upload(client, UNKNOWN, profile=profile.pk)
    assert response.status_code == 200
    html = response.content.decode()
    assert "The import profile “RMM” does not fit this file" in html
    assert "“Stop”" in html and "“Begin”" not in html.split("does not fit")[1].split("(")[0]
    assert not SessionImport.all_tenants.exists()


def test_profiles_api_crud_and_tenant_scope(tenant_a, tenant_b, tech, staff_b, api_as, frozen):
    api = api_as(tech)
    body = {"name": "RMM", "mapping": {"host": "Machine", "start": "Begin", "end": "Finish"}}
    created = api.post(PROFILES_URL, body, format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert created.json()["created_by"] == tech.username
    assert api.post(PROFILES_URL, body, format="json").json() == {
        "name": ["An import profile named “RMM” exists already."]
    }
    bad = api.post(PROFILES_URL, {"name": "X", "mapping": {"host": "A"}}, format="json")
    assert bad.status_code == 400 and "start" in bad.json()["mapping"][0]
    changed = api.patch(f"{PROFILES_URL}{pk}/", {"date_format": "DD/MM/YYYY"}, format="json")
    assert changed.status_code == 200 and changed.json()["date_format"] == "DD/MM/YYYY"
    assert [item["name"] for item in api.get(PROFILES_URL).json()["results"]] == ["RMM"]

    other = api_as(staff_b.user(Role.TECHNICIAN))
    assert other.get(f"{PROFILES_URL}{pk}/").status_code == 404
    assert other.delete(f"{PROFILES_URL}{pk}/").status_code == 404
    refused = other.post(
        IMPORT_URL,
        {"file": upload(UNKNOWN), "profile": str(pk), "dry_run": "true"},
        format="multipart",
    )
    assert refused.status_code == 404
    assert (
        other.post(
            IMPORT_URL, {"file": upload(UNKNOWN), "profile": "RMM"}, format="multipart"
        ).status_code
        == 404
    )
    assert api.delete(f"{PROFILES_URL}{pk}/").status_code == 204
    with tenant_context(tenant_a):
        assert not ImportProfile.objects.exists()


def test_profile_delete_on_the_page_is_tenant_scoped(client_as, tenant_a, tenant_b, tech, staff_b):
    with tenant_context(tenant_b):
        theirs = services.import_profile_save(
            name="Theirs", mapping={"start": "Begin", "end": "Finish"}
        )
    with tenant_context(tenant_a):
        ours = services.import_profile_save(name="Ours", mapping={"start": 2, "duration": 3})
    client = client_as(tech)
    url = reverse("sessions:import-profile-delete", args=[theirs.pk])
    assert client.post(url).status_code == 404
    assert client.post(reverse("sessions:import-profile-delete", args=[ours.pk])).status_code == 302
    assert list(ImportProfile.all_tenants.values_list("name", flat=True)) == ["Theirs"]


# Technicians -----------------------------------------------------------------------------


def test_technicians_by_username_email_and_alias(tenant_a, tech, staff_a, staff_b, frozen):
    stranger = staff_b.user(Role.TECHNICIAN)
    with tenant_context(tenant_a):
        services.technician_alias_create(alias="Jane at Alpha", user=tech, actor=tech)
    text = (
        "host,technician,start,end\n"
        f"PC-1,{tech.username},2026-10-12 09:00:00,2026-10-12 09:30:00\n"
        "PC-1,TECH@alpha.example,2026-10-12 10:00:00,2026-10-12 10:30:00\n"
        "PC-1,jane at alpha,2026-10-12 11:00:00,2026-10-12 11:30:00\n"
        "PC-1,Someone Else,2026-10-12 12:00:00,2026-10-12 12:30:00\n"
    )
    result = services.session_import(tenant=tenant_a, file=text, actor=tech, dry_run=True)
    assert [row.status for row in result.rows] == ["new", "new", "new", "error"]
    assert result.unmatched_technicians == ["Someone Else"]
    message = result.errors[0].message
    assert "“Someone Else”" in message and "alias" in message
    # The alias is unique per tenant, whatever the case.
    with tenant_context(tenant_a), pytest.raises(ValidationError) as excinfo:
        services.technician_alias_create(alias="JANE AT ALPHA", user=tech, actor=tech)
    assert "alias" in excinfo.value.message_dict
    # A technician may not give aliases to someone else; nor to a stranger.
    admin = staff_a.user(Role.BILLING_ADMIN)
    with tenant_context(tenant_a), pytest.raises(PermissionDenied):
        services.technician_alias_create(alias="Boss", user=admin, actor=tech)
    with tenant_context(tenant_a), pytest.raises(ValidationError):
        services.technician_alias_create(alias="Boss", user=stranger, actor=admin)


def test_inline_alias_on_the_preview(client_as, tenant_a, tech, frozen):
    HostFactory(tenant=tenant_a, name="PC-1")
    text = "host,technician,start,end\nPC-1,J. Doe (TeamViewer),2026-10-12 09:00:00,2026-10-12 09:30:00\n"
    client = client_as(tech)
    response = post_upload(client, text)
    url = response["Location"]
    html = client.get(url).content.decode()
    assert "Technicians not found" in html and "J. Doe (TeamViewer)" in html
    assert "Fix the errors to import" in html
    saved = client.post(url, {"action": "alias", "alias": "J. Doe (TeamViewer)", "user": tech.pk})
    assert saved.status_code == 302
    with tenant_context(tenant_a):
        assert TechnicianAlias.objects.get().user == tech
    html = client.get(url).content.decode()
    assert "Technicians not found" not in html and "Import 1 session" in html
    assert client.post(url).status_code == 302
    with tenant_context(tenant_a):
        assert RemoteSession.objects.get().technician == tech


# Hosts -----------------------------------------------------------------------------------


def test_new_hosts_are_listed_and_only_ticked_ones_created(client_as, tenant_a, tech, frozen):
    with tenant_context(tenant_a):
        # Matched by its device id although the file names it differently.
        known = HostFactory(tenant=tenant_a, name="Front desk", external_id="123456789")
    client = client_as(tech)
    response = post_upload(client, CONSOLE)
    url = response["Location"]
    staged = SessionImport.all_tenants.get()
    result = services.session_import_preview(staged=staged, actor=tech)
    assert [(h["name"], h["create"]) for h in result.new_hosts] == [("KIOSK-2", False)]
    # Not ticked: the row is an error naming the computer, so nothing can be imported.
    assert [row.status for row in result.rows] == ["new", "error"]
    assert [(e.line, e.column) for e in result.errors] == [(3, "Computer")]
    assert "“KIOSK-2” is found neither by device id nor by name" in result.errors[0].message
    html = client.get(url).content.decode()
    assert (
        "New computers" in html
        and 'value="KIOSK-2"' in html
        and "checked" not in html.split('name="create_host" value="KIOSK-2"')[1].split(">")[0]
    )
    assert "Fix the errors to import" in html and "1 not ticked" in html

    # Confirmed without ticking: refused, nothing written.
    refused = client.post(url, {"hosts_shown": "1"})
    assert refused.status_code == 200
    assert "Nothing was imported" in refused.content.decode()
    with tenant_context(tenant_a):
        assert not RemoteSession.objects.exists() and not Host.objects.filter(name="KIOSK-2")

    # Ticked: both rows are imported and KIOSK-2 is made with its device id.
    assert client.post(url, {"action": "hosts", "create_host": "kiosk-2"}).status_code == 302
    html = client.get(url).content.decode()
    assert "Import 2 sessions" in html and "1 not ticked" not in html
    assert client.post(url, {"hosts_shown": "1", "create_host": "KIOSK-2"}).status_code == 302
    with tenant_context(tenant_a):
        assert Host.objects.get(name="KIOSK-2").external_id == "987654321"
        assert sorted(RemoteSession.objects.values_list("host__name", flat=True)) == [
            "Front desk",
            "KIOSK-2",
        ]
        assert RemoteSession.objects.filter(host=known).count() == 1

    # The same file again: nothing new, no computer to tick.
    again = services.session_import_preview(staged=stage(tenant_a, tech, CONSOLE)[0], actor=tech)
    assert (again.new_hosts, again.duplicates, again.sessions_created) == ([], 2, 0)


def test_row_errors_still_import_nothing_with_unticked_hosts(tenant_a, tech, frozen):
    text = (
        "host,technician,start,end\n"
        "PC-1,alpha-technician,2026-10-12 09:00:00,2026-10-12 09:30:00\n"
        "PC-2,alpha-technician,2026-10-12 10:00:00,2026-10-12 09:30:00\n"
    )
    staged, _ = stage(tenant_a, tech, text)
    result = services.session_import_confirm(staged=staged, actor=tech, create_hosts=["PC-1"])
    assert not result.imported and [e.line for e in result.errors] == [3]
    with tenant_context(tenant_a):
        assert not Host.objects.exists() and not RemoteSession.objects.exists()


def test_teamviewer_style_path_without_preview_creates_hosts(tenant_a, tech, frozen):
    # create_hosts left out (as the TeamViewer pull does): every new computer is created.
    result = services.session_import(tenant=tenant_a, file=CONSOLE, actor=tech)
    assert result.imported and result.hosts_created == 2


# API parity ------------------------------------------------------------------------------


def test_api_mapping_by_header_and_number(tenant_a, tech, api_as, frozen):
    api = api_as(tech)
    mapping = {"host": "Machine", "technician": 2, "start": "begin", "end": "Finish"}
    preview = api.post(
        IMPORT_URL,
        {"file": upload(UNKNOWN), "mapping": json.dumps(mapping), "dry_run": "true"},
        format="multipart",
    )
    assert preview.status_code == 200, preview.json()
    body = preview.json()
    assert [h["name"] for h in body["new_hosts"]] == ["PC-1", "PC-2"]
    assert body["ignored_columns"] == ["Description"]
    missing = api.post(
        IMPORT_URL,
        {"file": upload(UNKNOWN), "mapping": json.dumps({"start": "Start", "end": 9})},
        format="multipart",
    )
    assert missing.status_code == 400
    assert "“Start”, “column 9”" in missing.json()["file"][0]
    # Only one of the two new computers named: the other's row is an error, nothing written.
    partial = api.post(
        IMPORT_URL,
        {"file": upload(UNKNOWN), "mapping": json.dumps(mapping), "create_hosts": "pc-1"},
        format="multipart",
    )
    assert partial.status_code == 400, partial.json()
    assert [(e["line"], e["column"]) for e in partial.json()["errors"]] == [(3, "Machine")]
    assert "“PC-2”" in partial.json()["errors"][0]["message"]
    # Both named, as the dry run listed them: imported.
    done = api.post(
        IMPORT_URL,
        {
            "file": upload(UNKNOWN),
            "mapping": json.dumps(mapping),
            "create_hosts": [h["name"] for h in body["new_hosts"]],
        },
        format="multipart",
    )
    assert done.status_code == 201, done.json()
    assert (done.json()["sessions_created"], done.json()["hosts_created"]) == (2, 2)


def test_api_profile_by_name(tenant_a, tech, api_as, frozen):
    with tenant_context(tenant_a):
        services.import_profile_save(
            name="RMM",
            mapping={"host": "Machine", "technician": "Agent", "start": "Begin", "end": "Finish"},
        )
    api = api_as(tech)
    both = {"create_hosts": ["PC-1", "PC-2"]}
    done = api.post(
        IMPORT_URL, {"file": upload(UNKNOWN), "profile": "RMM", **both}, format="multipart"
    )
    assert done.status_code == 201 and done.json()["sessions_created"] == 2
    again = api.post(IMPORT_URL, {"file": upload(UNKNOWN), "profile": "RMM"}, format="multipart")
    assert again.json()["sessions_created"] == 0 and again.json()["duplicates"] == 2
    bad = api.post(
        IMPORT_URL,
        {"file": upload(CONSOLE), "profile": "RMM", "dry_run": "true"},
        format="multipart",
    )
    assert bad.status_code == 400 and "“Machine”" in bad.json()["profile"][0]


# Queries ---------------------------------------------------------------------------------


def test_preview_queries_do_not_grow_with_rows(client_as, tenant_a, tech, frozen):
    with tenant_context(tenant_a):
        services.technician_alias_create(alias="Tech Alias", user=tech, actor=tech)
    client = client_as(tech)

    def count(rows: int) -> int:
        text = generic_rows(rows, "Tech Alias")
        response = post_upload(client, text)
        url = response["Location"]
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured.captured_queries)

    assert count(30) == count(90)
