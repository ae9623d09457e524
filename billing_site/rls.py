"""The second tenancy wall: PostgreSQL row-level security on every tenant-owned table.

The first wall is the scoped manager (``tenancy.py``). This one is in the database, so no
application bug — a raw statement, a forgotten filter, a join — can read or write another
tenant's rows when the application connects as a role that owns no table and has no
``BYPASSRLS`` (``DB_APP_ROLE``, see the README's "Database roles").

- **Policy.** Each tenant-owned table has ``ENABLE`` and ``FORCE ROW LEVEL SECURITY`` and
  one policy, ``tenant_wall``: a row is visible and writable only when its ``tenant_id``
  is the transaction's ``app.tenant_id``, or when ``app.cross_tenant`` is ``on``. With no
  tenant set, ``NULLIF(current_setting('app.tenant_id', true), '')`` is NULL and nothing
  matches: a query without a tenant returns no rows, even through raw SQL. The policies
  are (re)applied after every ``migrate`` (``apply_policies``), so a new table gets its
  wall with no migration of its own.
- **Setting.** The value follows the tenant context: every statement sent on a
  PostgreSQL connection is preceded, in the same round trip, by
  ``set_config('app.tenant_id', <current tenant>, true)`` — transaction-local, as
  ``SET LOCAL`` is — so the database always sees the tenant the code is running for,
  a pooled connection never carries a previous request's tenant, and a statement in
  autocommit is its own transaction with its own setting.
- **Across tenants.** The few jobs that must read every tenant's rows (beat ticks finding
  work, the admin) run inside ``cross_tenant()``, named so it is seen in review.

On SQLite nothing of this runs. A superuser (the default ``postgres`` role, the owner in
development) bypasses row-level security, so it changes nothing until the application
connects as ``DB_APP_ROLE``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from django.apps import apps
from django.conf import settings
from django.db import connection as default_connection

from .tenancy import TenantOwnedModel, get_current_tenant

_cross_tenant: ContextVar[bool] = ContextVar("cross_tenant", default=False)
POLICY = "tenant_wall"
CONDITION = (
    "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::bigint "
    "OR current_setting('app.cross_tenant', true) = 'on'"
)


@contextlib.contextmanager
def cross_tenant() -> Iterator[None]:
    """Run a block that reads or writes every tenant's rows (beat ticks, the admin)."""
    token = _cross_tenant.set(True)
    try:
        yield
    finally:
        _cross_tenant.reset(token)


class CrossTenantAdminMiddleware:
    """The Django admin is the superusers' cross-tenant view: its pages run inside
    ``cross_tenant()`` (for anyone else they stay behind the wall)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if request.path.startswith("/admin/") and user is not None and user.is_superuser:
            with cross_tenant():
                return self.get_response(request)
        return self.get_response(request)


def _settings_sql() -> str:
    tenant = get_current_tenant()
    tenant_id = str(int(tenant.pk)) if tenant is not None and tenant.pk else ""
    cross = "on" if _cross_tenant.get() else "off"
    # Both values are digits or fixed words: safe to write into the statement.
    return (
        f"SELECT set_config('app.tenant_id', '{tenant_id}', true), "
        f"set_config('app.cross_tenant', '{cross}', true); "
    )


_DATA_STATEMENTS = ("select", "insert", "update", "delete", "with", "merge", "copy")


def bind_tenant(execute, sql, params, many, context):
    """``connection.execute_wrapper``: the tenant context goes with every statement that
    reads or writes rows (schema changes need none, and some must run alone)."""
    if not sql.lstrip().lower().startswith(_DATA_STATEMENTS):
        return execute(sql, params, many, context)
    cursor = context["cursor"].cursor
    if many or getattr(cursor, "name", None):
        # executemany and server-side cursors take one statement: set it just before.
        with context["connection"].connection.cursor() as setter:
            setter.execute(_settings_sql())
        return execute(sql, params, many, context)
    return execute(_settings_sql() + sql, params, many, context)


def install(sender=None, connection=None, **kwargs) -> None:
    """``connection_created``: bind the tenant on every PostgreSQL connection."""
    connection = connection or default_connection
    if connection.vendor != "postgresql":
        return
    if bind_tenant not in connection.execute_wrappers:
        connection.execute_wrappers.append(bind_tenant)


def tenant_tables() -> list[str]:
    return sorted(
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, TenantOwnedModel) and model._meta.managed
    )


def apply_policies(sender=None, using="default", **kwargs) -> None:
    """``post_migrate``: the wall on every tenant-owned table, and the application role's
    rights (when that role exists). Idempotent."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    role = settings.DB_APP_ROLE
    with cross_tenant(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        role_exists = cursor.fetchone() is not None
        for table in tenant_tables():
            cursor.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
            cursor.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
            cursor.execute(f'DROP POLICY IF EXISTS {POLICY} ON "{table}"')
            cursor.execute(
                f'CREATE POLICY {POLICY} ON "{table}" USING ({CONDITION}) WITH CHECK ({CONDITION})'
            )
        if role_exists:
            cursor.execute(
                f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"'
            )
            cursor.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
