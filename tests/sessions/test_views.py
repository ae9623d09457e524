"""Browser pages: Clients & Computers, logs and group-by-client, timer, manual entry,
editing rules, the import flow, and invoice links for billing roles only."""

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from sessions.models import RemoteSession, SessionImport

from .conftest import NOW
from .factories import HostFactory, HostGroupFactory, RemoteSessionFactory

pytestmark = pytest.mark.django_db

OCT = dt.timezone(dt.timedelta(hours=2))


@pytest.fixture
def acme(tenant_a, tech):
    group = HostGroupFactory(tenant=tenant_a, name="ACME", organization__name="ACME")
    jane = HostFactory(tenant=tenant_a, name="Jane_OFFICE_121", group=group)
    joseph = HostFactory(tenant=tenant_a, name="Joseph_OFFICE_121", group=group)
    first = RemoteSessionFactory(
        tenant=tenant_a,
        host=jane,
        technician=tech,
        started_at=dt.datetime(2026, 10, 12, 9, 5, tzinfo=OCT),
        duration=580,
        comment="Installed Windows updates.",
    )
    RemoteSessionFactory(
        tenant=tenant_a,
        host=jane,
        technician=tech,
        started_at=dt.datetime(2026, 10, 19, 14, 20, tzinfo=OCT),
        duration=338,
    )
    RemoteSessionFactory(
        tenant=tenant_a, host=joseph, started_at=dt.datetime(2026, 10, 12, 10, tzinfo=OCT)
    )
    return SimpleNamespace(group=group, jane=jane, joseph=joseph, first=first)


def page(client, name, *args, **params):
    response = client.get(reverse(name, args=args), params)
    assert response.status_code == 200
    return response.content.decode()


def test_clients_and_computers(client_as, admin_a, acme, tenant_b):
    group, jane = acme.group, acme.jane
    HostFactory(tenant=tenant_b, name="Bravo-PC")
    html = page(client_as(admin_a), "sessions:host-list")
    assert "ACME" in html and "Jane_OFFICE_121" in html and "Bravo-PC" not in html
    assert "15 min 18 s" in html  # Jane's overall duration
    assert "30 min 18 s" in html  # ACME's
    assert f"scope=group&amp;id={group.pk}" in html and f"scope=host&amp;id={jane.pk}" in html
    search = client_as(admin_a).get(
        reverse("sessions:host-list"), {"q": "joseph"}, HTTP_HX_REQUEST="true"
    )
    partial = search.content.decode()
    assert "<html" not in partial and "Joseph_OFFICE_121" in partial
    assert "Jane_OFFICE_121" not in partial


def test_host_sessions_with_date_range(client_as, admin_a, acme):
    jane, first = acme.jane, acme.first
    client = client_as(admin_a)
    html = page(client, "sessions:host-detail", jane.pk)
    assert "Installed Windows updates." in html and "15 min 18 s" in html
    assert "2026-10-12 09:05:00" in html  # shown in the tenant's zone (Paris)
    assert f"scope=session&amp;id={first.pk}" in html
    ranged = page(
        client, "sessions:host-detail", jane.pk, date_from="2026-10-19", date_to="2026-10-31"
    )
    assert "Installed Windows updates." not in ranged and "5 min 38 s" in ranged
    assert f"scope=host&amp;id={jane.pk}&amp;date_from=2026-10-19&amp;date_to=2026-10-31" in ranged


def test_invoice_links_only_for_billing_roles(client_as, staff_a, acme):
    for role, shown in [
        (Role.OWNER, True),
        (Role.BILLING_ADMIN, True),
        (Role.TECHNICIAN, False),
        (Role.ACCOUNTANT, False),
    ]:
        html = page(client_as(staff_a.user(role)), "sessions:session-by-client")
        assert ("Generate invoice" in html) is shown, role


def test_logs_filters_and_group_by_client(client_as, staff_a, acme, tech, bill):
    first = acme.first
    bill(first)
    client = client_as(staff_a.user(Role.ACCOUNTANT))
    html = page(client, "sessions:session-list")
    assert "Jane_OFFICE_121" in html and "Invoiced" in html
    unbilled = page(client, "sessions:session-list", billed="no", technician=tech.pk)
    assert "Installed Windows updates." not in unbilled and "5 min 38 s" in unbilled
    by_client = page(
        client, "sessions:session-by-client", date_from="2026-10-01", date_to="2026-10-31"
    )
    assert "ACME" in by_client and "15 min 18 s" in by_client and "30 min 18 s" in by_client
    assert by_client.index("Jane_OFFICE_121") < by_client.index("Joseph_OFFICE_121")
    assert "Installed Windows updates." in by_client
    bad = page(client, "sessions:session-list", date_from="2026-10-31", date_to="2026-10-01")
    assert "before its start" in bad


def test_logs_date_range_backwards_shows_the_error_not_every_session(client_as, staff_a, acme):
    client = client_as(staff_a.user(Role.ACCOUNTANT))
    params = {"date_from": "2026-10-31", "date_to": "2026-10-01"}
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):  # the page, and its htmx table
        response = client.get(reverse("sessions:session-list"), params, **headers)
        assert response.status_code == 200
        html = response.content.decode()
        # The error is on the "to" field, its value kept.
        field = re.search(r'<div class="field has-error">(.*?)</div>', html, re.S)
        if not headers:
            assert field is not None and 'name="date_to"' in field.group(1)
            assert "The end of the range is before its start." in field.group(1)
            assert 'value="2026-10-01"' in field.group(1)
        # No row at all: not the unfiltered list, and no totals of it.
        table = html[html.find("<table") :]
        assert "Jane_OFFICE_121" not in table and "Installed Windows updates." not in html
        assert "Nothing is listed: To: The end of the range is before its start." in html
        assert "15 min 18 s" not in html
    # The same range the right way round lists the sessions.
    fixed = page(client, "sessions:session-list", date_from="2026-10-01", date_to="2026-10-31")
    assert "Installed Windows updates." in fixed and "has-error" not in fixed


def test_session_list_paging(client_as, admin_a, tenant_a):
    host = HostFactory(tenant=tenant_a)
    for _ in range(55):
        RemoteSessionFactory(tenant=tenant_a, host=host)
    html = page(client_as(admin_a), "sessions:session-list")
    assert "1–50 of 55" in html


def test_manual_entry_errors_next_to_fields(client_as, tenant_a, tech, frozen):
    host = HostFactory(tenant=tenant_a)
    client = client_as(tech)
    data = {
        "host": host.pk,
        "started_at": "2026-11-16T10:00:00",
        "ended_at": "2026-11-16T09:00:00",
        "comment": "x",
        "billable": "on",
    }
    response = client.post(reverse("sessions:session-create"), data)
    assert response.status_code == 200
    assert "The end must be after the start." in response.content.decode()
    assert not RemoteSession.all_tenants.exists()
    response = client.post(
        reverse("sessions:session-create"), {**data, "ended_at": "2026-11-16T10:15:18"}
    )
    assert response.status_code == 302
    session = RemoteSession.all_tenants.get()
    # Typed in Paris time (UTC+1 in November).
    assert session.started_at == dt.datetime(2026, 11, 16, 9, 0, tzinfo=dt.UTC)
    assert session.duration_seconds == 918 and session.technician == tech


def test_timer_from_dashboard_survives_reload(client_as, tenant_a, tech, frozen):
    host = HostFactory(tenant=tenant_a, name="Jane_OFFICE_121")
    client = client_as(tech)
    dashboard = page(client, "dashboard")
    assert "Start timer" in dashboard
    response = client.post(reverse("sessions:timer-start"), {"host": host.pk, "next": "/"})
    assert response.status_code == 302
    dashboard = page(client, "dashboard")
    assert "Running on" in dashboard and "Jane_OFFICE_121" in dashboard
    # The start comes from the database (in the tenant's zone); the page script ticks from it.
    assert 'data-timer-start="2026-11-16T12:00:00+01:00"' in dashboard
    session = RemoteSession.all_tenants.get()
    frozen.shift(dt.timedelta(minutes=15, seconds=18))
    response = client.post(reverse("sessions:session-stop", args=[session.pk]))
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.duration_seconds == 918
    assert "Running on" not in page(client, "dashboard")


def test_edit_own_until_billed_read_only_otherwise(client_as, tenant_a, tech, tech2, bill):
    mine = RemoteSessionFactory(tenant=tenant_a, technician=tech)
    theirs = RemoteSessionFactory(tenant=tenant_a, technician=tech2)
    client = client_as(tech)
    form = page(client, "sessions:session-edit", mine.pk)
    assert 'name="comment"' in form
    response = client.post(
        reverse("sessions:session-edit", args=[mine.pk]),
        {
            "host": mine.host_id,
            "started_at": mine.started_at.astimezone(tenant_a.zone).strftime("%Y-%m-%dT%H:%M:%S"),
            "ended_at": mine.ended_at.astimezone(tenant_a.zone).strftime("%Y-%m-%dT%H:%M:%S"),
            "comment": "Installed Windows updates.",
        },
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.comment == "Installed Windows updates." and mine.billable is False

    read_only = page(client, "sessions:session-edit", theirs.pk)
    assert 'name="comment"' not in read_only and "Only they or a billing admin" in read_only
    assert client.post(reverse("sessions:session-edit", args=[theirs.pk]), {}).status_code == 403
    assert client.post(reverse("sessions:session-delete", args=[theirs.pk])).status_code == 403

    bill(mine)
    billed = page(client, "sessions:session-edit", mine.pk)
    assert "can no longer be changed" in billed and 'name="comment"' not in billed
    client.post(reverse("sessions:session-delete", args=[mine.pk]))
    assert RemoteSession.all_tenants.filter(pk=mine.pk).exists()


def test_delete_own_session(client_as, tenant_a, tech):
    mine = RemoteSessionFactory(tenant=tenant_a, technician=tech)
    client = client_as(tech)
    assert "Delete session" in page(client, "sessions:session-delete", mine.pk)
    assert client.post(reverse("sessions:session-delete", args=[mine.pk])).status_code == 302
    assert not RemoteSession.all_tenants.filter(pk=mine.pk).exists()


def test_host_and_group_forms(client_as, admin_a, tenant_a, tech):
    client = client_as(admin_a)
    response = client.post(reverse("sessions:group-create"), {"name": "ACME"})
    assert response.status_code == 302
    group_id = int(re.search(r"/groups/(\d+)/", response["Location"]).group(1))
    response = client.post(
        reverse("sessions:host-create"), {"name": "Jane_OFFICE_121", "group": group_id}
    )
    assert response.status_code == 302
    duplicate = client.post(reverse("sessions:host-create"), {"name": "JANE_office_121"})
    assert "already exists" in duplicate.content.decode()
    assert client_as(tech).post(reverse("sessions:group-create"), {"name": "X"}).status_code == 403


IMPORT = (
    "host,group,technician,start,end,comment,external_id\n"
    "Jane_OFFICE_121,ACME,alpha-technician,2026-10-12 09:05:00,2026-10-12 09:14:40,Updates,RS-1\n"
    "Jane_OFFICE_121,ACME,alpha-technician,2026-10-19 14:20:00,2026-10-19 14:25:38,Printer,RS-2\n"
)


def test_import_upload_preview_confirm(client_as, tenant_a, tech, frozen):
    client = client_as(tech)
    assert "Generic format" in page(client, "sessions:session-import")
    bad = IMPORT + "PC-X,ACME,ghost,2026-10-20 10:00:00,2026-10-20 09:00:00,,\n"
    response = client.post(
        reverse("sessions:session-import"),
        {"file": SimpleUploadedFile("bad.csv", bad.encode()), "format": "auto"},
    )
    assert response.status_code == 302
    preview = client.get(response["Location"]).content.decode()
    assert "Fix the errors to import" in preview
    assert "ghost" in preview and "The end must be after the start." in preview
    staged = SessionImport.all_tenants.get()
    assert client.post(reverse("sessions:import-preview", args=[staged.pk])).status_code == 200
    assert not RemoteSession.all_tenants.exists()

    response = client.post(
        reverse("sessions:session-import"),
        {"file": SimpleUploadedFile("good.csv", IMPORT.encode()), "format": "auto"},
    )
    preview = client.get(response["Location"]).content.decode()
    assert "New computers" in preview and 'name="create_host" value="Jane_OFFICE_121"' in preview
    good = SessionImport.all_tenants.latest("id")
    response = client.post(
        reverse("sessions:import-preview", args=[good.pk]),
        {"hosts_shown": "1", "create_host": "Jane_OFFICE_121"},
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        assert RemoteSession.objects.count() == 2
    html = page(client, "sessions:import-preview", good.pk)
    assert "Imported" in html and "2 sessions" in html


def test_someone_elses_upload_is_not_found(client_as, tenant_a, tech, tech2, admin_a):
    from .factories import SessionImportFactory

    staged = SessionImportFactory(tenant=tenant_a, uploaded_by=tech2)
    url = reverse("sessions:import-preview", args=[staged.pk])
    assert client_as(tech).get(url).status_code == 404
    assert client_as(admin_a).get(url).status_code == 200


def test_other_tenants_pages_are_404(client_as, staff_b, acme):
    group, jane, first = acme.group, acme.jane, acme.first
    client = client_as(staff_b.user(Role.OWNER))
    for name, pk in [
        ("sessions:host-detail", jane.pk),
        ("sessions:group-detail", group.pk),
        ("sessions:session-edit", first.pk),
    ]:
        assert client.get(reverse(name, args=[pk])).status_code == 404
    html = page(client, "sessions:session-by-client")
    assert "Jane_OFFICE_121" not in html and "No sessions match" in html


def test_navigation_entries(client_as, staff_a):
    html = page(client_as(staff_a.user(Role.TECHNICIAN)), "dashboard")
    for label in ("Clients &amp; Computers", "Session logs", "Import sessions"):
        assert label in html
    accountant = page(client_as(staff_a.user(Role.ACCOUNTANT)), "dashboard")
    assert "Session logs" in accountant and "Import sessions" not in accountant


def test_now_is_fixed(frozen):
    from django.utils import timezone

    assert timezone.now() == NOW


def test_dashboard_shows_running_session_without_technician(client_as, admin_a, tenant_a, frozen):
    host = HostFactory(tenant=tenant_a, name="KIOSK-1")
    RemoteSessionFactory(
        tenant=tenant_a,
        host=host,
        technician=None,
        started_at=NOW - dt.timedelta(minutes=5),
        ended_at=None,
        duration_seconds=0,
    )
    page = client_as(admin_a).get(reverse("dashboard"))
    assert page.status_code == 200
    assert "KIOSK-1" in page.content.decode() and "No technician" in page.content.decode()
