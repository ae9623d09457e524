"""Pricing: every billing rule that turns time, fees and blocks into money, one module each.

| rule (DESIGN.md) | module |
| --- | --- |
| billing periods: cycle, anchor day, day 29–31 clamped | ``periods`` |
| rounding billable time: increment, minimum, per entry / ticket per day / period | ``rounding`` |
| rates: scopes, most specific wins, tenant default | ``rates`` |
| included hours and prepaid blocks, drawn in date order | ``pools`` |
| an entry's price: billed, included and charged time at its rate | ``entries`` |
| the line policy: which line an entry is billed on, a line's hours and amount | ``lines`` |
| due, locked, partial as of a batch date | ``due`` |
| what a contract's periods cost under its type; block balances | ``amounts`` |
| the PostgreSQL accelerator of the sums a batch page needs | ``database`` |

The Python modules are the reference; ``database`` computes the same figures in one
statement behind ``contract_billing_state(sum_in_database=True)`` and is held equal to
them by generated cases (``tests/contracts/test_pricing_equivalence.py``). The billing
state of each contract (``contracts/selectors.py``: ``contract_billing_state``) puts these
together; tax and totals live with the invoice (``invoices/totals.py``).

Every function here is a read with a constant number of queries whatever the row count.
"""

from .amounts import (
    AmountLine,
    BlockBalance,
    PeriodAmount,
    block_balances,
    contract_period_amount,
    contract_period_amounts,
    device_counts,
    product_line_price,
    product_line_quantity,
)
from .entries import (
    ENTRY_FACT_FIELDS,
    UNBILLED_FACT_FIELDS,
    ContractTime,
    EntryFacts,
    EntryPrice,
    PricedEntry,
    entry_facts,
    price_contract_time,
    price_time_entries,
)
from .lines import time_line_amount, time_line_amounts, time_line_key, time_line_quantity
from .rates import (
    RateBook,
    RateContext,
    RateExplanation,
    RateResolution,
    describe_rule,
    entry_rate_context,
    explain_session,
    explain_time_entry,
    load_rate_book,
    rule_matches,
)
from .rounding import HOUR, hours, round_seconds, rounding_label

__all__ = [
    "ENTRY_FACT_FIELDS",
    "HOUR",
    "UNBILLED_FACT_FIELDS",
    "AmountLine",
    "BlockBalance",
    "ContractTime",
    "EntryFacts",
    "EntryPrice",
    "PeriodAmount",
    "PricedEntry",
    "RateBook",
    "RateContext",
    "RateExplanation",
    "RateResolution",
    "block_balances",
    "contract_period_amount",
    "contract_period_amounts",
    "describe_rule",
    "device_counts",
    "entry_facts",
    "entry_rate_context",
    "explain_session",
    "explain_time_entry",
    "hours",
    "load_rate_book",
    "price_contract_time",
    "price_time_entries",
    "product_line_price",
    "product_line_quantity",
    "round_seconds",
    "rounding_label",
    "rule_matches",
    "time_line_amount",
    "time_line_amounts",
    "time_line_key",
    "time_line_quantity",
]
