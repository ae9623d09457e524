from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit log: who changed what in billing, when, before and after; append-only."""

    name = "audit"
    label = "audit"
    verbose_name = "Audit log"
