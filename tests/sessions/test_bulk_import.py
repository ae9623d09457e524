"""Big session logs: streamed, in chunks, all or nothing, with progress (sessions.bulk_import)."""

import datetime as dt
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from benchmarks.management.commands.bench_import import generate_csv, host_names
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from sessions import bulk_import, services
from sessions.models import Host, HostGroup, ImportStatus, RemoteSession, SessionImport

pytestmark = pytest.mark.django_db


@pytest.fixture
def tech(staff_a):
    return staff_a.user(Role.TECHNICIAN)


def stage(tenant, user, text, **fields):
    # The computers of generate_csv's files ticked, as on the preview.
    fields.setdefault("create_hosts", host_names())
    with tenant_context(tenant):
        return SessionImport.objects.create(
            tenant=tenant,
            uploaded_by=user,
            filename="big.csv",
            content=text,
            time_zone="UTC",
            **fields,
        )


def run(tenant, staged, user):
    with tenant_context(tenant):
        return bulk_import.run(tenant=tenant, import_id=staged.pk, actor_id=user.pk)


def test_twenty_thousand_rows_import_exactly(tenant_a, tenant_b, tech, frozen):
    staged = stage(tenant_a, tech, generate_csv(20_000, technician=tech.username))
    progress = run(tenant_a, staged, tech)
    assert progress.state == bulk_import.DONE, progress.message
    assert (progress.rows_total, progress.rows_read, progress.rows_written) == (20_000,) * 3
    assert (progress.sessions_created, progress.hosts_created, progress.groups_created) == (
        20_000,
        500,
        50,
    )
    with tenant_context(tenant_a):
        assert RemoteSession.objects.count() == 20_000
        assert Host.objects.count() == 500 and HostGroup.objects.count() == 50
        first = RemoteSession.objects.select_related("host__group").get(external_id="BI-0")
        assert first.host.name == "PC-0000" and first.host.group.name == "Client 00"
        assert first.technician == tech and first.source == "import"
        assert first.started_at == dt.datetime(2020, 1, 6, 8, 0, tzinfo=dt.UTC)
        assert first.ended_at == dt.datetime(2020, 1, 6, 8, 5, tzinfo=dt.UTC)
        assert first.comment == "Ticket 0: remote help"
        last = RemoteSession.objects.select_related("host").get(external_id="BI-19999")
        # Row 19999: 7 × 19999 minutes after the first start, 5 + (19999 × 37) % 60 minutes
        # and (19999 × 13) % 60 seconds long, on computer 19999 % 500.
        start = dt.datetime(2020, 1, 6, 8, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=7 * 19999)
        assert (last.host.name, last.started_at) == ("PC-0499", start)
        assert last.duration_seconds == (5 + 19999 * 37 % 60) * 60 + 19999 * 13 % 60
        assert last.host.group.name == "Client 49"
    with tenant_context(tenant_b):
        assert not RemoteSession.objects.exists()
    staged.refresh_from_db()
    assert (staged.status, staged.sessions_created, staged.hosts_created) == (
        ImportStatus.IMPORTED,
        20_000,
        500,
    )


def _peak(tenant, user, rows):
    staged = stage(tenant, user, generate_csv(rows, technician=user.username))
    tracemalloc.start()
    try:
        progress = run(tenant, staged, user)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert progress.sessions_created == rows
    with tenant_context(tenant):
        RemoteSession.objects.all().delete()
    return peak


def test_memory_does_not_grow_with_the_file(tenant_a, tech, frozen, settings):
    settings.SESSION_IMPORT_CHUNK_ROWS = 1000
    small = _peak(tenant_a, tech, 10_000)
    big = _peak(tenant_a, tech, 30_000)
    # Three times the rows: were the file or its rows held whole, the peak would triple.
    assert big < small * 1.6, (small, big)
    assert big < 30_000_000


def _queries(tenant, user, rows):
    staged = stage(tenant, user, generate_csv(rows, technician=user.username, hosts=40))
    with CaptureQueriesContext(connection) as captured:
        progress = run(tenant, staged, user)
    assert progress.sessions_created == rows
    with tenant_context(tenant):
        RemoteSession.objects.all().delete()
        Host.objects.all().delete()
        HostGroup.objects.all().delete()
    return len(captured.captured_queries)


def test_queries_grow_with_chunks_not_rows(tenant_a, tech, frozen, settings):
    settings.SESSION_IMPORT_CHUNK_ROWS = 500
    two, four, six = (_queries(tenant_a, tech, rows) for rows in (1000, 2000, 3000))
    per_chunk = (four - two) / 2
    assert six - four == four - two  # the same queries for each chunk
    assert per_chunk <= 12  # a fixed handful per chunk of 500 rows, none per row


def test_a_bad_last_row_imports_nothing(tenant_a, tech, frozen, settings):
    settings.SESSION_IMPORT_CHUNK_ROWS = 1000
    text = generate_csv(5000, technician=tech.username)
    text += "PC-9,Client 00,nobody-here,2021-01-01 10:00:00,2021-01-01 09:00:00,x,BAD-1\n"
    staged = stage(tenant_a, tech, text)
    progress = run(tenant_a, staged, tech)
    assert progress.state == bulk_import.FAILED
    assert progress.rows_read == 5001 and progress.error_count == 1
    # The end is checked first; a row with a bad span is not looked at further.
    assert [(e["line"], e["column"]) for e in progress.errors] == [(5002, "end")]
    assert progress.sessions_created == 0 and progress.rows_written == 0
    with tenant_context(tenant_a):
        assert not RemoteSession.objects.exists() and not Host.objects.exists()
        assert not HostGroup.objects.exists()
    staged.refresh_from_db()
    assert staged.status == ImportStatus.PENDING


def test_errors_shown_are_capped(tenant_a, tech, frozen):
    text = generate_csv(300, technician="nobody-here")
    progress = run(tenant_a, stage(tenant_a, tech, text), tech)
    assert progress.state == bulk_import.FAILED and progress.error_count == 300
    assert len(progress.errors) == bulk_import.ERRORS_KEPT


def test_reimport_adds_nothing(tenant_a, tech, frozen, settings):
    settings.SESSION_IMPORT_CHUNK_ROWS = 1000
    text = generate_csv(3000, technician=tech.username)
    assert run(tenant_a, stage(tenant_a, tech, text), tech).sessions_created == 3000
    again = run(tenant_a, stage(tenant_a, tech, text), tech)
    assert again.state == bulk_import.DONE
    assert (again.sessions_created, again.duplicates, again.hosts_created) == (0, 3000, 0)
    # Without external ids, the same computer + start + end is the same session.
    bare = "\n".join(line.rsplit(",", 1)[0] for line in text.splitlines()) + "\n"
    bare = bare.replace(",external_id", "")
    third = run(tenant_a, stage(tenant_a, tech, bare), tech)
    assert (third.sessions_created, third.duplicates) == (0, 3000)
    with tenant_context(tenant_a):
        assert RemoteSession.objects.count() == 3000


def test_same_staged_file_is_imported_once(tenant_a, tech, frozen):
    staged = stage(tenant_a, tech, generate_csv(50, technician=tech.username))
    assert run(tenant_a, staged, tech).sessions_created == 50
    second = run(tenant_a, staged, tech)
    assert second.state == bulk_import.DONE and second.message.startswith("This file has already")
    with tenant_context(tenant_a):
        assert RemoteSession.objects.count() == 50


def test_progress_is_reported_every_chunk(tenant_a, tech, frozen, settings, monkeypatch):
    settings.SESSION_IMPORT_CHUNK_ROWS = 1000
    staged = stage(tenant_a, tech, generate_csv(4000, technician=tech.username))
    seen = []
    save = bulk_import._save_progress

    def spy(tenant_id, import_id, progress):
        save(tenant_id, import_id, progress)
        # What the page reads, from the cache, while the import's transaction is open.
        stored = bulk_import.progress_of(staged)
        seen.append((stored.state, stored.rows_read, stored.rows_written))

    monkeypatch.setattr(bulk_import, "_save_progress", spy)
    run(tenant_a, staged, tech)
    assert seen == [
        ("running", 0, 0),
        ("running", 0, 0),
        ("running", 1000, 1000),
        ("running", 2000, 2000),
        ("running", 3000, 3000),
        ("running", 4000, 4000),
        ("done", 4000, 4000),
    ]


def test_date_format_is_settled_over_the_whole_file(tenant_a, tech, frozen):
    rows = ["host,technician,start,end"]
    rows += [
        f"PC-{i},{tech.username},0{1 + i % 9}/03/2024 10:00,0{1 + i % 9}/03/2024 11:00"
        for i in range(30)
    ]
    text = "\n".join(rows) + "\n"
    staged = stage(tenant_a, tech, text)
    with tenant_context(tenant_a), pytest.raises(bulk_import.importers.DateFormatRequired):
        bulk_import.survey(staged)
    # A day above 12 at the very end settles it: day first.
    staged = stage(
        tenant_a,
        tech,
        text + f"PC-99,{tech.username},25/03/2024 10:00,25/03/2024 11:00\n",
        create_hosts=[f"pc-{i}" for i in [*range(30), 99]],
    )
    with tenant_context(tenant_a):
        assert bulk_import.survey(staged).date_format == "DD/MM/YYYY"
    progress = run(tenant_a, staged, tech)
    assert progress.sessions_created == 31
    with tenant_context(tenant_a):
        session = RemoteSession.objects.get(host__name="PC-1")
        assert session.started_at == dt.datetime(2024, 3, 2, 10, 0, tzinfo=dt.UTC)


def test_semicolons_bom_and_type_line_are_read_streamed(tenant_a, tech, frozen):
    text = "\ufeff#TYPE TeamViewerPS.ConnectionReport\n" + "\n".join(
        ['"Id";"UserName";"DeviceId";"DeviceName";"StartDate";"EndDate"']
        + [
            f'"c{i}";"{tech.username}";"9{i:05d}";"";"2024-05-0{1 + i % 9} 10:00:00";'
            f'"2024-05-0{1 + i % 9} 10:30:00"'
            for i in range(40)
        ]
    )
    devices = [f"9{i:05d}" for i in range(40)]
    progress = run(tenant_a, stage(tenant_a, tech, text, create_hosts=devices), tech)
    assert progress.state == bulk_import.DONE and progress.sessions_created == 40
    with tenant_context(tenant_a):
        session = RemoteSession.objects.get(external_id="teamviewer:c3")
        assert session.host.name == "900003" and session.host.external_id == "900003"


def test_browser_upload_confirm_and_progress(
    client_as, tech, tenant_a, staff_b, frozen, settings, django_capture_on_commit_callbacks
):
    settings.SESSION_IMPORT_ASYNC_ROWS = 100
    client = client_as(tech)
    text = generate_csv(400, technician=tech.username)
    upload = SimpleUploadedFile("big.csv", text.encode(), content_type="text/csv")
    response = client.post(
        reverse("sessions:session-import"),
        {"file": upload, "format": "auto", "date_format": "auto", "time_zone": "UTC"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_context(tenant_a):
        staged = SessionImport.objects.get()
    preview = client.get(response["Location"], follow=True)
    assert preview.redirect_chain[-1][0] == reverse("sessions:import-run", args=[staged.pk])
    html = preview.content.decode()
    # Every new computer is listed, 100 a page, none ticked: the import cannot start.
    assert 'New computers <span class="muted">(400, 400 not ticked)' in html
    assert "Tick or correct the new computers to import" in html and "Import 400 rows" not in html
    assert 'value="PC-0099"' in html and 'value="PC-0100"' not in html
    assert "1–100 of 400" in html
    run_url = reverse("sessions:import-run", args=[staged.pk])
    page_4 = client.get(run_url, {"page": 4}).content.decode()
    assert 'value="PC-0399"' in page_4 and 'value="PC-0299"' not in page_4
    # Ticks of one page keep the others' choice.
    preview_url = reverse("sessions:import-preview", args=[staged.pk])
    shown = [f"PC-{i:04d}" for i in range(300, 400)]
    saved = client.post(
        preview_url,
        {"action": "hosts", "page": "4", "shown_host": shown, "create_host": shown[:50]},
    )
    assert saved.status_code == 302 and saved["Location"].endswith("?page=4#new-hosts")
    staged.refresh_from_db()
    assert staged.create_hosts == [name.lower() for name in shown[:50]]
    assert "(400, 350 not ticked)" in client.get(run_url).content.decode()
    assert client.post(preview_url, {"action": "hosts_all"}).status_code == 302
    html = client.get(run_url).content.decode()
    assert "Import 400 rows" in html and "not ticked)" not in html and "PC-0000" in html

    # Confirming queues the task once the request's transaction commits (eager in tests).
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("sessions:import-run", args=[staged.pk]))
    assert len(callbacks) == 1 and response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert "Imported" in html and reverse("sessions:session-list") in html, html[
        html.find("<main") :
    ][:3000]
    staged.refresh_from_db()
    assert staged.status == ImportStatus.IMPORTED and staged.sessions_created == 400

    status = client.get(reverse("sessions:import-progress", args=[staged.pk]), {"format": "json"})
    data = status.json()
    assert data["status"] == "imported"
    assert data["progress"]["state"] == "done" and data["progress"]["rows_written"] == 400
    block = client.get(reverse("sessions:import-progress", args=[staged.pk])).content.decode()
    assert "hx-get" not in block and "400 sessions" in block

    # Another tenant's import is not found.
    stranger = client_as(staff_b.user(Role.BILLING_ADMIN))
    assert stranger.get(reverse("sessions:import-progress", args=[staged.pk])).status_code == 404
    assert stranger.get(reverse("sessions:import-run", args=[staged.pk])).status_code == 404


def test_running_import_page_polls(client_as, tech, tenant_a, frozen):
    staged = stage(tenant_a, tech, generate_csv(10, technician=tech.username))
    bulk_import._save_progress(
        tenant_a.pk,
        staged.pk,
        bulk_import.Progress(state=bulk_import.RUNNING, rows_total=10, rows_read=4),
    )
    block = client_as(tech).get(reverse("sessions:import-progress", args=[staged.pk]))
    html = block.content.decode()
    assert 'hx-trigger="every 1s"' in html and '<progress max="10" value="4"' in html


def test_big_upload_over_the_limit_is_refused(tenant_a, tech, settings):
    settings.SESSION_IMPORT_ASYNC_ROWS = 10
    settings.SESSION_IMPORT_MAX_ROWS = 100
    text = generate_csv(150, technician=tech.username)
    with pytest.raises(bulk_import.ValidationError) as caught:
        bulk_import.session_import_stage(tenant=tenant_a, actor=tech, file=text.encode())
    assert "more than 100 sessions" in str(caught.value)


# The wizard's choices on the streamed path -------------------------------------------------

# A tool of no known layout: the columns are mapped in the mapping step.
MAPPED_HEADER = "Machine;Agent;Begin;Finish;Ticket;Notes\n"


def mapped_file(tech, rows: int, typo_every: int = 0) -> str:
    lines = [MAPPED_HEADER]
    base = dt.datetime(2024, 4, 1, 8, 0)
    for i in range(rows):
        start = base + dt.timedelta(minutes=20 * i)
        host = "PC-TYPO" if typo_every and i % typo_every == typo_every - 1 else f"PC-{i % 3}"
        lines.append(
            f"{host};{tech.username};{start:%d/%m/%Y %H:%M};"
            f"{start + dt.timedelta(minutes=15):%d/%m/%Y %H:%M};T-{i};note {i}\n"
        )
    return "".join(lines)


def test_big_file_honours_mapping_date_format_and_ticked_computers(
    tenant_a, tech, frozen, settings
):
    settings.SESSION_IMPORT_ASYNC_ROWS = 50
    settings.SESSION_IMPORT_CHUNK_ROWS = 40
    text = mapped_file(tech, 120, typo_every=60)  # PC-TYPO on rows 59 and 119
    staged, result = bulk_import.session_import_stage(
        tenant=tenant_a,
        actor=tech,
        file=text.encode(),
        fmt="auto",
        zone="Europe/Paris",
        date_format="DD/MM/YYYY",
    )
    assert result is None and bulk_import.is_big(staged)
    # Guessed from the headers: to be confirmed before the import can start.
    assert staged.mapping_source == services.MAPPING_GUESSED
    with pytest.raises(bulk_import.ValidationError, match="confirm them in the mapping step"):
        bulk_import.start(staged=staged, actor=tech)
    # The user's mapping: the ticket number as the comment, the notes ignored.
    staged = services.session_import_mapping(
        staged=staged,
        actor=tech,
        columns=["host", "technician", "start", "end", "comment", ""],
    )
    with tenant_context(tenant_a):
        found = bulk_import.survey(staged)
    assert found.rows_total == 120 and found.labels["comment"] == "Ticket"
    assert found.ignored == ["Notes"]
    assert [(h["name"], h["rows"], h["create"]) for h in found.new_hosts] == [
        ("PC-0", 40, False),
        ("PC-1", 40, False),
        ("PC-2", 38, False),
        ("PC-TYPO", 2, False),
    ]

    # Three of the four ticked: each row of the fourth is an error; nothing is written.
    staged = services.session_import_hosts(
        staged=staged, actor=tech, create_hosts=["PC-0", "pc-1", "PC-2"]
    )
    progress = run(tenant_a, staged, tech)
    assert progress.state == bulk_import.FAILED, progress.message
    assert [(e["line"], e["column"]) for e in progress.errors] == [
        (61, "Machine"),
        (121, "Machine"),
    ]
    assert "“PC-TYPO” is found neither by device id nor by name" in progress.errors[0]["message"]
    assert progress.sessions_created == progress.hosts_created == 0
    with tenant_context(tenant_a):
        assert not RemoteSession.objects.exists() and not Host.objects.exists()
    staged.refresh_from_db()
    assert staged.status == ImportStatus.PENDING

    # All four ticked: imported with the chosen columns, date format and zone.
    staged = services.session_import_hosts(
        staged=staged, actor=tech, create_hosts=["PC-TYPO"], shown=["PC-TYPO"]
    )
    assert staged.create_hosts == ["pc-0", "pc-1", "pc-2", "pc-typo"]  # the others kept
    progress = run(tenant_a, staged, tech)
    assert progress.state == bulk_import.DONE, progress.message
    assert (progress.sessions_created, progress.hosts_created) == (120, 4)
    with tenant_context(tenant_a):
        assert sorted(Host.objects.values_list("name", flat=True)) == [
            "PC-0",
            "PC-1",
            "PC-2",
            "PC-TYPO",
        ]
        session = RemoteSession.objects.get(comment="T-1")
        # 01/04/2024 08:20 in Paris (summer time): 06:20 UTC, day first.
        assert session.started_at == dt.datetime(2024, 4, 1, 6, 20, tzinfo=dt.UTC)
        assert session.host.name == "PC-1" and session.technician == tech

    # The same file again, read the same way: nothing to add, no computer to tick.
    again, _ = bulk_import.session_import_stage(
        tenant=tenant_a,
        actor=tech,
        file=text.encode(),
        date_format="DD/MM/YYYY",
        zone="Europe/Paris",
    )
    again = services.session_import_mapping(
        staged=again, actor=tech, columns=["host", "technician", "start", "end", "comment", ""]
    )
    with tenant_context(tenant_a):
        assert bulk_import.survey(again).new_hosts == []
    progress = run(tenant_a, again, tech)
    assert progress.state == bulk_import.DONE
    assert (progress.sessions_created, progress.duplicates, progress.hosts_created) == (0, 120, 0)
    with tenant_context(tenant_a):
        assert RemoteSession.objects.count() == 120 and Host.objects.count() == 4


def test_big_file_read_with_a_profile(tenant_a, tech, frozen, settings):
    settings.SESSION_IMPORT_ASYNC_ROWS = 50
    with tenant_context(tenant_a):
        profile = services.import_profile_save(
            name="RMM",
            mapping={"host": "Machine", "technician": "Agent", "start": "Begin", "end": "Finish"},
            date_format="DD/MM/YYYY",
            time_zone="UTC",
        )
    text = mapped_file(tech, 80)
    staged, _ = bulk_import.session_import_stage(
        tenant=tenant_a, actor=tech, file=text.encode(), profile=profile
    )
    assert staged.mapping_source == services.MAPPING_PROFILE
    assert (staged.date_format, staged.time_zone) == ("DD/MM/YYYY", "UTC")
    staged = services.session_import_hosts(
        staged=staged, actor=tech, create_hosts=["PC-0", "PC-1", "PC-2"]
    )
    progress = run(tenant_a, staged, tech)
    assert progress.state == bulk_import.DONE, progress.message
    with tenant_context(tenant_a):
        session = RemoteSession.objects.get(
            started_at=dt.datetime(2024, 4, 1, 8, 20, tzinfo=dt.UTC)
        )
        # Ticket and Notes are not in the profile: no comment, no external id.
        assert (session.host.name, session.comment, session.external_id) == ("PC-1", "", "")
