"""The API's choke point: every view binds the tenant, checks the role, scopes querysets."""

from __future__ import annotations

from django import forms
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django_filters import rest_framework as filters
from rest_framework import mixins, viewsets
from rest_framework.permissions import SAFE_METHODS
from rest_framework.views import APIView

from billing_site.models import Membership
from billing_site.roles import Role
from billing_site.tenancy import (
    rescope_queryset,
    set_current_actor,
    set_current_tenant,
    viewer_zone,
)
from billing_site.timeutils import validate_date_range

from .permissions import RolePermission

TENANT_HEADER = "HTTP_X_TENANT"


class TenantAPIMixin:
    """Binds the tenant after DRF authentication (token users pass the middleware unbound).

    A user in several tenants picks one with the ``X-Tenant: <slug>`` header.
    Portal users never reach staff endpoints: ``portal_allowed`` is False by default.
    """

    permission_classes = [RolePermission]
    portal_allowed = False

    def dispatch(self, request, *args, **kwargs):
        if request.method in SAFE_METHODS:
            return super().dispatch(request, *args, **kwargs)
        # One request that writes, one transaction: a step failing after the first write
        # (a 400 from a later check, a crash while building the answer) leaves nothing
        # half-written. Work queued with on_commit runs only if the whole request commits.
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)
            if response.status_code >= 400:
                transaction.set_rollback(True)
            return response

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method not in SAFE_METHODS:
            # The body is parsed now, once the caller may write: one that cannot be read
            # (too deep, too large, not text) is refused even where the body is ignored.
            request.data  # noqa: B018

    def perform_authentication(self, request):
        super().perform_authentication(request)
        # Permissions are checked right after this, with the membership known.
        self._bind_membership(request)

    def _bind_membership(self, request) -> None:
        django_request = request._request
        user = request.user
        membership = None
        if user and user.is_authenticated:
            slug = request.META.get(TENANT_HEADER)
            # The organization (tenant-owned) is read once the tenant is set (rls.py).
            memberships = Membership.objects.select_related("tenant").filter(user=user)
            if slug:
                membership = memberships.filter(tenant__slug=slug).first()
                if membership is None:
                    raise Http404("Unknown tenant.")
            else:
                membership = (
                    getattr(django_request, "membership", None)
                    or memberships.order_by("id").first()
                )
        if membership is not None and membership.role == Role.PORTAL and not self.portal_allowed:
            membership = None
        request.membership = django_request.membership = membership
        request.tenant = django_request.tenant = membership.tenant if membership else None
        # The middleware resets the ContextVar and the time zone when the request ends.
        set_current_tenant(request.tenant)
        # A token user is known only now: the audit log's "who" (reset with the tenant).
        set_current_actor(user if user and user.is_authenticated else None)
        # Read naive date-times and show times in the viewer's zone, as the pages do, for
        # token and session authentication alike (decision 0010).
        zone = viewer_zone(membership)
        if zone:
            timezone.activate(zone)


class TenantAPIView(TenantAPIMixin, APIView):
    """Base for non-viewset endpoints."""


class TenantViewSetMixin(TenantAPIMixin):
    """Scoped querysets, tenant set on create, related fields scoped per request."""

    def get_queryset(self):
        return rescope_queryset(super().get_queryset())

    def perform_create(self, serializer):
        serializer.save(tenant=self.request.tenant)


class TenantModelViewSet(TenantViewSetMixin, viewsets.ModelViewSet):
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]


class TenantReadWriteViewSet(
    TenantViewSetMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Create, list, retrieve and update; no delete."""


class TenantReadOnlyViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass


class TenantFilterSet(filters.FilterSet):
    """FilterSet whose model-choice filters are re-scoped to the request's tenant, and
    whose date filters take only storable dates (a 400 naming the range, not a 500)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for filter_ in self.filters.values():
            queryset = getattr(filter_, "queryset", None)
            if queryset is not None and not callable(queryset):
                filter_.queryset = rescope_queryset(queryset)
        # Form fields are copied per form, so this bounds this request's filters only.
        for field in self.form.fields.values():
            if isinstance(field, forms.DateField | forms.DateTimeField):
                field.validators.append(validate_date_range)
