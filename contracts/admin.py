"""Superuser admin (cross-tenant, read-mostly): writes with rules go through the services."""

from django.contrib import admin

from billing_site.admin_base import CrossTenantAdmin

from .models import (
    BlockPurchase,
    Contract,
    ContractProductLine,
    PeriodCharge,
    Product,
    RateRule,
    ServiceType,
    Team,
    TeamMember,
    Ticket,
    TicketAttachment,
    TimeEntry,
)


class ReadOnlyTenantAdmin(CrossTenantAdmin):
    """Rows whose rules live in services (ties, billing, approval) are viewed here, not edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ServiceType)
class ServiceTypeAdmin(CrossTenantAdmin):
    list_display = ["name", "default_billable", "is_active", "tenant"]
    list_filter = ["tenant", "is_active"]
    readonly_fields = ["tenant"]


@admin.register(Product)
class ProductAdmin(CrossTenantAdmin):
    list_display = ["sku", "name", "unit_price", "taxable", "is_active", "tenant"]
    list_filter = ["tenant", "is_active"]
    search_fields = ["sku", "name"]
    readonly_fields = ["tenant"]


@admin.register(Team)
class TeamAdmin(ReadOnlyTenantAdmin):
    list_display = ["name", "tenant"]
    list_filter = ["tenant"]


@admin.register(TeamMember)
class TeamMemberAdmin(ReadOnlyTenantAdmin):
    list_display = ["team", "user", "tenant"]
    list_filter = ["tenant"]


@admin.register(Contract)
class ContractAdmin(ReadOnlyTenantAdmin):
    list_display = ["name", "customer", "billing_organization", "contract_type", "status", "tenant"]
    list_filter = ["tenant", "contract_type", "status"]
    search_fields = ["name", "customer__name"]


@admin.register(ContractProductLine)
class ContractProductLineAdmin(ReadOnlyTenantAdmin):
    list_display = ["contract", "product", "quantity_mode", "quantity", "unit_price", "tenant"]
    list_filter = ["tenant"]


@admin.register(BlockPurchase)
class BlockPurchaseAdmin(ReadOnlyTenantAdmin):
    list_display = ["contract", "purchased_on", "hours", "price", "invoice_line", "tenant"]
    list_filter = ["tenant"]


@admin.register(PeriodCharge)
class PeriodChargeAdmin(ReadOnlyTenantAdmin):
    list_display = ["contract", "kind", "period_start", "period_end", "invoice_line", "tenant"]
    list_filter = ["tenant", "kind"]


@admin.register(RateRule)
class RateRuleAdmin(ReadOnlyTenantAdmin):
    list_display = ["id", "rate", "currency", "scope_label", "tenant"]
    list_filter = ["tenant", "currency"]


@admin.register(Ticket)
class TicketAdmin(ReadOnlyTenantAdmin):
    list_display = ["number", "title", "organization", "status", "tenant"]
    list_filter = ["tenant", "status"]
    search_fields = ["title"]


@admin.register(TicketAttachment)
class TicketAttachmentAdmin(ReadOnlyTenantAdmin):
    list_display = ["name", "ticket", "size", "uploaded_at", "tenant"]
    list_filter = ["tenant"]


@admin.register(TimeEntry)
class TimeEntryAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "id",
        "technician",
        "contract",
        "work_date",
        "worked_seconds",
        "state",
        "tenant",
    ]
    list_filter = ["tenant", "state", "billable"]
    date_hierarchy = "work_date"
