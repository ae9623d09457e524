"""Writes of the contracts app. Each service is one transaction, takes keyword-only
arguments, and raises ``ValidationError({"field": "message"})`` on bad input with
nothing written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit import services as audit
from billing_site.models import MAX_ID, Contact, Membership, Organization, Tenant, User
from billing_site.money import format_unit_price, largest_amount
from billing_site.roles import STAFF_ROLES, Cap, Role, role_can
from billing_site.selectors import organization_tax_rate
from billing_site.services import assign_fields, reject_unknown_fields, sequence_take
from billing_site.tenancy import require_current_tenant
from billing_site.timeutils import check_date_range, format_duration
from billing_site.unset import UNSET, Unset, provided
from billing_site.uploads import check_upload_size

from .choices import (
    BillingCycle,
    ContractStatus,
    ContractType,
    QuantityMode,
    RoundingScope,
    TicketStatus,
    TimeEntrySource,
    TimeEntryState,
)
from .models import (
    AMOUNT,
    BlockPurchase,
    Contract,
    ContractProductLine,
    PeriodCharge,
    Product,
    RateRule,
    ServiceType,
    Team,
    TeamMember,
    Ticket,
    TicketAttachment,
    TimeEntry,
)

MAX_ENTRY_SECONDS = 24 * 3600
COLUMN_OF_AMOUNT = {"max_digits": AMOUNT["max_digits"], "places": AMOUNT["decimal_places"]}
# Clocks of browsers and servers differ a little; an end this far ahead is still "now".
CLOCK_SKEW = dt.timedelta(minutes=5)


def _clean(instance, exclude: list[str] | None = None) -> None:
    """Field validation (choices, max lengths, validators) before anything is written."""
    instance.full_clean(
        exclude=["tenant", *(exclude or [])], validate_unique=False, validate_constraints=False
    )


def _same_tenant(field: str, obj, tenant) -> None:
    if obj is not None and getattr(obj, "tenant_id", tenant.pk) != tenant.pk:
        raise ValidationError({field: "Not found."})


def _lock_tenant(tenant: Tenant) -> None:
    """Serialise writes whose checks span rows (rate-rule ties, team members)."""
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()


def _role_of(user, tenant) -> str | None:
    if user is None:
        return None
    return (
        Membership.objects.filter(user=user, tenant=tenant).values_list("role", flat=True).first()
    )


def _name(user) -> str:
    return (user.get_full_name() or user.username) if user else "—"


# ------------------------------------------------------------------ catalog

# The ``*_FIELDS`` tuples are the fields each service accepts; the browser forms and the API
# serializers take their field lists from them, so a field is added in one place.
SERVICE_TYPE_FIELDS = ("name", "description", "default_billable", "is_active")


def _unique_name(model, field: str, value: str, exclude_pk=None, label: str = "name") -> None:
    clash = model.objects.filter(**{f"{field}__iexact": value})
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationError({field: f"{label} “{value}” is already used."})


def _check_service_type(service_type: ServiceType) -> None:
    _clean(service_type)
    _unique_name(
        ServiceType, "name", service_type.name, exclude_pk=service_type.pk, label="Service type"
    )


@transaction.atomic
def service_type_create(
    *,
    name: str,
    description: str = "",
    default_billable: bool = True,
    is_active: bool = True,
) -> ServiceType:
    """Add a service type; names are unique per tenant."""
    tenant = require_current_tenant()
    service_type = ServiceType(
        tenant=tenant,
        name=name,
        description=description,
        default_billable=default_billable,
        is_active=is_active,
    )
    _check_service_type(service_type)
    service_type.save()
    return service_type


@transaction.atomic
def service_type_update(
    *,
    service_type: ServiceType,
    name: str | Unset = UNSET,
    description: str | Unset = UNSET,
    default_billable: bool | Unset = UNSET,
    is_active: bool | Unset = UNSET,
) -> ServiceType:
    """Change a service type (existing entries keep their billable flag)."""
    data = provided(
        name=name, description=description, default_billable=default_billable, is_active=is_active
    )
    assign_fields(service_type, data, SERVICE_TYPE_FIELDS)
    _check_service_type(service_type)
    service_type.save()
    return service_type


PRODUCT_FIELDS = (
    "sku",
    "name",
    "description",
    "unit",
    "unit_price",
    "taxable",
    "income_account_code",
    "is_active",
)


def _check_product(product: Product) -> None:
    if product.unit_price is not None and product.unit_price < 0:
        raise ValidationError({"unit_price": "A unit price cannot be negative."})
    _clean(product)
    _unique_name(Product, "sku", product.sku, exclude_pk=product.pk, label="SKU")


@transaction.atomic
def product_create(
    *,
    sku: str,
    name: str,
    description: str = "",
    unit: str = "each",
    unit_price: Decimal = Decimal("0"),
    taxable: bool = True,
    income_account_code: str = "",
    is_active: bool = True,
) -> Product:
    """Add a catalog product; the SKU is unique per tenant. Prices are in the tenant currency."""
    tenant = require_current_tenant()
    product = Product(
        tenant=tenant,
        sku=sku,
        name=name,
        description=description,
        unit=unit,
        unit_price=unit_price,
        taxable=taxable,
        income_account_code=income_account_code,
        is_active=is_active,
    )
    _check_product(product)
    product.save()
    return product


@transaction.atomic
def product_update(
    *,
    product: Product,
    sku: str | Unset = UNSET,
    name: str | Unset = UNSET,
    description: str | Unset = UNSET,
    unit: str | Unset = UNSET,
    unit_price: Decimal | Unset = UNSET,
    taxable: bool | Unset = UNSET,
    income_account_code: str | Unset = UNSET,
    is_active: bool | Unset = UNSET,
) -> Product:
    """Change a catalog product; contract lines without a price override follow the new price."""
    data = provided(
        sku=sku,
        name=name,
        description=description,
        unit=unit,
        unit_price=unit_price,
        taxable=taxable,
        income_account_code=income_account_code,
        is_active=is_active,
    )
    assign_fields(product, data, PRODUCT_FIELDS)
    _check_product(product)
    product.save()
    return product


def _check_technicians(users: Iterable, tenant) -> None:
    users = list(users)
    technicians = set(
        Membership.objects.filter(tenant=tenant, role=Role.TECHNICIAN, user__in=users).values_list(
            "user_id", flat=True
        )
    )
    outsiders = [_name(user) for user in users if user.pk not in technicians]
    if outsiders:
        raise ValidationError(
            {
                "members": f"Only technicians of this MSP can be team members: {', '.join(outsiders)}."
            }
        )


@transaction.atomic
def team_create(*, name: str, description: str = "", members: Iterable = ()) -> Team:
    """Add a team of technicians."""
    tenant = require_current_tenant()
    team = Team(tenant=tenant, name=name, description=description)
    _clean(team)
    _unique_name(Team, "name", name, label="Team")
    team.save()
    if members:
        team_set_members(team=team, members=members)
    return team


@transaction.atomic
def team_update(
    *, team: Team, name: str | None = None, description: str | None = None, members=None
) -> Team:
    """Rename a team or change its members."""
    if name is not None:
        team.name = name
    if description is not None:
        team.description = description
    _clean(team)
    _unique_name(Team, "name", team.name, exclude_pk=team.pk, label="Team")
    team.save()
    if members is not None:
        team_set_members(team=team, members=members)
    return team


@transaction.atomic
def team_set_members(*, team: Team, members: Iterable) -> Team:
    """Make ``members`` the team's technicians.

    Refused when it would let two team-scoped rate rules tie: a technician in two teams
    that each have a rule naming the same scopes (see ``rate_rule_create``).
    """
    tenant = require_current_tenant()
    _lock_tenant(tenant)
    members = list(members)
    _check_technicians(members, tenant)
    new_ids = {user.pk for user in members}
    team_members = _team_members()
    team_members[team.pk] = new_ids
    for rule in RateRule.objects.filter(team=team):
        tie = _find_tie(rule, team_members)
        if tie is not None:
            raise ValidationError({"members": _tie_error(rule, tie, team_members)})
    TeamMember.objects.filter(team=team).exclude(user_id__in=new_ids).delete()
    existing = set(TeamMember.objects.filter(team=team).values_list("user_id", flat=True))
    TeamMember.objects.bulk_create(
        [TeamMember(tenant=tenant, team=team, user_id=uid) for uid in new_ids - existing]
    )
    return team


# ---------------------------------------------------------------- contracts

CONTRACT_FIELDS = (
    "customer",
    "billing_organization",
    "name",
    "contract_type",
    "status",
    "start_date",
    "end_date",
    "billing_cycle",
    "anchor_day",
    "currency",
    "taxable",
    "tax_rate",
    "rounding_increment_minutes",
    "rounding_minimum_minutes",
    "rounding_scope",
    "retainer_fee",
    "included_hours",
    "overage_rate",
    "block_hours",
    "block_price",
    "notes",
)
TYPE_FIELDS = {
    ContractType.RETAINER: ("retainer_fee", "included_hours", "overage_rate"),
    ContractType.BLOCK_HOURS: ("block_hours", "block_price", "overage_rate"),
}
TYPE_FIELD_LABELS = {
    "retainer_fee": "A retainer needs its fee.",
    "included_hours": "A retainer needs the hours its fee includes.",
    "overage_rate": "Give the hourly rate for time beyond the included hours or block.",
    "block_hours": "A block-hours contract needs the block size in hours.",
    "block_price": "A block-hours contract needs the block price.",
}
# Fields that decide periods, prices and currency: frozen once something is billed.
BILLING_TERMS = ("contract_type", "currency", "billing_cycle", "anchor_day", "start_date")


TAXABLE_NEEDS_RATE = (
    "A taxable contract needs its tax rate above 0 %: enter it, or untick taxable for work "
    "billed without tax."
)


def _default_tax_rate(contract: Contract, tenant) -> Decimal:
    """The rate of a taxable contract whose rate is left empty: the billing organization's,
    else the tenant's default rate. Refused when neither gives one."""
    rate = organization_tax_rate(organization=contract.billing_organization, tenant=tenant)
    if not rate:
        raise ValidationError(
            {
                "tax_rate": f"Neither {contract.billing_organization} nor your settings give a "
                "tax rate: enter the contract's rate, or untick taxable for work billed "
                "without tax."
            }
        )
    return rate


def _resolve_tax(contract: Contract, tenant, *, taxable: bool | None) -> None:
    """Tax terms as given, with the defaults a form or API call leaves out: an empty rate
    is the billing organization's (else the tenant's) on a taxable contract, 0 otherwise;
    taxable left out means taxed when a rate is known."""
    if contract.tax_rate is None:
        if taxable is False:
            contract.tax_rate = Decimal("0")
        elif taxable:
            contract.tax_rate = _default_tax_rate(contract, tenant)
        else:
            contract.tax_rate = organization_tax_rate(
                organization=contract.billing_organization, tenant=tenant
            )
    contract.taxable = bool(contract.tax_rate) if taxable is None else taxable


def contract_has_billed_items(contract: Contract) -> bool:
    return (
        TimeEntry.objects.filter(contract=contract, invoice_line__isnull=False).exists()
        or PeriodCharge.objects.filter(contract=contract, invoice_line__isnull=False).exists()
        or BlockPurchase.objects.filter(contract=contract, invoice_line__isnull=False).exists()
    )


def _validate_contract(contract: Contract, tenant) -> None:
    check_date_range(start_date=contract.start_date, end_date=contract.end_date)
    errors: dict[str, str] = {}
    _same_tenant("customer", contract.customer, tenant)
    _same_tenant("billing_organization", contract.billing_organization, tenant)
    if contract.start_date and contract.end_date and contract.end_date < contract.start_date:
        errors["end_date"] = "The end date cannot be before the start date."
    if contract.anchor_day is not None and not 1 <= contract.anchor_day <= 31:
        errors["anchor_day"] = "The anchor day is a day of the month, 1 to 31."
    required = TYPE_FIELDS.get(contract.contract_type, ())
    for name in required:
        value = getattr(contract, name)
        if value is None:
            errors[name] = TYPE_FIELD_LABELS[name]
        elif value < 0:
            errors[name] = "Cannot be negative."
    if contract.contract_type == ContractType.BLOCK_HOURS and (contract.block_hours or 0) <= 0:
        errors.setdefault("block_hours", "A block has at least some hours.")
    if contract.tax_rate is not None and not Decimal("0") <= contract.tax_rate <= Decimal("100"):
        errors["tax_rate"] = "The tax rate is a percentage between 0 and 100."
    elif contract.taxable and not contract.tax_rate:
        errors["tax_rate"] = TAXABLE_NEEDS_RATE
    if errors:
        raise ValidationError(errors)
    # Terms of other types are cleared so they cannot be mistaken for live terms.
    for name in ("retainer_fee", "included_hours", "overage_rate", "block_hours", "block_price"):
        if name not in required:
            setattr(contract, name, None)
    _clean(contract)


def _unique_contract_name(contract: Contract) -> None:
    clash = Contract.objects.filter(customer=contract.customer, name__iexact=contract.name)
    if contract.pk:
        clash = clash.exclude(pk=contract.pk)
    if clash.exists():
        raise ValidationError(
            {"name": f"{contract.customer} already has a contract named “{contract.name}”."}
        )


@transaction.atomic
def contract_create(
    *,
    customer: Organization,
    billing_organization: Organization | None = None,
    name: str,
    contract_type: str = ContractType.HOURLY,
    status: str = ContractStatus.ACTIVE,
    start_date: dt.date,
    end_date: dt.date | None = None,
    billing_cycle: str = BillingCycle.MONTHLY,
    anchor_day: int | None = None,
    currency: str | None = None,
    taxable: bool | None = None,
    tax_rate: Decimal | None = None,
    rounding_increment_minutes: int = 0,
    rounding_minimum_minutes: int = 0,
    rounding_scope: str = RoundingScope.ENTRY,
    retainer_fee: Decimal | None = None,
    included_hours: Decimal | None = None,
    overage_rate: Decimal | None = None,
    block_hours: Decimal | None = None,
    block_price: Decimal | None = None,
    notes: str = "",
) -> Contract:
    """Create a contract. The billing organization defaults to the customer, the currency
    to the billing organization's, the anchor day to the start date's day, the tax rate to
    the billing organization's (else the tenant's default rate; taxable when there is one).
    A taxable contract has a rate above 0. A block-hours contract gets its first block
    purchase on the start date."""
    tenant = require_current_tenant()
    if customer is None:
        raise ValidationError({"customer": "Choose the customer the work is for."})
    billing_organization = billing_organization or customer
    currency = currency or billing_organization.currency
    if start_date and not anchor_day:
        anchor_day = start_date.day
    contract = Contract(
        tenant=tenant,
        customer=customer,
        billing_organization=billing_organization,
        name=name,
        contract_type=contract_type,
        status=status,
        start_date=start_date,
        end_date=end_date,
        billing_cycle=billing_cycle,
        anchor_day=anchor_day,
        currency=currency,
        taxable=taxable,
        tax_rate=tax_rate,
        rounding_increment_minutes=rounding_increment_minutes,
        rounding_minimum_minutes=rounding_minimum_minutes,
        rounding_scope=rounding_scope,
        retainer_fee=retainer_fee,
        included_hours=included_hours,
        overage_rate=overage_rate,
        block_hours=block_hours,
        block_price=block_price,
        notes=notes,
    )
    _resolve_tax(contract, tenant, taxable=taxable)
    _validate_contract(contract, tenant)
    _unique_contract_name(contract)
    contract.save()
    if contract.contract_type == ContractType.BLOCK_HOURS:
        BlockPurchase.objects.create(
            tenant=tenant,
            contract=contract,
            purchased_on=contract.start_date,
            hours=contract.block_hours,
            price=contract.block_price,
            note="First block",
        )
    audit.record_changes(
        action=audit.Action.CREATE, target=contract, previous=None, fields=CONTRACT_FIELDS
    )
    return contract


@transaction.atomic
def contract_update(
    *,
    contract: Contract,
    customer: Organization | Unset = UNSET,
    billing_organization: Organization | Unset | None = UNSET,
    name: str | Unset = UNSET,
    contract_type: str | Unset = UNSET,
    status: str | Unset = UNSET,
    start_date: dt.date | Unset = UNSET,
    end_date: dt.date | Unset | None = UNSET,
    billing_cycle: str | Unset = UNSET,
    anchor_day: int | Unset | None = UNSET,
    currency: str | Unset | None = UNSET,
    taxable: bool | Unset = UNSET,
    tax_rate: Decimal | Unset | None = UNSET,
    rounding_increment_minutes: int | Unset = UNSET,
    rounding_minimum_minutes: int | Unset = UNSET,
    rounding_scope: str | Unset = UNSET,
    retainer_fee: Decimal | Unset | None = UNSET,
    included_hours: Decimal | Unset | None = UNSET,
    overage_rate: Decimal | Unset | None = UNSET,
    block_hours: Decimal | Unset | None = UNSET,
    block_price: Decimal | Unset | None = UNSET,
    notes: str | Unset = UNSET,
) -> Contract:
    """Change a contract. Its billing terms (type, currency, cycle, anchor, start) are frozen
    once anything of it is billed; its currency must stay that of its rate rules."""
    tenant = require_current_tenant()
    data = provided(
        customer=customer,
        billing_organization=billing_organization,
        name=name,
        contract_type=contract_type,
        status=status,
        start_date=start_date,
        end_date=end_date,
        billing_cycle=billing_cycle,
        anchor_day=anchor_day,
        currency=currency,
        taxable=taxable,
        tax_rate=tax_rate,
        rounding_increment_minutes=rounding_increment_minutes,
        rounding_minimum_minutes=rounding_minimum_minutes,
        rounding_scope=rounding_scope,
        retainer_fee=retainer_fee,
        included_hours=included_hours,
        overage_rate=overage_rate,
        block_hours=block_hours,
        block_price=block_price,
        notes=notes,
    )
    reject_unknown_fields(data, CONTRACT_FIELDS)
    previous = audit.snapshot(contract)
    before = {name: getattr(contract, name) for name in BILLING_TERMS}
    for name in ("anchor_day", "currency"):
        if name in data and not data[name]:
            data.pop(name)  # left empty in a form: keep the current value
    if "billing_organization" in data and data["billing_organization"] is None:
        data["billing_organization"] = data.get("customer") or contract.customer
    for name, value in data.items():
        setattr(contract, name, value)
    if "tax_rate" in data and data["tax_rate"] is None:
        _resolve_tax(contract, tenant, taxable=contract.taxable)  # left empty: the default
    changed = [name for name in BILLING_TERMS if getattr(contract, name) != before[name]]
    if changed and contract_has_billed_items(contract):
        raise ValidationError(
            {
                name: "Items of this contract are already billed: this term can no longer change."
                for name in changed
            }
        )
    if "currency" in changed:
        other = contract.rate_rules.exclude(currency=contract.currency).first()
        if other is not None:
            raise ValidationError(
                {
                    "currency": f"Currency mismatch: rate rule “{other.label}” of this contract "
                    f"is in {other.currency}. Change or delete it first."
                }
            )
        if (
            contract.contract_type == ContractType.RECURRING
            and contract.currency != tenant.currency
        ):
            line = contract.product_lines.filter(unit_price__isnull=True).first()
            if line is not None:
                raise ValidationError(
                    {
                        "currency": f"Currency mismatch: product line {line.product.sku} uses the "
                        f"catalog price in {tenant.currency}; give it a price in {contract.currency}."
                    }
                )
    if (
        "contract_type" in changed
        and contract.contract_type != ContractType.RECURRING
        and contract.product_lines.exists()
    ):
        raise ValidationError(
            {"contract_type": "Remove the product lines before changing the type."}
        )
    _validate_contract(contract, tenant)
    _unique_contract_name(contract)
    contract.save()
    audit.record_changes(
        action=audit.Action.UPDATE, target=contract, previous=previous, fields=CONTRACT_FIELDS
    )
    return contract


LINE_FIELDS = ("product", "quantity_mode", "quantity", "unit_price", "position")


def _check_line(line: ContractProductLine, tenant) -> None:
    contract = line.contract
    if contract.contract_type != ContractType.RECURRING:
        raise ValidationError({"product": "Product lines belong to recurring-services contracts."})
    _same_tenant("product", line.product, tenant)
    if line.quantity is None or line.quantity < 0:
        raise ValidationError({"quantity": "The quantity cannot be negative."})
    if line.unit_price is not None and line.unit_price < 0:
        raise ValidationError({"unit_price": "A unit price cannot be negative."})
    if line.unit_price is None and contract.currency != tenant.currency:
        raise ValidationError(
            {
                "unit_price": f"Currency mismatch: {line.product.sku} is priced in "
                f"{tenant.currency} and this contract bills in {contract.currency}; "
                f"give the unit price in {contract.currency}."
            }
        )
    if line.quantity_mode == QuantityMode.PER_DEVICE:
        line.quantity = Decimal("1")
    _clean(line)
    # Each factor fits its column, their product must fit the invoice line's amount.
    price = line.product.unit_price if line.unit_price is None else line.unit_price
    largest = largest_amount(contract.currency, **COLUMN_OF_AMOUNT)
    if line.quantity * (price or 0) > largest:
        raise ValidationError(
            {"quantity": f"Quantity × unit price is more than {largest} {contract.currency}."}
        )
    clash = ContractProductLine.objects.filter(contract=contract, product=line.product)
    if line.pk:
        clash = clash.exclude(pk=line.pk)
    if clash.exists():
        raise ValidationError({"product": f"{line.product.sku} is already on this contract."})


@transaction.atomic
def contract_product_line_add(
    *,
    contract: Contract,
    product: Product,
    quantity_mode: str = QuantityMode.FIXED,
    quantity: Decimal = Decimal("1"),
    unit_price: Decimal | None = None,
    position: int = 0,
) -> ContractProductLine:
    """Add a product billed every period (fixed quantity or per device)."""
    tenant = require_current_tenant()
    if product is None:
        raise ValidationError({"product": "Choose a product."})
    line = ContractProductLine(
        tenant=tenant,
        contract=contract,
        product=product,
        quantity_mode=quantity_mode,
        quantity=quantity,
        unit_price=unit_price,
        position=position,
    )
    _check_line(line, tenant)
    line.save()
    audit.record_changes(
        action=audit.Action.CREATE,
        target=line,
        previous=None,
        fields=LINE_FIELDS,
        parent=line.contract,
    )
    return line


@transaction.atomic
def contract_product_line_update(
    *,
    line: ContractProductLine,
    product: Product | Unset = UNSET,
    quantity_mode: str | Unset = UNSET,
    quantity: Decimal | Unset = UNSET,
    unit_price: Decimal | Unset | None = UNSET,
    position: int | Unset = UNSET,
) -> ContractProductLine:
    """Change a product line; periods already billed keep what they were billed."""
    tenant = require_current_tenant()
    data = provided(
        product=product,
        quantity_mode=quantity_mode,
        quantity=quantity,
        unit_price=unit_price,
        position=position,
    )
    previous = audit.snapshot(line)
    assign_fields(line, data, LINE_FIELDS)
    _check_line(line, tenant)
    line.save()
    audit.record_changes(
        action=audit.Action.UPDATE,
        target=line,
        previous=previous,
        fields=LINE_FIELDS,
        parent=line.contract,
    )
    return line


@transaction.atomic
def contract_product_line_remove(*, line: ContractProductLine) -> None:
    """Remove a product line that was never billed."""
    if line.charges.exists():
        raise ValidationError(
            {"product": "This line has been billed; set its quantity to 0 to stop billing it."}
        )
    audit.record(
        action=audit.Action.DELETE,
        target=line,
        before=audit.values(line, LINE_FIELDS),
        parent=(audit.ObjectType.CONTRACT, line.contract_id),
    )
    line.delete()


BLOCK_FIELDS = ("purchased_on", "hours", "price", "note")


@transaction.atomic
def block_purchase_create(
    *,
    contract: Contract,
    purchased_on: dt.date,
    hours: Decimal | None = None,
    price: Decimal | None = None,
    note: str = "",
) -> BlockPurchase:
    """Record a block (top-up) bought on a block-hours contract; it is due from its date."""
    tenant = require_current_tenant()
    check_date_range(purchased_on=purchased_on)
    if contract.contract_type != ContractType.BLOCK_HOURS:
        raise ValidationError({"contract": "Blocks are bought on block-hours contracts."})
    hours = contract.block_hours if hours is None else hours
    price = contract.block_price if price is None else price
    errors = {}
    if hours is None or hours <= 0:
        errors["hours"] = "A block has at least some hours."
    if price is None or price < 0:
        errors["price"] = "A block price cannot be negative."
    if purchased_on < contract.start_date or (
        contract.end_date and purchased_on > contract.end_date
    ):
        errors["purchased_on"] = "The purchase date must fall within the contract's term."
    if errors:
        raise ValidationError(errors)
    purchase = BlockPurchase(
        tenant=tenant,
        contract=contract,
        purchased_on=purchased_on,
        hours=hours,
        price=price,
        note=note,
    )
    _clean(purchase, exclude=["invoice_line"])
    purchase.save()
    audit.record_changes(
        action=audit.Action.CREATE,
        target=purchase,
        previous=None,
        fields=BLOCK_FIELDS,
        parent=contract,
    )
    return purchase


@transaction.atomic
def block_purchase_delete(*, purchase: BlockPurchase) -> None:
    """Delete a block purchase that was never invoiced (a mistaken or mistyped top-up).

    Conditional delete: a purchase a batch claims at the same moment is left alone.
    """
    deleted, _ = BlockPurchase.objects.filter(pk=purchase.pk, invoice_line__isnull=True).delete()
    if not deleted:
        raise ValidationError(
            {"purchase": "This block is invoiced; credit the invoice line instead of deleting it."}
        )
    audit.record(
        action=audit.Action.DELETE,
        target=purchase,
        before=audit.values(purchase, BLOCK_FIELDS),
        parent=(audit.ObjectType.CONTRACT, purchase.contract_id),
    )


# ---------------------------------------------------------------- rate rules

RULE_FIELDS = (
    "rate",
    "currency",
    "contract",
    "organization",
    "technician",
    "team",
    "service_type",
    "description",
)


def _team_members() -> dict[int, set[int]]:
    members: dict[int, set[int]] = {}
    for team_id, user_id in TeamMember.objects.values_list("team_id", "user_id"):
        members.setdefault(team_id, set()).add(user_id)
    return members


def _could_tie(a: RateRule, b: RateRule, team_members: dict[int, set[int]]) -> bool:
    """Whether rules ``a`` and ``b`` could both win for one item.

    Precedence compares which scopes a rule names, lexicographically (contract >
    organization > technician > team > service type), so two matching rules are only
    equally specific when they name exactly the same set of scopes. Both must also match
    the same item: the item has one contract, one organization, one technician, one
    service type and one currency, so those named values must be equal. Teams differ:
    an item matches every team its technician belongs to, so two rules naming different
    teams can match the same item exactly when some technician is in both teams (when
    the rules also name a technician, when that technician is). Team membership is
    therefore checked here and again whenever a team's members change.
    """
    if a.currency != b.currency or a.scope_key != b.scope_key:
        return False
    for name in ("contract_id", "organization_id", "technician_id", "service_type_id"):
        if getattr(a, name) != getattr(b, name):
            return False
    if a.team_id is None or a.team_id == b.team_id:
        return True
    shared = team_members.get(a.team_id, set()) & team_members.get(b.team_id, set())
    if a.technician_id is not None:
        return a.technician_id in shared
    return bool(shared)


def _find_tie(rule: RateRule, team_members: dict[int, set[int]]) -> RateRule | None:
    candidates = RateRule.objects.filter(
        currency=rule.currency,
        contract__isnull=rule.contract_id is None,
        organization__isnull=rule.organization_id is None,
        technician__isnull=rule.technician_id is None,
        team__isnull=rule.team_id is None,
        service_type__isnull=rule.service_type_id is None,
    ).select_related("contract", "organization", "technician", "team", "service_type")
    if rule.pk:
        candidates = candidates.exclude(pk=rule.pk)
    for other in candidates:
        if _could_tie(rule, other, team_members):
            return other
    return None


TIE = "rate_rule_tie"


def _tie_error(rule: RateRule, other: RateRule, team_members) -> ValidationError:
    """The refusal of a tie: names the other rule by its description (else its scopes);
    ``tie_rule_id`` reads which rule it is, so a page can link to it."""
    why = "the same values"
    if rule.team_id and other.team_id and rule.team_id != other.team_id:
        shared = team_members.get(rule.team_id, set()) & team_members.get(other.team_id, set())
        why = f"a technician in both teams ({len(shared)} shared member(s))"
    locale = require_current_tenant().locale or "en_US"
    rate = format_unit_price(other.rate, other.currency, locale)
    details = f"{other.scope_label}, {rate}/h" if other.description else f"{rate}/h"
    message = (
        f"This rule could tie with rule “{other.label}” ({details}): both name the same scopes "
        f"with {why}, so neither would be more specific. Edit rule “{other.label}” or scope "
        "this one differently."
    )
    # The message is not a format string: a "%" typed in a description stays as it is.
    return ValidationError(message.replace("%", "%%"), code=TIE, params={"rule": other.pk})


def tie_rule_id(error: ValidationError) -> int | None:
    """The rule a refused rate rule (or team) would tie with, when that is the refusal."""
    for errors in getattr(error, "error_dict", {}).values():
        for item in errors:
            if item.code == TIE and item.params:
                return item.params["rule"]
    return None


def _validate_rule(rule: RateRule, tenant) -> None:
    errors = {}
    if rule.rate is None:
        errors["rate"] = "Give the hourly rate."
    elif rule.rate < 0:
        errors["rate"] = "A rate cannot be negative."
    for name in ("contract", "organization", "team", "service_type"):
        _same_tenant(name, getattr(rule, name), tenant)
    if rule.technician_id and _role_of(rule.technician, tenant) not in STAFF_ROLES:
        errors["technician"] = "Not a staff member of this MSP."
    if rule.contract_id and rule.contract.currency != rule.currency:
        errors["currency"] = (
            f"Currency mismatch: contract “{rule.contract.name}” bills in "
            f"{rule.contract.currency}, this rule is in {rule.currency}."
        )
    if errors:
        raise ValidationError(errors)
    _clean(rule)


def _save_rule(rule: RateRule, tenant) -> RateRule:
    _lock_tenant(tenant)
    team_members = _team_members()
    tie = _find_tie(rule, team_members)
    if tie is not None:
        raise ValidationError({"non_field_errors": _tie_error(rule, tie, team_members)})
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError as exc:  # the same rule saved concurrently
        raise ValidationError(
            {"non_field_errors": "An identical rate rule already exists."}
        ) from exc
    return rule


@transaction.atomic
def rate_rule_create(
    *,
    rate: Decimal,
    currency: str | None = None,
    contract: Contract | None = None,
    organization: Organization | None = None,
    technician: User | None = None,
    team: Team | None = None,
    service_type: ServiceType | None = None,
    description: str = "",
) -> RateRule:
    """Add a rate rule. The currency defaults to the contract's, else the organization's,
    else the tenant's. A rule that could tie with an existing one is refused."""
    tenant = require_current_tenant()
    rule = RateRule(
        tenant=tenant,
        rate=rate,
        currency=currency,
        contract=contract,
        organization=organization,
        technician=technician,
        team=team,
        service_type=service_type,
        description=description,
    )
    rule.currency = currency or _rule_currency(rule, tenant)
    _validate_rule(rule, tenant)
    _save_rule(rule, tenant)
    audit.record_changes(
        action=audit.Action.CREATE,
        target=rule,
        previous=None,
        fields=RULE_FIELDS,
        parent=_rule_parent(rule),
    )
    return rule


def _rule_parent(rule: RateRule):
    """Where a rule's history also shows: its contract's page, else its customer's."""
    if rule.contract_id:
        return (audit.ObjectType.CONTRACT, rule.contract_id)
    if rule.organization_id:
        return (audit.ObjectType.CUSTOMER, rule.organization_id)
    return None


def _rule_currency(rule: RateRule, tenant) -> str:
    """A rule's currency when none is given: its contract's, else its organization's, else
    the tenant's."""
    scope = rule.contract or rule.organization
    return scope.currency if scope is not None else tenant.currency


@transaction.atomic
def rate_rule_update(
    *,
    rule: RateRule,
    rate: Decimal | Unset = UNSET,
    currency: str | Unset = UNSET,
    contract: Contract | Unset | None = UNSET,
    organization: Organization | Unset | None = UNSET,
    technician: User | Unset | None = UNSET,
    team: Team | Unset | None = UNSET,
    service_type: ServiceType | Unset | None = UNSET,
    description: str | Unset = UNSET,
) -> RateRule:
    """Change a rate rule (same checks as creating one). Billed lines keep their prices."""
    tenant = require_current_tenant()
    data = provided(
        rate=rate,
        currency=currency,
        contract=contract,
        organization=organization,
        technician=technician,
        team=team,
        service_type=service_type,
        description=description,
    )
    previous = audit.snapshot(rule)
    assign_fields(rule, data, RULE_FIELDS)
    if "currency" in data and not data["currency"]:
        rule.currency = _rule_currency(rule, tenant)  # left empty in a form: the default
    _validate_rule(rule, tenant)
    _save_rule(rule, tenant)
    audit.record_changes(
        action=audit.Action.UPDATE,
        target=rule,
        previous=previous,
        fields=RULE_FIELDS,
        parent=_rule_parent(rule),
    )
    return rule


@transaction.atomic
def rate_rule_delete(*, rule: RateRule) -> None:
    """Delete a rate rule; invoice lines keep the explanation of how they were priced."""
    audit.record(
        action=audit.Action.DELETE,
        target=rule,
        before=audit.values(rule, RULE_FIELDS),
        parent=_rule_parent(rule),
    )
    rule.delete()


# ------------------------------------------------------------------ tickets

TICKET_FIELDS = (
    "title",
    "description",
    "organization",
    "contract",
    "contact",
    "status",
    "assigned_to",
    "due_date",
)


def _contract_fits(contract: Contract, organization) -> bool:
    return organization.pk in (contract.customer_id, contract.billing_organization_id)


def _validate_ticket(ticket: Ticket, tenant) -> None:
    errors = {}
    _same_tenant("organization", ticket.organization, tenant)
    _same_tenant("contract", ticket.contract, tenant)
    _same_tenant("contact", ticket.contact, tenant)
    organization = ticket.organization
    if ticket.contract_id and not _contract_fits(ticket.contract, organization):
        errors["contract"] = (
            f"Contract “{ticket.contract.name}” is for {ticket.contract.customer} and billed to "
            f"{ticket.contract.billing_organization}, not {organization}: pick a contract of "
            f"{organization}."
        )
    if ticket.contact_id and ticket.contact.organization_id != organization.pk:
        errors["contact"] = f"{ticket.contact} is not a contact of {organization}."
    if ticket.assigned_to_id and _role_of(ticket.assigned_to, tenant) not in STAFF_ROLES:
        errors["assigned_to"] = "Assign the ticket to a staff member of this MSP."
    if errors:
        raise ValidationError(errors)
    _clean(ticket, exclude=["number"])


@transaction.atomic
def ticket_create(
    *,
    created_by=None,
    title: str,
    description: str = "",
    organization: Organization,
    contract: Contract | None = None,
    contact: Contact | None = None,
    status: str = TicketStatus.NEW,
    assigned_to: User | None = None,
    due_date: dt.date | None = None,
) -> Ticket:
    """Open a ticket with the next gapless number of the tenant."""
    tenant = require_current_tenant()
    if organization is None:
        raise ValidationError({"organization": "Choose the customer organization."})
    ticket = Ticket(
        tenant=tenant,
        number=0,
        created_by=created_by,
        title=title,
        description=description,
        organization=organization,
        contract=contract,
        contact=contact,
        status=status,
        assigned_to=assigned_to,
        due_date=due_date,
    )
    _validate_ticket(ticket, tenant)
    ticket.number = sequence_take(key="ticket", tenant=tenant)
    if ticket.status == TicketStatus.COMPLETE:
        ticket.completed_at = timezone.now()
    ticket.save()
    return ticket


@transaction.atomic
def ticket_update(
    *,
    ticket: Ticket,
    title: str | Unset = UNSET,
    description: str | Unset = UNSET,
    organization: Organization | Unset = UNSET,
    contract: Contract | Unset | None = UNSET,
    contact: Contact | Unset | None = UNSET,
    status: str | Unset = UNSET,
    assigned_to: User | Unset | None = UNSET,
    due_date: dt.date | Unset | None = UNSET,
) -> Ticket:
    """Change a ticket. Its organization stays once time is logged on it."""
    tenant = require_current_tenant()
    data = provided(
        title=title,
        description=description,
        organization=organization,
        contract=contract,
        contact=contact,
        status=status,
        assigned_to=assigned_to,
        due_date=due_date,
    )
    reject_unknown_fields(data, TICKET_FIELDS)
    if (
        "organization" in data
        and data["organization"] != ticket.organization
        and ticket.time_entries.exists()
    ):
        raise ValidationError(
            {"organization": "Time is logged on this ticket: its organization cannot change."}
        )
    was_complete = ticket.status == TicketStatus.COMPLETE
    for name, value in data.items():
        setattr(ticket, name, value)
    _validate_ticket(ticket, tenant)
    if ticket.status == TicketStatus.COMPLETE and not was_complete:
        ticket.completed_at = timezone.now()
    elif ticket.status != TicketStatus.COMPLETE:
        ticket.completed_at = None
    ticket.save()
    return ticket


@transaction.atomic
def ticket_attachment_add(
    *, ticket: Ticket, file, uploaded_by=None, time_entry: TimeEntry | None = None
) -> TicketAttachment:
    """Store a file on a ticket (default storage). Served only through the scoped view."""
    tenant = require_current_tenant()
    if file is None or not getattr(file, "size", 0):
        raise ValidationError({"file": "Choose a non-empty file."})
    check_upload_size(file, kind="attachment")
    if time_entry is not None and time_entry.ticket_id != ticket.pk:
        raise ValidationError({"time_entry": "That time entry is not on this ticket."})
    attachment = TicketAttachment(
        tenant=tenant,
        ticket=ticket,
        time_entry=time_entry,
        name=(getattr(file, "name", "") or "file").rsplit("/", 1)[-1][:200],
        content_type=(getattr(file, "content_type", "") or "")[:120],
        size=file.size,
        uploaded_by=uploaded_by,
    )
    attachment.file.save(attachment.name, file, save=False)
    try:
        attachment.save()
    except Exception:
        attachment.file.delete(save=False)
        raise
    return attachment


# ------------------------------------------------------------- time entries

ENTRY_FIELDS = (
    "ticket",
    "contract",
    "technician",
    "service_type",
    "started_at",
    "ended_at",
    "work_date",
    "worked_seconds",
    "billable",
    "summary_note",
    "internal_note",
)


def _local_date(moment: dt.datetime, tenant) -> dt.date:
    return moment.astimezone(tenant.zone).date()


def _prepare_entry(entry: TimeEntry, tenant, *, running: bool = False, now=None) -> None:
    """Fill defaults (contract from the ticket, billable from the service type, worked time
    and day from start/end) and check everything; raises before anything is written."""
    now = now or timezone.now()
    # Before any zone or day arithmetic on them.
    check_date_range(
        started_at=entry.started_at, ended_at=entry.ended_at, work_date=entry.work_date
    )
    errors: dict[str, str] = {}
    for name in ("ticket", "contract", "service_type"):
        if getattr(entry, f"{name}_id") is not None:
            _same_tenant(name, getattr(entry, name), tenant)
    if entry.contract_id is None and entry.ticket_id and entry.ticket.contract_id:
        entry.contract = entry.ticket.contract
    if entry.contract_id is None:
        raise ValidationError(
            {
                "contract": "Choose the contract this time is billed to"
                + (" (the ticket has none)." if entry.ticket_id else ".")
            }
        )
    contract = entry.contract
    if entry.ticket_id and not _contract_fits(contract, entry.ticket.organization):
        errors["contract"] = (
            f"Contract “{contract.name}” is for {contract.customer} and billed to "
            f"{contract.billing_organization}; ticket {entry.ticket.reference} is for "
            f"{entry.ticket.organization}."
        )
    if contract.status == ContractStatus.SUSPENDED:
        errors["contract"] = (
            f"Contract “{contract.name}” is suspended: no time can be logged on it."
        )
    role = _role_of(entry.technician, tenant)
    if entry.technician_id is None or not role_can(role, Cap.LOG_WORK):
        errors["technician"] = "The technician must be a staff member who logs work."
    if entry.service_type_id and not entry.service_type.is_active:
        errors["service_type"] = f"Service type “{entry.service_type}” is no longer in use."
    if entry.billable is None:
        entry.billable = entry.service_type.default_billable if entry.service_type_id else True

    if entry.started_at and entry.ended_at:
        if entry.ended_at <= entry.started_at:
            errors["ended_at"] = "The end is before the start."
        elif entry.ended_at > now + CLOCK_SKEW:
            errors["ended_at"] = "The end is in the future."
        else:
            entry.worked_seconds = int((entry.ended_at - entry.started_at).total_seconds())
            entry.work_date = _local_date(entry.started_at, tenant)
    elif entry.started_at and running:
        entry.worked_seconds = 0
        entry.work_date = _local_date(entry.started_at, tenant)
    elif entry.started_at or entry.ended_at:
        errors["ended_at" if entry.started_at else "started_at"] = (
            "Give both the start and the end, or a day and a duration."
        )
    else:
        if not entry.work_date:
            errors["work_date"] = "Give the day the work was done."
        if not entry.worked_seconds or entry.worked_seconds <= 0:
            errors["worked_seconds"] = "Give how long the work took."
    if entry.worked_seconds and entry.worked_seconds > MAX_ENTRY_SECONDS:
        errors["worked_seconds"] = "One entry covers at most 24 hours."
    if errors:
        raise ValidationError(errors)
    if entry.work_date and (
        entry.work_date < contract.start_date
        or (contract.end_date and entry.work_date > contract.end_date)
    ):
        raise ValidationError(
            {
                "work_date": f"{entry.work_date:%d %b %Y} is outside contract “{contract.name}” "
                f"({contract.start_date:%d %b %Y} – "
                f"{contract.end_date.strftime('%d %b %Y') if contract.end_date else 'open'})."
            }
        )
    _check_overlap(entry, now)
    _clean(
        entry,
        exclude=["remote_session", "invoice_line", "approved_by", "posted_by", "worked_seconds"],
    )


def _check_overlap(entry: TimeEntry, now) -> None:
    """A technician works on one thing at a time: timed entries may not overlap."""
    if entry.started_at is None:
        return
    end = entry.ended_at or now
    others = TimeEntry.objects.filter(
        technician_id=entry.technician_id, started_at__isnull=False, started_at__lt=end
    ).filter(Q(ended_at__gt=entry.started_at) | Q(ended_at__isnull=True))
    if entry.pk:
        others = others.exclude(pk=entry.pk)
    clash = others.select_related("ticket").first()
    if clash is not None:
        if clash.ended_at is None:
            what = "the running timer"
        else:
            zone = entry.tenant.zone if entry.tenant_id else dt.UTC
            what = (
                f"entry {clash.pk} ({clash.started_at.astimezone(zone):%d %b %H:%M}–"
                f"{clash.ended_at.astimezone(zone):%H:%M})"
            )
        raise ValidationError({"started_at": f"This time overlaps {what} of the same technician."})


def _can_manage(actor, tenant) -> bool:
    return role_can(_role_of(actor, tenant), Cap.MANAGE_WORK)


def _check_editable(entry: TimeEntry, actor, tenant) -> None:
    if entry.state == TimeEntryState.POSTED:
        raise ValidationError({"state": "A posted entry is frozen: it cannot be changed."})
    manager = _can_manage(actor, tenant)
    if entry.technician_id != getattr(actor, "pk", None) and not manager:
        raise ValidationError({"technician": "You can change only your own time entries."})
    if entry.state == TimeEntryState.APPROVED and not manager:
        raise ValidationError(
            {"state": "This entry is approved; ask a billing admin to change it."}
        )


@transaction.atomic
def time_entry_create(
    *,
    technician,
    source: str = TimeEntrySource.MANUAL,
    ticket: Ticket | None = None,
    contract: Contract | None = None,
    service_type: ServiceType | None = None,
    started_at: dt.datetime | None = None,
    ended_at: dt.datetime | None = None,
    work_date: dt.date | None = None,
    worked_seconds: int = 0,
    billable: bool | None = None,
    summary_note: str = "",
    internal_note: str = "",
) -> TimeEntry:
    """Log time: start and end, or a day and a duration. The contract defaults to the
    ticket's, billable to the service type's flag. Submitted, awaiting approval."""
    tenant = require_current_tenant()
    entry = TimeEntry(
        tenant=tenant,
        technician=technician,
        source=source,
        ticket=ticket,
        contract=contract,
        service_type=service_type,
        started_at=started_at,
        ended_at=ended_at,
        work_date=work_date,
        worked_seconds=worked_seconds,
        billable=billable,
        summary_note=summary_note,
        internal_note=internal_note,
    )
    _prepare_entry(entry, tenant)
    entry.save()
    return entry


@transaction.atomic
def time_entry_update(
    *,
    entry: TimeEntry,
    actor,
    ticket: Ticket | Unset | None = UNSET,
    contract: Contract | Unset | None = UNSET,
    technician: User | Unset = UNSET,
    service_type: ServiceType | Unset | None = UNSET,
    started_at: dt.datetime | Unset | None = UNSET,
    ended_at: dt.datetime | Unset | None = UNSET,
    work_date: dt.date | Unset = UNSET,
    worked_seconds: int | Unset = UNSET,
    billable: bool | Unset | None = UNSET,
    summary_note: str | Unset = UNSET,
    internal_note: str | Unset = UNSET,
) -> TimeEntry:
    """Change a submitted entry (its technician or a manager) or an approved one (a
    manager). Posted entries are frozen; times of a logged session stay the session's."""
    tenant = require_current_tenant()
    data = provided(
        ticket=ticket,
        contract=contract,
        technician=technician,
        service_type=service_type,
        started_at=started_at,
        ended_at=ended_at,
        work_date=work_date,
        worked_seconds=worked_seconds,
        billable=billable,
        summary_note=summary_note,
        internal_note=internal_note,
    )
    reject_unknown_fields(data, ENTRY_FIELDS)
    entry = TimeEntry.objects.select_for_update().get(pk=entry.pk)
    _check_editable(entry, actor, tenant)
    if (
        "technician" in data
        and data["technician"] != entry.technician
        and not _can_manage(actor, tenant)
    ):
        raise ValidationError({"technician": "Only a billing admin can move time to someone else."})
    if entry.remote_session_id and {"started_at", "ended_at", "worked_seconds"} & set(data):
        raise ValidationError(
            {"started_at": "This entry logs a remote session: its times are the session's."}
        )
    if entry.is_running and {"ended_at", "worked_seconds"} & set(data):
        raise ValidationError({"ended_at": "Stop the timer to end this entry."})
    if "started_at" in data and data["started_at"] is None:
        entry.ended_at = None
    for name, value in data.items():
        setattr(entry, name, value)
    if entry.started_at is None:
        entry.ended_at = None
    _prepare_entry(entry, tenant, running=entry.is_running)
    entry.save()
    return entry


@transaction.atomic
def time_entry_delete(*, entry: TimeEntry, actor) -> None:
    """Delete a submitted entry (its technician or a manager). A logged session is freed."""
    tenant = require_current_tenant()
    entry = TimeEntry.objects.select_for_update().get(pk=entry.pk)
    _check_editable(entry, actor, tenant)
    if entry.state != TimeEntryState.SUBMITTED:
        raise ValidationError({"state": "Only submitted entries can be deleted."})
    entry.delete()


@transaction.atomic
def timer_start(
    *,
    technician,
    contract: Contract | None = None,
    ticket: Ticket | None = None,
    service_type: ServiceType | None = None,
    summary_note: str = "",
    billable: bool | None = None,
    now: dt.datetime | None = None,
) -> TimeEntry:
    """Start the technician's timer. One running timer per technician (database constraint)."""
    tenant = require_current_tenant()
    now = now or timezone.now()
    running = TimeEntry.objects.filter(
        technician=technician, started_at__isnull=False, ended_at__isnull=True
    ).first()
    if running is not None:
        raise ValidationError({"timer": _running_message(running, tenant)})
    entry = TimeEntry(
        tenant=tenant,
        technician=technician,
        contract=contract,
        ticket=ticket,
        service_type=service_type,
        summary_note=summary_note,
        billable=billable,
        started_at=now.replace(microsecond=0),
        source=TimeEntrySource.TIMER,
    )
    _prepare_entry(entry, tenant, running=True, now=now)
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError as exc:  # a timer started concurrently
        raise ValidationError({"timer": "A timer is already running for this technician."}) from exc
    return entry


def _running_message(running: TimeEntry, tenant) -> str:
    where = running.ticket.reference if running.ticket_id else f"contract {running.contract}"
    return (
        f"A timer is already running on {where} since "
        f"{running.started_at.astimezone(tenant.zone):%H:%M}: stop it first."
    )


@transaction.atomic
def timer_stop(
    *,
    technician,
    ended_at: dt.datetime | None = None,
    summary_note: str | None = None,
    now: dt.datetime | None = None,
) -> TimeEntry:
    """Stop the technician's running timer; the entry is submitted with the time worked."""
    tenant = require_current_tenant()
    now = now or timezone.now()
    entry = (
        TimeEntry.objects.select_for_update()
        .filter(technician=technician, started_at__isnull=False, ended_at__isnull=True)
        .first()
    )
    if entry is None:
        raise ValidationError({"timer": "No timer is running."})
    end = (ended_at or now).replace(microsecond=0)
    if ended_at is None and end <= entry.started_at:
        end = entry.started_at + dt.timedelta(seconds=1)  # stopped within the same second
    entry.ended_at = end
    if summary_note is not None:
        entry.summary_note = summary_note
    _prepare_entry(entry, tenant, now=now)
    entry.save()
    return entry


@transaction.atomic
def time_entry_log_session(
    *,
    session,
    actor,
    ticket: Ticket | None = None,
    contract: Contract | None = None,
    service_type: ServiceType | None = None,
    billable: bool | None = None,
    summary_note: str | None = None,
    internal_note: str = "",
) -> TimeEntry:
    """Log a remote session as a time entry (one to one), so contract billing prices it.

    The session row is locked first; a session billed directly by a session invoice
    cannot be logged, nor one already logged or still running. The session invoice
    refuses a logged session in turn, so the same work is never billable twice.
    """
    from sessions.models import RemoteSession

    tenant = require_current_tenant()
    session = RemoteSession.objects.select_for_update().select_related("host").get(pk=session.pk)
    if session.invoice_line_id is not None:
        raise ValidationError(
            {
                "session": "This session is billed directly on a session invoice; it cannot "
                "also be billed as time."
            }
        )
    if session.ended_at is None:
        raise ValidationError({"session": "This session is still running."})
    existing = TimeEntry.objects.filter(remote_session=session).first()
    if existing is not None:
        raise ValidationError(
            {"session": f"This session is already logged as time entry {existing.pk}."}
        )
    organization = session.host.organization
    target = contract or (ticket.contract if ticket is not None else None)
    if organization is not None and target is not None and not _contract_fits(target, organization):
        raise ValidationError(
            {
                "contract": f"Host {session.host} belongs to {organization}; contract "
                f"“{target.name}” is for {target.customer}."
            }
        )
    if (
        organization is not None
        and ticket is not None
        and ticket.organization_id != organization.pk
    ):
        raise ValidationError(
            {"ticket": f"Host {session.host} belongs to {organization}, not {ticket.organization}."}
        )
    entry = TimeEntry(
        tenant=tenant,
        technician=session.technician or actor,
        ticket=ticket,
        contract=contract,
        service_type=service_type,
        started_at=session.started_at,
        ended_at=session.ended_at,
        billable=session.billable if billable is None else billable,
        summary_note=session.comment if summary_note is None else summary_note,
        internal_note=internal_note,
        source=TimeEntrySource.SESSION,
        remote_session=session,
    )
    _prepare_entry(entry, tenant)
    # The session's own duration is authoritative (it may exclude pauses).
    entry.worked_seconds = session.duration_seconds or entry.worked_seconds
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError as exc:
        raise ValidationError({"session": "This session is already logged as time."}) from exc
    return entry


# An error lists this many entries by name, then says how many more.
NAMED_ENTRIES = 5


def entry_label(entry: TimeEntry) -> str:
    """How a message names a time entry: its day, technician, ticket (or customer) and
    hours, e.g. "Mon 9 Feb 2026, Theo Martin, #12 Printer jam (ACME), 1 h 30 min"."""
    customer = entry.contract.customer.name if entry.contract_id else ""
    if entry.ticket_id:
        work = f"{entry.ticket.reference} {entry.ticket.title}"
        work += f" ({customer})" if customer else ""
    else:
        work = customer or "no customer"
    hours = "running" if entry.is_running else format_duration(entry.worked_seconds)
    day = f"{entry.work_date:%a} {entry.work_date.day} {entry.work_date:%b %Y}"
    return f"{day}, {_name(entry.technician)}, {work}, {hours}"


def _entry_labels(rows: list[TimeEntry]) -> str:
    named = "; ".join(entry_label(row) for row in rows[:NAMED_ENTRIES])
    more = len(rows) - NAMED_ENTRIES
    return named + (f"; and {more} more" if more > 0 else "")


def _transition_rows(ids, *, actor, source: str, verb: str, lock: bool) -> list[TimeEntry]:
    """The entries a transition would move, or the reason it may not: the actor may not,
    nothing is selected, an id is unknown, or an entry is not in ``source`` (those are
    named by day, technician, ticket and hours)."""
    tenant = require_current_tenant()
    if not _can_manage(actor, tenant):
        raise ValidationError({"entries": f"Only billing admins {verb} time."})
    ids = sorted({int(pk) for pk in ids})
    if not ids:
        raise ValidationError({"entries": "Select at least one time entry."})
    # An id past the column names nothing; it is reported as unknown below.
    existing = [pk for pk in ids if 0 < pk <= MAX_ID]
    queryset = TimeEntry.objects.filter(pk__in=existing).select_related(
        "technician", "ticket", "contract__customer"
    )
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    rows = list(queryset.order_by("work_date", "id"))
    found = {row.pk for row in rows}
    missing = [pk for pk in ids if pk not in found]
    if missing:
        raise ValidationError({"entries": f"Unknown time entries: {', '.join(map(str, missing))}."})
    wrong = [row for row in rows if row.state != source or row.is_running]
    if wrong:
        raise ValidationError(
            {
                "entries": f"Only {TimeEntryState(source).label.lower()} entries can be {verb}ed; "
                f"not: {_entry_labels(wrong)}. Nothing was changed."
            }
        )
    return rows


def _transition(ids, *, actor, source: str, target: str, stamp: dict, verb: str) -> int:
    rows = _transition_rows(ids, actor=actor, source=source, verb=verb, lock=True)
    # Compare-and-set: only rows still in the source state move.
    updated = TimeEntry.objects.filter(pk__in=[row.pk for row in rows], state=source).update(
        state=target, **stamp
    )
    if updated != len(rows):
        raise ValidationError({"entries": "Some entries changed meanwhile; nothing was changed."})
    # One insert for the whole set, whatever its size.
    who = audit.actor_of()
    action = audit.Action.APPROVE if target == TimeEntryState.APPROVED else audit.Action.POST
    audit.record_many(
        audit.entry(
            action=action,
            target=row,
            before={"state": source},
            after={"state": target, **stamp},
            parent=(audit.ObjectType.CONTRACT, row.contract_id) if row.contract_id else None,
            who=who,
        )
        for row in rows
    )
    return updated


def time_entries_post_check(*, entry_ids: Iterable[int], actor) -> list[TimeEntry]:
    """The approved entries ``time_entries_post`` would post (nothing written), for the
    confirmation that states what will be frozen; raises as posting them would."""
    return _transition_rows(
        entry_ids, actor=actor, source=TimeEntryState.APPROVED, verb="post", lock=False
    )


@transaction.atomic
def time_entries_approve(*, entry_ids: Iterable[int], actor) -> int:
    """Approve submitted entries (billing admins), all or none."""
    now = timezone.now()
    return _transition(
        entry_ids,
        actor=actor,
        source=TimeEntryState.SUBMITTED,
        target=TimeEntryState.APPROVED,
        stamp={"approved_by": actor, "approved_at": now},
        verb="approv",
    )


@transaction.atomic
def time_entries_post(*, entry_ids: Iterable[int], actor) -> int:
    """Post approved entries (billing admins), all or none. Posted entries are frozen and
    billable; their hours show in the portal."""
    now = timezone.now()
    return _transition(
        entry_ids,
        actor=actor,
        source=TimeEntryState.APPROVED,
        target=TimeEntryState.POSTED,
        stamp={"posted_by": actor, "posted_at": now},
        verb="post",
    )


# ---------------------------------------------------------------- timesheet


# More than any entry may hold (24 h); larger typed hours are "not a number of hours".
MAX_HOURS_TYPED = Decimal(1000)


def parse_hours(text: str) -> int | None:
    """'1.5', '1,5', '1:30' or '1:30:05' -> seconds; '' -> None.

    The seconds form is what an edit form shows for a duration that has seconds, so
    saving it unchanged keeps the worked time to the second.
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        if ":" in text:
            hours_part, minutes_part, *rest = text.split(":", 2)
            value = int(hours_part or 0) * 3600 + int(minutes_part or 0) * 60
            value += int(rest[0] or 0) if rest else 0
        else:
            hours = Decimal(text.replace(",", "."))
            # Bounded before converting: "1e900000" hours would build a 900,000-digit int.
            if not hours.is_finite() or abs(hours) > MAX_HOURS_TYPED:
                raise ValueError(text)
            value = int((hours * 3600).to_integral_value())
    except (ArithmeticError, ValueError) as exc:
        raise ValueError(f"“{text}” is not a number of hours (use 1.5 or 1:30).") from exc
    if value < 0:
        raise ValueError("Hours cannot be negative.")
    return value


def timesheet_row_billable(*, billable: bool | None, service_type: ServiceType | None) -> bool:
    """A timesheet row's billable flag: the one chosen, else its service type's default,
    else billable (as ``_prepare_entry`` defaults an entry)."""
    if billable is not None:
        return billable
    return service_type.default_billable if service_type is not None else True


# What an entry's check says about one day of a row (the rest is about the whole row).
_DAY_ERRORS = {"worked_seconds", "work_date", "state"}


@transaction.atomic
def timesheet_save(*, technician, week_start: dt.date, rows: list[dict]) -> int:
    """Save a weekly timesheet in one transaction: each row (ticket or contract, service
    type, billable or not, seven day values in seconds or None) sets the technician's
    timesheet entry of each day; 0 deletes it. Approved or posted cells cannot change.
    Any error: nothing saved.

    A row is known by its ticket, contract, service type and billable flag (``billable``
    None: the service type's default); two rows that are the same row are refused.
    Errors are keyed ``row-<n>-d<day>`` (a day's value) or ``row-<n>`` (the row's
    ticket, contract or service type) so the grid can show each where it belongs.
    """
    tenant = require_current_tenant()
    check_date_range(week=week_start)
    errors: dict[str, str] = {}
    changed = 0
    days = [week_start + dt.timedelta(days=i) for i in range(7)]
    # The week's timesheet entries, read and locked once (not one query per cell).
    current: dict[tuple, TimeEntry] = {}
    for entry in (
        TimeEntry.objects.select_for_update()
        .filter(
            technician=technician,
            source=TimeEntrySource.TIMESHEET,
            work_date__gte=days[0],
            work_date__lte=days[-1],
        )
        .order_by("id")
    ):
        key = (entry.ticket_id, entry.contract_id, entry.service_type_id, entry.billable)
        current.setdefault((*key, entry.work_date), entry)
    first_row: dict[tuple, int] = {}
    for index, row in enumerate(rows):
        ticket, contract = row.get("ticket"), row.get("contract")
        service_type = row.get("service_type")
        has_hours = any(row["seconds"])
        if ticket is None and contract is None:
            if has_hours:
                errors[f"row-{index}"] = "Choose a ticket or a contract for this row."
            continue
        contract = contract or (ticket.contract if ticket else None)
        billable = timesheet_row_billable(billable=row.get("billable"), service_type=service_type)
        key = (
            ticket.pk if ticket else None,
            contract.pk if contract else None,
            service_type.pk if service_type else None,
            billable,
        )
        if key in first_row:
            if has_hours:
                errors[f"row-{index}"] = (
                    f"Row {first_row[key] + 1} has the same ticket or contract, service type "
                    "and billing: put these hours in one row."
                )
            continue
        first_row[key] = index
        for day_index, seconds in enumerate(row["seconds"]):
            existing = current.get((*key, days[day_index]))
            if (seconds or 0) == (existing.worked_seconds if existing else 0):
                continue
            try:
                with transaction.atomic():
                    if existing is not None and existing.state != TimeEntryState.SUBMITTED:
                        raise ValidationError(
                            {
                                "state": f"{existing.get_state_display()}: this day can no "
                                "longer change."
                            }
                        )
                    if not seconds:
                        existing.delete()
                    elif existing is not None:
                        existing.worked_seconds = seconds
                        _prepare_entry(existing, tenant)
                        existing.save()
                    else:
                        entry = TimeEntry(
                            tenant=tenant,
                            technician=technician,
                            ticket=ticket,
                            contract=contract,
                            service_type=service_type,
                            work_date=days[day_index],
                            worked_seconds=seconds,
                            billable=billable,
                            source=TimeEntrySource.TIMESHEET,
                        )
                        _prepare_entry(entry, tenant)
                        entry.save()
                    changed += 1
            except ValidationError as error:
                by_field = getattr(error, "error_dict", {})
                if by_field and not set(by_field) <= _DAY_ERRORS:
                    # The ticket, contract or service type: said once, on the row.
                    errors.setdefault(f"row-{index}", " ".join(error.messages))
                else:
                    errors[f"row-{index}-d{day_index}"] = " ".join(error.messages)
    if errors:
        raise ValidationError(errors)
    return changed
