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
- **References.** A foreign key from one tenant-owned table to another is checked by a
  constraint trigger (``app_same_tenant``) at commit: the row it points at must be of the
  same tenant, so no bug can point A's invoice at B's customer.
- **Across tenants.** The few jobs that must read every tenant's rows (beat ticks finding
  work, the admin) run inside ``cross_tenant()``, named so it is seen in review.

On SQLite nothing of this runs. A superuser (the default ``postgres`` role, the owner in
development) bypasses row-level security, so it changes nothing until the application
connects as ``DB_APP_ROLE``.
"""

from __future__ import annotations

import contextlib
import re
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


# Whitespace of any kind and opening parentheses before a statement's first keyword.
_LEADING = re.compile(r"[\s(]*")


def bind_tenant(execute, sql, params, many, context):
    """``connection.execute_wrapper``: the tenant context goes with every statement that
    reads or writes rows (schema changes need none, and some must run alone)."""
    # A compound query (``union()`` of querysets with DISTINCT, ORDER BY or LIMIT) comes
    # with each part in parentheses: "(SELECT …) UNION (SELECT …)" reads rows all the same.
    if not sql[_LEADING.match(sql).end() :].lower().startswith(_DATA_STATEMENTS):
        return execute(sql, params, many, context)
    cursor = context["cursor"].cursor
    if many or getattr(cursor, "name", None):
        # executemany and server-side cursors take one statement: set it just before.
        raw_connection = context["connection"].connection
        if not raw_connection.autocommit:
            with raw_connection.cursor() as setter:
                setter.execute(_settings_sql())
            return execute(sql, params, many, context)
        # In autocommit the setting would end with its own transaction, before the
        # statement runs (``.iterator()`` outside a transaction read nothing): both go in
        # one transaction. A server-side cursor is then declared WITH HOLD, and its rows
        # are read at COMMIT, still under the setting.
        with raw_connection.cursor() as setter:
            setter.execute("BEGIN; " + _settings_sql())
        try:
            result = execute(sql, params, many, context)
        except BaseException:
            with raw_connection.cursor() as ender:
                ender.execute("ROLLBACK")
            raise
        with raw_connection.cursor() as ender:
            ender.execute("COMMIT")
        return result
    return execute(_settings_sql() + sql, params, many, context)


def install(sender=None, connection=None, **kwargs) -> None:
    """``connection_created``: bind the tenant on every PostgreSQL connection."""
    connection = connection or default_connection
    if connection.vendor != "postgresql":
        return
    if bind_tenant not in connection.execute_wrappers:
        connection.execute_wrappers.append(bind_tenant)


def append_only_tables() -> list[str]:
    """Tables of models marked ``append_only``: the application role may only add rows."""
    return sorted(
        model._meta.db_table
        for model in apps.get_models()
        if getattr(model, "append_only", False) and model._meta.managed
    )


def tenant_tables() -> list[str]:
    return sorted(
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, TenantOwnedModel) and model._meta.managed
    )


# ANALYZE is for a table's owner (PostgreSQL 15), and the application role owns none:
# this function, created by the owner, re-samples a table's planner statistics for it
# (billing_site.dbstats). It reads and changes no row.
ANALYZE_FUNCTION = """
CREATE OR REPLACE FUNCTION app_analyze(target regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('ANALYZE %s', target);
END $$
"""

SAME_TENANT_FUNCTION = """
CREATE OR REPLACE FUNCTION app_same_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ref_id text;
    row_tenant bigint;
    ref_tenant bigint;
    found_ref boolean;
    cross_before text := current_setting('app.cross_tenant', true);
BEGIN
    -- Checked at commit: read the row as it is then (it may have been changed or deleted
    -- since this event), past the row-level policy (the transaction's tenant is its last
    -- statement's), and compare tenants here.
    PERFORM set_config('app.cross_tenant', 'on', true);
    EXECUTE format('SELECT (to_jsonb(t) ->> %L), tenant_id FROM %I t WHERE id = $1',
                   TG_ARGV[1], TG_TABLE_NAME)
        INTO ref_id, row_tenant USING NEW.id;
    IF ref_id IS NOT NULL THEN
        EXECUTE format('SELECT tenant_id, true FROM %I WHERE %I = $1', TG_ARGV[0], TG_ARGV[2])
            INTO ref_tenant, found_ref USING ref_id::bigint;
    END IF;
    PERFORM set_config('app.cross_tenant', coalesce(cross_before, 'off'), true);
    -- A missing row is the foreign key's to refuse; a row of another tenant is ours.
    IF found_ref AND ref_tenant IS DISTINCT FROM row_tenant THEN
        RAISE EXCEPTION 'tenant wall: %.% = % is not a row of tenant %',
            TG_ARGV[0], TG_ARGV[2], ref_id, row_tenant
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$
"""


def tenant_references() -> list[tuple[str, str, str, str]]:
    """(table, column, referenced table, referenced column) of every foreign key from a
    tenant-owned table to another tenant-owned table."""
    found = []
    for model in apps.get_models():
        if not issubclass(model, TenantOwnedModel) or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            target = field.related_model if field.is_relation else None
            if target is None or field.name == "tenant":
                continue
            if isinstance(target, type) and issubclass(target, TenantOwnedModel):
                found.append(
                    (
                        model._meta.db_table,
                        field.column,
                        target._meta.db_table,
                        field.target_field.column,
                    )
                )
    return sorted(found)


def _trigger_name(column: str) -> str:
    return f"same_tenant_{column}"[:63]


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
        # References stay inside one tenant: a row may only point at its own tenant's
        # rows (checked at commit, when the rows a transaction writes all exist).
        cursor.execute(SAME_TENANT_FUNCTION)
        cursor.execute(ANALYZE_FUNCTION)
        cursor.execute("REVOKE ALL ON FUNCTION app_analyze(regclass) FROM PUBLIC")
        for table, column, target, target_column in tenant_references():
            name = _trigger_name(column)
            cursor.execute(f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"')
            cursor.execute(
                f'CREATE CONSTRAINT TRIGGER "{name}" AFTER INSERT OR UPDATE OF "{column}", '
                f'tenant_id ON "{table}" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW '
                f"EXECUTE FUNCTION app_same_tenant('{target}', '{column}', '{target_column}')"
            )
        if role_exists:
            cursor.execute(
                f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"'
            )
            cursor.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
            cursor.execute(f'GRANT EXECUTE ON FUNCTION app_analyze(regclass) TO "{role}"')
            # Append-only tables (the audit log): rows are added and read, never changed.
            for table in append_only_tables():
                cursor.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON "{table}" FROM "{role}"')
