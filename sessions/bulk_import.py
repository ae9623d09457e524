"""Big session log files: imported streamed, in chunks, by a Celery task with progress.

A file of more than ``SESSION_IMPORT_ASYNC_ROWS`` rows (and at most
``SESSION_IMPORT_MAX_ROWS``) is staged like any other upload, but its preview shows the
first rows only and confirming it queues ``sessions.session_import_run_task``; the page
polls the progress. The rules are those of ``services.session_import``: the same layouts,
date formats and zones (``importers``), the same checks and duplicate detection per row
(``services._ImportPlan``), all or nothing (one transaction: a row in error anywhere and
nothing is written; the first ``ERRORS_KEPT`` errors are shown), and a second import of
the same file adds nothing (same external id, else same computer + start + end).

Memory stays bounded whatever the file's length:

- the staged text is read from the database in slices (``SLICE_CHARS`` characters, SQL
  ``SUBSTR``) and fed line by line to a csv reader, never loaded whole;
- rows are handled ``SESSION_IMPORT_CHUNK_ROWS`` at a time: a chunk is mapped and
  interpreted by the importers' step functions, resolved against the database with a
  fixed number of set-wise queries (hosts, groups, customers, known external ids, known
  spans, staff) and written with ``bulk_create``; nothing of it is kept afterwards.
  Duplicates across chunks are found in the database, where the earlier chunks' sessions
  already are (same transaction), so no per-row state outlives its chunk.

Two passes are made: the first reads only the date cells, to settle the date format the
way ``importers.resolve_date_format`` does for a whole file (one example per pattern of
formats a value fits is enough for the same answer), and counts the rows; the second
imports. JSON files are not streamed: they take the ordinary path (``MAX_ROWS``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Substr
from django.utils import timezone

from billing_site import progress as jobs
from billing_site.models import Tenant, User
from billing_site.roles import Cap, role_can
from billing_site.tenancy import tenant_context

from . import importers, services
from .models import Host, HostGroup, ImportStatus, RemoteSession, SessionImport

SLICE_CHARS = 1_000_000
ERRORS_KEPT = 100
HEAD_ROWS = 20
# A queued or running import not heard of for ``jobs.STALE_AFTER`` is taken as lost
# (its worker died): the page offers to start it again. Re-running is safe (all or
# nothing, and the staged upload is locked and marked imported once).
QUEUED, RUNNING, DONE, FAILED = jobs.QUEUED, jobs.RUNNING, jobs.DONE, jobs.FAILED


def async_rows() -> int:
    return settings.SESSION_IMPORT_ASYNC_ROWS


def max_rows() -> int:
    return settings.SESSION_IMPORT_MAX_ROWS


def chunk_rows() -> int:
    return settings.SESSION_IMPORT_CHUNK_ROWS


def _is_json(text: str) -> bool:
    return text.lstrip("\ufeff").lstrip()[:1] in ("[", "{")


def is_big_text(text: str) -> bool:
    """Whether a decoded upload takes this path: a CSV/TSV file of more lines than
    ``SESSION_IMPORT_ASYNC_ROWS`` (a line count is close enough to decide)."""
    return not _is_json(text) and text.count("\n") > async_rows()


def is_big(staged: SessionImport) -> bool:
    return staged.status == ImportStatus.PENDING and is_big_text(staged.content)


# Progress ----------------------------------------------------------------------------------
#
# The import runs in one transaction, so progress written to the database would not be seen
# by the page until the import commits (or rolls back). It is kept in the cache instead,
# outside any transaction: Redis when CACHE_URL / REDIS_URL is set (shared by the web
# processes and the worker), local memory in the demo, where the task runs in the web
# process itself. The final outcome of a success is on the SessionImport row (status,
# counts); the errors of a refused file are in the progress record for a day.


@dataclass
class Progress(jobs.TrackedJob):
    rows_total: int = 0
    rows_read: int = 0
    rows_written: int = 0
    sessions_created: int = 0
    hosts_created: int = 0
    groups_created: int = 0
    duplicates: int = 0
    skipped: int = 0
    error_count: int = 0
    errors: list[dict] = field(default_factory=list)

    @property
    def percent(self) -> int:
        if self.state == DONE:
            return 100
        return int(100 * self.rows_read / self.rows_total) if self.rows_total else 0


def _key(tenant_id: int, import_id: int) -> str:
    return f"sessions:import-progress:{tenant_id}:{import_id}"


def progress_of(staged: SessionImport) -> Progress | None:
    return jobs.load(_key(staged.tenant_id, staged.pk), Progress)


def _save_progress(tenant_id: int, import_id: int, job: Progress) -> None:
    jobs.save(_key(tenant_id, import_id), job)


# Reading the staged text -------------------------------------------------------------------


def staged_lines(import_id: int) -> Iterator[str]:
    """The staged file's lines (ends kept), read from the database a slice at a time."""
    position = 1  # SQL strings count from 1
    rest = ""
    while True:
        part = (
            SessionImport.objects.filter(pk=import_id)
            .annotate(part=Substr("content", position, SLICE_CHARS))
            .values_list("part", flat=True)
            .get()
        ) or ""
        position += SLICE_CHARS
        text = rest + part
        if len(part) < SLICE_CHARS:
            if text:
                yield from io.StringIO(text, newline="")
            return
        cut = text.rfind("\n") + 1
        if cut:
            yield from io.StringIO(text[:cut], newline="")
        rest = text[cut:]


@dataclass
class _Header:
    layout: importers.Layout
    first: tuple[int, list[str]] | None  # the header line (None: a headerless file)
    labels: dict[str, str]
    ignored: list[str]
    # The mapping step's columns (field -> 0-based index); None: the layout's.
    indexes: dict[str, int] | None = None
    has_header: bool = True


class _Records:
    """``importers.read_table`` over a stream: BOM, ``#TYPE`` line, delimiter of the first
    line, blank lines left out, the same line numbers; FileFormatError past the limit."""

    def __init__(self, lines: Iterator[str], limit: int):
        self.lines = lines
        self.limit = limit
        self.type_line = ""
        self.first_line = ""

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        lines = iter(self.lines)
        first = next(lines, "")
        first = first.lstrip("\ufeff")
        lines_before = 0
        if first.startswith("#TYPE"):
            self.type_line = first.strip()
            lines_before = 1
            first = next(lines, "")
        self.first_line = first.split("\n", 1)[0]
        delimiter = importers._delimiter(self.first_line)

        class Dialect(csv.excel):
            pass

        Dialect.delimiter = delimiter

        def chained():
            if first:
                yield first
            yield from lines

        reader = csv.reader(chained(), Dialect)
        last_line = 0
        count = 0
        try:
            for record in reader:
                line = last_line + 1 + lines_before
                last_line = reader.line_num
                if not any(cell.strip() for cell in record):
                    continue
                count += 1
                if count > self.limit + 1:  # + the header line
                    raise importers.FileFormatError(
                        f"The file has more than {self.limit} sessions; split it into "
                        "smaller files."
                    )
                yield line, record
        except csv.Error as exc:
            raise importers.FileFormatError(
                f"Line {last_line + 1 + lines_before} is not valid CSV: {exc}."
            ) from None


def _open(
    import_id: int, fmt: str, mapping: dict | None = None, wrap=lambda lines: lines
) -> tuple[_Header, Iterator[tuple[int, list[str]]]]:
    """The staged file's layout and an iterator over its data records; ``mapping`` (field
    -> header or 1-based column number, as staged) replaces the layout's columns."""
    reader = _Records(wrap(staged_lines(import_id)), max_rows())
    records = iter(reader)
    header, read = _header(records, reader, fmt, mapping)
    if header.first is None:
        # A headerless file: the first record was data; read the file again from the top.
        reader = _Records(wrap(staged_lines(import_id)), max_rows())
        records = iter(reader)
    elif read:
        records = itertools.chain(read, records)
    return header, records


def _header(
    records: Iterator[tuple[int, list[str]]],
    reader: _Records,
    fmt: str,
    mapping: dict | None = None,
) -> tuple[_Header, list[tuple[int, list[str]]]]:
    """The layout (and mapping) from the first records; also the data records read to
    learn it, to be imported before the rest."""
    first = next(records, None)
    if first is None:
        raise importers.FileFormatError("The file is empty.")
    if fmt == importers.FORMAT_AUTO:
        table = importers.Table(rows=[first], type_line=reader.type_line)
        layout = importers.detect_layout(reader.first_line, table)
        if layout is None and mapping:
            layout = importers.GENERIC  # as importers.parse reads a mapped file
        if layout is None:
            headers = first[1]
            raise importers.FileFormatError(
                "The columns match neither the generic format (host, technician, start, end, "
                "…) nor a known tool's export (TeamViewer, ScreenConnect, Splashtop). "
                f"Columns found: {', '.join(h.strip() for h in headers if h.strip())}."
            )
    elif fmt in importers.LAYOUTS:
        layout = importers.LAYOUTS[fmt]
    else:
        raise importers.FileFormatError(f"Unknown format “{fmt}”.")
    if mapping:
        if layout.refusal:
            raise importers.FileFormatError(layout.refusal)
        # The columns are named from the first rows, as the mapping step showed them.
        head = [first, *itertools.islice(records, importers.COLUMN_ROWS - 1)]
        table = importers.Table(rows=head)
        has_header = importers.file_has_header(table, layout)
        indexes = importers.resolve_mapping(
            mapping, importers.column_names(table, has_header), has_header
        )
        if has_header and len(head) == 1:
            table = importers.Table(rows=[first, (0, [])])
        mapped = importers.map_rows(table, layout, indexes=indexes, has_header=has_header)
        header = _Header(
            layout=layout,
            first=first if has_header else None,
            labels=mapped.labels,
            ignored=mapped.ignored,
            indexes=indexes,
            has_header=has_header,
        )
        return header, head[1:]
    if layout.positions:
        # No header line: the first record is data; map it to learn the labels.
        mapping = importers.map_rows(importers.Table(rows=[first]), layout)
        return _Header(layout=layout, first=None, labels=mapping.labels, ignored=[]), []
    mapping = importers.map_rows(importers.Table(rows=[first, (0, [])]), layout)
    header = _Header(layout=layout, first=first, labels=mapping.labels, ignored=mapping.ignored)
    return header, []


def _chunks(
    header: _Header, records: Iterator[tuple[int, list[str]]], size: int
) -> Iterator[importers.Mapping]:
    """The data rows as ``importers.Mapping`` objects of ``size`` rows each."""
    batch: list[tuple[int, list[str]]] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield _map(header, batch)
            batch = []
    if batch:
        yield _map(header, batch)


def _map(header: _Header, batch: list) -> importers.Mapping:
    rows = batch if header.first is None else [header.first, *batch]
    if header.indexes is not None:
        return importers.map_rows(
            importers.Table(rows=rows),
            header.layout,
            indexes=header.indexes,
            has_header=header.has_header,
        )
    return importers.map_rows(importers.Table(rows=rows), header.layout)


# Pass 1: count the rows and settle the date format ------------------------------------------


@dataclass
class Survey:
    layout: importers.Layout
    labels: dict[str, str]
    ignored: list[str]
    rows_total: int
    date_format: str
    date_format_choices: list[str]
    zone: str
    notes: list[str]
    head_text: str  # the header and first rows, for the preview
    # Every computer of the file found neither by device id nor by name, as
    # ``services.NewHosts`` lists them ("create": among the staged ``create_hosts``).
    new_hosts: list[dict] = field(default_factory=list)

    @property
    def unchosen_hosts(self) -> list[dict]:
        return [host for host in self.new_hosts if not host["create"]]


def _signature(value: str) -> tuple[str, ...]:
    """The day/month formats ``value`` fits; () for a year-first value."""
    if importers.parse_time(value, importers.DATE_FORMAT_ISO) is not None:
        return ()
    return tuple(
        name
        for name in importers.DATE_FORMATS
        if name != importers.DATE_FORMAT_ISO and importers.parse_time(value, name) is not None
    )


def survey(staged: SessionImport) -> Survey:
    """Read the staged file once: layout, row count, date format (FileFormatError;
    DateFormatRequired when the user must choose), the first rows as text and the new
    computers (the file's distinct computers are kept meanwhile: a few per thousand rows
    in a real log)."""
    fmt = staged.file_format or importers.FORMAT_AUTO
    head: list[str] = []
    computers: dict[tuple[str, str], list] = {}  # (name, device id) -> [group, rows]

    def recording(lines):
        head.clear()
        for line in lines:
            if len(head) <= HEAD_ROWS + 1:
                head.append(line)
            yield line

    header, records = _open(staged.pk, fmt, staged.mapping or None, recording)
    examples: dict[tuple[str, ...], str] = {}
    rows_total = 0
    requested = staged.date_format or importers.DATE_FORMAT_AUTO
    for mapping in _chunks(header, records, chunk_rows()):
        rows_total += len(mapping.rows)
        for raw in mapping.rows:
            name = importers.row_host(raw, header.layout, staged.host_name)
            if name:
                key = (name, raw.cells.get("host_external_id", ""))
                seen = computers.get(key)
                if seen is None:
                    computers[key] = [raw.cells.get("group", ""), 1]
                else:
                    seen[1] += 1
            if requested != importers.DATE_FORMAT_AUTO:
                continue
            for name in ("start", "end"):
                value = raw.cells.get(name)
                if value:
                    examples.setdefault(_signature(value), value)
    if not rows_total:
        raise importers.FileFormatError("The file has a header line but no sessions.")
    values = list(examples.values())
    layout = header.layout
    resolved = importers.resolve_date_format(values, requested, layout)
    zone = staged.time_zone or layout.zone or staged.tenant.time_zone
    notes = []
    if not staged.time_zone and layout.zone:
        notes.append(
            f"Times without an offset are read in {layout.zone}, as {layout.label} writes them."
        )
    return Survey(
        layout=layout,
        labels=header.labels,
        ignored=header.ignored,
        rows_total=rows_total,
        date_format=resolved,
        date_format_choices=importers.date_format_candidates(values, layout.date_formats),
        zone=zone,
        notes=notes,
        head_text="".join(head[: HEAD_ROWS + (1 if header.first is not None else 0)]),
        new_hosts=_new_hosts(computers, staged.create_hosts or ()),
    )


def _new_hosts(computers: dict[tuple[str, str], list], create_hosts) -> list[dict]:
    """The computers not in the database, looked up ``chunk_rows()`` at a time."""
    new = services.NewHosts(create_hosts)
    items = list(computers.items())
    for start in range(0, len(items), chunk_rows()):
        part = items[start : start + chunk_rows()]
        by_name, by_external_id = services.find_hosts(
            {name.lower() for (name, _), _ in part}, {device for (_, device), _ in part if device}
        )
        for (name, device_id), (group, rows) in part:
            if services.host_of(name, device_id, by_name, by_external_id) is None:
                new.add(name, device_id, group, rows)
    return new.listed()


def head_preview(staged: SessionImport, found: Survey, actor: User) -> services.ImportResult:
    """The first rows checked by the ordinary path (dry run), for the preview page."""
    return services.session_import(
        tenant=staged.tenant,
        file=found.head_text,
        fmt=found.layout.key,
        zone=staged.time_zone or None,
        date_format=found.date_format,
        technician=staged.default_technician,
        host=staged.host_name,
        dry_run=True,
        actor=actor,
        mapping=staged.mapping or None,
        create_hosts=staged.create_hosts or (),
    )


# Staging and starting --------------------------------------------------------------------


def session_import_stage(*, tenant: Tenant, actor: User, file, **reading):
    """``services.session_import_stage`` for any size: a big CSV file is kept without the
    whole-file dry run (its preview reads it streamed); others take the ordinary path."""
    text = services.read_upload(file)  # the upload size limit applies here
    if not is_big_text(text):
        return services.session_import_stage(tenant=tenant, actor=actor, file=text, **reading)
    profile = reading.get("profile")
    fmt = reading.get("fmt", importers.FORMAT_AUTO)
    date_format, zone = reading.get("date_format"), reading.get("zone")
    if profile is not None:  # as services.session_import_stage reads it
        fmt = profile.file_format or fmt
        date_format = profile.date_format or date_format
        zone = profile.time_zone or zone
    zone = services._check_zone(zone)
    date_format = services._check_reading(fmt, date_format)
    host = (reading.get("host") or "").strip()
    if len(host) > importers.FIELD_MAX_LENGTHS["host"]:
        raise ValidationError({"host": "At most 200 characters."})
    if text.count("\n") > max_rows() + 2:
        raise ValidationError(
            {"file": f"The file has more than {max_rows()} sessions; split it into smaller files."}
        )
    # The mapping step reads the first lines only, so a big file's mapping is made the same.
    mapping, source = services.stage_mapping(tenant, services.head_text(text), fmt, profile)
    with tenant_context(tenant), transaction.atomic():
        SessionImport.objects.filter(
            status=ImportStatus.PENDING, created_at__lt=timezone.now() - dt.timedelta(days=1)
        ).delete()
        staged = SessionImport.objects.create(
            tenant=tenant,
            uploaded_by=actor,
            filename=(reading.get("filename") or "")[:255],
            content=text,
            file_format=fmt,
            time_zone=zone or "",
            date_format="" if date_format == importers.DATE_FORMAT_AUTO else date_format,
            host_name=host,
            default_technician=reading.get("technician") or actor,
            mapping=mapping,
            mapping_source=source,
        )
    return staged, None


def start(*, staged: SessionImport, actor: User) -> Progress:
    """Queue the import of a big staged file (once this transaction commits)."""
    from .tasks import session_import_run_task

    tenant = staged.tenant
    with tenant_context(tenant), transaction.atomic():
        staged = SessionImport.objects.select_for_update().defer("content").get(pk=staged.pk)
        if staged.uploaded_by_id != actor.pk and not role_can(
            services.member_role(actor, tenant), Cap.MANAGE_WORK
        ):
            raise PermissionDenied("Only the person who uploaded this file can import it.")
        if staged.status != ImportStatus.PENDING:
            raise ValidationError("This file has already been imported.")
        services.require_mapping_confirmed(staged)
        current = progress_of(staged)
        if current is not None and current.active:
            return current
        progress = Progress(state=QUEUED)
        _save_progress(tenant.pk, staged.pk, progress)
        ids = (tenant.pk, staged.pk, actor.pk)
        transaction.on_commit(lambda: session_import_run_task.delay(*ids))
    return progress


# Pass 2: the import --------------------------------------------------------------------------


class _ChunkPlan(services._ImportPlan):
    """The import's plan for one chunk; new groups and computers are inserted set-wise.

    Its ``create_hosts`` are the staged file's: a computer ticked is created by the first
    chunk naming it and found by the later ones; a row of one not ticked is an error.
    """

    def write(self) -> None:
        groups = list(self.new_groups.values())
        HostGroup.objects.bulk_create(groups)
        hosts = list(self.new_hosts.values())
        for host in hosts:
            if host.group is not None:
                host.group_id = host.group.pk
        Host.objects.bulk_create(hosts)
        RemoteSession.objects.bulk_create(self.session_objects(), batch_size=1000)


class _Refused(Exception):
    """Rolls the import's transaction back; the progress says why."""


def run(*, tenant: Tenant, import_id: int, actor_id: int | None = None) -> Progress:
    """Import a staged file streamed, all or nothing, updating the progress every chunk."""
    progress = Progress(state=RUNNING)
    _save_progress(tenant.pk, import_id, progress)
    try:
        with tenant_context(tenant), transaction.atomic():
            staged = (
                SessionImport.objects.select_for_update(of=("self",))
                .select_related("tenant", "default_technician")
                .defer("content")
                .get(pk=import_id)
            )
            if staged.status != ImportStatus.PENDING:
                progress.state = DONE
                progress.sessions_created = staged.sessions_created
                progress.message = "This file has already been imported."
                _save_progress(tenant.pk, import_id, progress)
                return progress
            actor = User.objects.get(pk=actor_id) if actor_id else staged.uploaded_by
            _import(staged, actor, progress)
            services.staged_import_mark_done(staged, progress)
    except _Refused:
        pass
    except importers.DateFormatRequired as exc:
        _fail(progress, str(exc) + " Choose it on the preview page.")
    except importers.FileFormatError as exc:
        _fail(progress, str(exc))
    except IntegrityError:
        _fail(
            progress,
            "Another import or edit changed the same computers or sessions at the same "
            "moment; nothing was imported. Try again.",
        )
    else:
        progress.state = DONE
        progress.message = (
            f"Imported {progress.sessions_created} session(s); {progress.hosts_created} new "
            f"computer(s), {progress.groups_created} new group(s); {progress.duplicates} "
            "already imported."
        )
    if progress.state == FAILED:
        progress.rows_written = 0
    _save_progress(tenant.pk, import_id, progress)
    return progress


def _fail(progress: Progress, message: str) -> None:
    progress.state = FAILED
    progress.message = message


def _import(staged: SessionImport, actor: User, progress: Progress) -> None:
    found = survey(staged)
    progress.rows_total = found.rows_total
    _save_progress(staged.tenant_id, staged.pk, progress)
    zone = zoneinfo.ZoneInfo(found.zone)
    header, records = _open(staged.pk, found.layout.key, staged.mapping or None)
    now = services._now()
    for mapping in _chunks(header, records, chunk_rows()):
        rows = importers.interpret(
            mapping, date_format=found.date_format, zone=zone, host=staged.host_name, now=now
        )
        parsed = importers.ParsedFile(
            format=found.layout.key,
            zone=found.zone,
            columns=found.labels,
            ignored_columns=found.ignored,
            rows=rows,
            date_format=found.date_format,
        )
        plan = _ChunkPlan(
            tenant=staged.tenant,
            parsed=parsed,
            actor=actor,
            default_technician=staged.default_technician or actor,
            create_hosts=staged.create_hosts or (),
        )
        result = plan.check(dry_run=progress.error_count > 0)
        progress.rows_read += len(rows)
        progress.duplicates += result.duplicates
        progress.skipped += result.skipped
        errors = result.errors
        if errors:
            progress.error_count += len(errors)
            room = ERRORS_KEPT - len(progress.errors)
            progress.errors.extend(error.as_dict() for error in errors[: max(room, 0)])
        elif not progress.error_count:
            plan.write()
            progress.rows_written += len(rows)
            progress.sessions_created += result.sessions_created
            progress.hosts_created += result.hosts_created
            progress.groups_created += result.groups_created
        _save_progress(staged.tenant_id, staged.pk, progress)
    if progress.error_count:
        _fail(
            progress,
            f"{progress.error_count} error(s) in {progress.rows_read} row(s), so nothing was "
            "imported. Fix them and upload the file again.",
        )
        progress.sessions_created = progress.hosts_created = progress.groups_created = 0
        raise _Refused
