"""Remote-support sessions: host groups (companies), hosts (computers) and sessions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from billing_site.tenancy import TenantOwnedModel
from billing_site.timeutils import validate_date_range


class HostGroup(TenantOwnedModel):
    """How a company's computers are gathered (the remote tool's "group")."""

    name = models.CharField(max_length=200)
    organization = models.ForeignKey(
        "billing_site.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="host_groups",
        help_text="The customer these computers belong to (bill-to for group invoices).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="hostgroup_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Host(TenantOwnedModel):
    """A supported computer, e.g. ``Jane_OFFICE_121``."""

    name = models.CharField(max_length=200)
    group = models.ForeignKey(
        HostGroup, on_delete=models.PROTECT, null=True, blank=True, related_name="hosts"
    )
    organization = models.ForeignKey(
        "billing_site.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="hosts",
        help_text="Owner of the computer; counts as a managed device for per-device billing.",
    )
    external_id = models.CharField(
        max_length=120, blank=True, help_text="Id in the remote-access tool, if any."
    )
    notes = models.TextField(blank=True)
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="host_unique_name"),
            models.UniqueConstraint(
                fields=["tenant", "external_id"],
                condition=~Q(external_id=""),
                name="host_unique_external_id",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "organization"], name="host_tenant_org"),
            models.Index(fields=["tenant", "group"], name="host_tenant_group"),
        ]

    def __str__(self) -> str:
        return self.name


class SessionSource(models.TextChoices):
    TIMER = "timer", "Timer"
    MANUAL = "manual", "Manual entry"
    IMPORT = "import", "Import"


class RemoteSession(TenantOwnedModel):
    """One remote-support session on a host.

    ``duration_seconds`` is derived from start and end (whole seconds) and kept for
    aggregation. A running timer has no end yet. ``invoice_line`` is the line that
    billed the session: one column, so a session is on at most one line, and it is
    claimed with a conditional update (only while NULL) so two invoices never share it.
    """

    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="sessions")
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="remote_sessions",
    )
    started_at = models.DateTimeField(validators=[validate_date_range])
    ended_at = models.DateTimeField(null=True, blank=True, validators=[validate_date_range])
    duration_seconds = models.PositiveIntegerField(default=0)
    comment = models.TextField(blank=True)
    billable = models.BooleanField(default=True)
    source = models.CharField(
        max_length=10, choices=SessionSource.choices, default=SessionSource.MANUAL
    )
    external_id = models.CharField(max_length=120, blank=True)
    invoice_line = models.ForeignKey(
        "invoices.InvoiceLine",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="remote_sessions",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gt=F("started_at")),
                name="session_end_after_start",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=False) | Q(invoice_line__isnull=True),
                name="session_running_not_billed",
            ),
            models.UniqueConstraint(
                fields=["tenant", "external_id"],
                condition=~Q(external_id=""),
                name="session_unique_external_id",
            ),
            models.UniqueConstraint(
                fields=["tenant", "host", "started_at", "ended_at"],
                name="session_unique_host_span",
            ),
            # At most one running timer per technician.
            models.UniqueConstraint(
                fields=["tenant", "technician"],
                condition=Q(ended_at__isnull=True),
                name="session_one_running_timer",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "host", "started_at"], name="session_tenant_host_start"),
            models.Index(fields=["tenant", "started_at"], name="session_tenant_start"),
            models.Index(fields=["tenant", "invoice_line"], name="session_tenant_line"),
            models.Index(
                fields=["tenant", "technician", "started_at"], name="session_tenant_tech_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.host} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_running(self) -> bool:
        return self.ended_at is None

    @property
    def is_billed(self) -> bool:
        return self.invoice_line_id is not None


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Waiting for confirmation"
    IMPORTED = "imported", "Imported"


class SessionImport(TenantOwnedModel):
    """An uploaded session log kept between the preview and the confirmation.

    The decoded file text is stored (not the parsed rows) so that confirming parses
    and validates it again against the data as it is then: nothing imported in
    between is imported twice. ``status`` moves pending -> imported once, by a
    conditional update, so a double-clicked confirm cannot import the file twice.
    Pending uploads older than a day are purged when the next file is staged.
    """

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    filename = models.CharField(max_length=255, blank=True)
    content = models.TextField()
    file_format = models.CharField(
        max_length=32, default="auto", help_text="auto or a layout of sessions.importers."
    )
    time_zone = models.CharField(
        max_length=64, blank=True, help_text="Zone of times without an offset; blank: default."
    )
    date_format = models.CharField(
        max_length=16, blank=True, default="", help_text="Date format chosen; blank: auto."
    )
    host_name = models.CharField(
        max_length=200, blank=True, help_text="Computer of rows without one (blank: none)."
    )
    default_technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Technician of rows without one.",
    )
    mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text="Our field -> column number (1-based) chosen in the mapping step; empty: "
        "the layout's own columns.",
    )
    mapping_source = models.CharField(
        max_length=10,
        blank=True,
        help_text="Where the mapping came from: guessed (to be confirmed), user or profile; "
        "blank: the layout.",
    )
    create_hosts = models.JSONField(
        default=list,
        blank=True,
        help_text="New computers ticked to be created (lower-case names); rows of the others "
        "are skipped.",
    )
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    sessions_created = models.PositiveIntegerField(default=0)
    hosts_created = models.PositiveIntegerField(default=0)
    groups_created = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    imported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["tenant", "status", "created_at"], name="sessionimport_tenant_status"
            ),
        ]

    def __str__(self) -> str:
        return self.filename or f"Import #{self.pk}"


class ImportProfile(TenantOwnedModel):
    """A saved way of reading a tool's files: layout, column mapping, date format and zone.

    ``mapping`` is our field -> the column's header as written (or, for files without a
    header line, its 1-based number).
    """

    name = models.CharField(max_length=100)
    file_format = models.CharField(max_length=32, default="auto")
    mapping = models.JSONField(default=dict)
    date_format = models.CharField(max_length=16, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="importprofile_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class TechnicianAlias(TenantOwnedModel):
    """Another name a tool writes for a staff member (e.g. a TeamViewer display name)."""

    alias = models.CharField(max_length=200)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["alias", "id"]
        constraints = [
            models.UniqueConstraint(
                "tenant", Lower("alias"), name="technicianalias_unique_alias_ci"
            ),
        ]

    def __str__(self) -> str:
        return self.alias


class PullStatus(models.TextChoices):
    OK = "ok", "Imported"
    ROWS_REFUSED = "rows_refused", "Nothing imported: some records have errors"
    FAILED = "failed", "Failed"


class TeamViewerConnection(TenantOwnedModel):
    """The tenant's link to TeamViewer's Web API (one per tenant): a script token, kept
    encrypted (``integrations.core.crypto``) and never shown back but for its last four
    characters, an optional group filter, and what the last pull did.

    ``pulled_until`` is the cursor: the latest end of a connection imported (or found
    already imported). The next pull asks TeamViewer for connections from a day before it
    (a connection lasts at most 24 h), so one still running at the last pull is not
    missed; what comes back twice is skipped by its connection id.
    """

    token_encrypted = models.TextField(help_text="The script token, Fernet-encrypted.")
    token_last4 = models.CharField(max_length=4, blank=True)
    group_id = models.CharField(
        max_length=40,
        blank=True,
        help_text="Only connections of this TeamViewer group (its id, e.g. g12345678).",
    )
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who saved the token; the technician of records that name no user.",
    )
    pulled_until = models.DateTimeField(null=True, blank=True)
    pull_requested_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=16, choices=PullStatus.choices, blank=True)
    last_error = models.TextField(blank=True)
    last_result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="teamviewerconnection_one_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"TeamViewer ({self.tenant_id})"

    @property
    def has_token(self) -> bool:
        return bool(self.token_encrypted)

    @property
    def last_result_or_none(self) -> dict | None:
        return self.last_result or None

    @property
    def pull_pending(self) -> bool:
        return self.pull_requested_at is not None and (
            self.last_run_at is None or self.pull_requested_at > self.last_run_at
        )
