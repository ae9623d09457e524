"""Money rules: line amounts half-up, tax per rate rounded once, total = lines + tax."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing_site.tenancy import tenant_context
from invoices import selectors, services
from invoices.models import Invoice, InvoiceLine
from invoices.totals import compute_totals

from .factories import InvoiceFactory, InvoiceLineFactory


class Line:
    def __init__(self, quantity, unit_price, taxable=False, tax_rate="0"):
        self.quantity = Decimal(quantity)
        self.unit_price = Decimal(unit_price)
        self.taxable = taxable
        self.tax_rate = Decimal(tax_rate)


def test_line_amounts_round_half_up_to_the_cent():
    totals = compute_totals([Line("1", "0.125"), Line("3", "0.3350")], "EUR")
    # 0.125 -> 0.13 (half-up, not banker's 0.12); 1.005 -> 1.01
    assert totals.subtotal == Decimal("1.14")
    assert totals.total == Decimal("1.14")


def test_tax_is_rounded_once_per_rate_not_per_line():
    lines = [Line("1", "0.10", True, "20")] * 3  # per line 0.02 each would give 0.06
    totals = compute_totals(lines, "EUR")
    assert totals.subtotal == Decimal("0.30")
    assert [(row.rate, row.base, row.tax) for row in totals.tax_rows] == [
        (Decimal("20"), Decimal("0.30"), Decimal("0.06"))
    ]
    lines = [Line("1", "0.05", True, "10")] * 3  # 0.015 -> 0.02 once; per line 0.01 x 3 = 0.03
    assert compute_totals(lines, "EUR").tax_total == Decimal("0.02")


def test_several_rates_and_untaxed_lines():
    lines = [
        Line("2", "50", True, "20"),
        Line("1", "19.99", True, "5.5"),
        Line("1", "10", True, "20"),
        Line("1", "7.77"),  # not taxable
    ]
    totals = compute_totals(lines, "EUR")
    assert totals.subtotal == Decimal("137.76")
    assert [(row.rate, row.base, row.tax) for row in totals.tax_rows] == [
        (Decimal("5.5"), Decimal("19.99"), Decimal("1.10")),  # 1.09945 -> 1.10
        (Decimal("20"), Decimal("110.00"), Decimal("22.00")),
    ]
    assert totals.tax_total == Decimal("23.10")
    assert totals.total == Decimal("160.86")


def test_jpy_has_no_decimals():
    lines = [Line("7", "333.3333", True, "10"), Line("1.5", "12.345", True, "8")]
    totals = compute_totals(lines, "JPY")
    # 2333.3331 -> 2333; 18.5175 -> 19; tax 233.3 -> 233 and 1.52 -> 2
    assert totals.subtotal == Decimal("2352")
    assert totals.tax_total == Decimal("235")
    assert totals.total == Decimal("2587")


def test_kwd_has_three_decimals():
    lines = [Line("7", "333.3333", True, "10"), Line("1.5", "12.3455", True, "8")]
    totals = compute_totals(lines, "KWD")
    # 2333.3331 -> 2333.333; 18.51825 -> 18.518; tax 233.3333 -> 233.333, 1.48144 -> 1.481
    assert totals.subtotal == Decimal("2351.851")
    assert totals.tax_total == Decimal("234.814")
    assert totals.total == Decimal("2586.665")


@pytest.mark.parametrize(
    ("currency", "subtotal", "tax", "total"),
    [
        ("EUR", "2351.85", "234.81", "2586.66"),
        ("JPY", "2352", "235", "2587"),
        ("KWD", "2351.851", "234.814", "2586.665"),
    ],
)
def test_recompute_stores_rounded_amounts(tenant_a, tenant_b, currency, subtotal, tax, total):
    invoice = InvoiceFactory(tenant=tenant_a, draft=True, currency=currency)
    InvoiceLineFactory(
        tenant=tenant_a,
        invoice=invoice,
        quantity=Decimal("7"),
        unit_price=Decimal("333.3333"),
        amount=Decimal("0"),
        taxable=True,
        tax_rate=Decimal("10"),
    )
    InvoiceLineFactory(
        tenant=tenant_a,
        invoice=invoice,
        quantity=Decimal("1.5"),
        unit_price=Decimal("12.3455"),
        amount=Decimal("0"),
        taxable=True,
        tax_rate=Decimal("8"),
    )
    other = InvoiceFactory(tenant=tenant_b, draft=True)
    with tenant_context(tenant_a):
        services.invoice_totals_recompute(invoice=invoice)
        invoice.refresh_from_db()
        assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
            Decimal(subtotal),
            Decimal(tax),
            Decimal(total),
        )
        lines = list(InvoiceLine.objects.filter(invoice=invoice).order_by("position"))
        assert sum(line.amount for line in lines) == invoice.subtotal
        breakdown = selectors.invoice_tax_breakdown(invoice=invoice)
        assert sum(row.tax for row in breakdown) == invoice.tax_total
        # Tenant B's invoice is out of reach.
        assert not Invoice.objects.filter(pk=other.pk).exists()


def test_final_invoice_totals_are_immutable(tenant_a, tenant_b):
    invoice = InvoiceFactory(tenant=tenant_a)
    InvoiceFactory(tenant=tenant_b)
    with tenant_context(tenant_a), pytest.raises(ValidationError) as error:
        services.invoice_totals_recompute(invoice=invoice)
    assert "status" in error.value.message_dict
