"""Reading session log files: our generic CSV format and TeamViewer's connection report.

This module only parses and checks each row on its own; it never touches the
database. Matching technicians, finding or creating hosts and groups, spotting
sessions imported before and writing happen in ``services.session_import``.

Generic format (documented for users on the import page)
--------------------------------------------------------
A CSV file (comma, semicolon or tab separated; UTF-8, UTF-16 with BOM or
Windows-1252) whose first line names the columns, in any order, case-insensitive:

==============  ========  ==========================================================
column          required  meaning
==============  ========  ==========================================================
host            yes       computer name, e.g. ``Jane_OFFICE_121``; created if unknown
group           no        company / host group; used when the host is created
technician      yes       username (or e-mail) of a staff member of this MSP
start           yes       ISO 8601, e.g. ``2026-10-12T09:05:00+02:00`` or
                          ``2026-10-12 09:05:00``
end             yes       ISO 8601, after start, at most 24 h later, not in the future
comment         no        free text
external_id     no        the tool's id of the session; makes re-imports safe
==============  ========  ==========================================================

Times with an offset (``+02:00``, ``Z``) are taken as written. Times without one
are read in the zone chosen on the upload form (default: the tenant's zone).
A local time that does not exist or is ambiguous around a daylight-saving change
is refused with a message asking for an offset.

TeamViewer connection report export
-----------------------------------
TeamViewer (Management Console / Remote admin settings -> "Connection reports" ->
Export) writes one row per connection. What we relied on, and how sure we are:

* TeamViewer's knowledge-base article on connection reports states that the
  connection times in exports are in UTC. So naive times in a TeamViewer file
  are read as UTC unless another zone is chosen on the upload form.
* The fields of a connection record are documented by TeamViewer's Web API
  (``GET /api/v1/reports/connections``, mirrored by TeamViewer's own PowerShell
  module ``ConvertTo-TeamViewerConnectionReport``): id, userid, username,
  deviceid, devicename, groupid, groupname, support_session_type, start_date,
  end_date, session_code, fee, billing_state, currency, notes.
* We could not obtain the exact header text of the console's CSV export for every
  version and language. The importer therefore recognises the API field names and
  the English display labels we know of (case, spaces and ``_`` ignored):

  ====================  ===========================================================
  our field             accepted headers
  ====================  ===========================================================
  technician            User, Username, User name, Expert
  host                  Computer, Device, Device name, Devicename, Computer name
  host's TeamViewer id  ID, TeamViewer ID, Device ID, Deviceid, Partner ID
                        (stored as the host's external id; matches hosts by it)
  group                 Group, Group name, Groupname
  start                 Start, Start date, Start_date, Start time
  end                   End, End date, End_date, End time
  comment               Notes, Note, Comment
  session external id   Connection ID, Session ID (stored as ``teamviewer:<id>``)
  ====================  ===========================================================

  Read and deliberately not mapped: Duration (we derive it from start and end),
  Billing / Billing state / Billing account, Fee, Currency, Session code,
  Support session type, User ID, Group ID. Any other column is reported as
  ignored in the preview.
* A bare "ID" column is taken to be the remote device's TeamViewer ID, as in the
  console's report, not the connection's id. Without a connection id column,
  re-imports are de-duplicated by host + start + end.
* Time stamps are accepted as ISO 8601, ``YYYY-MM-DD HH:MM[:SS]``,
  ``DD.MM.YYYY HH:MM[:SS]`` (German locale) and ``MM/DD/YYYY hh:mm[:ss] AM/PM``
  (US locale); anything else is a row error naming the expected forms.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zoneinfo
from dataclasses import dataclass, field

from billing_site.timeutils import DATE_RANGE_MESSAGE, in_date_range

FORMAT_AUTO = "auto"
FORMAT_GENERIC = "generic"
FORMAT_TEAMVIEWER = "teamviewer"
FORMAT_CHOICES = [
    (FORMAT_AUTO, "Detect from the header line"),
    (FORMAT_GENERIC, "Generic CSV (host, group, technician, start, end, comment, external_id)"),
    (FORMAT_TEAMVIEWER, "TeamViewer connection report export"),
]
FORMAT_LABELS = {
    FORMAT_GENERIC: "Generic CSV",
    FORMAT_TEAMVIEWER: "TeamViewer connection report",
}

MAX_ROWS = 20_000
MAX_SESSION = dt.timedelta(hours=24)
TEAMVIEWER_ID_PREFIX = "teamviewer:"

# Field -> accepted normalised headers, per format. Order matters only for documentation.
GENERIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "host": ("host",),
    "group": ("group",),
    "technician": ("technician",),
    "start": ("start",),
    "end": ("end",),
    "comment": ("comment",),
    "external_id": ("external id",),
}
GENERIC_REQUIRED = ("host", "technician", "start", "end")

TEAMVIEWER_COLUMNS: dict[str, tuple[str, ...]] = {
    "technician": ("user", "username", "user name", "expert"),
    "host": ("computer", "device", "device name", "devicename", "computer name"),
    "host_external_id": ("id", "teamviewer id", "device id", "deviceid", "partner id"),
    "group": ("group", "group name", "groupname"),
    "start": ("start", "start date", "start time"),
    "end": ("end", "end date", "end time"),
    "comment": ("notes", "note", "comment"),
    "external_id": ("connection id", "session id", "connectionid"),
}
TEAMVIEWER_REQUIRED = ("technician", "host", "start", "end")
TEAMVIEWER_KNOWN_UNMAPPED = frozenset(
    {
        "duration",
        "billing",
        "billing state",
        "billing account",
        "fee",
        "currency",
        "session code",
        "support session type",
        "user id",
        "userid",
        "group id",
        "groupid",
    }
)

FIELD_MAX_LENGTHS = {"host": 200, "group": 200, "external_id": 120, "host_external_id": 120}


class FileFormatError(ValueError):
    """The file as a whole cannot be read (encoding, no header, unknown columns)."""


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


def decode(data: bytes) -> str:
    """Text of an uploaded file: UTF-8 (with or without BOM), UTF-16 with BOM, or cp1252."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return check_text(data.decode("utf-16"))
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


def check_text(text: str) -> str:
    """``text`` if it can be a CSV session log; a NUL means a binary file (or UTF-16
    without its byte-order mark), which the database could not store either."""
    position = text.find("\x00")
    if position >= 0:
        line = text.count("\n", 0, position) + 1
        raise FileFormatError(
            f"The file contains a NUL character (line {line}), so it is not CSV text; "
            "save it as “CSV UTF-8” and upload it again."
        )
    return text


def normalise_header(header: str) -> str:
    return re.sub(r"[\s_\-]+", " ", header.strip().lower()).strip()


def _sniff_dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    first_line = text.split("\n", 1)[0]
    counts = {delimiter: first_line.count(delimiter) for delimiter in (",", ";", "\t")}
    delimiter = max(counts, key=counts.get)
    if counts[delimiter] == 0:
        delimiter = ","

    class Dialect(csv.excel):
        pass

    Dialect.delimiter = delimiter
    return Dialect


def _map_columns(
    headers: list[str], columns: dict[str, tuple[str, ...]]
) -> tuple[dict[str, int], dict[str, str]]:
    """Our field -> column index, and our field -> the header as written."""
    indexes: dict[str, int] = {}
    labels: dict[str, str] = {}
    for index, header in enumerate(headers):
        name = normalise_header(header)
        for field_name, accepted in columns.items():
            if name in accepted and field_name not in indexes:
                indexes[field_name] = index
                labels[field_name] = header.strip()
                break
    return indexes, labels


def detect_format(headers: list[str]) -> str | None:
    """The format whose required columns are all in ``headers`` (generic wins a tie)."""
    for fmt, columns, required in (
        (FORMAT_GENERIC, GENERIC_COLUMNS, GENERIC_REQUIRED),
        (FORMAT_TEAMVIEWER, TEAMVIEWER_COLUMNS, TEAMVIEWER_REQUIRED),
    ):
        indexes, _ = _map_columns(headers, columns)
        if all(name in indexes for name in required):
            return fmt
    return None


def _missing_columns_message(fmt: str, indexes: dict[str, int]) -> str:
    if fmt == FORMAT_GENERIC:
        missing = [name for name in GENERIC_REQUIRED if name not in indexes]
        return (
            f"Missing column(s): {', '.join(missing)}. The generic format needs the columns "
            "host, technician, start, end (and optionally group, comment, external_id)."
        )
    missing = [
        TEAMVIEWER_COLUMNS[name][0].title() for name in TEAMVIEWER_REQUIRED if name not in indexes
    ]
    return (
        f"Missing column(s): {', '.join(missing)}. A TeamViewer connection report needs "
        "User, Computer (or Device), Start and End columns."
    )


US_TIME = re.compile(
    r"^(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})\s+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?\s*(?P<p>[AaPp][Mm])$"
)
DE_TIME = re.compile(
    r"^(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})\s+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?$"
)


def _parse_timestamp(value: str, *, lenient: bool) -> dt.datetime:
    """A datetime (naive or aware) from ISO 8601, or also the TeamViewer locale forms."""
    value = value.strip()
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        if not lenient:
            raise ValueError(
                f"“{value}” is not an ISO 8601 time; write e.g. 2026-10-12 09:05:00 or "
                "2026-10-12T09:05:00+02:00."
            ) from None
    for pattern in (DE_TIME, US_TIME):
        match = pattern.match(value)
        if not match:
            continue
        parts = match.groupdict()
        hour = int(parts["H"])
        if parts.get("p"):
            if not 1 <= hour <= 12:
                break
            hour = hour % 12 + (12 if parts["p"].lower() == "pm" else 0)
        try:
            return dt.datetime(
                int(parts["y"]),
                int(parts["m"]),
                int(parts["d"]),
                hour,
                int(parts["M"]),
                int(parts["S"] or 0),
            )
        except ValueError:
            break
    raise ValueError(
        f"“{value}” is not a time we can read; use 2026-10-12 09:05:00, 12.10.2026 09:05 "
        "or 10/12/2026 9:05 AM."
    )


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


def parse(
    text: str,
    *,
    fmt: str = FORMAT_AUTO,
    zone: str | None = None,
    default_zone: str = "UTC",
    now: dt.datetime,
) -> ParsedFile:
    """Parse and check every row of ``text``; raises FileFormatError for the file as a whole.

    ``zone`` (an IANA name) overrides how naive times are read; without it the
    generic format uses ``default_zone`` and TeamViewer files use UTC.
    """
    if fmt not in (FORMAT_AUTO, FORMAT_GENERIC, FORMAT_TEAMVIEWER):
        raise FileFormatError(f"Unknown format “{fmt}”: use auto, generic or teamviewer.")
    dialect = _sniff_dialect(text)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        headers = next(reader)
    except StopIteration:
        raise FileFormatError("The file is empty.") from None
    except csv.Error as exc:
        raise FileFormatError(f"Line 1 is not valid CSV: {exc}.") from None
    if not any(header.strip() for header in headers):
        raise FileFormatError("The first line must name the columns.")

    if fmt == FORMAT_AUTO:
        detected = detect_format(headers)
        if detected is None:
            raise FileFormatError(
                "The columns match neither the generic format (host, technician, start, end, "
                "…) nor a TeamViewer connection report (User, Computer, Start, End, …). "
                f"Columns found: {', '.join(h.strip() for h in headers if h.strip())}."
            )
        fmt = detected
    columns = GENERIC_COLUMNS if fmt == FORMAT_GENERIC else TEAMVIEWER_COLUMNS
    required = GENERIC_REQUIRED if fmt == FORMAT_GENERIC else TEAMVIEWER_REQUIRED
    indexes, labels = _map_columns(headers, columns)
    if not all(name in indexes for name in required):
        raise FileFormatError(_missing_columns_message(fmt, indexes))
    mapped = set(indexes.values())
    ignored = [
        header.strip()
        for index, header in enumerate(headers)
        if index not in mapped and header.strip()
    ]
    zone_name = zone or (default_zone if fmt == FORMAT_GENERIC else "UTC")
    zone_info = zoneinfo.ZoneInfo(zone_name)

    rows: list[ParsedRow] = []
    last_line = reader.line_num
    try:
        for record in reader:
            line = last_line + 1
            last_line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= MAX_ROWS:
                raise FileFormatError(
                    f"The file has more than {MAX_ROWS} sessions; split it into smaller files."
                )
            rows.append(
                _parse_row(
                    record, line, fmt=fmt, indexes=indexes, labels=labels, zone=zone_info, now=now
                )
            )
    except csv.Error as exc:
        raise FileFormatError(f"Line {last_line + 1} is not valid CSV: {exc}.") from None
    if not rows:
        raise FileFormatError("The file has a header line but no sessions.")
    return ParsedFile(
        format=fmt, zone=zone_name, columns=labels, ignored_columns=ignored, rows=rows
    )


def _parse_row(
    record: list[str],
    line: int,
    *,
    fmt: str,
    indexes: dict[str, int],
    labels: dict[str, str],
    zone: zoneinfo.ZoneInfo,
    now: dt.datetime,
) -> ParsedRow:
    row = ParsedRow(line=line)

    def cell(name: str) -> str:
        index = indexes.get(name)
        if index is None or index >= len(record):
            return ""
        return record[index].strip()

    def error(name: str, message: str) -> None:
        row.errors.append(RowError(line=line, column=labels.get(name, name), message=message))

    row.host = cell("host")
    row.group = cell("group")
    row.technician = cell("technician")
    row.comment = cell("comment")
    row.external_id = cell("external_id")
    row.host_external_id = cell("host_external_id")
    if fmt == FORMAT_TEAMVIEWER and row.external_id:
        row.external_id = TEAMVIEWER_ID_PREFIX + row.external_id
    for name in ("host", "technician", "start", "end"):
        if not cell(name):
            error(name, "This value is required.")
    for name, limit in FIELD_MAX_LENGTHS.items():
        if len(getattr(row, name)) > limit:
            error(name, f"At most {limit} characters.")

    for name in ("start", "end"):
        raw = cell(name)
        if not raw:
            continue
        try:
            parsed = _parse_timestamp(raw, lenient=fmt == FORMAT_TEAMVIEWER)
        except ValueError as exc:
            error(name, str(exc))
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
    for name, message in check_span(row.started_at, row.ended_at, now).items():
        error("start" if name == "started_at" else "end", message)
    return row
