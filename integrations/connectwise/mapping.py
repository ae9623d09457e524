"""One customer's billing for one month as ConnectWise agreement additions.

The mapping ledger (system ``connectwise``) pairs an organization (``customer``, key the
organization's id) with a ConnectWise company, and each of that customer's products
(``agreement``, key ``"<organization id>:<SKU>"``) with the agreement that bills it. A
SKU is the catalog item's ``identifier`` there, unless an ``item`` mapping names its id.

Quantities and unit prices are the invoice engine's for the month
(``contracts.pricing.contract_period_amounts`` over the customer's recurring contracts,
or what the month's invoice billed when it was billed here), so ConnectWise bills what
our invoice would. Each mapped product is one addition on its agreement: created the
first time (effective from the month's first day), its quantity (and price) replaced
after. Before creating, the agreement's additions for the product are looked up, so a
retry after a lost answer never creates a second one.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from integrations.core import ledger as ledger_mod
from integrations.core.errors import Refused
from integrations.core.models import Delivery, DeliveryAction, DeliveryStatus, MappingKind, Provider
from integrations.core.remote import json_number

from .client import ConnectWiseClient, quoted

SYSTEM = Provider.CONNECTWISE


def agreement_key(organization_id: int, sku: str) -> str:
    return f"{organization_id}:{sku}"


def month_end(period_start: dt.date) -> dt.date:
    last = calendar.monthrange(period_start.year, period_start.month)[1]
    return period_start.replace(day=last)


# --- What the month bills -------------------------------------------------------------


@dataclass
class MonthProduct:
    sku: str
    name: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    taxable: bool
    currency: str


def month_products(organization_id: int, period_start: dt.date) -> tuple[dict, list[str]]:
    """({SKU: MonthProduct}, pricing problems) of the recurring contracts billed to the
    organization whose period starts in the month of ``period_start``: the same figures
    as the contract page and the invoice batch (``contract_period_amounts``); a period
    already invoiced here gives the quantity and price its invoice billed."""
    from contracts.choices import ChargeKind, ContractStatus, ContractType, ItemKind
    from contracts.models import Contract, PeriodCharge, Product
    from contracts.pricing import contract_period_amounts
    from contracts.pricing.periods import periods_between

    last = month_end(period_start)
    contracts = Contract.objects.filter(
        billing_organization_id=organization_id, contract_type=ContractType.RECURRING
    ).exclude(status=ContractStatus.SUSPENDED)
    pairs = []
    for contract in contracts:
        for period in periods_between(contract, period_start, last):
            starts_here = period_start <= period.start <= last
            in_term = contract.start_date <= period.start and (
                contract.end_date is None or period.start <= contract.end_date
            )
            if starts_here and in_term:
                pairs.append((contract, period))
    billed = {
        (charge.product_line_id, charge.period_start): charge
        for charge in PeriodCharge.objects.filter(
            contract_id__in=[c.pk for c, _ in pairs],
            kind=ChargeKind.PRODUCT,
            invoice_line__isnull=False,
            period_start__gte=period_start,
            period_start__lte=last,
        )
    }
    found: dict[str, MonthProduct] = {}
    prices: dict[str, set] = defaultdict(set)
    problems: list[str] = []
    rows = []
    for amount in contract_period_amounts(pairs):
        problems += [p for p in amount.problems if not p.startswith("Time entry")]
        for line in amount.lines:
            if line.kind == ItemKind.PRODUCT and line.sku:
                rows.append((amount, line))
    catalog = {p.sku: p for p in Product.objects.filter(sku__in={line.sku for _, line in rows})}
    for amount, line in rows:
        charge = billed.get((line.product_line_id, amount.period.start))
        quantity = charge.quantity if charge else line.quantity
        price = charge.unit_price if charge else line.unit_price
        value = charge.amount if charge else line.amount
        prices[line.sku].add(price)
        row = found.get(line.sku)
        if row is None:
            product = catalog.get(line.sku)
            found[line.sku] = MonthProduct(
                sku=line.sku,
                name=product.name if product else line.sku,
                quantity=quantity,
                unit_price=price,
                amount=value,
                taxable=product.taxable if product else True,
                currency=amount.currency,
            )
        else:
            row.quantity += quantity
            row.amount += value
    for sku, seen in prices.items():
        if len(seen) > 1:
            problems.append(
                f"{sku}: billed at {len(seen)} different unit prices this month "
                f"({', '.join(str(p) for p in sorted(seen))}); one addition has one price"
            )
    return found, problems


# --- Reading ConnectWise --------------------------------------------------------------


def company_row(row: dict) -> dict:
    return {
        "id": str(row.get("id", "")),
        "identifier": row.get("identifier", ""),
        "name": row.get("name", ""),
    }


def companies_matching(api: ConnectWiseClient, *, identifier: str = "", name: str = "") -> list:
    """Companies whose identifier is ``identifier`` (first), then whose name contains
    ``name``: the suggestions the owner confirms."""
    found: dict[str, dict] = {}
    if identifier:
        for row in api.list(
            "company/companies",
            "reading companies",
            conditions=f"identifier={quoted(identifier)}",
        ):
            found.setdefault(str(row["id"]), company_row(row) | {"by": "identifier"})
    if name:
        for row in api.list(
            "company/companies",
            "reading companies",
            conditions=f"name contains {quoted(name)}",
            order_by="name asc",
        ):
            found.setdefault(str(row["id"]), company_row(row) | {"by": "name"})
    return list(found.values())


def company_agreements(api: ConnectWiseClient, company_id: str) -> list[dict]:
    """The company's agreements that are not cancelled: id, name and type."""
    rows = api.list(
        "finance/agreements",
        "reading agreements",
        conditions=f"company/id={int(company_id)} and cancelledFlag=False",
        order_by="name asc",
    )
    return [
        {
            "id": str(row["id"]),
            "name": row.get("name", ""),
            "type": (row.get("type") or {}).get("name", ""),
        }
        for row in rows
    ]


def product_ref(book: ledger_mod.Ledger, sku: str) -> tuple[dict, str]:
    """(the addition's ``product`` reference, its ``conditions`` clause)."""
    mapped = book.external_id(MappingKind.ITEM, sku)
    if mapped.isdigit():
        return {"id": int(mapped)}, f"product/id={int(mapped)}"
    identifier = book.external_name(MappingKind.ITEM, sku) or sku
    return {"identifier": identifier}, f"product/identifier={quoted(identifier)}"


def _day(value) -> dt.date | None:
    if not value:
        return None
    return dt.date.fromisoformat(str(value)[:10])


def find_addition(
    api: ConnectWiseClient, agreement_id: str, clause: str, period_start: dt.date
) -> dict | None:
    """The agreement's live addition of the product for the month: effective by the
    month's end and not cancelled before it starts; the latest such."""
    rows = api.list(
        f"finance/agreements/{int(agreement_id)}/additions",
        "reading the agreement's additions",
        conditions=clause,
    )
    last = month_end(period_start)
    live = [
        row
        for row in rows
        if (_day(row.get("effectiveDate")) or period_start) <= last
        and not (_day(row.get("cancelledDate")) and _day(row.get("cancelledDate")) <= period_start)
    ]
    live.sort(key=lambda row: (_day(row.get("effectiveDate")) or dt.date.min, row.get("id", 0)))
    return live[-1] if live else None


# --- Pushing one customer's month -----------------------------------------------------


def _shown(quantity: Decimal) -> str:
    return f"{quantity.normalize():f}"


def _decimal(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def push_period(api: ConnectWiseClient, delivery: Delivery) -> tuple[str, dict]:
    """Send the customer's month; (summary, delivery fields). Refused, naming them, when
    products billed this month have no agreement (the mapped ones are sent first)."""
    from billing_site.models import Organization

    organization = Organization.objects.get(pk=delivery.organization_id)
    period = delivery.period_start
    label = f"{period:%B %Y}"
    book = ledger_mod.ledger(SYSTEM)
    if not book.external_id(MappingKind.CUSTOMER, str(organization.pk)):
        raise Refused(
            f"{organization.name} is not matched to a ConnectWise company: choose it on the "
            "customer's ConnectWise tab, then retry."
        )
    later = (
        Delivery.objects.filter(
            connection_id=delivery.connection_id,
            organization_id=organization.pk,
            action=DeliveryAction.PUSH,
            status=DeliveryStatus.DONE,
            period_start__gt=period,
        )
        .order_by("-period_start")
        .first()
    )
    if later is not None:
        return (
            f"{label} not sent: {later.period_start:%B %Y} was already sent, and its "
            "quantities stay.",
            {},
        )
    products, problems = month_products(organization.pk, period)
    prefix = f"{organization.pk}:"
    agreements = {
        key[len(prefix) :]: row
        for key, row in book.of_kind(MappingKind.AGREEMENT).items()
        if key.startswith(prefix) and row.external_id
    }
    blocking = [p for p in problems if p.split(":")[0] in agreements]
    if blocking:
        raise Refused(f"{label} cannot be priced: " + "; ".join(blocking) + ".")
    done, total = [], Decimal("0")
    for sku in sorted(agreements):
        row = agreements[sku]
        wanted = products.get(sku)
        quantity = wanted.quantity if wanted else Decimal("0")
        reference, clause = product_ref(book, sku)
        where = f"agreement {row.external_name or row.external_id}"
        existing = find_addition(api, row.external_id, clause, period)
        if existing is not None:
            changes = {}
            if _decimal(existing.get("quantity")) != quantity:
                changes["quantity"] = json_number(quantity)
            if wanted and _decimal(existing.get("unitPrice")) != wanted.unit_price:
                changes["unitPrice"] = json_number(wanted.unit_price)
            if changes:
                api.patch(
                    f"finance/agreements/{int(row.external_id)}/additions/{int(existing['id'])}",
                    changes,
                    "updating an agreement addition",
                )
                done.append(f"{sku} × {_shown(quantity)} updated on {where}")
            else:
                done.append(f"{sku} × {_shown(quantity)} already on {where}")
        elif wanted is not None and quantity > 0:
            body = {
                "product": reference,
                "quantity": json_number(quantity),
                "unitPrice": json_number(wanted.unit_price),
                "billCustomer": "Billable",
                "effectiveDate": f"{period:%Y-%m-%d}T00:00:00Z",
                "taxableFlag": wanted.taxable,
                "invoiceDescription": wanted.name[:1000],
            }
            created = api.post(
                f"finance/agreements/{int(row.external_id)}/additions",
                body,
                "adding to an agreement",
            )
            done.append(
                f"{sku} × {_shown(quantity)} added to {where} (addition {created.get('id')})"
            )
        if wanted is not None:
            total += wanted.amount
    sent = "; ".join(done) if done else "nothing mapped to send"
    unmapped = sorted(sku for sku in products if sku not in agreements)
    if unmapped:
        raise Refused(
            f"{label}: {sent}. Not sent, no agreement chosen: {', '.join(unmapped)} — choose "
            "them on the customer's ConnectWise tab, then retry."
        )
    return f"{label}: {sent}.", {"our_total": total}
