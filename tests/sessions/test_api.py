"""Sessions API wiring: roles, ownership, filters, timer actions, import, other tenants."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from sessions.models import Host, RemoteSession

from .conftest import NOW
from .factories import HostFactory, HostGroupFactory, RemoteSessionFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/sessions/"


def iso(value):
    return value.isoformat().replace("+00:00", "Z")


def test_technician_logs_and_sees_sessions(tenant_a, tech, api_as, frozen):
    host = HostFactory(tenant=tenant_a)
    api = api_as(tech)
    response = api.post(
        URL,
        {
            "host": host.pk,
            "started_at": "2026-11-16T09:00:00+01:00",
            "ended_at": "2026-11-16T09:15:18+01:00",
            "comment": "Installed Windows updates.",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["technician"] == tech.pk and body["duration_seconds"] == 918
    assert body["duration"] == "15 min 18 s" and body["billed"] is False
    assert "invoice" not in body  # technicians do not see billing
    listing = api.get(URL).json()
    assert listing["count"] == 1 and listing["results"][0]["host_name"] == host.name


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"started_at": "2026-11-16T09:00:00Z", "ended_at": "2026-11-16T08:00:00Z"}, "ended_at"),
        ({"started_at": "2026-11-16T10:00:00Z", "ended_at": "2026-11-16T12:00:00Z"}, "ended_at"),
        ({"started_at": "2026-11-14T09:00:00Z", "ended_at": "2026-11-15T10:00:00Z"}, "ended_at"),
        ({"started_at": "2026-11-16T09:00:00Z"}, "ended_at"),
        ({"started_at": "2026-11-16T08:00:00Z", "ended_at": "2026-11-16T09:00:00Z", "x": 1}, "x"),
    ],
    ids=["end-before-start", "future", "over-24h", "missing-end", "unknown-field"],
)
def test_bad_sessions_are_400_with_field_errors(tenant_a, tech, api_as, frozen, payload, field):
    host = HostFactory(tenant=tenant_a)
    response = api_as(tech).post(URL, {"host": host.pk, **payload}, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert RemoteSession.all_tenants.count() == 0


def test_host_of_another_tenant_is_not_found(tenant_a, tenant_b, tech, api_as, frozen):
    foreign = HostFactory(tenant=tenant_b)
    response = api_as(tech).post(
        URL,
        {"host": foreign.pk, "started_at": iso(NOW - dt.timedelta(hours=2)), "ended_at": iso(NOW)},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"host": ["Computer not found."]}


def test_technician_cannot_change_another_technicians_session(
    tenant_a, tech, tech2, admin_a, api_as, frozen
):
    session = RemoteSessionFactory(tenant=tenant_a, technician=tech2)
    api = api_as(tech)
    assert api.get(f"{URL}{session.pk}/").status_code == 200
    assert api.patch(f"{URL}{session.pk}/", {"comment": "x"}, format="json").status_code == 403
    assert api.delete(f"{URL}{session.pk}/").status_code == 403
    assert (
        api.post(
            URL,
            {
                "host": session.host_id,
                "technician": tech2.pk,
                "started_at": iso(NOW - dt.timedelta(hours=3)),
                "ended_at": iso(NOW - dt.timedelta(hours=2)),
            },
            format="json",
        ).status_code
        == 403
    )
    admin = api_as(admin_a)
    response = admin.patch(f"{URL}{session.pk}/", {"comment": "Checked"}, format="json")
    assert response.status_code == 200 and response.json()["comment"] == "Checked"
    assert admin.delete(f"{URL}{session.pk}/").status_code == 204


def test_accountant_reads_only_and_sees_invoice(tenant_a, staff_a, api_as, bill, frozen):
    session = bill(RemoteSessionFactory(tenant=tenant_a))
    api = api_as(staff_a.user(Role.ACCOUNTANT))
    body = api.get(f"{URL}{session.pk}/").json()
    assert body["billed"] is True and body["invoice"] == session.invoice_line.invoice_id
    assert api.patch(f"{URL}{session.pk}/", {"comment": "x"}, format="json").status_code == 403
    assert api.post(f"{URL}start/", {"host": session.host_id}, format="json").status_code == 403
    tech_view = api_as(staff_a.user(Role.TECHNICIAN)).get(f"{URL}{session.pk}/").json()
    assert tech_view["billed"] is True and "invoice" not in tech_view


def test_billed_session_is_400_on_change(tenant_a, admin_a, api_as, bill, frozen):
    session = bill(RemoteSessionFactory(tenant=tenant_a))
    api = api_as(admin_a)
    response = api.patch(f"{URL}{session.pk}/", {"billable": False}, format="json")
    assert response.status_code == 400
    assert "on an invoice" in response.json()["non_field_errors"][0]
    assert api.delete(f"{URL}{session.pk}/").status_code == 400


def test_timer_actions(tenant_a, tech, api_as, frozen):
    host = HostFactory(tenant=tenant_a)
    api = api_as(tech)
    started = api.post(f"{URL}start/", {"host": host.pk, "comment": "Call"}, format="json")
    assert started.status_code == 201 and started.json()["is_running"] is True
    again = api.post(f"{URL}start/", {"host": host.pk}, format="json")
    assert again.status_code == 400 and "already running" in again.json()["host"][0]
    assert api.get(URL, {"running": "true"}).json()["count"] == 1
    frozen.shift(dt.timedelta(minutes=15, seconds=18))
    stopped = api.post(f"{URL}{started.json()['id']}/stop/", {}, format="json")
    assert stopped.status_code == 200
    assert stopped.json()["duration"] == "15 min 18 s" and stopped.json()["is_running"] is False


def test_filters(tenant_a, tech, tech2, admin_a, api_as, bill, frozen):
    acme = OrganizationFactory(tenant=tenant_a, name="ACME")
    group = HostGroupFactory(tenant=tenant_a, organization=acme)
    jane = HostFactory(tenant=tenant_a, group=group)
    loose = HostFactory(tenant=tenant_a, group=None, organization=acme)
    first = RemoteSessionFactory(
        tenant=tenant_a, host=jane, technician=tech, started_at=NOW - dt.timedelta(days=3)
    )
    # Explicit starts after the cutoff: the factory's default start moves back with its
    # sequence, so after enough sessions made by earlier tests it fell before the cutoff.
    day_ago = NOW - dt.timedelta(days=1)
    second = bill(
        RemoteSessionFactory(tenant=tenant_a, host=jane, technician=tech2, started_at=day_ago)
    )
    third = RemoteSessionFactory(tenant=tenant_a, host=loose, technician=tech, started_at=day_ago)
    other = RemoteSessionFactory(tenant=tenant_a, started_at=day_ago)
    api = api_as(admin_a)

    def ids(**params):
        response = api.get(URL, params)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids(host=jane.pk) == {first.pk, second.pk}
    assert ids(group=group.pk) == {first.pk, second.pk}
    assert ids(organization=acme.pk) == {first.pk, second.pk, third.pk}
    assert ids(technician=tech.pk) == {first.pk, third.pk}
    assert ids(billed="true") == {second.pk}
    assert ids(billed="false") == {first.pk, third.pk, other.pk}
    cutoff = iso(NOW - dt.timedelta(days=2))
    assert ids(started_before=cutoff) == {first.pk}
    assert first.pk not in ids(started_after=cutoff)


def test_other_tenant_sees_nothing(tenant_a, staff_b, api_as, tenant_b):
    session = RemoteSessionFactory(tenant=tenant_a)
    api = api_as(staff_b.user(Role.OWNER))
    assert api.get(URL).json()["count"] == 0
    assert api.get(f"{URL}{session.pk}/").status_code == 404
    assert api.patch(f"{URL}{session.pk}/", {"comment": "x"}, format="json").status_code == 404
    assert api.post(f"{URL}{session.pk}/stop/", {}, format="json").status_code == 404
    assert api.get(f"/api/v1/hosts/{session.host_id}/").status_code == 404
    assert api.get("/api/v1/host-groups/").json()["count"] == 0
    assert api.get(URL, {"host": session.host_id}).status_code == 400


def test_list_query_count_is_flat(tenant_a, admin_a, api_as, bill, django_assert_num_queries):
    api = api_as(admin_a)
    for _ in range(3):
        bill(RemoteSessionFactory(tenant=tenant_a))
    # token, membership, count, page (host, group, technician, invoice line joined)
    with django_assert_num_queries(4):
        assert api.get(URL).json()["count"] == 3
    for _ in range(20):
        RemoteSessionFactory(tenant=tenant_a)
    with django_assert_num_queries(4):
        assert api.get(URL).json()["count"] == 23


def test_hosts_and_groups(tenant_a, tenant_b, tech, admin_a, staff_a, api_as):
    acme = OrganizationFactory(tenant=tenant_a)
    admin = api_as(admin_a)
    group = admin.post("/api/v1/host-groups/", {"name": "ACME", "organization": acme.pk})
    assert group.status_code == 201, group.json()
    foreign = OrganizationFactory(tenant=tenant_b)
    bad = admin.post("/api/v1/host-groups/", {"name": "X", "organization": foreign.pk})
    assert bad.status_code == 400 and bad.json() == {"organization": ["Customer not found."]}
    technician = api_as(tech)
    assert technician.post("/api/v1/host-groups/", {"name": "Nope"}).status_code == 403
    host = technician.post(
        "/api/v1/hosts/", {"name": "Jane_OFFICE_121", "group": group.json()["id"]}
    )
    assert host.status_code == 201, host.json()
    assert host.json()["organization"] == acme.pk and host.json()["group_name"] == "ACME"
    duplicate = technician.post("/api/v1/hosts/", {"name": "jane_office_121"})
    assert duplicate.status_code == 400 and "name" in duplicate.json()
    renamed = technician.patch(f"/api/v1/hosts/{host.json()['id']}/", {"notes": "Desk 4"})
    assert renamed.status_code == 200 and renamed.json()["notes"] == "Desk 4"
    accountant = api_as(staff_a.user(Role.ACCOUNTANT))
    assert accountant.get("/api/v1/hosts/", {"group": group.json()["id"]}).json()["count"] == 1
    assert accountant.post("/api/v1/hosts/", {"name": "X"}).status_code == 403


def test_patch_answers_names_of_missing_relations_as_null(tenant_a, admin_a, api_as):
    """A PATCH response has every field of the schema: a host without a group or a
    customer, and a group without a customer, name them null (they used to be left out)."""
    host = HostFactory(tenant=tenant_a, group=None, organization=None)
    group = HostGroupFactory(tenant=tenant_a, organization=None)
    api = api_as(admin_a)
    patched = api.patch(f"/api/v1/hosts/{host.pk}/", {"notes": "Desk 4"}, format="json")
    assert patched.status_code == 200, patched.json()
    assert patched.json()["group_name"] is None and patched.json()["organization_name"] is None
    patched = api.patch(f"/api/v1/host-groups/{group.pk}/", {"name": "Spare"}, format="json")
    assert patched.status_code == 200, patched.json()
    assert patched.json()["organization_name"] is None


IMPORT_URL = f"{URL}import/"
GOOD = (
    "host,group,technician,start,end,comment,external_id\n"
    "Jane_OFFICE_121,ACME,alpha-technician,2026-10-12 09:05:00,2026-10-12 09:14:40,Updates,RS-1\n"
)
BAD = GOOD + "Jane_OFFICE_121,ACME,ghost,2026-10-13 09:00:00,2026-10-13 09:10:00,x,RS-2\n"


def upload(text, name="sessions.csv"):
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_import_dry_run_then_import(tenant_a, tech, api_as, frozen):
    api = api_as(tech)
    jane = {"create_hosts": "Jane_OFFICE_121"}
    preview = api.post(
        IMPORT_URL, {"file": upload(BAD), "dry_run": "true", **jane}, format="multipart"
    )
    assert preview.status_code == 200
    body = preview.json()
    assert body["dry_run"] is True and body["imported"] is False
    assert body["errors"] == [
        {
            "line": 3,
            "column": "technician",
            "message": "“ghost” is not a username of a staff member of this MSP (nor an "
            "e-mail, full name or alias); add “ghost” as an alias of the right person.",
        }
    ]
    assert [row["status"] for row in body["rows"]] == ["new", "error"]

    failed = api.post(IMPORT_URL, {"file": upload(BAD), **jane}, format="multipart")
    assert failed.status_code == 400 and failed.json()["errors"][0]["line"] == 3
    with tenant_context(tenant_a):
        assert not RemoteSession.objects.exists() and not Host.objects.exists()

    done = api.post(
        IMPORT_URL, {"file": upload(GOOD), "format": "generic", **jane}, format="multipart"
    )
    assert done.status_code == 201
    assert done.json()["sessions_created"] == 1 and done.json()["hosts_created"] == 1
    again = api.post(IMPORT_URL, {"file": upload(GOOD)}, format="multipart")
    assert again.status_code == 201 and again.json()["duplicates"] == 1
    assert again.json()["rows"][0]["notes"] == ["Already imported."]


def test_import_creates_no_computer_unless_named(tenant_a, tech, api_as, frozen):
    api = api_as(tech)
    typo = GOOD + "Jane_OFICE_121,ACME,alpha-technician,2026-10-13 09:00,2026-10-13 09:10,x,RS-3\n"
    # create_hosts left out: no computer is created; each unknown one is a row error.
    refused = api.post(IMPORT_URL, {"file": upload(typo)}, format="multipart")
    assert refused.status_code == 400
    errors = refused.json()["errors"]
    assert [(e["line"], e["column"]) for e in errors] == [(2, "host"), (3, "host")]
    assert (
        "Computer “Jane_OFFICE_121” is found neither by device id nor by name"
        in (errors[0]["message"])
    )
    assert "“Jane_OFICE_121”" in errors[1]["message"] and "create_hosts" in errors[1]["message"]
    with tenant_context(tenant_a):
        assert not Host.objects.exists() and not RemoteSession.objects.exists()
    # A dry run lists the names to pass in create_hosts.
    dry = api.post(IMPORT_URL, {"file": upload(typo), "dry_run": "true"}, format="multipart")
    assert dry.status_code == 200
    assert [(h["name"], h["rows"], h["create"]) for h in dry.json()["new_hosts"]] == [
        ("Jane_OFFICE_121", 1, False),
        ("Jane_OFICE_121", 1, False),
    ]
    # The typo corrected and the real computer named: imported, one computer.
    fixed = typo.replace("Jane_OFICE_121", "Jane_OFFICE_121")
    done = api.post(
        IMPORT_URL, {"file": upload(fixed), "create_hosts": "jane_office_121"}, format="multipart"
    )
    assert done.status_code == 201, done.json()
    assert (done.json()["sessions_created"], done.json()["hosts_created"]) == (2, 1)
    # "*" asks for every new computer explicitly.
    star = api.post(
        IMPORT_URL,
        {
            "file": upload(GOOD.replace("Jane_OFFICE_121", "PC-9").replace("RS-1", "RS-9")),
            "create_hosts": "*",
        },
        format="multipart",
    )
    assert star.status_code == 201 and star.json()["hosts_created"] == 1


def test_import_bad_zone_and_file(tenant_a, tech, api_as, staff_a, frozen):
    api = api_as(tech)
    zone = api.post(
        IMPORT_URL, {"file": upload(GOOD), "time_zone": "Nowhere/City"}, format="multipart"
    )
    assert zone.status_code == 400 and "time_zone" in zone.json()
    junk = api.post(IMPORT_URL, {"file": upload("a,b\n1,2\n")}, format="multipart")
    assert junk.status_code == 400 and "file" in junk.json()
    accountant = api_as(staff_a.user(Role.ACCOUNTANT))
    assert (
        accountant.post(IMPORT_URL, {"file": upload(GOOD)}, format="multipart").status_code == 403
    )
