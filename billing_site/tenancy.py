"""The one tenant-scoping mechanism.

The current tenant lives in a ContextVar, set by the request (middleware for the
browser, the base API view for token auth) and by each Celery task from its
``tenant_id`` argument, and always reset on exit.

Every tenant-owned model inherits :class:`TenantOwnedModel`. Its default manager
``objects`` filters by the current tenant and **fails closed**: with no tenant set,
the queryset can still be built and chained (forms and filter classes build theirs
at import time) but raises :class:`TenantNotSet` as soon as SQL would be run. Any
cross-tenant read must go through the loudly named ``all_tenants`` manager.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, TypeVar

from django.db import models
from django.db.models.sql import Query
from django.utils import timezone

if TYPE_CHECKING:
    from .models import Tenant

_current_tenant: ContextVar[Tenant | None] = ContextVar("current_tenant", default=None)
# Who acts (the audit log's "who"): the signed-in user of a request, carried like the
# tenant; None in tasks and commands, which the log records as the system.
_current_actor: ContextVar = ContextVar("current_actor", default=None)


class TenantNotSet(RuntimeError):
    """A tenant-owned query ran with no current tenant."""


def get_current_tenant() -> Tenant | None:
    return _current_tenant.get()


def require_current_tenant() -> Tenant:
    tenant = _current_tenant.get()
    if tenant is None:
        raise TenantNotSet("No current tenant: tenant-owned data cannot be read.")
    return tenant


def set_current_tenant(tenant: Tenant | None):
    """Set the tenant; returns the token for :func:`reset_current_tenant`."""
    return _current_tenant.set(tenant)


def reset_current_tenant(token) -> None:
    _current_tenant.reset(token)


def get_current_actor():
    """The user the current request acts for, or None (a task, a command)."""
    return _current_actor.get()


def set_current_actor(user):
    """Set the acting user (None for anonymous); reset with the request's tenant."""
    if user is not None and not user.is_authenticated:
        user = None
    return _current_actor.set(user)


@contextlib.contextmanager
def actor_context(user) -> Iterator[None]:
    """Run a block as ``user`` (None: the system); restores the previous actor."""
    token = set_current_actor(user)
    try:
        yield
    finally:
        _current_actor.reset(token)


@contextlib.contextmanager
def tenant_context(tenant: Tenant | None) -> Iterator[Tenant | None]:
    """Run a block with ``tenant`` as the current tenant; restores the previous one."""
    token = _current_tenant.set(tenant)
    try:
        yield tenant
    finally:
        _current_tenant.reset(token)


T = TypeVar("T")


def iterate_in_tenant(tenant: Tenant, iterable: Iterable[T]) -> Iterator[T]:
    """Yield from ``iterable`` with ``tenant`` current while each item is produced.

    A streamed response is iterated after the request's tenant context has ended; its
    rows would then be read with no tenant (and PostgreSQL's wall returns none). The
    context is entered around each step, not held across yields, so a server that
    resumes the iterator in another thread or context still reads as ``tenant``.
    """
    iterator = iter(iterable)
    while True:
        with tenant_context(tenant):
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item


class _TenantMissingQuery(Query):
    """A query built with no current tenant: it can be chained and inspected, never run.

    Forms and filter classes build querysets at import time; those must not fail
    until they are evaluated, and must then be re-scoped (see ``rescope_queryset``).
    """

    def _refuse(self):
        raise TenantNotSet(
            f"{self.model.__name__} queried with no current tenant; use tenant_context() "
            f"or {self.model.__name__}.all_tenants explicitly."
        )

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        self._refuse()

    def chain(self, klass=None):
        if klass is not None:  # update() and friends switch the query class
            self._refuse()
        return super().chain()


class TenantQuerySet(models.QuerySet):
    """QuerySet of a tenant-owned model."""

    def rescoped(self) -> TenantQuerySet:
        """A fresh queryset for the current tenant (for querysets built at import time)."""
        return self.model._default_manager.all()


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):
    """Default manager of tenant-owned models: rows of the current tenant only."""

    def get_queryset(self):
        queryset = super().get_queryset()
        tenant = _current_tenant.get()
        if tenant is None:
            queryset.query.__class__ = _TenantMissingQuery
            return queryset
        return queryset.filter(tenant_id=tenant.pk)


class TenantOwnedModel(models.Model):
    """Base of every tenant-owned model: a ``tenant`` column and the scoped manager."""

    tenant = models.ForeignKey(
        "billing_site.Tenant", on_delete=models.CASCADE, related_name="+", editable=False
    )

    objects = TenantManager()
    # Loudly named escape hatch for the few cross-tenant reads (beat tasks, admin).
    all_tenants = models.Manager()

    class Meta:
        abstract = True
        default_manager_name = "objects"
        base_manager_name = "all_tenants"


def rescope_queryset(queryset):
    """Return ``queryset`` re-built for the current tenant if it is tenant-owned."""
    if isinstance(queryset, TenantQuerySet):
        return queryset.rescoped()
    return queryset


def viewer_zone(membership) -> str | None:
    if membership is None:
        return None
    if membership.organization_id is not None:
        return membership.organization.time_zone
    return membership.tenant.time_zone


class TenantMiddleware:
    """Binds the request's tenant (from the user's membership) for the whole request."""

    SESSION_KEY = "active_tenant_id"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from .models import Membership

        request.tenant = None
        request.membership = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            membership = Membership.for_user(user, request.session.get(self.SESSION_KEY))
            if membership is not None:
                request.membership = membership
                request.tenant = membership.tenant
        token = _current_tenant.set(request.tenant)
        actor_token = set_current_actor(user)
        # Show times in the viewer's zone: the organization's for portal users, else the tenant's.
        zone = viewer_zone(request.membership)
        if zone:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            _current_tenant.reset(token)
            _current_actor.reset(actor_token)
            timezone.deactivate()
