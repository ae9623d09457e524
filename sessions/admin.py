from django.contrib import admin

from billing_site.admin_base import CrossTenantAdmin

from .models import Host, HostGroup, RemoteSession, SessionImport


@admin.register(HostGroup)
class HostGroupAdmin(CrossTenantAdmin):
    list_display = ["name", "organization", "tenant"]
    list_filter = ["tenant"]
    search_fields = ["name"]
    readonly_fields = ["tenant"]


@admin.register(Host)
class HostAdmin(CrossTenantAdmin):
    list_display = ["name", "group", "organization", "external_id", "is_active", "tenant"]
    list_filter = ["tenant", "is_active"]
    search_fields = ["name", "external_id"]
    readonly_fields = ["tenant"]


@admin.register(RemoteSession)
class RemoteSessionAdmin(CrossTenantAdmin):
    list_display = ["host", "technician", "started_at", "ended_at", "duration_seconds", "tenant"]
    list_filter = ["tenant", "source", "billable"]
    search_fields = ["host__name", "comment", "external_id"]
    date_hierarchy = "started_at"
    # Billing state and times change only through the services (rules, locks).
    readonly_fields = [
        "tenant",
        "host",
        "technician",
        "started_at",
        "ended_at",
        "duration_seconds",
        "invoice_line",
        "source",
        "external_id",
    ]

    def has_add_permission(self, request):
        return False


@admin.register(SessionImport)
class SessionImportAdmin(CrossTenantAdmin):
    list_display = ["filename", "uploaded_by", "status", "created_at", "sessions_created", "tenant"]
    list_filter = ["tenant", "status"]
    readonly_fields = [
        "tenant",
        "uploaded_by",
        "filename",
        "content",
        "file_format",
        "time_zone",
        "status",
        "sessions_created",
        "hosts_created",
        "groups_created",
        "imported_at",
    ]

    def has_add_permission(self, request):
        return False
