"""Invoice API serializers: output shapes, and the input of "invoice from sessions"."""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing_site.api.date_fields import DateField
from billing_site.api.serializers import (
    DecimalNumberField,
    StrictSerializerMixin,
    tax_rate_field,
)
from billing_site.models import MAX_ID, validate_country
from billing_site.money import quantize

from ..document import bill_to_party, seller_party, tax_category
from ..models import (
    CreditDisposition,
    Invoice,
    InvoiceLine,
    LineKind,
    Payment,
    PaymentMethod,
    PdfStatus,
    SourceScope,
)
from ..receivables.selectors import BUCKETS, STATE_LABELS
from ..selectors import attach_credited, invoice_tax_breakdown, tenant_today
from ..services import MANUAL_LINE_KINDS


@extend_schema_field({"type": "string", "format": "decimal", "example": "120.50"})
class AmountField(serializers.Field):
    """A stored amount as a string with its currency's minor unit: "120.00", "2593", "2.592".

    Amounts are stored with three places for every currency; the API shows what the
    currency has, so 0- and 3-decimal currencies read right.
    """

    def __init__(self, *, currency_source: str = "currency", **kwargs):
        self.currency_source = currency_source.split(".")
        super().__init__(read_only=True, **kwargs)

    def get_attribute(self, instance):
        currency = instance
        for part in self.currency_source:
            currency = getattr(currency, part)
        return super().get_attribute(instance), currency

    def to_representation(self, value):
        amount, currency = value
        return str(quantize(Decimal(amount), currency))


class OptionalChoiceField(serializers.ChoiceField):
    """A stored choice, or null where the row has none (stored blank)."""

    def to_representation(self, value):
        return value or None


class InvoiceLineSerializer(serializers.ModelSerializer):
    amount = AmountField(currency_source="invoice.currency")
    tax_category = serializers.SerializerMethodField()
    # The words in the invoice's locale, rendered from the line's facts (as on the PDF).
    group_label = serializers.CharField(source="words.group_label", read_only=True)
    description = serializers.CharField(source="words.description", read_only=True)
    explanation = serializers.CharField(source="words.explanation", read_only=True)

    class Meta:
        model = InvoiceLine
        fields = [
            "id",
            "position",
            "kind",
            "group_label",
            "description",
            "sku",
            "started_at",
            "ended_at",
            "worked_seconds",
            "billed_seconds",
            "quantity",
            "unit",
            "unit_price",
            "amount",
            "taxable",
            "tax_rate",
            "tax_category",
            "period_start",
            "period_end",
            "explanation",
        ]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ChoiceField(
            choices=[("S", "Standard rate"), ("Z", "Zero rated"), ("O", "Not subject to tax")],
            help_text="EN 16931 / UNCL 5305 tax category, derived from taxable and the rate.",
        )
    )
    def get_tax_category(self, line: InvoiceLine) -> str:
        return tax_category(taxable=line.taxable, rate=line.tax_rate)


class InvoiceListSerializer(serializers.ListSerializer):
    """Loads the credited totals of a page of invoices in one query when the queryset
    did not annotate them."""

    def to_representation(self, data):
        items = list(data.all() if hasattr(data, "all") else data)
        attach_credited(items)
        return super().to_representation(items)


class InvoiceSerializer(serializers.ModelSerializer):
    """An invoice in lists: no lines."""

    subtotal = AmountField()
    tax_total = AmountField()
    total = AmountField()
    amount_paid = AmountField()
    credited_total = serializers.SerializerMethodField(
        help_text="Total of the issued credit notes of this invoice."
    )
    balance_due = serializers.SerializerMethodField(
        help_text=(
            "Total − paid − credited (never below zero); 0 for a credit note, a draft and "
            "a void invoice, which are never receivables."
        )
    )
    credited_invoice = serializers.SerializerMethodField()
    credit_disposition = OptionalChoiceField(
        choices=CreditDisposition.choices,
        allow_null=True,
        read_only=True,
        help_text=(
            "Credit notes: release (the credited items were released to be billed again) "
            "or write_off (they stay billed by the credited invoice); null for an invoice."
        ),
    )
    # Blank on invoices that do not come from sessions: "" is part of the documented enum.
    source_scope = serializers.ChoiceField(
        choices=SourceScope.choices, allow_blank=True, read_only=True
    )
    is_overdue = serializers.SerializerMethodField(
        help_text="Past its due date with a balance left (never a credit note)."
    )
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        list_serializer_class = InvoiceListSerializer
        fields = [
            "id",
            "kind",
            "number",
            "status",
            "is_overdue",
            "marked_overdue_on",
            "source",
            "source_scope",
            "source_object_id",
            "source_label",
            "organization",
            "currency",
            "locale",
            "bill_to_name",
            "issue_date",
            "due_date",
            "period_start",
            "period_end",
            "subtotal",
            "tax_total",
            "total",
            "amount_paid",
            "credited_total",
            "balance_due",
            "credited_invoice",
            "credit_disposition",
            "pdf_status",
            "pdf_url",
            "created_at",
            "finalized_at",
            "voided_at",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "format": "decimal", "example": "40.00"})
    def get_credited_total(self, invoice: Invoice) -> str:
        return str(quantize(invoice.credited_total, invoice.currency))

    @extend_schema_field({"type": "string", "format": "decimal", "example": "60.00"})
    def get_balance_due(self, invoice: Invoice) -> str:
        return str(quantize(invoice.balance_due, invoice.currency))

    @extend_schema_field(
        {"type": "object", "nullable": True, "properties": {"id": {}, "number": {}}}
    )
    def get_credited_invoice(self, invoice: Invoice) -> dict | None:
        """The invoice a credit note credits (id and number)."""
        if invoice.credited_invoice_id is None:
            return None
        return {"id": invoice.credited_invoice_id, "number": invoice.credited_invoice.number}

    def get_is_overdue(self, invoice: Invoice) -> bool:
        if "today" not in self.context:
            self.context["today"] = tenant_today()
        return invoice.is_overdue_on(self.context["today"])

    def get_pdf_url(self, invoice: Invoice) -> str | None:
        if invoice.pdf_status != PdfStatus.READY or not invoice.pdf:
            return None
        url = reverse("invoice-pdf", kwargs={"pk": invoice.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class TaxRowSerializer(serializers.Serializer):
    """Tax of one rate: ``rate`` percent of ``base``, rounded once."""

    rate = serializers.CharField()
    base = serializers.CharField()
    tax = serializers.CharField()


class PartySerializer(serializers.Serializer):
    """A party snapshot of the invoice document (``invoices.document.Party``)."""

    legal_name = serializers.CharField()
    street_lines = serializers.ListField(child=serializers.CharField())
    city = serializers.CharField()
    postcode = serializers.CharField()
    region = serializers.CharField()
    country_code = serializers.CharField(help_text="ISO 3166-1 alpha-2, or empty.")
    tax_id = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()


class InvoiceDetailSerializer(InvoiceSerializer):
    """One invoice with its seller and bill-to blocks, lines and tax per rate."""

    lines = InvoiceLineSerializer(many=True, read_only=True)
    tax_breakdown = serializers.SerializerMethodField()
    seller = serializers.SerializerMethodField()
    bill_to = serializers.SerializerMethodField()

    class Meta(InvoiceSerializer.Meta):
        fields = [
            *InvoiceSerializer.Meta.fields,
            "seller",
            "bill_to",
            "seller_name",
            "seller_tax_id",
            "seller_email",
            "seller_phone",
            "bill_to_email",
            "bill_to_tax_id",
            "bill_to_phone",
            "payment_terms_days",
            "payment_instructions",
            "notes",
            "void_reason",
            "pdf_error",
            "tax_breakdown",
            "lines",
        ]
        read_only_fields = fields

    @extend_schema_field(PartySerializer)
    def get_seller(self, invoice: Invoice) -> dict:
        return PartySerializer(seller_party(invoice)).data

    @extend_schema_field(PartySerializer)
    def get_bill_to(self, invoice: Invoice) -> dict:
        return PartySerializer(bill_to_party(invoice)).data

    @extend_schema_field(TaxRowSerializer(many=True))
    def get_tax_breakdown(self, invoice: Invoice) -> list[dict]:
        return [
            {
                "rate": f"{row.rate:f}",  # normalised 20 is 2E+1 in str()
                "base": str(quantize(row.base, invoice.currency)),
                "tax": str(quantize(row.tax, invoice.currency)),
            }
            for row in invoice_tax_breakdown(invoice=invoice)
        ]


class PdfRenderResultSerializer(serializers.Serializer):
    """What ``POST /invoices/{id}/render-pdf/`` queued (``services.PdfRequest``)."""

    id = serializers.IntegerField()
    number = serializers.CharField()
    pdf_status = serializers.ChoiceField(
        choices=PdfStatus.choices,
        help_text="pending: the render is queued and runs once this request commits.",
    )
    previous_pdf_status = serializers.ChoiceField(choices=PdfStatus.choices)
    new_version = serializers.BooleanField(
        help_text=(
            "True: a new PDF was asked for (it was failed or ready). False: the pending "
            "one was queued again; a render already running for it still counts."
        )
    )
    pdf_pending_since = serializers.DateTimeField(allow_null=True)
    detail = serializers.CharField()


class InvoiceVoidSerializer(StrictSerializerMixin, serializers.Serializer):
    reason = serializers.CharField(max_length=1000)


def _party_input(prefix: str) -> dict[str, serializers.Field]:
    return {
        f"{prefix}_name": serializers.CharField(required=False, max_length=200),
        f"{prefix}_street": serializers.CharField(
            required=False, allow_blank=True, help_text="Street lines, one per line."
        ),
        f"{prefix}_postcode": serializers.CharField(
            required=False, allow_blank=True, max_length=20
        ),
        f"{prefix}_city": serializers.CharField(required=False, allow_blank=True, max_length=100),
        f"{prefix}_region": serializers.CharField(required=False, allow_blank=True, max_length=100),
        f"{prefix}_country": serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=2,
            validators=[validate_country],
            help_text="ISO 3166-1 alpha-2, e.g. FR.",
        ),
        f"{prefix}_tax_id": serializers.CharField(required=False, allow_blank=True, max_length=60),
        f"{prefix}_email": serializers.EmailField(required=False, allow_blank=True),
        f"{prefix}_phone": serializers.CharField(required=False, allow_blank=True, max_length=40),
    }


# The seller and bill-to input fields (``invoices.parties``): any of them may be given.
PartyInputSerializer = type(
    "PartyInputSerializer",
    (serializers.Serializer,),
    {**_party_input("seller"), **_party_input("bill_to")},
)


class SessionInvoiceCreateSerializer(StrictSerializerMixin, PartyInputSerializer):
    """Invoice the billable, unbilled sessions of a session, a host or a group.

    Details left out default from the tenant (seller, terms) and the billed
    organization (bill-to); ``amount_due`` left out is the suggested amount (tax
    included). ``tax_rate`` left out is the organization's rate, else the tenant's
    default; ``taxable`` left out is true when ``tax_rate`` is given, else the tenant's
    "session work is taxable" setting.
    """

    scope = serializers.ChoiceField(choices=SourceScope.choices)
    id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    date_from = DateField(required=False, allow_null=True)
    date_to = DateField(required=False, allow_null=True)
    session_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        allow_empty=False,
        help_text="The sessions you expect; refused when the selection differs.",
    )
    payment_terms_days = serializers.IntegerField(required=False, min_value=0, max_value=365)
    payment_instructions = serializers.CharField(required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)
    amount_due = DecimalNumberField(
        max_digits=15,
        decimal_places=3,
        min_value=Decimal("0"),
        required=False,
        allow_null=True,
        help_text="The invoice total, tax included; a different amount than suggested adds "
        "an adjustment line taxed like the sessions.",
    )
    taxable = serializers.BooleanField(required=False, allow_null=True)
    tax_rate = tax_rate_field(
        required=False,
        allow_null=True,
        help_text="Percent, e.g. 21 or 7.65 (0 to 100, 4 places at most).",
    )


class InvoiceDraftUpdateSerializer(StrictSerializerMixin, PartyInputSerializer):
    """PATCH of a draft: any of its seller and bill-to blocks, notes, dates and terms."""

    notes = serializers.CharField(required=False, allow_blank=True)
    issue_date = DateField(required=False, allow_null=True)
    due_date = DateField(required=False, allow_null=True)
    payment_terms_days = serializers.IntegerField(required=False, min_value=0, max_value=365)
    payment_instructions = serializers.CharField(required=False, allow_blank=True)


# Kinds a user may add by hand; named in settings.SPECTACULAR_SETTINGS for the schema.
MANUAL_LINE_KIND_CHOICES = [(k, LineKind(k).label) for k in MANUAL_LINE_KINDS]


class InvoiceLineWriteSerializer(StrictSerializerMixin, serializers.Serializer):
    """A line to add or change on a draft. Decimals as strings (4 places); a discount's
    unit price may be given positive or negative, it is stored negative."""

    kind = serializers.ChoiceField(choices=MANUAL_LINE_KIND_CHOICES, required=False)
    description = serializers.CharField(required=False)
    sku = serializers.CharField(required=False, allow_blank=True, max_length=60)
    quantity = serializers.CharField(required=False)
    unit = serializers.CharField(required=False, allow_blank=True, max_length=20)
    unit_price = serializers.CharField(required=False)
    taxable = serializers.BooleanField(required=False)
    tax_rate = serializers.CharField(required=False)
    group_label = serializers.CharField(required=False, allow_blank=True, max_length=200)


class InvoiceLineCreateSerializer(InvoiceLineWriteSerializer):
    description = serializers.CharField()
    quantity = serializers.CharField()
    unit_price = serializers.CharField()


class PaymentSerializer(serializers.ModelSerializer):
    amount = AmountField(currency_source="invoice.currency")
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    currency = serializers.CharField(source="invoice.currency", read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "invoice",
            "invoice_number",
            "amount",
            "currency",
            "received_on",
            "method",
            "reference",
            "created_at",
        ]
        read_only_fields = fields


class PaymentCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    """Money received against a final, sent or partially paid invoice."""

    invoice = serializers.PrimaryKeyRelatedField(queryset=Invoice.objects)
    amount = serializers.CharField(help_text='In the invoice\'s currency, e.g. "120.50".')
    received_on = DateField()
    method = serializers.ChoiceField(choices=PaymentMethod.choices)
    reference = serializers.CharField(required=False, allow_blank=True, max_length=120)


class CreditLineSerializer(StrictSerializerMixin, serializers.Serializer):
    line = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    quantity = serializers.CharField()


class CreditNoteCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    """Credit an invoice wholly (no ``lines``) or by lines with quantities.

    ``credit_disposition`` is required: ``release`` unbills the items of the lines
    credited in full so they are billed again; ``write_off`` leaves them billed by the
    credited invoice.
    """

    invoice = serializers.PrimaryKeyRelatedField(queryset=Invoice.objects)
    reason = serializers.CharField(max_length=2000)
    credit_disposition = serializers.ChoiceField(
        choices=CreditDisposition.choices,
        help_text=(
            "What happens to the items of the lines credited in full: release (billed "
            "again by the next batch) or write_off (they stay billed)."
        ),
        error_messages={
            "required": (
                "Choose release (the items are billed again) or write_off (they stay billed)."
            ),
            "invalid_choice": (
                '"{input}" is not a choice: use release (the items are billed again) or '
                "write_off (they stay billed)."
            ),
        },
    )
    lines = CreditLineSerializer(many=True, required=False, allow_empty=False)


# --- Receivables ----------------------------------------------------------------------
# The answers are built from the receivables selectors' objects (``*_data``), amounts
# rounded to their currency's minor unit as ``AmountField`` shows them, then rendered
# through these serializers, which also document them. Currencies are never added up.


@extend_schema_field({"type": "string", "format": "decimal", "example": "120.50"})
class RoundedAmountField(serializers.Field):
    """An amount the answer already rounded to its currency's minor unit, as a string."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value):
        return str(value)


def _money(amount: Decimal, currency: str) -> str:
    return str(quantize(Decimal(amount), currency))


class ReceivablesStateSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=list(STATE_LABELS.items()))
    label = serializers.CharField()
    count = serializers.IntegerField(help_text="Invoices in this state.")
    invoiced = RoundedAmountField(help_text="Their totals.")
    open = RoundedAmountField(help_text="What is still owed on them.")


class ReceivablesCurrencySerializer(serializers.Serializer):
    currency = serializers.CharField()
    states = ReceivablesStateSerializer(many=True, help_text="Every state, in this order.")
    count = serializers.IntegerField()
    invoiced = RoundedAmountField()
    open = RoundedAmountField()


class ReceivablesSummarySerializer(serializers.Serializer):
    as_of = serializers.DateField(help_text="Today in the tenant's calendar (overdue).")
    issued_from = serializers.DateField(allow_null=True)
    issued_to = serializers.DateField(allow_null=True)
    currencies = ReceivablesCurrencySerializer(
        many=True, help_text="Per currency that has issued invoices, by code."
    )


def receivables_summary_data(summary, *, as_of, issued_from, issued_to) -> dict:
    currencies = []
    for block in summary:
        money = lambda amount, c=block.currency: _money(amount, c)  # noqa: E731
        currencies.append(
            {
                "currency": block.currency,
                "states": [
                    {
                        "state": row.state,
                        "label": row.label,
                        "count": row.count,
                        "invoiced": money(row.invoiced),
                        "open": money(row.open),
                    }
                    for row in block.rows
                ],
                "count": sum(row.count for row in block.rows),
                "invoiced": money(block.invoiced),
                "open": money(block.open),
            }
        )
    return {
        "as_of": as_of,
        "issued_from": issued_from,
        "issued_to": issued_to,
        "currencies": currencies,
    }


# One amount per bucket, named by its key: {"current": "0.00", "days_0_30": ..., ...}.
AgingBucketsSerializer = type(
    "AgingBucketsSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "Open balances by days past the due date, one per bucket.",
        **{key: RoundedAmountField(help_text=label) for key, label in BUCKETS},
    },
)


class AgingBucketLabelSerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=[key for key, _ in BUCKETS])
    label = serializers.CharField()


class AgingRowSerializer(serializers.Serializer):
    organization = serializers.IntegerField(
        allow_null=True, help_text="The organization billed; null: none (billed by name)."
    )
    customer = serializers.CharField(
        help_text="The organization's name, else the invoices' bill-to name."
    )
    currency = serializers.CharField()
    open_invoices = serializers.IntegerField()
    buckets = AgingBucketsSerializer()
    overdue = RoundedAmountField(help_text="Every bucket but current.")
    total = RoundedAmountField()


class AgingTotalSerializer(serializers.Serializer):
    currency = serializers.CharField()
    buckets = AgingBucketsSerializer()
    total = RoundedAmountField()


class ReceivablesAgingSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Rows on every page.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    as_of = serializers.DateField(help_text="Today in the tenant's calendar.")
    buckets = AgingBucketLabelSerializer(many=True, help_text="The buckets, in order.")
    results = AgingRowSerializer(
        many=True, help_text="Per customer and currency, the most overdue first."
    )
    totals = AgingTotalSerializer(many=True, help_text="Per currency, every page's rows.")


def _buckets(amounts: dict, currency: str) -> dict:
    return {key: _money(amounts[key], currency) for key, _ in BUCKETS}


def receivables_aging_data(aging, rows) -> dict:
    """The aging's figures with ``rows`` (a page of ``aging.rows``) as its results."""
    return {
        "as_of": aging.as_of,
        "buckets": [{"key": key, "label": label} for key, label in BUCKETS],
        "results": [
            {
                "organization": row.organization_id,
                "customer": row.customer,
                "currency": row.currency,
                "open_invoices": row.count,
                "buckets": _buckets(row.buckets, row.currency),
                "overdue": _money(row.overdue, row.currency),
                "total": _money(row.total, row.currency),
            }
            for row in rows
        ],
        "totals": [
            {
                "currency": currency,
                "buckets": _buckets(amounts, currency),
                "total": _money(sum(amounts.values(), Decimal("0")), currency),
            }
            for currency, amounts in aging.totals.items()
        ],
    }


class StatementEntrySerializer(serializers.Serializer):
    date = serializers.DateField()
    kind = serializers.ChoiceField(choices=["invoice", "payment", "credit_note"])
    reference = serializers.CharField(help_text='The invoice or credit note number, "Payment".')
    detail = serializers.CharField(
        allow_blank=True,
        help_text="The invoice a payment or credit note is for (and a payment's reference).",
    )
    due_date = serializers.DateField(allow_null=True, help_text="An invoice's; null otherwise.")
    charge = RoundedAmountField(help_text="What an invoice adds (0 otherwise).")
    credit = RoundedAmountField(help_text="What a payment or credit note takes off.")
    balance = RoundedAmountField(help_text="The running balance after this entry.")
    invoice = serializers.IntegerField(
        allow_null=True,
        help_text="The invoice (or credit note) of the entry: /api/v1/invoices/{id}/.",
    )


class StatementCurrencySerializer(serializers.Serializer):
    currency = serializers.CharField()
    opening = RoundedAmountField(help_text="Owed before date_from.")
    entries = StatementEntrySerializer(many=True, help_text="In date order.")
    closing = RoundedAmountField(help_text="Owed at the end of date_to.")
    invoiced = RoundedAmountField(help_text="Invoices in the period.")
    paid = RoundedAmountField(help_text="Payments in the period.")
    credited = RoundedAmountField(help_text="Credit notes in the period.")


class StatementOrganizationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CustomerStatementSerializer(serializers.Serializer):
    organization = StatementOrganizationSerializer()
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    currencies = StatementCurrencySerializer(
        many=True, help_text="Per currency the customer has entries or a balance in."
    )


def customer_statement_data(statement) -> dict:
    currencies = []
    for block in statement.currencies:
        money = lambda amount, c=block.currency: _money(amount, c)  # noqa: E731
        currencies.append(
            {
                "currency": block.currency,
                "opening": money(block.opening),
                "entries": [
                    {
                        "date": entry.date,
                        "kind": entry.kind,
                        "reference": entry.reference,
                        "detail": entry.detail,
                        "due_date": entry.due_date,
                        "charge": money(entry.charge),
                        "credit": money(entry.credit),
                        "balance": money(entry.balance),
                        "invoice": entry.invoice_id,
                    }
                    for entry in block.entries
                ],
                "closing": money(block.closing),
                "invoiced": money(block.invoiced),
                "paid": money(block.paid),
                "credited": money(block.credited),
            }
        )
    organization = statement.organization
    return {
        "organization": {"id": organization.pk, "name": organization.name},
        "date_from": statement.date_from,
        "date_to": statement.date_to,
        "currencies": currencies,
    }
