"""Invoice batch API shapes: strict inputs, read-only outputs built from the preview."""

from __future__ import annotations

from rest_framework import serializers

from billing_site.api.date_fields import DateField
from billing_site.api.serializers import StrictSerializerMixin
from billing_site.money import quantize
from contracts.models import Contract

from ...api.serializers import InvoiceSerializer
from ...models import Invoice
from ..models import InvoiceBatch


class BatchSerializer(serializers.ModelSerializer):
    invoice_count = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = InvoiceBatch
        fields = [
            "id",
            "name",
            "as_of",
            "status",
            "consolidate",
            "invoice_count",
            "created_at",
            "run_at",
            "generated_at",
        ]
        read_only_fields = fields


class BatchDetailSerializer(BatchSerializer):
    """Documents one batch as the API answers it (built by ``batch_detail_data``)."""

    details = serializers.DictField(
        read_only=True,
        allow_null=True,
        help_text="Invoices to create, tickets, hours and amounts per currency; null once run.",
    )
    contracts = serializers.ListField(
        child=serializers.DictField(),
        read_only=True,
        help_text="Each contract with its state, balances and items; empty once run.",
    )
    invoices = InvoiceSerializer(many=True, read_only=True)

    class Meta(BatchSerializer.Meta):
        fields = [*BatchSerializer.Meta.fields, "details", "contracts", "invoices"]
        read_only_fields = fields


class BatchCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    name = serializers.CharField(max_length=120)
    as_of = DateField()


class BatchUpdateSerializer(StrictSerializerMixin, serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    as_of = DateField(required=False)
    consolidate = serializers.BooleanField(required=False)


class SelectionSerializer(StrictSerializerMixin, serializers.Serializer):
    """Include or exclude one item (``item``: its key) or a whole contract (no item)."""

    contract = serializers.PrimaryKeyRelatedField(queryset=Contract.objects)
    item = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    include = serializers.BooleanField()


class DraftDeleteSerializer(StrictSerializerMixin, serializers.Serializer):
    invoice = serializers.PrimaryKeyRelatedField(queryset=Invoice.objects)


class GenerateSerializer(StrictSerializerMixin, serializers.Serializer):
    consolidate = serializers.BooleanField(required=False, allow_null=True, default=None)


def _money(amount, currency) -> str | None:
    return None if amount is None else str(quantize(amount, currency))


def item_data(row, currency: str) -> dict:
    item = row.item
    return {
        "key": item.key,
        "kind": item.kind,
        "description": item.description,
        "due": item.due,
        "due_on": item.due_on,
        "selected": row.selected,
        "selectable": row.selectable,
        "quantity": str(item.quantity),
        "unit_price": None if item.unit_price is None else str(item.unit_price),
        "amount": _money(item.amount, currency),
        "period_start": item.period.start if item.period else None,
        "period_end": item.period.end if item.period else None,
        "ticket": item.ticket_id,
        "worked_seconds": item.worked_seconds,
        "billed_seconds": item.billed_seconds,
        "sku": item.sku,
        "explanation": item.explanation,
        "problem": item.problem,
    }


def contract_data(row, *, with_items: bool) -> dict:
    contract = row.contract
    data = {
        "id": contract.pk,
        "name": contract.name,
        "customer": {"id": contract.customer_id, "name": contract.customer.name},
        "billing_organization": {
            "id": contract.billing_organization_id,
            "name": contract.billing_organization.name,
        },
        "contract_type": contract.contract_type,
        "currency": contract.currency,
        "taxable": contract.taxable,
        "state": row.state,
        "excluded": row.excluded,
        "total_balance": _money(row.total_balance, contract.currency),
        "selected_balance": _money(row.selected_balance, contract.currency),
    }
    if with_items:
        data["items"] = [item_data(item, contract.currency) for item in row.items]
    return data


def details_data(details) -> dict:
    return {
        "invoices_to_create": details.invoices_to_create,
        "unbilled_tickets": details.unbilled_tickets,
        "worked_seconds": details.worked_seconds,
        "hours_worked": details.hours_worked,
        "currencies": [
            {
                "currency": c.currency,
                "invoices": c.invoices,
                "billable_amount": _money(c.billable, c.currency),
                "tax": _money(c.tax, c.currency),
                "tax_by_rate": [
                    {"rate": format(rate.normalize(), "f"), "tax": _money(tax, c.currency)}
                    for rate, tax in c.tax_rows.items()
                ],
                "total": _money(c.total, c.currency),
            }
            for c in details.currencies
        ],
    }


def batch_detail_data(batch, preview, invoices, context) -> dict:
    data = BatchSerializer(batch, context=context).data
    data["details"] = details_data(preview.details) if preview is not None else None
    data["contracts"] = (
        [contract_data(row, with_items=True) for row in preview.rows] if preview else []
    )
    data["invoices"] = InvoiceSerializer(invoices, many=True, context=context).data
    # One batch is not annotated like the list: its count is the invoices it lists.
    data["invoice_count"] = len(data["invoices"])
    return data
