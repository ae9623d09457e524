"""Importing session logs: generic CSV and TeamViewer exports, all or nothing, no duplicates."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from sessions import services
from sessions.models import Host, HostGroup, ImportStatus, RemoteSession

from .factories import HostFactory, technician_in

pytestmark = pytest.mark.django_db

GENERIC = (
    "host,group,technician,start,end,comment,external_id\n"
    "Jane_OFFICE_121,ACME,alpha-technician,2026-10-12 09:05:00,2026-10-12 09:14:40,"
    "Installed Windows updates.,RS-1\n"
    "Jane_OFFICE_121,ACME,alpha-technician,2026-10-19T14:20:00+02:00,"
    "2026-10-19T14:25:38+02:00,Printer,RS-2\n"
    'Joseph_OFFICE_121,ACME,alpha-billing_admin,2026-10-20 10:00:00,2026-10-20 10:30:00,"Mail, calendar",\n'
)

TEAMVIEWER = (
    "User;Computer;ID;Group;Start;End;Duration;Billing state;Notes;Connection ID\n"
    "alpha-technician;FRONTDESK-PC;123456789;Harbor Logistics;05.10.2026 08:00;"
    "05.10.2026 08:12;12m;Not billed;Label printer;{c1}\n"
    "alpha-technician;FRONTDESK-PC;123456789;Harbor Logistics;2026-10-06 13:00:00;"
    "2026-10-06 13:45:30;45m;Not billed;VPN;{c2}\n"
)


def run(tenant, text, **kwargs):
    kwargs.setdefault("actor", None)
    return services.session_import(tenant=tenant, file=text.encode(), **kwargs)


@pytest.fixture
def people(staff_a):
    return staff_a.user(Role.TECHNICIAN), staff_a.user(Role.BILLING_ADMIN)


def test_generic_file_is_imported(tenant_a, tenant_b, people, frozen):
    acme = OrganizationFactory(tenant=tenant_a, name="Acme")
    OrganizationFactory(tenant=tenant_b, name="ACME")
    preview = run(tenant_a, GENERIC, dry_run=True)
    assert preview.ok and preview.format == "generic" and preview.zone == "Europe/Paris"
    assert (preview.sessions_created, preview.hosts_created, preview.groups_created) == (3, 2, 1)
    with tenant_context(tenant_a):
        assert RemoteSession.objects.count() == 0

    result = run(tenant_a, GENERIC)
    assert result.imported and result.sessions_created == 3
    with tenant_context(tenant_a):
        group = HostGroup.objects.get()
        assert (group.name, group.organization) == ("ACME", acme)
        jane = Host.objects.get(name="Jane_OFFICE_121")
        assert jane.group == group and jane.organization == acme
        sessions = list(RemoteSession.objects.filter(host=jane).order_by("started_at"))
        # 09:05 in Paris (UTC+2 in October) is 07:05 UTC; the offset one is taken as written.
        assert sessions[0].started_at == dt.datetime(2026, 10, 12, 7, 5, tzinfo=dt.UTC)
        assert sessions[1].started_at == dt.datetime(2026, 10, 19, 12, 20, tzinfo=dt.UTC)
        assert sum(s.duration_seconds for s in sessions) == 918  # 15 min 18 s
        assert {s.source for s in sessions} == {"import"}
        joseph = RemoteSession.objects.get(host__name="Joseph_OFFICE_121")
        assert joseph.technician == people[1] and joseph.comment == "Mail, calendar"
    with tenant_context(tenant_b):
        assert not RemoteSession.objects.exists() and not Host.objects.exists()


def test_one_bad_row_imports_nothing(tenant_a, people, frozen):
    bad = GENERIC + "PC-9,ACME,alpha-technician,2026-10-21 10:00:00,2026-10-21 09:00:00,x,\n"
    result = run(tenant_a, bad)
    assert not result.imported and result.sessions_created == 3
    assert [(e.line, e.column, e.message) for e in result.errors] == [
        (5, "end", "The end must be after the start.")
    ]
    with tenant_context(tenant_a):
        assert not RemoteSession.objects.exists()
        assert not Host.objects.exists() and not HostGroup.objects.exists()


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("PC,G,alpha-technician,yesterday,2026-10-21 09:00:00", "start", "not an ISO 8601"),
        ("PC,G,nobody,2026-10-21 09:00:00,2026-10-21 10:00:00", "technician", "not a username"),
        ("PC,G,alpha-technician,2026-10-20 09:00:00,2026-10-21 10:00:00", "end", "24 h"),
        ("PC,G,alpha-technician,2026-11-16 11:00:00,2026-11-16 13:30:00", "end", "future"),
        (",G,alpha-technician,2026-10-21 09:00:00,2026-10-21 10:00:00", "host", "required"),
        ("PC,G,alpha-technician,2026-10-25 02:30:00,2026-10-25 03:30:00", "start", "twice"),
        ("PC,G,alpha-technician,2026-03-29 02:30:00,2026-03-29 03:30:00", "start", "not exist"),
    ],
    ids=["bad-time", "unknown-tech", "over-24h", "future", "no-host", "dst-fold", "dst-gap"],
)
def test_row_errors_name_line_column_reason(tenant_a, people, frozen, row, column, message):
    text = "host,group,technician,start,end\nPC-OK,G,alpha-technician,2026-10-01 09:00,2026-10-01 09:30\n"
    result = run(tenant_a, text + row + "\n")
    assert not result.imported
    [error] = result.errors
    assert (error.line, error.column) == (3, column)
    assert message in error.message
    assert result.rows[0].status == "new" and result.rows[1].status == "error"


def test_same_file_twice_creates_no_duplicates(tenant_a, people, frozen):
    assert run(tenant_a, GENERIC).sessions_created == 3
    again = run(tenant_a, GENERIC)
    assert again.imported and again.sessions_created == 0 and again.duplicates == 3
    assert {row.notes[0] for row in again.rows} == {"Already imported."}
    with tenant_context(tenant_a):
        assert RemoteSession.objects.count() == 3


def test_duplicates_without_external_id_by_host_start_end(tenant_a, people, frozen):
    text = (
        "host,technician,start,end\n"
        "PC-1,alpha-technician,2026-10-01 09:00,2026-10-01 09:30\n"
        "pc-1,alpha-technician,2026-10-01 09:00,2026-10-01 09:30\n"
    )
    first = run(tenant_a, text)
    assert first.sessions_created == 1 and first.duplicates == 1
    assert first.rows[1].notes == ["Same session as line 2 of this file."]
    assert run(tenant_a, text).sessions_created == 0
    with tenant_context(tenant_a):
        assert Host.objects.count() == 1


def test_teamviewer_export(tenant_a, people, frozen):
    host = HostFactory(tenant=tenant_a, name="Old-Name", external_id="123456789", group=None)
    text = TEAMVIEWER.format(c1="{AAA-1}", c2="{AAA-2}")
    result = run(tenant_a, text)
    assert result.format == "teamviewer" and result.zone == "UTC"
    assert result.imported and result.sessions_created == 2 and result.hosts_created == 0
    assert result.ignored_columns == ["Billing state"]
    with tenant_context(tenant_a):
        sessions = list(RemoteSession.objects.order_by("started_at"))
        # Matched by the TeamViewer ID, not the (changed) name; times read as UTC.
        assert {s.host for s in sessions} == {host}
        assert sessions[0].started_at == dt.datetime(2026, 10, 5, 8, 0, tzinfo=dt.UTC)
        assert [s.duration_seconds for s in sessions] == [720, 2730]
        assert [s.comment for s in sessions] == ["Label printer", "VPN"]
        assert sessions[0].external_id == "teamviewer:{AAA-1}"
    assert run(tenant_a, text).duplicates == 2


def test_teamviewer_new_device_and_zone_choice(tenant_a, people, frozen):
    text = (
        "Username,Device name,TeamViewer ID,Start date,End date,Notes\n"
        "alpha-technician,KIOSK,987654321,10/07/2026 9:00 AM,10/07/2026 9:20 AM,Kiosk reset\n"
    )
    # 10/07 is 10 July or 7 October: refused until the date format is chosen.
    with pytest.raises(services.ImportSettingsRequired) as excinfo:
        run(tenant_a, text, zone="Europe/Paris")
    assert excinfo.value.date_format_choices == ["DD/MM/YYYY", "MM/DD/YYYY"]
    result = run(tenant_a, text, zone="Europe/Paris", date_format="MM/DD/YYYY")
    assert result.imported and result.hosts_created == 1
    with tenant_context(tenant_a):
        session = RemoteSession.objects.get()
        assert session.host.external_id == "987654321" and session.host.group is None
        assert session.started_at == dt.datetime(2026, 10, 7, 7, 0, tzinfo=dt.UTC)


def test_chosen_zone_reads_naive_times(tenant_a, people, frozen):
    text = "host,technician,start,end\nPC,alpha-technician,2026-10-01 09:00,2026-10-01 09:30\n"
    run(tenant_a, text, zone="America/New_York")
    with tenant_context(tenant_a):
        assert RemoteSession.objects.get().started_at == dt.datetime(
            2026, 10, 1, 13, 0, tzinfo=dt.UTC
        )
    with pytest.raises(ValidationError) as excinfo:
        run(tenant_a, text, zone="Mars/Olympus")
    assert "time_zone" in excinfo.value.message_dict


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("name,when\nx,y\n", "match neither"),
        ("host,technician,start,end\n", "no sessions"),
    ],
    ids=["empty", "unknown-columns", "header-only"],
)
def test_unreadable_files(tenant_a, people, frozen, text, message):
    with pytest.raises(ValidationError) as excinfo:
        run(tenant_a, text)
    assert message in excinfo.value.message_dict["file"][0]


def test_forced_format_names_missing_columns(tenant_a, people, frozen):
    with pytest.raises(ValidationError) as excinfo:
        run(tenant_a, "host,technician,end\nPC,alpha-technician,2026-10-01 10:00\n", fmt="generic")
    assert "Missing column(s): start" in excinfo.value.message_dict["file"][0]
    # Without a technician column the rows are the chosen technician's (here: nobody).
    result = run(tenant_a, "host,start,end\nPC,2026-10-01 09:00,2026-10-01 10:00\n", fmt="generic")
    assert [error.message for error in result.errors] == [
        "The file names no technician for this row; choose one on the import form."
    ]


def test_technician_by_email_semicolons_and_bom(tenant_a, people, frozen):
    tech = people[0]
    tech.email = "theo@alpha.test"
    tech.save()
    text = "\ufeffhost;technician;start;end\nPC;THEO@alpha.test;2026-10-01 09:00;2026-10-01 09:30\n"
    result = run(tenant_a, text)
    assert result.imported
    with tenant_context(tenant_a):
        assert RemoteSession.objects.get().technician == tech


def test_technicians_import_only_their_own_rows(tenant_a, people, frozen):
    tech, admin = people
    text = GENERIC.replace("alpha-billing_admin", "alpha-technician")
    assert run(tenant_a, text, actor=tech, dry_run=True).ok
    result = run(tenant_a, GENERIC, actor=tech)
    assert not result.imported
    assert [e.line for e in result.errors] == [4]
    assert "your own sessions" in result.errors[0].message
    assert run(tenant_a, GENERIC, actor=admin).imported


def test_other_tenants_staff_are_not_technicians(tenant_a, tenant_b, people, staff_b, frozen):
    staff_b.user(Role.TECHNICIAN)
    text = "host,technician,start,end\nPC,bravo-technician,2026-10-01 09:00,2026-10-01 09:30\n"
    result = run(tenant_a, text)
    assert not result.imported and result.errors[0].column == "technician"


def test_stage_preview_confirm_once(tenant_a, people, frozen):
    admin = people[1]
    staged, preview = services.session_import_stage(
        tenant=tenant_a, actor=admin, file=GENERIC.encode(), filename="october.csv"
    )
    assert staged.status == ImportStatus.PENDING
    # New computers are created only when ticked (none by default): until then, their rows
    # are errors naming them.
    assert [host["name"] for host in preview.new_hosts] == ["Jane_OFFICE_121", "Joseph_OFFICE_121"]
    assert [(error.line, error.column) for error in preview.errors] == [
        (2, "host"),
        (3, "host"),
        (4, "host"),
    ]
    assert "“Joseph_OFFICE_121”" in preview.errors[2].message
    result = services.session_import_confirm(
        staged=staged, actor=admin, create_hosts=["jane_office_121", "Joseph_OFFICE_121"]
    )
    assert result.imported and result.sessions_created == 3
    staged.refresh_from_db()
    assert (staged.status, staged.sessions_created, staged.hosts_created) == ("imported", 3, 2)
    with pytest.raises(ValidationError):
        services.session_import_confirm(staged=staged, actor=admin)
    with tenant_context(tenant_a):
        assert RemoteSession.objects.count() == 3


def test_confirm_rechecks_and_keeps_pending_on_errors(tenant_a, people, frozen):
    tech, admin = people
    text = "host,technician,start,end\nPC,alpha-technician,2026-10-01 09:00,2026-10-01 09:30\n"
    staged, _ = services.session_import_stage(tenant=tenant_a, actor=admin, file=text)
    # The technician leaves between preview and confirmation.
    tech.memberships.all().delete()
    result = services.session_import_confirm(staged=staged, actor=admin, create_hosts=["PC"])
    assert not result.imported and result.errors[0].column == "technician"
    staged.refresh_from_db()
    assert staged.status == ImportStatus.PENDING


def test_only_uploader_or_manager_confirms(tenant_a, people, frozen):
    from django.core.exceptions import PermissionDenied

    tech, admin = people
    other = technician_in(tenant_a)
    staged, _ = services.session_import_stage(
        tenant=tenant_a,
        actor=tech,
        file="host,technician,start,end\nPC,alpha-technician,2026-10-01 09:00,2026-10-01 09:30\n",
    )
    with pytest.raises(PermissionDenied):
        services.session_import_confirm(staged=staged, actor=other)
    assert services.session_import_confirm(staged=staged, actor=admin, create_hosts=["PC"]).imported
