"""The audit log in the superusers' admin: read only, like everywhere else."""

from django.contrib import admin

from billing_site.admin_base import CrossTenantAdmin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(CrossTenantAdmin):
    list_display = ["created_at", "tenant", "actor_name", "action", "object_type", "object_label"]
    list_filter = ["tenant", "action", "object_type"]
    search_fields = ["object_label", "actor_name"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
