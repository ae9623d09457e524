"""Session logs as the real tools write them: layouts recognised from the content, explicit
date formats and zones (ambiguous dates refused until chosen), all or nothing, no duplicates.

The files below are written by hand after the tools' documented formats."""

import codecs
import datetime as dt
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from sessions import importers, services
from sessions.models import Host, HostGroup, RemoteSession, SessionImport

from .factories import HostFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def at(*parts) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


@pytest.fixture
def tech(staff_a):
    user = staff_a.user(Role.TECHNICIAN)
    user.first_name, user.last_name, user.email = "Theo", "Tech", "theo@alpha.test"
    user.save()
    return user


@pytest.fixture
def admin(staff_a):
    return staff_a.user(Role.BILLING_ADMIN)


def run(tenant, data, **kwargs):
    kwargs.setdefault("actor", None)
    if isinstance(data, str):
        data = data.encode()
    return services.session_import(tenant=tenant, file=data, **kwargs)


def sessions_of(tenant):
    with tenant_context(tenant):
        return [
            (
                s.host.name,
                s.host.external_id,
                s.technician.username,
                s.started_at,
                s.ended_at,
                s.duration_seconds,
                s.external_id,
            )
            for s in RemoteSession.objects.select_related("host", "technician").order_by(
                "started_at"
            )
        ]


def nothing_written(tenant):
    with tenant_context(tenant):
        return not (
            RemoteSession.objects.exists() or Host.objects.exists() or HostGroup.objects.exists()
        )


# TeamViewer Management Console connection report -----------------------------------------

# Semicolons, UTF-8 with a byte-order mark, no User column (one-user account), UTC times.
CONSOLE = (
    "\ufeffComputer;ID;Group;Start;End;Duration;Notes\r\n"
    "FRONTDESK-PC;123456789;Harbor Logistics;03/08/2026 12:18:55;03/08/2026 12:33:10;14m;"
    "Label printer\r\n"
    "KIOSK-2;987654321;Harbor Logistics;05/10/2026 08:00:00;05/10/2026 09:02:07;62m;\r\n"
)


def test_console_report_ambiguous_dates_refused_until_chosen(tenant_a, tech, frozen):
    with pytest.raises(services.ImportSettingsRequired) as excinfo:
        run(tenant_a, CONSOLE, actor=tech)
    assert excinfo.value.date_format_choices == ["DD/MM/YYYY", "MM/DD/YYYY"]
    assert "“03/08/2026 12:18:55” in DD/MM/YYYY or MM/DD/YYYY" in excinfo.value.messages[0]
    assert nothing_written(tenant_a)

    result = run(tenant_a, CONSOLE, actor=tech, date_format="DD/MM/YYYY")
    assert result.imported and result.format == "teamviewer" and result.zone == "UTC"
    assert result.date_format == "DD/MM/YYYY"
    assert result.date_format_choices == ["DD/MM/YYYY", "MM/DD/YYYY"]
    assert result.ignored_columns == []
    assert [row.notes for row in result.rows] == [
        ["Technician chosen on the form (the file names none).", "New group.", "New computer."],
        ["Technician chosen on the form (the file names none).", "New computer."],
    ]
    assert sessions_of(tenant_a) == [
        (
            "FRONTDESK-PC",
            "123456789",
            "alpha-technician",
            at(2026, 8, 3, 12, 18, 55),
            at(2026, 8, 3, 12, 33, 10),
            855,
            "",
        ),
        (
            "KIOSK-2",
            "987654321",
            "alpha-technician",
            at(2026, 10, 5, 8, 0),
            at(2026, 10, 5, 9, 2, 7),
            3727,
            "",
        ),
    ]
    again = run(tenant_a, CONSOLE, actor=tech, date_format="DD/MM/YYYY")
    assert again.imported and again.sessions_created == 0 and again.duplicates == 2


def test_console_report_month_first_reads_other_days(tenant_a, tech, frozen):
    result = run(tenant_a, CONSOLE, actor=tech, date_format="MM/DD/YYYY", dry_run=True)
    assert [row.started_at for row in result.rows] == [
        at(2026, 3, 8, 12, 18, 55),
        at(2026, 5, 10, 8, 0),
    ]
    assert [row.start_text for row in result.rows] == ["03/08/2026 12:18:55", "05/10/2026 08:00:00"]


def test_one_unambiguous_date_decides_the_format(tenant_a, tech, frozen):
    text = CONSOLE + "PC-13;555;Harbor Logistics;13/08/2026 10:00:00;13/08/2026 10:30:00;30m;\r\n"
    result = run(tenant_a, text, actor=tech, dry_run=True)
    assert result.ok and result.date_format == "DD/MM/YYYY"
    assert result.date_format_choices == ["DD/MM/YYYY"]
    assert result.rows[0].started_at == at(2026, 8, 3, 12, 18, 55)


def test_a_date_that_fits_no_chosen_format_is_a_row_error(tenant_a, tech, frozen):
    text = CONSOLE + "PC-13;555;;08/13/2026 10:00:00;08/13/2026 10:30:00;30m;\r\n"
    # Only month first reads every date: the data decides, nothing is guessed.
    assert run(tenant_a, text, actor=tech, dry_run=True).date_format == "MM/DD/YYYY"
    result = run(tenant_a, text, actor=tech, date_format="DD/MM/YYYY")
    assert not result.imported
    assert [(e.line, e.column) for e in result.errors] == [(4, "Start"), (4, "End")]
    assert result.errors[0].message == (
        "“08/13/2026 10:00:00” is not a time in the date format DD/MM/YYYY (nor ISO 8601, "
        "e.g. 2026-10-12 09:05:00)."
    )
    assert nothing_written(tenant_a)


def test_day_first_and_month_first_in_one_file_are_refused(tenant_a, tech, frozen):
    text = (
        "Computer;Start;End\n"
        "PC-1;13/08/2026 10:00:00;13/08/2026 10:30:00\n"
        "PC-2;08/14/2026 10:00:00;08/14/2026 10:30:00\n"
    )
    with pytest.raises(services.ImportSettingsRequired) as excinfo:
        run(tenant_a, text, actor=tech)
    assert excinfo.value.date_format_choices == ["DD/MM/YYYY", "MM/DD/YYYY"]
    assert "some are day first, some month first" in excinfo.value.messages[0]
    result = run(tenant_a, text, actor=tech, date_format="MM/DD/YYYY")
    assert [e.line for e in result.errors] == [2, 2]
    assert nothing_written(tenant_a)


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: codecs.BOM_UTF16_LE + text.lstrip("\ufeff").encode("utf-16-le"),
        lambda text: text.lstrip("\ufeff").encode("utf-16-le"),
        lambda text: text.lstrip("\ufeff").encode("utf-16-be"),
        lambda text: text.encode("utf-8"),
    ],
    ids=["utf16-bom", "utf16le-no-bom", "utf16be-no-bom", "utf8-bom"],
)
def test_console_report_encodings(tenant_a, tech, frozen, encode):
    result = run(tenant_a, encode(CONSOLE), actor=tech, date_format="DD/MM/YYYY", dry_run=True)
    assert result.ok and result.format == "teamviewer"
    assert [row.host for row in result.rows] == ["FRONTDESK-PC", "KIOSK-2"]


def test_chosen_zone_overrides_the_tools_utc(tenant_a, tech, frozen):
    result = run(
        tenant_a,
        CONSOLE,
        actor=tech,
        date_format="DD/MM/YYYY",
        zone="Europe/Rome",
        dry_run=True,
    )
    assert result.zone == "Europe/Rome" and result.notes == []
    assert result.rows[0].started_at == at(2026, 8, 3, 10, 18, 55)


def test_technician_chosen_on_the_form(tenant_a, tech, admin, frozen):
    result = run(tenant_a, CONSOLE, actor=admin, technician=tech, date_format="DD/MM/YYYY")
    assert result.imported
    assert {row[2] for row in sessions_of(tenant_a)} == {"alpha-technician"}


# TeamViewer Web API connection records ---------------------------------------------------

API_RECORDS = {
    "records": [
        {
            "id": "a7f1c2d0-1111-4b5e-9c41-000000000001",
            "userid": "u1234",
            "username": "Theo Tech",
            "deviceid": "123456789",
            "devicename": "FRONTDESK-PC",
            "groupid": "g42",
            "groupname": "Harbor Logistics",
            "support_session_type": 1,
            "start_date": "2026-10-05T08:00:00Z",
            "end_date": "2026-10-05T08:12:30Z",
            "fee": 0,
            "currency": "EUR",
            "billing_state": "NotBilled",
            "notes": "Label printer",
        },
        {
            "id": "a7f1c2d0-1111-4b5e-9c41-000000000002",
            "userid": "u1234",
            "username": "theo@alpha.test",
            "deviceid": "555000111",
            "devicename": "NEW-LAPTOP",
            "groupname": "Harbor Logistics",
            "start_date": "2026-10-06T13:00:00Z",
            "end_date": "2026-10-06T13:45:30Z",
            "billing_state": "NotBilled",
            "notes": None,
        },
    ],
    "next_offset": None,
}


def test_web_api_json_records(tenant_a, tech, frozen):
    # The connection id is the session's id; the device is matched by deviceid, not name.
    existing = HostFactory(tenant=tenant_a, name="Old-Name", external_id="123456789", group=None)
    result = run(tenant_a, json.dumps(API_RECORDS))
    assert result.imported and result.format == "teamviewer_api" and result.zone == "UTC"
    assert result.hosts_created == 1
    assert "billing_state" in result.ignored_columns and "deviceid" not in result.ignored_columns
    assert sessions_of(tenant_a) == [
        (
            "Old-Name",
            "123456789",
            "alpha-technician",
            at(2026, 10, 5, 8, 0),
            at(2026, 10, 5, 8, 12, 30),
            750,
            "teamviewer:a7f1c2d0-1111-4b5e-9c41-000000000001",
        ),
        (
            "NEW-LAPTOP",
            "555000111",
            "alpha-technician",
            at(2026, 10, 6, 13, 0),
            at(2026, 10, 6, 13, 45, 30),
            2730,
            "teamviewer:a7f1c2d0-1111-4b5e-9c41-000000000002",
        ),
    ]
    with tenant_context(tenant_a):
        assert RemoteSession.objects.get(host=existing).comment == "Label printer"
    assert run(tenant_a, json.dumps(API_RECORDS["records"])).duplicates == 2


def test_web_api_records_as_csv(tenant_a, tech, frozen):
    keys = list(API_RECORDS["records"][0])
    lines = [",".join(keys)]
    for record in API_RECORDS["records"]:
        lines.append(",".join(str(record.get(key) or "") for key in keys))
    text = "\n".join(lines) + "\n"
    result = run(tenant_a, text)
    assert result.imported and result.format == "teamviewer_api"
    assert [row[1] for row in sessions_of(tenant_a)] == ["123456789", "555000111"]
    # The same connections from the JSON records are not imported twice.
    assert run(tenant_a, json.dumps(API_RECORDS)).duplicates == 2


# TeamViewer PowerShell module: Get-TeamViewerConnectionReport | Export-Csv ----------------

POWERSHELL = (
    "#TYPE TeamViewerPS.ConnectionReport\r\n"
    '"Id","UserId","UserName","DeviceId","DeviceName","GroupName","StartDate","EndDate",'
    '"BillingState","Notes"\r\n'
    '"c-001","u1","Theo Tech","123456789","FRONTDESK-PC","Harbor","28/03/2026 23:50:00",'
    '"29/03/2026 03:10:00","NotBilled","Across the March change"\r\n'
    '"c-002","u1","alpha-technician","777000777","","Harbor","03/08/2026 12:18:55",'
    '"03/08/2026 12:48:55","NotBilled",""\r\n'
)


def test_powershell_export_day_first_local_times_across_dst(tenant_a, tech, frozen):
    # 28/03 and 29/03 can only be day first, so 03/08 is 3 August.
    result = run(tenant_a, POWERSHELL, zone="Europe/Rome")
    assert result.imported and result.format == "teamviewer_ps"
    assert result.date_format == "DD/MM/YYYY"
    assert result.ignored_columns == ["UserId", "BillingState"]
    assert sessions_of(tenant_a) == [
        # 23:50 CET is 22:50 UTC; 03:10 CEST is 01:10 UTC: 2 h 20 min, not the 3 h 20 min
        # the wall clock shows.
        (
            "FRONTDESK-PC",
            "123456789",
            "alpha-technician",
            at(2026, 3, 28, 22, 50),
            at(2026, 3, 29, 1, 10),
            8400,
            "teamviewer:c-001",
        ),
        # An empty DeviceName: the computer is named by its device id.
        (
            "777000777",
            "777000777",
            "alpha-technician",
            at(2026, 8, 3, 10, 18, 55),
            at(2026, 8, 3, 10, 48, 55),
            1800,
            "teamviewer:c-002",
        ),
    ]
    again = run(tenant_a, POWERSHELL, zone="Europe/Rome", date_format="DD/MM/YYYY")
    assert again.imported and again.sessions_created == 0 and again.duplicates == 2


def test_powershell_empty_device_name_matches_the_device_id(tenant_a, tech, frozen):
    known = HostFactory(tenant=tenant_a, name="WAREHOUSE-7", external_id="777000777")
    result = run(tenant_a, POWERSHELL, zone="Europe/Rome", date_format="DD/MM/YYYY")
    assert result.imported and result.hosts_created == 1
    with tenant_context(tenant_a):
        assert RemoteSession.objects.get(external_id="teamviewer:c-002").host == known


def test_powershell_month_first_and_semicolons(tenant_a, tech, frozen):
    # en-US culture (month first), -UseCulture with a semicolon list separator.
    text = (
        "#TYPE Selected.TeamViewerPS.ConnectionReport\n"
        "Id;User_Name;Device_Id;Device_Name;Datetime_Start;Datetime_End\n"
        "c-9;alpha-technician;42;PC-42;08/13/2026 9:05:00 AM;08/13/2026 1:10:05 PM\n"
    )
    result = run(tenant_a, text, zone="America/New_York")
    assert result.imported and result.date_format == "MM/DD/YYYY"
    assert sessions_of(tenant_a) == [
        (
            "PC-42",
            "42",
            "alpha-technician",
            at(2026, 8, 13, 13, 5),
            at(2026, 8, 13, 17, 10, 5),
            14705,
            "teamviewer:c-9",
        )
    ]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("29/03/2026 02:30:00", "29/03/2026 03:30:00", "does not exist in Europe/Rome"),
        ("25/10/2026 02:30:00", "25/10/2026 03:30:00", "happens twice in Europe/Rome"),
    ],
    ids=["spring-gap", "autumn-fold"],
)
def test_local_times_changed_by_dst_are_row_errors(tenant_a, tech, frozen, start, end, message):
    text = (
        "#TYPE TeamViewerPS.ConnectionReport\n"
        '"Id","UserName","DeviceName","StartDate","EndDate"\n'
        f'"c-1","alpha-technician","PC","13/03/2026 09:00:00","13/03/2026 09:30:00"\n'
        f'"c-2","alpha-technician","PC","{start}","{end}"\n'
    )
    result = run(tenant_a, text, zone="Europe/Rome")
    assert not result.imported
    [error] = result.errors
    assert (error.line, error.column) == (4, "StartDate") and message in error.message
    assert nothing_written(tenant_a)


# TeamViewer Connections_incoming.txt -------------------------------------------------------

INCOMING = (
    "1225411107\tTheo Tech\t29-10-2026 08:25:50\t29-10-2026 08:58:54\tadadmin\tRemoteControl\t"
    "{7a821bfd-c610-4c8d-8abb-c82fe4d83bc2}\n"
    "1225411107\tTheo Tech\t02-11-2026 14:00:00\t02-11-2026 14:05:10\tadadmin\tFileTransfer\t"
    "{0b7d2a4e-9f1c-4c7e-8d0e-3f5b6a7c8d9e}\n"
)


def test_incoming_connections_log(tenant_a, tech, frozen):
    result = run(tenant_a, INCOMING, host="RECEPTION-PC", zone="Europe/Rome")
    assert result.imported and result.format == "teamviewer_log"
    assert result.date_format == "DD-MM-YYYY" and result.zone == "Europe/Rome"
    assert sessions_of(tenant_a) == [
        (
            "RECEPTION-PC",
            "",
            "alpha-technician",
            at(2026, 10, 29, 7, 25, 50),
            at(2026, 10, 29, 7, 58, 54),
            1984,
            "teamviewer:{7a821bfd-c610-4c8d-8abb-c82fe4d83bc2}",
        ),
        (
            "RECEPTION-PC",
            "",
            "alpha-technician",
            at(2026, 11, 2, 13, 0),
            at(2026, 11, 2, 13, 5, 10),
            310,
            "teamviewer:{0b7d2a4e-9f1c-4c7e-8d0e-3f5b6a7c8d9e}",
        ),
    ]
    assert run(tenant_a, INCOMING, host="RECEPTION-PC", zone="Europe/Rome").duplicates == 2


def test_incoming_connections_log_needs_the_computer(tenant_a, tech, frozen):
    result = run(tenant_a, INCOMING)
    assert not result.imported
    message = (
        "This log does not name the computer it was written on; choose the computer on the "
        "import form."
    )
    assert [(e.line, e.column, e.message) for e in result.errors] == [
        (1, "host", message),
        (2, "host", message),
    ]
    assert nothing_written(tenant_a)


# ScreenConnect / ConnectWise Control session connections ----------------------------------

SCREENCONNECT = (
    "SessionID,SessionName,SessionType,ParticipantName,ProcessType,ConnectionID,"
    "ConnectedTime,DisconnectedTime,DurationSeconds\n"
    "s-1,ACCT-PC-01,Access,alpha-technician,Host,k-1,2026-10-14 09:00:00,2026-10-14 09:40:00,2400\n"
    "s-1,ACCT-PC-01,Access,Jane Customer,Guest,k-2,2026-10-14 08:55:00,2026-10-14 09:41:00,2760\n"
    "s-2,SHOP-POS,Access,Theo Tech,Host,k-3,2026-10-15 16:00:00,,905\n"
)


def test_screenconnect_host_connections_only(tenant_a, tech, frozen):
    result = run(tenant_a, SCREENCONNECT)
    assert result.imported and result.format == "screenconnect" and result.zone == "Europe/Paris"
    assert [row.status for row in result.rows] == ["new", "skipped", "new"]
    assert result.skipped == 1 and result.sessions_created == 2
    assert sessions_of(tenant_a) == [
        (
            "ACCT-PC-01",
            "",
            "alpha-technician",
            at(2026, 10, 14, 7, 0),
            at(2026, 10, 14, 7, 40),
            2400,
            "screenconnect:k-1",
        ),
        # No disconnect time: the end is start + DurationSeconds.
        (
            "SHOP-POS",
            "",
            "alpha-technician",
            at(2026, 10, 15, 14, 0),
            at(2026, 10, 15, 14, 15, 5),
            905,
            "screenconnect:k-3",
        ),
    ]
    again = run(tenant_a, SCREENCONNECT)
    assert (again.sessions_created, again.duplicates, again.skipped) == (0, 2, 1)


# Splashtop session logs -----------------------------------------------------------------

SPLASHTOP = (
    "User,Streamer Name,Streamer IP,Client Name,Client IP,Start Time,End Time,Duration,Type\n"
    "theo@alpha.test,DENTIST-RECEPTION,10.0.0.5,THEO-LAPTOP,203.0.113.9,"
    "2026-10-20 09:00:00,2026-10-20 09:25:30,00:25:30,Remote\n"
    "theo@alpha.test,DENTIST-XRAY,10.0.0.6,THEO-LAPTOP,203.0.113.9,"
    "2026-10-21 17:30:00,,01:05:00,Remote\n"
)


def test_splashtop_times_in_the_accounts_zone(tenant_a, tech, frozen):
    result = run(tenant_a, SPLASHTOP, zone="America/New_York")
    assert result.imported and result.format == "splashtop"
    assert sessions_of(tenant_a) == [
        (
            "DENTIST-RECEPTION",
            "",
            "alpha-technician",
            at(2026, 10, 20, 13, 0),
            at(2026, 10, 20, 13, 25, 30),
            1530,
            "",
        ),
        (
            "DENTIST-XRAY",
            "",
            "alpha-technician",
            at(2026, 10, 21, 21, 30),
            at(2026, 10, 21, 22, 35),
            3900,
            "",
        ),
    ]
    assert run(tenant_a, SPLASHTOP, zone="America/New_York").duplicates == 2


# Refused: nothing to bill ------------------------------------------------------------------


def test_anydesk_connection_trace_is_refused_with_the_reason(tenant_a, tech, frozen):
    text = (
        "Incoming    2026-10-26, 03:46    User      user1@ad    654321\n"
        "Incoming    2026-10-26, 04:38    Token     user2@ad    123456\n"
    )
    with pytest.raises(ValidationError) as excinfo:
        run(tenant_a, text)
    message = excinfo.value.message_dict["file"][0]
    assert "AnyDesk's connection trace" in message and "nothing to bill" in message
    assert nothing_written(tenant_a)


def test_start_times_only_are_refused(tenant_a, tech, frozen):
    with pytest.raises(ValidationError) as excinfo:
        run(tenant_a, "host,technician,start\nPC,alpha-technician,2026-10-01 09:00\n")
    assert excinfo.value.message_dict["file"] == [
        "The file has a start time (column “start”) but no end time and no duration, so there "
        "is nothing to bill. Export the sessions with their end time or their duration."
    ]


# Generic format: durations, device ids, all or nothing ------------------------------------


def test_generic_with_duration_and_device_id(tenant_a, tech, frozen):
    text = (
        "device_id;host;technician;start;duration;comment\n"
        "D-1;;alpha-technician;2026-10-01 09:00;1h 02min 07s;Backup\n"
        "D-2;PRINTER-PC;alpha-technician;2026-10-01 11:00;0:15:18;Toner\n"
    )
    result = run(tenant_a, text)
    assert result.imported
    assert [(r[0], r[1], r[5]) for r in sessions_of(tenant_a)] == [
        ("D-1", "D-1", 3727),
        ("PRINTER-PC", "D-2", 918),
    ]


def test_one_bad_row_writes_nothing(tenant_a, tech, frozen):
    text = (
        POWERSHELL
        + '"c-003","u9","alpha-technician","1","X","Harbor","04/08/2026 10:00:00","x","",""\r\n'
        + '"c-004","u9","ghost","1","X","Harbor","04/08/2026 10:00:00","04/08/2026 11:00:00",'
        + '"",""\r\n'
    )
    result = run(tenant_a, text, zone="Europe/Rome", date_format="DD/MM/YYYY")
    assert not result.imported and result.sessions_created == 2
    assert [(e.line, e.column) for e in result.errors] == [(5, "EndDate"), (6, "UserName")]
    assert nothing_written(tenant_a)


def test_unknown_settings_are_field_errors(tenant_a, tech, frozen):
    with pytest.raises(ValidationError) as excinfo:
        run(tenant_a, CONSOLE, date_format="YYYY/DD/MM")
    assert "date_format" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        run(tenant_a, CONSOLE, fmt="nope")
    assert "format" in excinfo.value.message_dict


# The reading functions on their own ----------------------------------------------------


def test_date_format_candidates():
    assert importers.date_format_candidates(["03/08/2023 12:18:55", "11/12/2023 08:00"]) == [
        "DD/MM/YYYY",
        "MM/DD/YYYY",
    ]
    assert importers.date_format_candidates(["03/08/2023 12:18", "25/08/2023 12:18"]) == [
        "DD/MM/YYYY"
    ]
    assert importers.date_format_candidates(["2023-08-03T12:18:55Z", "2023/08/25 10:00"]) == ["iso"]
    assert importers.date_format_candidates(["03.08.2023 12:18"]) == ["DD.MM.YYYY"]
    assert importers.date_format_candidates(["13/08/2023 12:18", "08/13/2023 12:18"]) == []


def test_read_table_skips_the_type_line_and_keeps_line_numbers():
    table = importers.read_table('#TYPE X\n"a";"b"\n"1";"2"\n\n"3";"4"\n')
    assert table.type_line == "#TYPE X" and table.delimiter == ";"
    assert table.rows == [(2, ["a", "b"]), (3, ["1", "2"]), (5, ["3", "4"])]


# API and page ----------------------------------------------------------------------------

IMPORT_URL = "/api/v1/sessions/import/"


def upload(text, name="report.csv"):
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_api_date_format_choice(tenant_a, tech, api_as, frozen):
    api = api_as(tech)
    refused = api.post(IMPORT_URL, {"file": upload(CONSOLE), "dry_run": "true"}, format="multipart")
    assert refused.status_code == 400
    assert refused.json()["date_format_choices"] == ["DD/MM/YYYY", "MM/DD/YYYY"]
    assert "choose the date format" in refused.json()["date_format"][0]

    body = {"file": upload(CONSOLE), "date_format": "DD/MM/YYYY", "dry_run": "true"}
    preview = api.post(IMPORT_URL, body, format="multipart")
    assert preview.status_code == 200, preview.json()
    data = preview.json()
    assert (data["format"], data["date_format"], data["time_zone"]) == (
        "teamviewer",
        "DD/MM/YYYY",
        "UTC",
    )
    row = data["rows"][0]
    assert (row["host"], row["device_id"], row["technician"]) == (
        "FRONTDESK-PC",
        "123456789",
        "alpha-technician",
    )
    assert (row["start_text"], row["started_at"], row["duration_seconds"]) == (
        "03/08/2026 12:18:55",
        "2026-08-03T12:18:55+00:00",
        855,
    )
    assert nothing_written(tenant_a)

    done = api.post(
        IMPORT_URL,
        {
            "file": upload(INCOMING, "Connections_incoming.txt"),
            "host": "RECEPTION-PC",
            "create_hosts": "RECEPTION-PC",
        },
        format="multipart",
    )
    assert done.status_code == 201 and done.json()["sessions_created"] == 2
    bad = api.post(IMPORT_URL, {"file": upload(CONSOLE), "technician": 999999}, format="multipart")
    assert bad.status_code == 400 and "technician" in bad.json()


def test_page_asks_for_the_date_format_then_imports(client_as, tenant_a, tech, frozen):
    client = client_as(tech)
    html = client.get(reverse("sessions:session-import")).content.decode()
    assert "Connections_incoming.txt" in html and "Dates are written as" in html
    response = client.post(
        reverse("sessions:session-import"),
        {"file": SimpleUploadedFile("report.csv", CONSOLE.encode()), "format": "auto"},
    )
    assert response.status_code == 302
    preview = client.get(response["Location"]).content.decode()
    assert "Choose how the dates are written" in preview
    assert 'value="DD/MM/YYYY"' in preview and 'value="MM/DD/YYYY"' in preview
    assert 'value="DD.MM.YYYY"' not in preview
    staged = SessionImport.all_tenants.get()
    url = reverse("sessions:import-preview", args=[staged.pk])
    # Nothing is preselected: sending no choice is refused, offering the same two formats.
    assert '<option value="" selected>' in preview
    refused = client.post(url, {"date_format": "", "time_zone": ""}).content.decode()
    assert "This field is required." in refused
    assert 'value="DD/MM/YYYY"' in refused and 'value="iso"' not in refused
    # Confirming before choosing imports nothing.
    client.post(url)
    assert nothing_written(tenant_a)

    chosen = client.post(url, {"date_format": "DD/MM/YYYY", "time_zone": ""})
    assert chosen.status_code == 302
    staged.refresh_from_db()
    assert staged.date_format == "DD/MM/YYYY"
    preview = client.get(url).content.decode()
    assert "Fix the errors to import" in preview and "03/08/2026 12:18:55" in preview
    assert "2 not ticked" in preview
    # The new computers are ticked to be created.
    ticked = {"action": "hosts", "hosts_shown": "1", "create_host": ["FRONTDESK-PC", "KIOSK-2"]}
    assert client.post(url, ticked).status_code == 302
    assert "Import 2 sessions" in client.get(url).content.decode()
    assert client.post(url).status_code == 302
    assert [row[3] for row in sessions_of(tenant_a)] == [
        at(2026, 8, 3, 12, 18, 55),
        at(2026, 10, 5, 8, 0),
    ]
