"""Planner statistics after bulk writes (PostgreSQL).

A batch run writes thousands of invoices and lines, and claims hundreds of thousands of
time entries, in one transaction. Until the tables are analysed again the planner still
believes the new rows are not there, and plans the next reads of them (the batch's
drafts with their line counts, the invoice list) as nested loops comparing every pair:
tens of seconds at full size. Autovacuum re-samples them eventually, a minute or more
later, or never where it is turned off. So a large write re-samples its tables itself,
right after it commits: outside the writer's transaction, so ``ANALYZE``'s table lock
(which two analyses of one table cannot share) is held for the analysis only.
"""

from __future__ import annotations

from django.db import connection, transaction

# Below this many rows written the old statistics are close enough.
BULK_ROWS = 1000


def analyze_after_commit(models, *, rows: int) -> None:
    """Once the current transaction commits, ``ANALYZE`` the tables of ``models`` if
    ``rows`` rows were written to them (PostgreSQL; elsewhere nothing)."""
    if connection.vendor != "postgresql" or rows < BULK_ROWS:
        return
    tables = list(dict.fromkeys(model._meta.db_table for model in models))

    transaction.on_commit(lambda: analyze_tables(tables))


def analyze_tables(tables) -> None:
    """``ANALYZE`` ``tables`` now, through ``app_analyze`` (billing_site.rls): the
    application role owns no table, and PostgreSQL lets only an owner analyse one."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute("SELECT app_analyze(%s::regclass)", [f'"{table}"'])
