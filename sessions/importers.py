"""Reading session log files: our generic CSV format and the exports of remote-support tools.

This module only reads files and checks each row on its own; it never touches the
database. Matching technicians, finding or creating hosts and groups, spotting
sessions imported before and writing happen in ``services.session_import``.

Reading happens in steps that can be called one by one (a wizard with a mapping
step reuses the first two and replaces the layout with a user-made one):

1. ``read_table`` — the file as rows of cells: encoding (UTF-8 with or without
   byte-order mark, UTF-16 with or without one, Windows-1252), a leading ``#TYPE``
   line written by PowerShell's ``Export-Csv`` (skipped), the delimiter (comma,
   semicolon or tab, whichever the first line uses most), or a JSON array of records
   (``[...]`` or ``{"records": [...]}`` as TeamViewer's Web API returns them).
2. ``detect_layout`` — which built-in ``Layout`` the table is, from its header line
   (or, for a file without one, from the shape of its first row).
3. ``map_rows`` — each row as ``{field: text}`` by the layout.
4. ``resolve_date_format`` and ``interpret`` — the texts as times, durations and ids,
   with per-row errors.

Dates and zones: never a silent guess
-------------------------------------
Year-first dates (``2026-10-12 09:05:00``, ``2026/10/12``, ISO 8601 with or without
an offset) are always read. Other dates are read in the chosen ``date_format``
(``DD/MM/YYYY``, ``MM/DD/YYYY``, ``DD.MM.YYYY``, ``DD-MM-YYYY``). With ``auto`` the
format is the one that reads every date of the file; when several do (every day is 12
or less, so ``03/08/2023`` is 3 August or 8 March), the file is refused with
``DateFormatRequired``, naming the formats the data allows — the user must choose.
A date that fits neither the chosen format nor ISO 8601 is a row error.

Times written with an offset (``+02:00``, ``Z``) are taken as written. Times without
one are read in the chosen zone; without a choice, in the zone the layout's tool is
documented to write (UTC for TeamViewer's console report and Web API), else in the
tenant's zone. A local time that does not exist (clocks went forward) or happens twice
(clocks went back) in that zone is a row error asking for an offset.

Layouts
-------
Each layout below is data (``LAYOUTS``): which headers (or positions) hold which field,
how to recognise it, the zone and date formats its tool writes. Fields: host (computer
name), host_external_id (the tool's device id; matches hosts before the name does),
group, technician, start, end, duration, comment, external_id (the tool's id of the
session; makes re-imports safe) and role (ScreenConnect's participant kind). A row
needs a start and an end or a duration; a layout whose tool records neither is
recognised and refused with the reason (nothing to bill).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
import zoneinfo
from dataclasses import dataclass, field

from billing_site.timeutils import DATE_RANGE_MESSAGE, in_date_range

FORMAT_AUTO = "auto"
FORMAT_GENERIC = "generic"
FORMAT_TEAMVIEWER = "teamviewer"  # the Management Console's connection report
FORMAT_TEAMVIEWER_API = "teamviewer_api"
FORMAT_TEAMVIEWER_POWERSHELL = "teamviewer_ps"
FORMAT_TEAMVIEWER_LOG = "teamviewer_log"  # Connections_incoming.txt
FORMAT_SCREENCONNECT = "screenconnect"
FORMAT_SPLASHTOP = "splashtop"
FORMAT_ANYDESK_TRACE = "anydesk_trace"

MAX_ROWS = 20_000
MAX_SESSION = dt.timedelta(hours=24)
TEAMVIEWER_ID_PREFIX = "teamviewer:"
FIELD_MAX_LENGTHS = {"host": 200, "group": 200, "external_id": 120, "host_external_id": 120}
FIELDS = (
    "host",
    "host_external_id",
    "group",
    "technician",
    "start",
    "end",
    "duration",
    "comment",
    "external_id",
    "role",
)


def normalise_header(header: str) -> str:
    """A header as compared with a layout's: lower case, ``_``/``-``/spaces as one space."""
    return re.sub(r"[\s_\-]+", " ", header.strip().lstrip("\ufeff").lower()).strip()


@dataclass(frozen=True)
class Layout:
    """How one tool's export maps to our fields. Pure data: adding a tool is adding one."""

    key: str
    label: str
    # Files with a header line: field -> accepted headers (normalised), first one preferred.
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Files without a header line: the field of each column by position ("" = not used).
    positions: tuple[str, ...] = ()
    # Auto-detection: the layout fits when all headers of one of these sets are present.
    detect: tuple[frozenset[str], ...] = ()
    # Zone the tool writes times without an offset in (None: the chosen or tenant's zone).
    zone: str | None = None
    # Date formats the tool writes (empty: any; the data and the user decide).
    date_formats: tuple[str, ...] = ()
    external_id_prefix: str = ""
    # Bare numbers in the duration column are seconds (else a unit or H:MM:SS is needed).
    duration_in_seconds: bool = False
    # Rows whose "role" is not one of these are skipped with ``skip_note``.
    keep_roles: tuple[str, ...] = ()
    skip_note: str = ""
    # The tool records no end and no duration: the file is refused with this reason.
    refusal: str = ""
    # What we relied on, shown on the import page.
    facts: str = ""


GENERIC = Layout(
    key=FORMAT_GENERIC,
    label="Generic CSV",
    columns={
        "host": ("host",),
        "host_external_id": ("device id", "host id"),
        "group": ("group",),
        "technician": ("technician",),
        "start": ("start",),
        "end": ("end",),
        "duration": ("duration",),
        "comment": ("comment",),
        "external_id": ("external id",),
    },
    detect=(frozenset({"host"}), frozenset({"device id", "start"})),
    facts="Our own format, documented below. Times without an offset are read in the zone "
    "chosen on the form (default: the tenant's).",
)

TEAMVIEWER_CONSOLE = Layout(
    key=FORMAT_TEAMVIEWER,
    label="TeamViewer connection report (Management Console)",
    columns={
        "technician": ("user", "username", "user name", "expert"),
        "host": ("computer", "device", "device name", "computer name"),
        "host_external_id": ("id", "teamviewer id", "device id", "partner id"),
        "group": ("group", "group name"),
        "start": ("start", "start date", "start time"),
        "end": ("end", "end date", "end time"),
        "duration": ("duration",),
        "comment": ("notes", "note", "comment"),
        "external_id": ("connection id", "session id", "connectionid"),
    },
    detect=tuple(
        frozenset({name})
        for name in ("computer", "device", "device name", "computer name", "teamviewer id", "id")
    ),
    zone="UTC",
    external_id_prefix=TEAMVIEWER_ID_PREFIX,
    facts="Admin settings → Connection reports → Export (CSV): semicolon-separated UTF-8 with "
    "a byte-order mark, columns such as Computer, ID (the device's TeamViewer ID), Group, "
    "Start, End, Duration, Notes, and User only when the account has several users. "
    "TeamViewer states that the connection times in exports are in UTC. The date format "
    "follows the exporting account's language: choose it when day and month are ambiguous.",
)

TEAMVIEWER_API = Layout(
    key=FORMAT_TEAMVIEWER_API,
    label="TeamViewer Web API connection records",
    columns={
        "external_id": ("id",),
        "host_external_id": ("deviceid",),
        "host": ("devicename",),
        "technician": ("username",),
        "group": ("groupname",),
        "start": ("start date",),
        "end": ("end date",),
        "comment": ("notes",),
    },
    detect=(frozenset({"start date", "deviceid"}), frozenset({"start date", "devicename"})),
    zone="UTC",
    external_id_prefix=TEAMVIEWER_ID_PREFIX,
    facts="Records of GET /api/v1/reports/connections, as JSON (the response, or its "
    "“records” list) or CSV with the same field names: id is the connection's id (kept "
    "as teamviewer:<id>, so a record is never imported twice), deviceid / devicename the "
    "device, username the TeamViewer user, groupname, start_date and end_date in ISO 8601 "
    "UTC, notes. billing_state, fee, currency, session_code, support_session_type, userid "
    "and groupid are not imported.",
)

TEAMVIEWER_POWERSHELL = Layout(
    key=FORMAT_TEAMVIEWER_POWERSHELL,
    label="TeamViewer PowerShell module export (Export-Csv)",
    columns={
        "external_id": ("id",),
        "host_external_id": ("deviceid", "device id"),
        "host": ("devicename", "device name"),
        "technician": ("username", "user name"),
        "group": ("groupname", "group name"),
        "start": ("startdate", "datetime start"),
        "end": ("enddate", "datetime end"),
        "comment": ("notes",),
    },
    detect=(frozenset({"startdate"}), frozenset({"datetime start"})),
    external_id_prefix=TEAMVIEWER_ID_PREFIX,
    facts="Get-TeamViewerConnectionReport | Export-Csv: Windows PowerShell writes a first "
    "“#TYPE …” line (skipped) and quoted, comma-separated columns (semicolons with "
    "-UseCulture) — Id (the connection), UserName, DeviceId, DeviceName, GroupName, "
    "StartDate, EndDate, Notes (newer module versions: User_Name, Device_Name, "
    "Datetime_Start, Datetime_End …). The module turns TeamViewer's UTC times into the "
    "exporting machine's local time and writes them in its culture (03/08/2023 12:18:55 "
    "is 3 August in en-GB, 8 March in en-US): choose the date format and that machine's "
    "zone. A row with an empty DeviceName and a DeviceId is matched by the device id, or "
    "creates a computer named by it.",
)

TEAMVIEWER_LOG = Layout(
    key=FORMAT_TEAMVIEWER_LOG,
    label="TeamViewer incoming connections log (Connections_incoming.txt)",
    positions=("", "technician", "start", "end", "", "", "external_id"),
    date_formats=("DD-MM-YYYY",),
    external_id_prefix=TEAMVIEWER_ID_PREFIX,
    facts="Written by TeamViewer on the supported computer itself: tab-separated, no header, "
    "one line per incoming connection — the partner's TeamViewer ID, the partner's display "
    "name (matched to a staff member's full name, username or e-mail), start and end as "
    "dd-MM-yyyy HH:mm:ss in that computer's local time, the Windows user logged on, the "
    "connection type and the connection's id. The log does not name the computer, so "
    "choose it on the form, and choose that computer's time zone.",
)

SCREENCONNECT = Layout(
    key=FORMAT_SCREENCONNECT,
    label="ScreenConnect / ConnectWise Control session connections",
    columns={
        "host": ("sessionname", "session name", "computer", "machine"),
        "group": ("customproperty1", "company"),
        "technician": ("participantname", "participant name"),
        "role": ("processtype", "process type"),
        "start": ("connectedtime", "connected time"),
        "end": ("disconnectedtime", "disconnected time"),
        "duration": ("durationseconds", "duration seconds", "duration"),
        "external_id": ("connectionid", "connection id"),
    },
    detect=(
        frozenset({"connectedtime"}),
        frozenset({"connected time"}),
        frozenset({"participantname"}),
        frozenset({"participant name"}),
    ),
    duration_in_seconds=True,
    external_id_prefix="screenconnect:",
    keep_roles=("host",),
    skip_note="The customer's side of the connection (process type “Guest”); only the "
    "technician's (“Host”) connections are billed.",
    facts="A session-connection report (Report Manager): one row per participant connection "
    "— SessionName (the machine of an Access session), ParticipantName, ProcessType "
    "(Host = the technician, Guest = the customer), ConnectedTime, DisconnectedTime, "
    "DurationSeconds, ConnectionID (kept as screenconnect:<id>). Only Host rows are "
    "imported. Times without an offset are read in the zone chosen on the form.",
)

SPLASHTOP = Layout(
    key=FORMAT_SPLASHTOP,
    label="Splashtop session logs (Export as CSV)",
    columns={
        "host": (
            "streamer",
            "streamer name",
            "computer",
            "computer name",
            "remote computer",
            "device",
        ),
        "technician": ("user", "user name", "username", "email", "technician"),
        "group": ("group", "group name"),
        "start": ("start time", "start", "session start"),
        "end": ("end time", "end", "session end"),
        "duration": ("duration",),
        "comment": ("note", "notes", "comment"),
        "external_id": ("session id",),
    },
    detect=(
        frozenset({"streamer"}),
        frozenset({"streamer name"}),
        frozenset({"streamer ip"}),
        frozenset({"client name", "client ip"}),
    ),
    external_id_prefix="splashtop:",
    facts="my.splashtop.com → Logs → Sessions → Export as CSV: the two devices (the "
    "Streamer is the remote computer) with their IP addresses, the user, start, end and "
    "duration, and the type (Local / Remote). Splashtop writes the times in the time zone "
    "of the account (Account Info) without an offset: choose that zone if it is not the "
    "tenant's.",
)

ANYDESK_TRACE = Layout(
    key=FORMAT_ANYDESK_TRACE,
    label="AnyDesk connection trace (connection_trace.txt)",
    refusal="This is AnyDesk's connection trace (connection_trace.txt). It records when each "
    "incoming connection started (YYYY-MM-DD, HH:MM), how it was accepted and who connected, "
    "but not when it ended or how long it lasted, so there is nothing to bill. Export the "
    "sessions with their start and end (or duration) instead, for example as the generic "
    "format.",
    facts="Direction, date and time (YYYY-MM-DD, HH:MM), authentication method (User, "
    "Passwd, Token, REJECTED), the originating alias and AnyDesk ID — a start time only, "
    "so these files are refused with that reason.",
)

# Auto-detection tries header layouts in this order (the most specific first).
HEADER_LAYOUTS = (
    TEAMVIEWER_POWERSHELL,
    TEAMVIEWER_API,
    SCREENCONNECT,
    SPLASHTOP,
    GENERIC,
    TEAMVIEWER_CONSOLE,
)
LAYOUTS = {layout.key: layout for layout in (*HEADER_LAYOUTS, TEAMVIEWER_LOG, ANYDESK_TRACE)}
FORMAT_CHOICES = [
    (FORMAT_AUTO, "Detect from the content"),
    (FORMAT_GENERIC, "Generic CSV (host, group, technician, start, end, comment, external_id)"),
    *(
        (layout.key, layout.label)
        for layout in LAYOUTS.values()
        if layout.key != FORMAT_GENERIC and not layout.refusal
    ),
]
FORMAT_LABELS = {key: layout.label for key, layout in LAYOUTS.items()}

INCOMING_LOG_TIME = re.compile(r"^\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2}$")
ANYDESK_TRACE_LINE = re.compile(r"^\s*(Incoming|Outgoing)\s+\d{4}-\d{2}-\d{2},\s+\d{1,2}:\d{2}\b")


class FileFormatError(ValueError):
    """The file as a whole cannot be read (encoding, no header, unknown columns)."""


class DateFormatRequired(FileFormatError):
    """Several date formats read every date of the file: the user must choose one."""

    def __init__(self, message: str, choices: list[str]):
        super().__init__(message)
        self.choices = choices


@dataclass
class RowError:
    """One problem, located the way a user finds it in the file."""

    line: int
    column: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "message": self.message}

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column “{self.column}”" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class ParsedRow:
    line: int
    host: str = ""
    group: str = ""
    technician: str = ""
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    comment: str = ""
    external_id: str = ""
    host_external_id: str = ""
    start_text: str = ""
    end_text: str = ""
    skipped: str = ""  # why the row is not imported (not an error)
    errors: list[RowError] = field(default_factory=list)

    @property
    def duration_seconds(self) -> int | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return int((self.ended_at - self.started_at).total_seconds())


@dataclass
class ParsedFile:
    format: str
    zone: str
    columns: dict[str, str]  # our field -> header as written in the file
    ignored_columns: list[str]
    rows: list[ParsedRow]
    date_format: str = "iso"
    # The formats that read every date of the file (for a form to offer).
    date_format_choices: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return FORMAT_LABELS.get(self.format, self.format)


# Step 1: the file as a table ------------------------------------------------------------


def decode(data: bytes) -> str:
    """Text of an uploaded file: UTF-8 (with or without BOM), UTF-16 (with or without BOM)
    or Windows-1252."""
    encoding = None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = _bomless_utf16(data)
    if encoding:
        try:
            return check_text(data.decode(encoding))
        except UnicodeDecodeError:
            raise FileFormatError(
                "The file starts like UTF-16 text but is not valid UTF-16; "
                "save it as “CSV UTF-8” and upload it again."
            ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Spreadsheet programs on Windows save "CSV" in the ANSI code page.
        text = data.decode("cp1252", errors="replace")
    return check_text(text)


def _bomless_utf16(data: bytes) -> str | None:
    """ "utf-16-le"/"utf-16-be" when the start of ``data`` is plain text saved as UTF-16
    without a byte-order mark: every other byte is NUL, and only those."""
    sample = data[:400]
    if len(sample) < 8 or len(sample) % 2:
        sample = sample[: len(sample) - len(sample) % 2]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if not even.count(0) and odd.count(0) == len(odd):
        return "utf-16-le"
    if not odd.count(0) and even.count(0) == len(even):
        return "utf-16-be"
    return None


def check_text(text: str) -> str:
    """``text`` if it can be a session log; a NUL means a binary file, which the database
    could not store either."""
    position = text.find("\x00")
    if position >= 0:
        line = text.count("\n", 0, position) + 1
        raise FileFormatError(
            f"The file contains a NUL character (line {line}), so it is not CSV text; "
            "save it as “CSV UTF-8” and upload it again."
        )
    return text


@dataclass
class Table:
    """A file's cells, before any meaning is given to them."""

    rows: list[tuple[int, list[str]]]  # (line or record number, cells), blank lines left out
    delimiter: str = ","
    type_line: str = ""  # PowerShell's "#TYPE …" line, if any
    is_json: bool = False
    json_keys: list[str] = field(default_factory=list)


def _delimiter(line: str) -> str:
    counts = {delimiter: line.count(delimiter) for delimiter in (",", ";", "\t")}
    delimiter = max(counts, key=counts.get)
    return delimiter if counts[delimiter] else ","


def read_table(text: str) -> Table:
    """The rows of ``text``: CSV (any delimiter, ``#TYPE`` line skipped) or JSON records."""
    text = text.lstrip("\ufeff")
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        return _read_json(stripped)
    lines_before = 0
    type_line = ""
    if text.startswith("#TYPE"):
        type_line, _, text = text.partition("\n")
        type_line = type_line.strip()
        lines_before = 1
    first_line = text.split("\n", 1)[0]
    delimiter = _delimiter(first_line)

    class Dialect(csv.excel):
        pass

    Dialect.delimiter = delimiter
    reader = csv.reader(io.StringIO(text, newline=""), Dialect)
    rows: list[tuple[int, list[str]]] = []
    last_line = 0
    try:
        for record in reader:
            line = last_line + 1 + lines_before
            last_line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) > MAX_ROWS:
                raise FileFormatError(
                    f"The file has more than {MAX_ROWS} sessions; split it into smaller files."
                )
            rows.append((line, record))
    except csv.Error as exc:
        raise FileFormatError(
            f"Line {last_line + 1 + lines_before} is not valid CSV: {exc}."
        ) from None
    return Table(rows=rows, delimiter=delimiter, type_line=type_line)


def _read_json(text: str) -> Table:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FileFormatError(f"The file starts like JSON but is not valid JSON: {exc}.") from None
    records = data.get("records") if isinstance(data, dict) else data
    if not isinstance(records, list) or not all(isinstance(item, dict) for item in records):
        raise FileFormatError(
            "A JSON file must be a list of connection records, or an object with a "
            "“records” list (as TeamViewer's Web API returns)."
        )
    if len(records) > MAX_ROWS:
        raise FileFormatError(
            f"The file has more than {MAX_ROWS} sessions; split it into smaller files."
        )
    keys: list[str] = []
    for record in records:
        keys.extend(key for key in record if key not in keys)

    def cell(value) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    rows = [(0, list(keys))]
    rows += [
        (number, [cell(record.get(key)) for key in keys])
        for number, record in enumerate(records, start=1)
    ]
    return Table(rows=rows, is_json=True, json_keys=keys)


# Step 2: which layout --------------------------------------------------------------------


def _map_columns(headers: list[str], layout: Layout) -> tuple[dict[str, int], dict[str, str]]:
    """Our field -> column index, and our field -> the header as written."""
    indexes: dict[str, int] = {}
    labels: dict[str, str] = {}
    names = [normalise_header(header) for header in headers]
    for field_name, accepted in layout.columns.items():
        for wanted in accepted:
            if wanted in names:
                index = names.index(wanted)
                if index not in indexes.values():
                    indexes[field_name] = index
                    labels[field_name] = headers[index].strip().lstrip("\ufeff")
                    break
    return indexes, labels


def _fits(layout: Layout, headers: list[str]) -> bool:
    names = {normalise_header(header) for header in headers}
    if not any(required <= names for required in layout.detect):
        return False
    indexes, _ = _map_columns(headers, layout)
    return "start" in indexes


def _is_incoming_log(cells: list[str]) -> bool:
    return (
        len(cells) >= 4
        and bool(INCOMING_LOG_TIME.match(cells[2].strip()))
        and bool(INCOMING_LOG_TIME.match(cells[3].strip()))
    )


def detect_layout(text: str, table: Table) -> Layout | None:
    """The built-in layout of a file, from its content; None when none fits."""
    first_text_line = text.lstrip("\ufeff").split("\n", 1)[0]
    if ANYDESK_TRACE_LINE.match(first_text_line):
        return ANYDESK_TRACE
    if not table.rows:
        return None
    headers = table.rows[0][1]
    if table.type_line and _fits(TEAMVIEWER_POWERSHELL, headers):
        return TEAMVIEWER_POWERSHELL
    for layout in HEADER_LAYOUTS:
        if _fits(layout, headers):
            return layout
    if not table.is_json and _is_incoming_log(headers):
        return TEAMVIEWER_LOG
    return None


# Step 3: rows as fields ------------------------------------------------------------------


@dataclass
class RawRow:
    line: int
    cells: dict[str, str]  # our field -> text as written


@dataclass
class Mapping:
    layout: Layout
    labels: dict[str, str]  # our field -> header (or "column N") as shown to the user
    ignored: list[str]
    rows: list[RawRow]


def map_rows(
    table: Table,
    layout: Layout,
    *,
    indexes: dict[str, int] | None = None,
    has_header: bool = True,
) -> Mapping:
    """``table``'s rows as {field: text} by ``layout``; FileFormatError for missing columns.

    ``indexes`` (field -> 0-based column, from the mapping step) replaces the layout's
    columns; ``has_header`` then says whether the first row names the columns.
    """
    if layout.refusal:
        raise FileFormatError(layout.refusal)
    if indexes is not None:
        return _map_rows_by_index(table, layout, indexes, has_header)
    if layout.positions:
        indexes = {name: index for index, name in enumerate(layout.positions) if name}
        labels = {name: f"column {index + 1}" for name, index in indexes.items()}
        body = table.rows
        ignored: list[str] = []
    else:
        if not table.rows:
            raise FileFormatError("The file is empty.")
        headers = table.rows[0][1]
        if not any(header.strip() for header in headers):
            raise FileFormatError("The first line must name the columns.")
        indexes, labels = _map_columns(headers, layout)
        mapped = set(indexes.values())
        ignored = [
            header.strip()
            for index, header in enumerate(headers)
            if index not in mapped and header.strip()
        ]
        body = table.rows[1:]
        _check_columns(layout, indexes, labels)
    rows = [
        RawRow(
            line=line,
            cells={
                name: cells[index].strip() if index < len(cells) else ""
                for name, index in indexes.items()
            },
        )
        for line, cells in body
    ]
    if not rows:
        raise FileFormatError("The file has a header line but no sessions.")
    return Mapping(layout=layout, labels=labels, ignored=ignored, rows=rows)


def _map_rows_by_index(
    table: Table, layout: Layout, indexes: dict[str, int], has_header: bool
) -> Mapping:
    if not table.rows:
        raise FileFormatError("The file is empty.")
    columns = column_names(table, has_header)
    indexes = dict(indexes)
    if not has_header and layout.positions:
        # What the mapping step does not offer (none today) stays as the layout has it.
        for index, name in enumerate(layout.positions):
            if name and name not in WIZARD_FIELDS and name not in indexes:
                indexes[name] = index
    elif has_header and "role" in layout.columns and "role" not in indexes:
        # ScreenConnect's participant kind is not offered in the mapping step: kept.
        role = _map_columns(table.rows[0][1], layout)[0].get("role")
        if role is not None and role not in indexes.values():
            indexes["role"] = role
    for name, index in indexes.items():
        if not 0 <= index < len(columns):
            raise FileFormatError(
                f"The file has {len(columns)} columns; {FIELD_LABELS.get(name, name)} is "
                f"mapped to column {index + 1}."
            )
    labels = {name: columns[index] for name, index in indexes.items()}
    mapped = set(indexes.values())
    ignored = [name for index, name in enumerate(columns) if index not in mapped and has_header]
    _check_columns(layout, indexes, labels)
    body = table.rows[1:] if has_header else table.rows
    rows = [
        RawRow(
            line=line,
            cells={
                name: cells[index].strip() if index < len(cells) else ""
                for name, index in indexes.items()
            },
        )
        for line, cells in body
    ]
    if not rows:
        raise FileFormatError("The file has a header line but no sessions.")
    return Mapping(layout=layout, labels=labels, ignored=ignored, rows=rows)


def _check_columns(layout: Layout, indexes: dict[str, int], labels: dict[str, str]) -> None:
    if "start" not in indexes:
        accepted = ", ".join(layout.columns.get("start", ("start",)))
        raise FileFormatError(
            f"Missing column(s): start. A {layout.label} needs a start column ({accepted})."
        )
    if "end" not in indexes and "duration" not in indexes:
        raise FileFormatError(
            f"The file has a start time (column “{labels['start']}”) but no end time and no "
            "duration, so there is nothing to bill. Export the sessions with their end time "
            "or their duration."
        )


# Step 4: dates, zones and values ---------------------------------------------------------

DATE_FORMAT_AUTO = "auto"
DATE_FORMAT_ISO = "iso"
_DAY_MONTH = {
    "DD/MM/YYYY": r"(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})",
    "MM/DD/YYYY": r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})",
    "DD.MM.YYYY": r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})",
    "DD-MM-YYYY": r"(?P<d>\d{1,2})-(?P<m>\d{1,2})-(?P<y>\d{4})",
}
DATE_FORMATS = {
    DATE_FORMAT_ISO: "Year first only (ISO 8601, e.g. 2026-10-12 09:05:00)",
    "DD/MM/YYYY": "DD/MM/YYYY — day first, e.g. 31/12/2026 (en-GB, fr-FR, es-ES, it-IT)",
    "MM/DD/YYYY": "MM/DD/YYYY — month first, e.g. 12/31/2026 (en-US)",
    "DD.MM.YYYY": "DD.MM.YYYY — e.g. 31.12.2026 (de-DE, de-CH, ru-RU)",
    "DD-MM-YYYY": "DD-MM-YYYY — e.g. 31-12-2026 (nl-NL, TeamViewer's own log)",
}
DATE_FORMAT_CHOICES = [
    (DATE_FORMAT_AUTO, "Detect (refused when day and month are ambiguous)"),
    *DATE_FORMATS.items(),
]
_TIME = (
    r"(?:(?:T|\s+|,\s*)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
    r"(?:\s*(?P<p>[AaPp]\.?[Mm]\.?))?)?"
    r"\s*(?P<tz>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
)
_YEAR_FIRST = re.compile(
    r"^(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})" + _TIME + r"$"
)
_PATTERNS = {name: re.compile("^" + date + _TIME + "$") for name, date in _DAY_MONTH.items()}


def _build(match: re.Match) -> dt.datetime | None:
    parts = match.groupdict()
    if parts["H"] is None:
        return None  # a date without a time of day
    hour = int(parts["H"])
    if parts["p"]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if parts["p"].lower().startswith("p") else 0)
    try:
        value = dt.datetime(
            int(parts["y"]),
            int(parts["m"]),
            int(parts["d"]),
            hour,
            int(parts["M"]),
            int(parts["S"] or 0),
            int((parts["f"] or "0")[:6].ljust(6, "0")),
        )
    except ValueError:
        return None
    offset = parts["tz"]
    if offset:
        if offset in ("Z", "UTC", "GMT"):
            return value.replace(tzinfo=dt.UTC)
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
        if minutes >= 24 * 60:
            return None
        return value.replace(tzinfo=dt.timezone(sign * dt.timedelta(minutes=minutes)))
    return value


def _year_first(value: str) -> dt.datetime | None:
    match = _YEAR_FIRST.match(value)
    if match:
        return _build(match)
    try:
        # The rest of ISO 8601 (e.g. 20261012T090500Z); a date alone is not a time.
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if re.search(r"\d[T ]\d", value) else None


def parse_time(value: str, date_format: str) -> dt.datetime | None:
    """``value`` as a datetime (naive, or aware when written with an offset): year first
    always, else in ``date_format``; None when it fits neither."""
    value = value.strip()
    parsed = _year_first(value)
    if parsed is not None or date_format not in _PATTERNS:
        return parsed
    match = _PATTERNS[date_format].match(value)
    return _build(match) if match else None


def date_format_candidates(values: list[str], allowed: tuple[str, ...] = ()) -> list[str]:
    """The date formats that read every one of ``values`` (for a form to offer).

    ``["iso"]`` when every value is year first; empty when no single format reads them all.
    """
    others = [value for value in values if _year_first(value.strip()) is None]
    if not others:
        return [DATE_FORMAT_ISO]
    pool = allowed or tuple(_DAY_MONTH)
    return [name for name in pool if all(parse_time(value, name) for value in others)]


def resolve_date_format(
    values: list[str], requested: str = DATE_FORMAT_AUTO, layout: Layout | None = None
) -> str:
    """The date format to read ``values`` in: the requested one, else the one the data
    allows; DateFormatRequired when several fit (day and month ambiguous)."""
    if requested and requested != DATE_FORMAT_AUTO:
        if requested not in DATE_FORMATS:
            raise FileFormatError(
                f"Unknown date format “{requested}”: use auto, {', '.join(DATE_FORMATS)}."
            )
        return requested
    allowed = layout.date_formats if layout else ()
    others = [value for value in values if _year_first(value.strip()) is None]
    if not others:
        return DATE_FORMAT_ISO
    fitting = date_format_candidates(others, allowed)
    if len(fitting) == 1:
        return fitting[0]
    if len(fitting) > 1:
        example = next((value for value in others if _reads_differently(value, fitting)), others[0])
        raise DateFormatRequired(
            f"The dates can be read in more than one way (e.g. “{example}” in "
            f"{' or '.join(fitting)}): choose the date format the file was written in.",
            fitting,
        )
    pool = allowed or tuple(_DAY_MONTH)
    partial = [name for name in pool if any(parse_time(value, name) for value in others)]
    if len(partial) == 1:
        return partial[0]  # the dates it does not read are row errors
    if not partial:
        return DATE_FORMAT_ISO
    raise DateFormatRequired(
        "The dates fit no single format: some are day first, some month first, or some are "
        f"not dates. Choose the date format ({' or '.join(partial)}); dates that do not fit "
        "it are listed as errors.",
        partial,
    )


def _reads_differently(value: str, formats: list[str]) -> bool:
    return len({parse_time(value, name) for name in formats}) > 1


def make_aware(value: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """``value`` in UTC: kept if it has an offset, else read in ``zone``.

    Raises ValueError for local times skipped or repeated by a daylight-saving change.
    """
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(dt.UTC)
    first = value.replace(tzinfo=zone, fold=0)
    as_utc = first.astimezone(dt.UTC)
    if as_utc.astimezone(zone).replace(tzinfo=None) != value:
        raise ValueError(
            f"{value:%Y-%m-%d %H:%M:%S} does not exist in {zone.key} (clocks went forward)."
        )
    if first.utcoffset() != value.replace(tzinfo=zone, fold=1).utcoffset():
        raise ValueError(
            f"{value:%Y-%m-%d %H:%M:%S} happens twice in {zone.key} (clocks went back); "
            "add the offset, e.g. +02:00."
        )
    return as_utc


_DURATION_UNITS = re.compile(
    r"^(?:(?P<d>\d+)\s*d(?:ays?)?)?\s*(?:(?P<h>\d+)\s*h(?:ours?|rs?)?)?\s*"
    r"(?:(?P<m>\d+)\s*m(?:in(?:utes?|s)?)?)?\s*(?:(?P<s>\d+)\s*s(?:ec(?:onds?|s)?)?)?$"
)
_DURATION_CLOCK = re.compile(r"^(?P<h>\d+):(?P<m>\d{2})(?::(?P<s>\d{2}))?$")


def parse_duration(value: str, *, bare_seconds: bool = False) -> int:
    """Seconds in ``value``: H:MM[:SS], units (1h 02min 07s, 15m, 90s) or, where the
    layout says so, a bare number of seconds. ValueError otherwise."""
    value = value.strip().lower()
    if value.isdigit():
        if bare_seconds:
            return int(value)
        raise ValueError(
            f"“{value}” has no unit; write the duration as H:MM:SS or with a unit (15m, 1h 30m)."
        )
    match = _DURATION_CLOCK.match(value)
    if match:
        return int(match["h"]) * 3600 + int(match["m"]) * 60 + int(match["s"] or 0)
    match = _DURATION_UNITS.match(value)
    if value and match and any(match.groupdict().values()):
        parts = {key: int(number or 0) for key, number in match.groupdict().items()}
        return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    raise ValueError(
        f"“{value}” is not a duration; write it as H:MM:SS or with a unit (15m, 1h 30m)."
    )


def check_span(
    started_at: dt.datetime | None, ended_at: dt.datetime | None, now: dt.datetime
) -> dict[str, str]:
    """The rules every finished session obeys, as {"started_at"|"ended_at": message}."""
    errors: dict[str, str] = {
        name: DATE_RANGE_MESSAGE
        for name, value in (("started_at", started_at), ("ended_at", ended_at))
        if value is not None and not in_date_range(value)
    }
    if errors:
        return errors
    if started_at is not None and started_at > now:
        errors["started_at"] = "The start cannot be in the future."
    if started_at is None or ended_at is None:
        return errors
    if ended_at <= started_at:
        errors["ended_at"] = "The end must be after the start."
    elif ended_at - started_at > MAX_SESSION:
        errors["ended_at"] = "A session cannot last longer than 24 h; split it into several."
    elif ended_at > now:
        errors["ended_at"] = "The end cannot be in the future."
    return errors


def _time_error(value: str, date_format: str) -> str:
    if date_format == DATE_FORMAT_ISO:
        return (
            f"“{value}” is not an ISO 8601 time; write e.g. 2026-10-12 09:05:00 or "
            "2026-10-12T09:05:00+02:00."
        )
    return (
        f"“{value}” is not a time in the date format {date_format} (nor ISO 8601, "
        "e.g. 2026-10-12 09:05:00)."
    )


def interpret(
    mapping: Mapping,
    *,
    date_format: str,
    zone: zoneinfo.ZoneInfo,
    host: str = "",
    now: dt.datetime,
) -> list[ParsedRow]:
    """Every mapped row as a ParsedRow with its errors."""
    return [
        _interpret_row(raw, mapping, date_format=date_format, zone=zone, host=host, now=now)
        for raw in mapping.rows
    ]


def row_host(raw: RawRow, layout: Layout, host: str = "") -> str | None:
    """The computer a mapped row is on ("" when it names none); None for a row the
    layout skips (e.g. a ScreenConnect guest)."""
    cells = raw.cells
    if layout.keep_roles and "role" in cells and cells["role"].lower() not in layout.keep_roles:
        return None
    if layout.positions and "host" not in cells:
        return host
    # A device known only by its id (e.g. an empty DeviceName): matched by the id, or a
    # computer named by it.
    return cells.get("host", "") or cells.get("host_external_id", "") or host


def _interpret_row(
    raw: RawRow,
    mapping: Mapping,
    *,
    date_format: str,
    zone: zoneinfo.ZoneInfo,
    host: str,
    now: dt.datetime,
) -> ParsedRow:
    layout, labels = mapping.layout, mapping.labels
    line = raw.line
    row = ParsedRow(line=line)

    def cell(name: str) -> str:
        return raw.cells.get(name, "")

    def error(name: str, message: str) -> None:
        row.errors.append(RowError(line=line, column=labels.get(name, name), message=message))

    row.group = cell("group")
    row.technician = cell("technician")
    row.comment = cell("comment")
    row.external_id = cell("external_id")
    row.host_external_id = cell("host_external_id")
    row.start_text, row.end_text = cell("start"), cell("end")
    row.host = row_host(raw, layout, host)
    if row.host is None:
        row.host = cell("host")
        row.skipped = layout.skip_note
        return row
    if row.external_id and layout.external_id_prefix:
        row.external_id = layout.external_id_prefix + row.external_id
    if not row.host:
        if layout.positions and "host" not in raw.cells:
            error(
                "host",
                "This log does not name the computer it was written on; choose the "
                "computer on the import form.",
            )
        else:
            error("host", "This value is required.")
    if not cell("start"):
        error("start", "This value is required.")
    if not cell("end") and not cell("duration"):
        error("end", "This value is required (an end, or a duration).")
    for name, limit in FIELD_MAX_LENGTHS.items():
        if len(getattr(row, name)) > limit:
            error(name, f"At most {limit} characters.")

    for name in ("start", "end"):
        text = cell(name)
        if not text:
            continue
        parsed = parse_time(text, date_format)
        if parsed is None:
            error(name, _time_error(text, date_format))
            continue
        if not in_date_range(parsed):
            # Before the zone change: year 1 east of UTC has no UTC time at all.
            error(name, DATE_RANGE_MESSAGE)
            continue
        try:
            value = make_aware(parsed, zone).replace(microsecond=0)
        except ValueError as exc:
            error(name, str(exc))
            continue
        if name == "start":
            row.started_at = value
        else:
            row.ended_at = value
    end_column = "end"
    if not cell("end") and cell("duration") and row.started_at is not None:
        end_column = "duration"
        try:
            seconds = parse_duration(cell("duration"), bare_seconds=layout.duration_in_seconds)
        except ValueError as exc:
            error("duration", str(exc))
        else:
            if seconds <= 0:
                error("duration", "The duration must be more than zero.")
            else:
                row.ended_at = row.started_at + dt.timedelta(seconds=seconds)
    for name, message in check_span(row.started_at, row.ended_at, now).items():
        error("start" if name == "started_at" else end_column, message)
    return row


# All steps -------------------------------------------------------------------------------


def parse(
    text: str,
    *,
    fmt: str = FORMAT_AUTO,
    zone: str | None = None,
    default_zone: str = "UTC",
    date_format: str = DATE_FORMAT_AUTO,
    host: str = "",
    now: dt.datetime,
    mapping: dict[str, str | int] | None = None,
) -> ParsedFile:
    """Read and check every row of ``text``; FileFormatError for the file as a whole
    (DateFormatRequired when the user must choose the date format).

    ``mapping`` (field -> header or 1-based column number, see ``resolve_mapping``)
    replaces the layout's columns; a file no layout fits is then read as the generic one.

    ``zone`` (an IANA name) is the zone of times without an offset; without it, the zone
    the layout's tool writes (UTC for TeamViewer's report and Web API), else
    ``default_zone`` (the tenant's). ``host`` names the computer of rows without one
    (TeamViewer's incoming log never names it).
    """
    if fmt != FORMAT_AUTO and fmt not in LAYOUTS:
        raise FileFormatError(
            f"Unknown format “{fmt}”: use auto, {', '.join(key for key in LAYOUTS)}."
        )
    if not text.strip():
        raise FileFormatError("The file is empty.")
    table = read_table(text)
    if fmt == FORMAT_AUTO:
        layout = detect_layout(text, table)
        if layout is None and mapping:
            layout = GENERIC
        if layout is None:
            headers = table.rows[0][1] if table.rows else []
            raise FileFormatError(
                "The columns match neither the generic format (host, technician, start, end, "
                "…) nor a known tool's export (TeamViewer, ScreenConnect, Splashtop). "
                f"Columns found: {', '.join(h.strip() for h in headers if h.strip())}."
            )
    else:
        layout = LAYOUTS[fmt]
    if mapping:
        if layout.refusal:
            raise FileFormatError(layout.refusal)
        has_header = file_has_header(table, layout)
        indexes = resolve_mapping(mapping, column_names(table, has_header), has_header)
        mapping = map_rows(table, layout, indexes=indexes, has_header=has_header)
    else:
        mapping = map_rows(table, layout)
    values = [
        raw.cells[name] for raw in mapping.rows for name in ("start", "end") if raw.cells.get(name)
    ]
    resolved = resolve_date_format(values, date_format, layout)
    zone_name = zone or layout.zone or default_zone
    notes = []
    if not zone and layout.zone:
        notes.append(
            f"Times without an offset are read in {layout.zone}, as {layout.label} writes them."
        )
    rows = interpret(
        mapping, date_format=resolved, zone=zoneinfo.ZoneInfo(zone_name), host=host, now=now
    )
    return ParsedFile(
        format=layout.key,
        zone=zone_name,
        columns=mapping.labels,
        ignored_columns=mapping.ignored,
        rows=rows,
        date_format=resolved,
        date_format_choices=date_format_candidates(values, layout.date_formats),
        notes=notes,
    )


# The mapping step ------------------------------------------------------------------------

# The fields a user maps columns to, in the order the mapping step offers them.
WIZARD_FIELDS = (
    "host",
    "host_external_id",
    "group",
    "technician",
    "start",
    "end",
    "duration",
    "comment",
    "external_id",
)
FIELD_LABELS = {
    "host": "Host",
    "host_external_id": "Device ID",
    "group": "Group",
    "technician": "Technician",
    "start": "Start",
    "end": "End",
    "duration": "Duration",
    "comment": "Comment",
    "external_id": "External ID",
    "role": "Role",
}
IGNORE = ""
SAMPLE_ROWS = 5

# Headers a file of no known layout may use, beyond those of the layouts.
_MORE_HEADERS = {
    "host": ("hostname", "host name", "machine", "machine name", "computer", "pc", "endpoint"),
    "host_external_id": ("deviceid", "device", "computer id", "machine id", "anydesk id"),
    "group": ("company", "customer", "client", "site", "organisation", "organization"),
    "technician": ("tech", "agent", "engineer", "operator", "user", "username", "email"),
    "start": ("begin", "started", "started at", "start at", "from", "start time", "date"),
    "end": ("finish", "finished", "ended", "ended at", "stop", "to", "end time"),
    "duration": ("length", "time spent", "minutes", "elapsed"),
    "comment": ("description", "notes", "note", "summary", "details", "subject"),
    "external_id": ("session id", "connection id", "id", "ticket", "reference"),
}


def _guess_aliases() -> dict[str, tuple[str, ...]]:
    aliases: dict[str, list[str]] = {name: [] for name in WIZARD_FIELDS}
    for layout in (GENERIC, *HEADER_LAYOUTS):
        for name, accepted in layout.columns.items():
            if name in aliases:
                aliases[name] += [value for value in accepted if value not in aliases[name]]
    for name, accepted in _MORE_HEADERS.items():
        aliases[name] += [value for value in accepted if value not in aliases[name]]
    return {name: tuple(values) for name, values in aliases.items()}


GUESS = Layout(key=FORMAT_GENERIC, label=GENERIC.label, columns=_guess_aliases())


def _looks_like_time(value: str) -> bool:
    value = value.strip()
    return bool(value) and any(
        parse_time(value, name) is not None for name in (DATE_FORMAT_ISO, *_DAY_MONTH)
    )


def file_has_header(table: Table, layout: Layout | None = None) -> bool:
    """Whether the first row names the columns: not for positional layouts, nor when a
    cell of it is already a time (a file of data only)."""
    if table.is_json:
        return True
    if layout is not None and layout.positions:
        return False
    if not table.rows:
        return True
    return not any(_looks_like_time(cell) for cell in table.rows[0][1])


COLUMN_ROWS = 50  # the rows that say how many columns a file has


def column_names(table: Table, has_header: bool) -> list[str]:
    """The columns as the mapping step names them: headers, or "Column 1…N"."""
    width = max((len(cells) for _, cells in table.rows[:COLUMN_ROWS]), default=0)
    if has_header and table.rows:
        headers = [header.strip().lstrip("\ufeff") for header in table.rows[0][1]]
        return [header or f"Column {index + 1}" for index, header in enumerate(headers)] + [
            f"Column {index + 1}" for index in range(len(headers), width)
        ]
    return [f"Column {index + 1}" for index in range(width)]


def resolve_mapping(
    spec: dict[str, str | int], columns: list[str], has_header: bool
) -> dict[str, int]:
    """``spec`` (field -> header as written, or 1-based column number) as field -> 0-based
    index; FileFormatError naming unknown fields, missing columns or a column used twice."""
    unknown = [name for name in spec if name not in WIZARD_FIELDS and name != "role"]
    if unknown:
        raise FileFormatError(
            f"Unknown field(s) in the mapping: {', '.join(unknown)}. Use "
            f"{', '.join(WIZARD_FIELDS)}."
        )
    names = [normalise_header(column) for column in columns]
    indexes: dict[str, int] = {}
    missing: list[str] = []
    for name, column in spec.items():
        if column is None or column == "":
            continue
        if isinstance(column, bool):
            missing.append(str(column))
            continue
        if isinstance(column, int) or (isinstance(column, str) and column.strip().isdigit()):
            number = int(column)
            wanted = normalise_header(str(column))
            if has_header and wanted in names and isinstance(column, str):
                indexes[name] = names.index(wanted)
            elif 1 <= number <= len(columns):
                indexes[name] = number - 1
            else:
                missing.append(f"column {number}")
            continue
        wanted = normalise_header(str(column))
        if wanted.startswith("column ") and wanted[7:].isdigit() and wanted not in names:
            number = int(wanted[7:])
            if 1 <= number <= len(columns):
                indexes[name] = number - 1
            else:
                missing.append(str(column))
        elif wanted in names:
            indexes[name] = names.index(wanted)
        else:
            missing.append(str(column))
    if missing:
        raise FileFormatError(
            f"The file has no column(s) {', '.join(f'“{name}”' for name in missing)} "
            f"(columns found: {', '.join(columns)})."
        )
    check_mapping(indexes, columns)
    return indexes


def check_mapping(indexes: dict[str, int], columns: list[str]) -> None:
    """The rules of a mapping: start required; end or duration; a column for one field."""
    by_index: dict[int, list[str]] = {}
    for name, index in indexes.items():
        by_index.setdefault(index, []).append(name)
    for index, names in by_index.items():
        if len(names) > 1:
            column = columns[index] if index < len(columns) else f"Column {index + 1}"
            raise FileFormatError(
                f"Column “{column}” is mapped to both "
                f"{' and '.join(FIELD_LABELS.get(name, name) for name in names)}."
            )
    if "start" not in indexes:
        raise FileFormatError("Map a column to Start: every session needs one.")
    if "end" not in indexes and "duration" not in indexes:
        raise FileFormatError(
            "Map a column to End or to Duration: without either there is nothing to bill."
        )


def mapping_from_columns(choices: list[str], columns: list[str]) -> dict[str, int]:
    """The mapping step's answer (one field, or "" to ignore, per column) as field ->
    0-based index; FileFormatError for a field mapped twice (naming both columns)."""
    indexes: dict[str, int] = {}
    for index, name in enumerate(choices):
        if not name:
            continue
        if name not in WIZARD_FIELDS:
            raise FileFormatError(f"Unknown field “{name}”.")
        if name in indexes:
            raise FileFormatError(
                f"{FIELD_LABELS[name]} is mapped to two columns: “{columns[indexes[name]]}” "
                f"and “{columns[index]}”. Map it to one and ignore the other."
            )
        indexes[name] = index
    check_mapping(indexes, columns)
    return indexes


@dataclass
class ColumnProposal:
    """What the mapping step shows: the columns, the first rows and a mapping to start from."""

    layout: Layout | None  # the detected (or chosen) layout; None: not recognised
    has_header: bool
    columns: list[str]
    sample: list[list[str]]
    mapping: dict[str, int]  # field -> 0-based index
    guessed: bool = False  # the mapping comes from header names, not from a layout

    def field_of(self, index: int) -> str:
        return next((name for name, i in self.mapping.items() if i == index), IGNORE)


def propose_mapping(
    text: str, *, fmt: str = FORMAT_AUTO, sample_rows: int = SAMPLE_ROWS
) -> ColumnProposal:
    """The mapping step of ``text``: a known layout's columns, else a guess from the
    headers (none for a file without a header line)."""
    if not text.strip():
        raise FileFormatError("The file is empty.")
    table = read_table(text)
    if fmt != FORMAT_AUTO and fmt in LAYOUTS:
        layout: Layout | None = LAYOUTS[fmt]
    else:
        layout = detect_layout(text, table)
    if layout is not None and layout.refusal:
        raise FileFormatError(layout.refusal)
    has_header = file_has_header(table, layout)
    columns = column_names(table, has_header)
    body = table.rows[1:] if has_header else table.rows
    sample = [
        [cells[index].strip() if index < len(cells) else "" for index in range(len(columns))]
        for _, cells in body[:sample_rows]
    ]
    guessed = False
    if layout is not None and layout.positions:
        mapping = {name: index for index, name in enumerate(layout.positions) if name}
    elif layout is not None and has_header:
        mapping = _map_columns(table.rows[0][1], layout)[0]
    elif has_header and table.rows:
        mapping = _map_columns(table.rows[0][1], GUESS)[0]
        guessed = True
    else:
        mapping, guessed = {}, True
    mapping = {name: index for name, index in mapping.items() if name in WIZARD_FIELDS}
    return ColumnProposal(
        layout=layout,
        has_header=has_header,
        columns=columns,
        sample=sample,
        mapping=mapping,
        guessed=guessed,
    )
