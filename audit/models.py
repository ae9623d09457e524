"""The audit log: one row per billing-relevant change, written in the change's transaction.

Rows are only ever added. The application has no edit or delete path for them, the admin
shows them read-only, the application role may only INSERT and SELECT the table
(``billing_site.rls.apply_policies``), and a trigger refuses UPDATE and DELETE for every
role, the owner included (migration 0001). Like every tenant-owned table it has the
``tenant_wall`` row-level policy.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from billing_site.tenancy import TenantOwnedModel


class Action(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    DELETE = "delete", "Deleted"
    APPROVE = "approve", "Approved"
    POST = "post", "Posted"
    FINALIZE = "finalize", "Finalised"
    VOID = "void", "Voided"
    CREDIT = "credit", "Credited"
    CONNECT = "connect", "Connected"
    DISCONNECT = "disconnect", "Disconnected"
    INVITE = "invite", "Invited"
    REVOKE = "revoke", "Access revoked"
    ROLE_CHANGE = "role_change", "Role changed"
    TWO_FACTOR_ON = "two_factor_on", "Two-factor sign-in on"
    TWO_FACTOR_OFF = "two_factor_off", "Two-factor sign-in off"
    TOKEN_CREATE = "token_create", "API token created"
    TOKEN_REVOKE = "token_revoke", "API token revoked"


class ObjectType(models.TextChoices):
    CONTRACT = "contract", "Contract"
    CONTRACT_LINE = "contract_line", "Contract product line"
    BLOCK_PURCHASE = "block_purchase", "Block purchase"
    RATE_RULE = "rate_rule", "Rate rule"
    TIME_ENTRY = "time_entry", "Time entry"
    INVOICE = "invoice", "Invoice"
    PAYMENT = "payment", "Payment"
    CUSTOMER = "customer", "Customer"
    CONNECTION = "connection", "Integration connection"
    MAPPING = "mapping", "Integration mapping"
    SCHEDULE = "schedule", "Customer schedule"
    USER = "user", "User"
    TENANT = "tenant", "Company settings"


class AuditEntry(TenantOwnedModel):
    """Who (a user, or the system and its task) did what to which object, when (UTC), and
    the changed fields before and after (JSON; Decimals as strings, references as
    ``{"id", "label"}``). Never changed once written."""

    # Read by billing_site.rls.apply_policies: the application role gets INSERT and SELECT.
    append_only = True

    created_at = models.DateTimeField(default=timezone.now)
    # No database constraint and no cascade: the log outlives a removed login (its name
    # at the time is kept in ``actor_name``), and deleting a user must not touch the log.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=200)
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=20, choices=ObjectType.choices)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    object_label = models.CharField(max_length=200)
    # The object it belongs to (a payment's invoice, a rate rule's contract), so the
    # parent's page shows it too; a provider key for mappings ("quickbooks").
    parent_type = models.CharField(max_length=20, blank=True)
    parent_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="audit_tenant_time"),
            models.Index(fields=["tenant", "object_type", "object_id"], name="audit_tenant_object"),
            models.Index(fields=["tenant", "parent_type", "parent_id"], name="audit_tenant_parent"),
            models.Index(fields=["tenant", "actor"], name="audit_tenant_actor"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.object_label}"
        )

    @property
    def is_system(self) -> bool:
        return self.actor_id is None

    @property
    def changed_fields(self) -> list[dict]:
        """The changed fields as rows (name, before, after) for the pages."""
        before, after = self.before or {}, self.after or {}
        names = list(dict.fromkeys([*before, *after]))
        return [
            {
                "name": name.replace("_", " "),
                "before": _shown(before.get(name)),
                "after": _shown(after.get(name)),
                "had_before": name in before,
                "has_after": name in after,
            }
            for name in names
        ]


def _shown(value) -> str:
    if isinstance(value, dict) and "label" in value:
        return str(value["label"])
    if value is None:
        return "—"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return str(value)
