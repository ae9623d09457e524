"""API routes of the audit log, added to /api/v1/ by billing_site.api.urls."""

from .views import AuditEntryViewSet


def register(router) -> None:
    router.register("audit", AuditEntryViewSet, basename="audit-entry")
