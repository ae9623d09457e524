"""The batch benchmark's SQL floors: hand-written statements the preview is measured
against (a measuring stick, not product code).

- ``NO_PRICING_SQL``: the due worked time summed per contract (what reading the items
  costs);
- ``SAME_FIGURES_SQL`` (PostgreSQL only): one statement that prices everything due the
  way the product does and returns the preview's batch details, so its figures can be
  compared to the preview's to the cent. It is specialised to the data that
  ``benchmarks.batch_tenant`` builds.
"""

from __future__ import annotations

import statistics
import time

from django.db import connection

# The due worked time summed per contract, unpriced; params: tenant id, as_of.
NO_PRICING_SQL = (
    "SELECT contract_id, COUNT(*), SUM(worked_seconds) FROM contracts_timeentry "
    "WHERE tenant_id = %s AND state = 'posted' AND billable AND invoice_line_id IS NULL "
    "AND work_date < %s GROUP BY contract_id"
)

# Everything due as of %(as_of)s for tenant %(tenant)s, priced as the batch preview prices
# it (not consolidated, no exclusions), as the batch details: one row per currency with
# invoices, billable, tax and total, and the tickets and worked seconds of the due time.
# Periods are calendar months (the contracts batch_tenant builds are monthly from day 1).
# It reads nothing the product computes, so matching the preview to the cent checks both.
SAME_FIGURES_SQL = """
WITH terms AS NOT MATERIALIZED (
    -- Active contracts and what pricing reads of them. Hourly work is charged at the
    -- tenant's unscoped rate rule in the contract's currency (else the tenant default),
    -- time beyond a retainer's or block's pool at the contract's overage rate.
    SELECT c.id, c.contract_type AS kind, c.currency,
           c.contract_type IN ('retainer', 'block_hours') AS pooled,
           c.taxable AND c.tax_rate <> 0 AS taxed, c.tax_rate,
           c.rounding_increment_minutes * 60 AS step, c.rounding_minimum_minutes * 60 AS minimum,
           (COALESCE(c.included_hours, 0) * 3600)::bigint AS included,
           ROUND(COALESCE(c.retainer_fee, 0), 4) AS fee,
           c.start_date, date_trunc('month', c.start_date::timestamp)::date AS first_period,
           LEAST(%(as_of)s::date, c.end_date) AS fees_until,
           CASE WHEN c.contract_type IN ('retainer', 'block_hours')
                THEN ROUND(COALESCE(c.overage_rate, 0), 4)
                ELSE ROUND(COALESCE(r.rate, CASE WHEN c.currency = t.currency
                                                 THEN t.default_hourly_rate END), 4)
           END AS rate
    FROM contracts_contract c
    JOIN billing_site_tenant t ON t.id = c.tenant_id
    LEFT JOIN (
        SELECT DISTINCT ON (currency) currency, rate
        FROM contracts_raterule
        WHERE tenant_id = %(tenant)s AND contract_id IS NULL AND organization_id IS NULL
          AND technician_id IS NULL AND team_id IS NULL AND service_type_id IS NULL
        ORDER BY currency, id
    ) r ON r.currency = c.currency
    WHERE c.tenant_id = %(tenant)s AND c.status = 'active'
),
entries AS NOT MATERIALIZED (
    -- Every unbilled posted billable entry (pools are drawn over all, due or not),
    -- rounded up per entry to the increment, then at least the minimum.
    SELECT e.id, e.contract_id, e.ticket_id, e.worked_seconds, e.work_date, x.kind, x.pooled,
           x.included, date_trunc('month', e.work_date::timestamp)::date AS period_start,
           e.work_date < date_trunc('month', %(as_of)s::timestamp)::date AS due,
           COALESCE(e.started_at, e.work_date::timestamp AT TIME ZONE 'UTC') AS started,
           CASE WHEN e.worked_seconds <= 0 THEN 0
                ELSE GREATEST(
                    CASE WHEN x.step > 0
                         THEN (e.worked_seconds + x.step - 1) / x.step * x.step
                         ELSE e.worked_seconds END,
                    x.minimum)
           END AS billed
    FROM contracts_timeentry e
    JOIN terms x ON x.id = e.contract_id
    WHERE e.tenant_id = %(tenant)s AND e.state = 'posted' AND e.billable
      AND e.invoice_line_id IS NULL
),
bought AS (
    -- Block seconds bought up to each purchase date, until the next purchase.
    SELECT contract_id, purchased_on AS since,
           LEAD(purchased_on) OVER (PARTITION BY contract_id ORDER BY purchased_on) AS until,
           (SUM(SUM(hours)) OVER (PARTITION BY contract_id ORDER BY purchased_on)
            * 3600)::bigint AS seconds
    FROM contracts_blockpurchase
    WHERE tenant_id = %(tenant)s
    GROUP BY contract_id, purchased_on
),
drawn AS (
    -- Pools: a retainer's included hours per period; a block's balance over all its time,
    -- counting purchases made by the end of the entry's period.
    SELECT en.id, en.contract_id, en.ticket_id, en.worked_seconds, en.due, en.work_date,
           en.started, pool.key AS pool, pool.cap,
           SUM(en.billed) OVER (PARTITION BY en.contract_id, pool.key
                                ORDER BY en.work_date, en.started, en.id
                                ROWS UNBOUNDED PRECEDING) AS billed_upto
    FROM entries en
    LEFT JOIN bought b ON en.kind = 'block_hours' AND b.contract_id = en.contract_id
     AND b.since < en.period_start + interval '1 month'
     AND (b.until IS NULL OR b.until >= en.period_start + interval '1 month')
    CROSS JOIN LATERAL (
        SELECT CASE WHEN en.kind = 'retainer' THEN en.period_start END AS key,
               CASE WHEN en.kind = 'retainer' THEN en.included
                    ELSE COALESCE(b.seconds, 0) END AS cap
    ) pool
    WHERE en.pooled
),
pooled AS (
    -- Entries draw the pool one by one in chronological order. The pool drawn after entry
    -- i is C_i + min(0, min over k <= i of (cap_k - C_k)), C the running billed time (the
    -- cap never decreases in that order); what an entry does not draw is charged.
    SELECT contract_id, ticket_id, worked_seconds, due,
           LEAST(0, COALESCE(MIN(cap - billed_upto) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING
                                                             AND 1 PRECEDING), 0))
           - LEAST(0, MIN(cap - billed_upto) OVER (w ROWS UNBOUNDED PRECEDING)) AS charged
    FROM drawn
    WINDOW w AS (PARTITION BY contract_id, pool ORDER BY work_date, started, id)
),
time_lines AS (
    -- One line per ticket (one rate per contract here): the line's charged seconds as
    -- hours to 4 places, converted once.
    SELECT contract_id, ticket_id, SUM(worked_seconds) AS worked,
           ROUND(SUM(charged)::numeric / 3600, 4) AS hours
    FROM (
        SELECT contract_id, ticket_id, worked_seconds, charged FROM pooled WHERE due
        UNION ALL
        SELECT contract_id, ticket_id, worked_seconds, billed FROM entries
        WHERE due AND NOT pooled
    ) due_time
    GROUP BY contract_id, ticket_id
),
fees AS (
    -- Retainer fees and recurring product lines: one line per unbilled period begun by
    -- as_of, all alike, so counted rather than listed.
    SELECT x.id AS contract_id,
           CASE WHEN x.start_date > x.fees_until THEN 0
                ELSE (EXTRACT(YEAR FROM x.fees_until) - EXTRACT(YEAR FROM x.first_period)) * 12
                     + EXTRACT(MONTH FROM x.fees_until) - EXTRACT(MONTH FROM x.first_period) + 1
           END - COUNT(DISTINCT pc.period_start) AS periods,
           CASE WHEN l.id IS NULL THEN ROUND(x.fee, 2)
                ELSE ROUND(l.quantity * ROUND(COALESCE(l.unit_price, p.unit_price), 4), 2)
           END AS amount
    FROM terms x
    LEFT JOIN contracts_contractproductline l ON x.kind = 'recurring' AND l.contract_id = x.id
    LEFT JOIN contracts_product p ON p.id = l.product_id
    LEFT JOIN contracts_periodcharge pc ON pc.contract_id = x.id
     AND pc.invoice_line_id IS NOT NULL
     AND pc.kind = CASE WHEN l.id IS NULL THEN 'retainer_fee' ELSE 'product' END
     AND pc.product_line_id IS NOT DISTINCT FROM l.id
     AND pc.period_start BETWEEN x.first_period AND x.fees_until
    WHERE x.kind = 'retainer' OR l.id IS NOT NULL
    GROUP BY x.id, x.start_date, x.first_period, x.fees_until, x.fee, l.id, l.quantity,
             l.unit_price, p.unit_price
),
lines AS (
    SELECT tl.contract_id, ROUND(tl.hours * x.rate, 2) AS amount
    FROM time_lines tl
    JOIN terms x ON x.id = tl.contract_id
    UNION ALL
    SELECT contract_id, periods * amount FROM fees WHERE periods > 0
    UNION ALL
    -- block purchases: invoiced once, from the purchase date
    SELECT p.contract_id, ROUND(ROUND(p.price, 4), 2)
    FROM contracts_blockpurchase p
    JOIN terms x ON x.id = p.contract_id AND x.kind = 'block_hours'
    WHERE p.invoice_line_id IS NULL AND p.purchased_on <= %(as_of)s::date
),
invoices AS (
    -- One invoice per contract: tax on its lines at its rate, rounded once.
    SELECT x.currency, SUM(l.amount) AS billable,
           CASE WHEN x.taxed THEN ROUND(SUM(l.amount) * x.tax_rate / 100, 2) ELSE 0 END AS tax
    FROM lines l
    JOIN terms x ON x.id = l.contract_id
    GROUP BY x.id, x.currency, x.taxed, x.tax_rate
)
SELECT i.currency, COUNT(*), SUM(i.billable), SUM(i.tax), SUM(i.billable + i.tax),
       u.tickets, u.worked
FROM invoices i
CROSS JOIN (SELECT COUNT(DISTINCT ticket_id) AS tickets,
                   COALESCE(SUM(worked), 0)::bigint AS worked
            FROM time_lines) u
GROUP BY i.currency, u.tickets, u.worked
ORDER BY i.currency
"""


def timed(sql: str, params, *, repeat: int) -> tuple[list, float]:
    """Rows of ``sql`` and its median time (with the fetch) over ``repeat`` runs."""
    timings = []
    with connection.cursor() as cursor:
        for _ in range(repeat):
            began = time.perf_counter()
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            timings.append(time.perf_counter() - began)
    return rows, statistics.median(timings)


def same_figures(rows) -> dict:
    """The batch details in the rows of ``SAME_FIGURES_SQL``, named as ``preview_figures``
    names the preview's."""
    tickets, worked = (rows[0][5], rows[0][6]) if rows else (0, 0)
    return {
        "invoices": sum(row[1] for row in rows),
        "tickets": tickets,
        "worked seconds": worked,
        **{
            f"{currency} {name}": value
            for currency, _n, billable, tax, total, *_usage in rows
            for name, value in (("billable", billable), ("tax", tax), ("total", total))
        },
    }


def preview_figures(details) -> dict:
    """The figures of the preview's batch details that ``SAME_FIGURES_SQL`` computes."""
    return {
        "invoices": details.invoices_to_create,
        "tickets": details.unbilled_tickets,
        "worked seconds": details.worked_seconds,
        **{
            f"{c.currency} {name}": value
            for c in details.currencies
            for name, value in (("billable", c.billable), ("tax", c.tax), ("total", c.total))
        },
    }


def mismatches(expected: dict, figures: dict) -> list[tuple[str, object, object]]:
    """``(name, expected, floor's)`` for every figure that differs, in ``expected``'s order
    then the floor's extras."""
    # Decimals compare by value: 12.50 equals 12.5, a cent apart does not.
    names = [*expected, *(name for name in figures if name not in expected)]
    return [
        (name, expected.get(name), figures.get(name))
        for name in names
        if expected.get(name) != figures.get(name)
    ]
