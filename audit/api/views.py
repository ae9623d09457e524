"""The audit log in the API: read only (list, one entry), filtered like the page."""

from __future__ import annotations

from django.db.models import Q
from django_filters import rest_framework as filters
from rest_framework import viewsets

from billing_site.api.base import TenantFilterSet, TenantViewSetMixin

from .. import selectors
from ..models import Action, AuditEntry, ObjectType
from .serializers import AuditEntrySerializer


class AuditEntryFilter(TenantFilterSet):
    date_from = filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="On or after this day (UTC)"
    )
    date_to = filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", label="On or before this day (UTC)"
    )
    actor = filters.NumberFilter(field_name="actor_id", label="The user's id")
    system = filters.BooleanFilter(
        field_name="actor", lookup_expr="isnull", label="Only changes made by the system"
    )
    action = filters.ChoiceFilter(choices=Action.choices)
    object_type = filters.ChoiceFilter(choices=ObjectType.choices, method="filter_object_type")
    object_id = filters.NumberFilter(
        min_value=1,
        max_value=2**63 - 1,
        method="filter_object",
        label="The object's id; with object_type, also what belongs to it (its payments…)",
    )

    class Meta:
        model = AuditEntry
        fields = ["date_from", "date_to", "actor", "system", "action", "object_type", "object_id"]

    def filter_object_type(self, queryset, name, value):
        if self.form.cleaned_data.get("object_id") is not None:
            return queryset  # with an id: the object and what belongs to it (below)
        return queryset.filter(object_type=value)

    def filter_object(self, queryset, name, value):
        kind = self.form.cleaned_data.get("object_type")
        if not kind:
            return queryset.filter(object_id=value)
        return queryset.filter(
            Q(object_type=kind, object_id=value) | Q(parent_type=kind, parent_id=str(int(value)))
        )


class AuditEntryViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Every recorded change of billing: contract terms, rate rules, approvals and
    postings, invoice finalisation, voids and credit notes, payments, integration
    settings, users, roles and tokens. Entries are never changed or removed."""

    queryset = AuditEntry.objects.all()
    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilter
    read_capability = selectors.READ_CAPABILITY
    write_capability = selectors.READ_CAPABILITY
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return selectors.entry_list()
