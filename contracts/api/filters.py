"""API filtersets: every foreign key and every date range of the contracts endpoints."""

from __future__ import annotations

from django import forms
from django_filters import rest_framework as filters

from billing_site.api.base import TenantFilterSet
from billing_site.models import Contact, Organization, User
from contracts.models import (
    BlockPurchase,
    Contract,
    ContractProductLine,
    Product,
    RateRule,
    ServiceType,
    Team,
    Ticket,
    TicketAttachment,
    TimeEntry,
)


def tenant_users(request):
    """Users with a membership in the request's tenant (users are not tenant-owned)."""
    if request is None or getattr(request, "tenant", None) is None:
        return User.objects.none()
    return User.objects.filter(memberships__tenant=request.tenant).distinct()


class IdFilter(filters.NumberFilter):
    """An id: a whole number a database id column holds. A NumberFilter takes "1e40" or
    "-1e400" as a decimal and the lookup's int() overflows the column (a 500)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class ServiceTypeFilter(TenantFilterSet):
    name = filters.CharFilter(lookup_expr="istartswith")

    class Meta:
        model = ServiceType
        fields = ["name", "default_billable", "is_active"]


class ProductFilter(TenantFilterSet):
    sku = filters.CharFilter(lookup_expr="istartswith")
    name = filters.CharFilter(lookup_expr="icontains")
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Product
        fields = ["sku", "name", "taxable", "is_active", "income_account_code"]


class TeamFilter(TenantFilterSet):
    member = filters.ModelChoiceFilter(field_name="memberships__user", queryset=tenant_users)

    class Meta:
        model = Team
        fields = ["member"]


class ContractFilter(TenantFilterSet):
    customer = filters.ModelChoiceFilter(queryset=Organization.objects.all())
    billing_organization = filters.ModelChoiceFilter(queryset=Organization.objects.all())
    name = filters.CharFilter(lookup_expr="icontains")
    start_after = filters.DateFilter(field_name="start_date", lookup_expr="gte")
    start_before = filters.DateFilter(field_name="start_date", lookup_expr="lte")
    end_after = filters.DateFilter(field_name="end_date", lookup_expr="gte")
    end_before = filters.DateFilter(field_name="end_date", lookup_expr="lte")

    class Meta:
        model = Contract
        fields = [
            "customer",
            "billing_organization",
            "name",
            "contract_type",
            "status",
            "billing_cycle",
            "currency",
            "taxable",
        ]


class ContractProductLineFilter(TenantFilterSet):
    contract = filters.ModelChoiceFilter(queryset=Contract.objects.all())
    product = filters.ModelChoiceFilter(queryset=Product.objects.all())

    class Meta:
        model = ContractProductLine
        fields = ["contract", "product", "quantity_mode"]


class BlockPurchaseFilter(TenantFilterSet):
    contract = filters.ModelChoiceFilter(queryset=Contract.objects.all())
    purchased_after = filters.DateFilter(field_name="purchased_on", lookup_expr="gte")
    purchased_before = filters.DateFilter(field_name="purchased_on", lookup_expr="lte")
    billed = filters.BooleanFilter(field_name="invoice_line", lookup_expr="isnull", exclude=True)

    class Meta:
        model = BlockPurchase
        fields = ["contract", "billed"]


class RateRuleFilter(TenantFilterSet):
    contract = filters.ModelChoiceFilter(queryset=Contract.objects.all())
    organization = filters.ModelChoiceFilter(queryset=Organization.objects.all())
    technician = filters.ModelChoiceFilter(queryset=tenant_users)
    team = filters.ModelChoiceFilter(queryset=Team.objects.all())
    service_type = filters.ModelChoiceFilter(queryset=ServiceType.objects.all())
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = RateRule
        fields = ["contract", "organization", "technician", "team", "service_type", "currency"]


class TicketFilter(TenantFilterSet):
    organization = filters.ModelChoiceFilter(queryset=Organization.objects.all())
    contract = filters.ModelChoiceFilter(queryset=Contract.objects.all())
    contact = filters.ModelChoiceFilter(queryset=Contact.objects.all())
    assigned_to = filters.ModelChoiceFilter(queryset=tenant_users)
    title = filters.CharFilter(lookup_expr="icontains")
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    due_after = filters.DateFilter(field_name="due_date", lookup_expr="gte")
    due_before = filters.DateFilter(field_name="due_date", lookup_expr="lte")
    include_completed = filters.BooleanFilter(method="filter_completed")

    class Meta:
        model = Ticket
        fields = ["organization", "contract", "contact", "assigned_to", "status", "number", "title"]

    def filter_completed(self, queryset, name, value):
        return queryset if value else queryset.exclude(status="complete")


class TicketAttachmentFilter(TenantFilterSet):
    ticket = filters.ModelChoiceFilter(queryset=Ticket.objects.all())
    time_entry = filters.ModelChoiceFilter(queryset=TimeEntry.objects.all())
    uploaded_by = filters.ModelChoiceFilter(queryset=tenant_users)
    uploaded_after = filters.IsoDateTimeFilter(field_name="uploaded_at", lookup_expr="gte")
    uploaded_before = filters.IsoDateTimeFilter(field_name="uploaded_at", lookup_expr="lt")

    class Meta:
        model = TicketAttachment
        fields = ["ticket", "time_entry", "uploaded_by"]


class TimeEntryFilter(TenantFilterSet):
    ticket = filters.ModelChoiceFilter(queryset=Ticket.objects.all())
    contract = filters.ModelChoiceFilter(queryset=Contract.objects.all())
    technician = filters.ModelChoiceFilter(queryset=tenant_users)
    service_type = filters.ModelChoiceFilter(queryset=ServiceType.objects.all())
    organization = filters.ModelChoiceFilter(
        field_name="contract__customer", queryset=Organization.objects.all()
    )
    billing_organization = filters.ModelChoiceFilter(
        field_name="contract__billing_organization", queryset=Organization.objects.all()
    )
    remote_session = IdFilter(field_name="remote_session_id")
    invoice_line = IdFilter(field_name="invoice_line_id")
    billed = filters.BooleanFilter(field_name="invoice_line", lookup_expr="isnull", exclude=True)
    work_date_after = filters.DateFilter(field_name="work_date", lookup_expr="gte")
    work_date_before = filters.DateFilter(field_name="work_date", lookup_expr="lte")
    started_after = filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = TimeEntry
        fields = [
            "ticket",
            "contract",
            "technician",
            "service_type",
            "organization",
            "billing_organization",
            "state",
            "source",
            "billable",
            "remote_session",
            "invoice_line",
            "billed",
        ]
