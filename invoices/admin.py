"""Read-only admin for support staff: invoices change only through the services
(numbering, billed items and totals must stay consistent)."""

from django.contrib import admin

from billing_site.admin_base import CrossTenantAdmin

from .models import Invoice, InvoiceLine, Payment


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class InvoiceLineInline(ReadOnlyMixin, admin.TabularInline):
    model = InvoiceLine
    fields = ["position", "kind", "group_label", "description", "quantity", "unit_price", "amount"]
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request):
        return InvoiceLine.all_tenants.all()


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyMixin, CrossTenantAdmin):
    list_display = [
        "__str__",
        "tenant",
        "status",
        "bill_to_name",
        "issue_date",
        "total",
        "currency",
    ]
    list_filter = ["tenant", "status", "source", "pdf_status"]
    search_fields = ["number", "bill_to_name"]
    inlines = [InvoiceLineInline]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyMixin, CrossTenantAdmin):
    list_display = ["invoice", "tenant", "amount", "received_on", "method", "reference"]
    list_filter = ["tenant", "method"]
