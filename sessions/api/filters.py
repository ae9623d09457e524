"""Filters of the sessions API (re-scoped to the request's tenant by TenantFilterSet)."""

from __future__ import annotations

from django.db.models import Q
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from billing_site.api.base import TenantFilterSet
from billing_site.models import Organization, User

from ..models import Host, HostGroup, RemoteSession


def _tenant_users(request):
    if request is None or getattr(request, "tenant", None) is None:
        return User.objects.none()
    return User.objects.filter(memberships__tenant=request.tenant)


@extend_schema_field(OpenApiTypes.INT)
class OrganizationIdFilter(filters.ModelChoiceFilter):
    """An organization id (a custom method filter, so the schema cannot infer the type)."""


class HostGroupFilter(TenantFilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    organization = filters.ModelChoiceFilter(queryset=Organization.objects.all())

    class Meta:
        model = HostGroup
        fields = ["name", "organization"]


class HostFilter(TenantFilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    group = filters.ModelChoiceFilter(queryset=HostGroup.objects.all())
    organization = filters.ModelChoiceFilter(queryset=Organization.objects.all())
    external_id = filters.CharFilter()

    class Meta:
        model = Host
        fields = ["name", "group", "organization", "external_id", "is_active"]


class RemoteSessionFilter(TenantFilterSet):
    host = filters.ModelChoiceFilter(queryset=Host.objects.all())
    group = filters.ModelChoiceFilter(field_name="host__group", queryset=HostGroup.objects.all())
    organization = OrganizationIdFilter(
        queryset=Organization.objects.all(),
        method="filter_organization",
        help_text="The host's customer, or its group's.",
    )
    technician = filters.ModelChoiceFilter(queryset=_tenant_users)
    started_after = filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")
    billed = filters.BooleanFilter(method="filter_billed")
    running = filters.BooleanFilter(field_name="ended_at", lookup_expr="isnull")

    class Meta:
        model = RemoteSession
        fields = ["host", "group", "technician", "billable", "source"]

    def filter_organization(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(Q(host__organization=value) | Q(host__group__organization=value))

    def filter_billed(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(invoice_line__isnull=not value)
