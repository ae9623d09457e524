"""The mapping ledger: reads (one query per use) and the file-export settings built from it.

Keys: see ``Mapping``. Tax rates are keyed by their normalised text ("20", "8.25"),
untaxed lines by ``EXEMPT``; lines without a SKU by ``NO_SKU`` (an item must still be
named for them in QuickBooks).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from audit import services as audit
from billing_site.tenancy import require_current_tenant

from .models import Mapping, MappingKind, MappingOrigin, Provider

EXEMPT = "exempt"
# What the audit log records of a mapping.
MAPPING_FIELDS = ("external_id", "external_name", "origin")
NO_SKU = ""
ACCOUNT_ROLES = {
    Provider.QUICKBOOKS: {
        "receivable": "Receivable account (IIF TRNS)",
        "income": "Default income account",
        "sales_tax": "Sales tax payable account (IIF)",
        "tax_agency": "Tax agency (IIF sales-tax vendor)",
    },
    Provider.XERO: {"income": "Default account code"},
}


def rate_key(rate) -> str:
    value = Decimal(str(rate)).normalize()
    return f"{value:f}"


@dataclass
class Ledger:
    system: str
    rows: dict[tuple[str, str], Mapping] = field(default_factory=dict)

    def get(self, kind: str, key: str) -> Mapping | None:
        return self.rows.get((kind, key))

    def external_id(self, kind: str, key: str) -> str:
        row = self.get(kind, key)
        return row.external_id if row else ""

    def external_name(self, kind: str, key: str) -> str:
        row = self.get(kind, key)
        return row.external_name if row else ""

    def of_kind(self, kind: str) -> dict[str, Mapping]:
        return {key: row for (k, key), row in self.rows.items() if k == kind}


def ledger(system: str) -> Ledger:
    """Every mapping of ``system`` for the current tenant (one query)."""
    rows = Mapping.objects.filter(system=system)
    return Ledger(system=system, rows={(row.kind, row.local_key): row for row in rows})


@transaction.atomic
def mapping_set(
    *,
    system: str,
    kind: str,
    local_key: str,
    external_id: str = "",
    external_name: str = "",
    origin: str = MappingOrigin.MANUAL,
) -> Mapping | None:
    """Create, change or (both values empty) remove one mapping."""
    errors = {}
    if system not in Provider.values:
        errors["system"] = f"Unknown system '{system}'."
    if kind not in MappingKind.values:
        errors["kind"] = f"Unknown mapping kind '{kind}'."
    external_id = (external_id or "").strip()
    external_name = (external_name or "").strip()
    if len(external_id) > 100:
        errors["external_id"] = "At most 100 characters."
    if len(external_name) > 200:
        errors["external_name"] = "At most 200 characters."
    if kind == MappingKind.ACCOUNT and local_key not in ACCOUNT_ROLES.get(system, {}):
        errors["local_key"] = f"Unknown default account '{local_key}' for {system}."
    if errors:
        raise ValidationError(errors)
    tenant = require_current_tenant()
    existing = Mapping.objects.select_for_update().filter(
        system=system, kind=kind, local_key=local_key
    )
    parent = (audit.PROVIDER, system)
    if not external_id and not external_name:
        for row in existing:
            audit.record(
                action=audit.Action.DELETE,
                target=row,
                before=audit.values(row, MAPPING_FIELDS),
                parent=parent,
            )
        existing.delete()
        return None
    row = existing.first()
    if row is None:
        try:
            with transaction.atomic():
                row = Mapping.objects.create(
                    tenant=tenant,
                    system=system,
                    kind=kind,
                    local_key=local_key,
                    external_id=external_id,
                    external_name=external_name,
                    origin=origin,
                )
                audit.record_changes(
                    action=audit.Action.CREATE,
                    target=row,
                    previous=None,
                    fields=MAPPING_FIELDS,
                    parent=parent,
                )
                return row
        except IntegrityError:
            # Written meanwhile by another push (first push of the same customer).
            row = Mapping.objects.select_for_update().get(
                system=system, kind=kind, local_key=local_key
            )
    previous = copy.copy(row)
    row.external_id, row.external_name, row.origin = external_id, external_name, origin
    row.save(update_fields=["external_id", "external_name", "origin", "updated_at"])
    audit.record_changes(
        action=audit.Action.UPDATE,
        target=row,
        previous=previous,
        fields=MAPPING_FIELDS,
        parent=parent,
    )
    return row


def remember(book: Ledger, kind: str, key: str, external_id: str, name: str, origin: str):
    """Record what a push matched or created in the ledger, and in ``book`` (the push's
    copy), so the rest of the push and every later one reuses it."""
    book.rows[(kind, key)] = mapping_set(
        system=book.system,
        kind=kind,
        local_key=key,
        external_id=external_id,
        external_name=name,
        origin=origin,
    )


def line_tax_codes(book: Ledger, doc, *, what: str) -> dict[int, str]:
    """The mapped tax code of each line of ``doc`` (QuickBooks TaxCode, Xero TaxType), by
    line id; tax is never guessed, so any unmapped rate refuses the push, naming it."""
    from .errors import Refused

    codes, missing = {}, set()
    for line in doc.lines:
        key = rate_key(line.tax_rate) if line.taxable else EXEMPT
        code = book.external_id(MappingKind.TAX_RATE, key)
        if not code:
            missing.add("untaxed lines" if key == EXEMPT else f"{key} %")
        codes[line.id] = code
    if missing:
        raise Refused(
            f"Map these tax rates to {what} first (Integrations › Mapping): "
            + ", ".join(sorted(missing))
            + "."
        )
    return codes


# --- What is mapped, what is not --------------------------------------------------------


@dataclass(frozen=True)
class LedgerRow:
    kind: str
    local_key: str
    label: str
    required: bool  # pushes stop until it is mapped
    mapping: Mapping | None
    hint: str = ""  # what happens while it is not mapped

    @property
    def kind_label(self) -> str:
        return MappingKind(self.kind).label


def ledger_rows(system: str) -> list[LedgerRow]:
    """Everything a push or export of ``system`` needs mapped, with its mapping if any:
    default accounts, every tax rate in use — the tenant's default, the customers', the
    contracts' and the invoices' — and untaxed lines, every product's income
    account, every SKU, every active organization. A fixed number of queries."""
    from billing_site.models import Organization
    from contracts.models import Contract, Product
    from invoices.exports import IIF_ACCOUNTS
    from invoices.models import InvoiceLine

    tenant = require_current_tenant()
    book = ledger(system)
    rows: list[LedgerRow] = []

    def add(kind: str, key: str, label: str, *, required: bool = False, hint: str = ""):
        rows.append(LedgerRow(kind, key, label, required, book.get(kind, key), hint))

    for role, label in ACCOUNT_ROLES[system].items():
        if role == "income":
            add(MappingKind.ACCOUNT, role, label, required=True)
        else:
            add(
                MappingKind.ACCOUNT,
                role,
                label,
                hint=f"IIF files use “{IIF_ACCOUNTS[role]}”"
                if IIF_ACCOUNTS[role]
                else "IIF files leave it empty",
            )
    rates = {rate_key(tenant.default_tax_rate)}
    rates |= {
        rate_key(rate)
        for rate in Organization.objects.exclude(tax_rate__isnull=True)
        .values_list("tax_rate", flat=True)
        .distinct()
    }
    rates |= {
        rate_key(rate)
        for rate in Contract.objects.filter(taxable=True)
        .order_by()
        .values_list("tax_rate", flat=True)
        .distinct()
    }
    rates |= {
        rate_key(rate)
        for rate in InvoiceLine.objects.filter(taxable=True)
        .order_by()
        .values_list("tax_rate", flat=True)
        .distinct()
    }
    for rate in sorted(rates, key=Decimal):
        add(MappingKind.TAX_RATE, rate, f"{rate} %", required=True)
    add(MappingKind.TAX_RATE, EXEMPT, "Untaxed lines", required=True)
    products = list(Product.objects.order_by("sku").values("sku", "name", "income_account_code"))
    own_code = (
        "new items go to the default income account"
        if system == Provider.QUICKBOOKS
        else "the code itself is used"
    )
    for code in sorted({p["income_account_code"] for p in products if p["income_account_code"]}):
        add(MappingKind.INCOME_ACCOUNT, code, f"Income account {code}", hint=own_code)
    first_push = "matched by name or created on the first push"
    customer_hint = (
        "matched by customer id (account number), then name, or created on the first push"
        if system == Provider.XERO
        else first_push
    )
    if system == Provider.QUICKBOOKS:
        add(
            MappingKind.ITEM,
            NO_SKU,
            "Lines without a SKU (time, adjustments)",
            hint="the item “Services”, matched or created on the first push",
        )
    for product in products:
        add(
            MappingKind.ITEM,
            product["sku"],
            f"{product['sku']} — {product['name']}",
            hint=first_push,
        )
    for org_id, name in (
        Organization.objects.filter(is_active=True).order_by("name").values_list("id", "name")
    ):
        add(MappingKind.CUSTOMER, str(org_id), name, hint=customer_hint)
    return rows


# --- File exports -----------------------------------------------------------------------


def export_options(*, shorten_numbers: bool = False) -> dict[str, dict]:
    """Keyword arguments of the IIF and Xero CSV writers (``invoices.exports``), from the
    ledger and the catalog: each SKU's income account (the product's code, or the account
    it is mapped to), the default accounts, the tax agency and the per-rate tax names."""
    from contracts.models import Product

    product_accounts = dict(
        Product.objects.exclude(income_account_code="").values_list("sku", "income_account_code")
    )
    quickbooks, xero = ledger(Provider.QUICKBOOKS), ledger(Provider.XERO)

    def income_accounts(book: Ledger, attribute: str) -> dict[str, str]:
        mapped = {
            key: getattr(row, attribute) or row.external_name or row.external_id
            for key, row in book.of_kind(MappingKind.INCOME_ACCOUNT).items()
        }
        return {sku: mapped.get(code) or code for sku, code in product_accounts.items()}

    iif_accounts = {
        role: row.external_name or row.external_id
        for role, row in quickbooks.of_kind(MappingKind.ACCOUNT).items()
        if row.external_name or row.external_id
    }
    iif_tax_items = {
        key: row.external_name or row.external_id
        for key, row in quickbooks.of_kind(MappingKind.TAX_RATE).items()
        if key != EXEMPT
    }
    xero_accounts = {
        role: row.external_id or row.external_name
        for role, row in xero.of_kind(MappingKind.ACCOUNT).items()
        if row.external_id or row.external_name
    }
    xero_tax_types = {}
    for key, row in xero.of_kind(MappingKind.TAX_RATE).items():
        # The CSV import takes the tax rate's display name; the API its code.
        xero_tax_types[key] = row.external_name or row.external_id
    return {
        "iif": {
            "accounts": iif_accounts,
            "income_accounts": income_accounts(quickbooks, "external_name"),
            "tax_items": iif_tax_items,
            "shorten_numbers": shorten_numbers,
        },
        "xero": {
            "accounts": xero_accounts,
            "income_accounts": income_accounts(xero, "external_id"),
            "tax_types": xero_tax_types,
            "date_format": xero_date_format(require_current_tenant().country),
        },
    }


# Xero organisations in the United States read import dates month first; the others
# (UK, AU, NZ, …) day first.
MONTH_FIRST_COUNTRIES = frozenset({"US"})


def xero_date_format(country: str) -> str:
    return "%m/%d/%Y" if (country or "").upper() in MONTH_FIRST_COUNTRIES else "%d/%m/%Y"


def export_file(*, invoices, fmt: str, basename: str = "invoices", shorten_numbers: bool = False):
    """``invoices.exports.export_invoices`` with the tenant's mapping: what every export
    button and the export API serve, so a file is configured the same way everywhere."""
    from invoices.exports import export_invoices

    return export_invoices(
        invoices=invoices,
        fmt=fmt,
        basename=basename,
        options=export_options(shorten_numbers=shorten_numbers),
    )
