"""Browser forms of the invoices app. They parse; services validate and save."""

from __future__ import annotations

from django import forms

from billing_site.date_fields import DateField
from billing_site.forms import TenantForm, say_what_fits, tax_rate_field
from billing_site.models import Organization, validate_country

from .models import CreditDisposition, InvoiceStatus, PaymentMethod, SourceScope
from .parties import BILL_TO_FIELDS, SELLER_FIELDS
from .receivables.selectors import STATE_LABELS
from .selectors import DUE_SOON, EMAIL_FAILED, OPEN, OVERDUE, RECEIVABLE_STATE_PREFIX

TEXTAREA = {"rows": 3}


def _party(prefix: str, name_label: str) -> dict[str, forms.Field]:
    return {
        f"{prefix}_name": forms.CharField(label=name_label, max_length=200),
        f"{prefix}_street": forms.CharField(
            label="Street",
            required=False,
            widget=forms.Textarea(attrs={"rows": 2}),
            help_text="One line per street line.",
        ),
        f"{prefix}_postcode": forms.CharField(label="Postcode", max_length=20, required=False),
        f"{prefix}_city": forms.CharField(label="City", max_length=100, required=False),
        f"{prefix}_region": forms.CharField(label="Region", max_length=100, required=False),
        f"{prefix}_country": forms.CharField(
            label="Country",
            max_length=2,
            required=False,
            validators=[validate_country],
            help_text="Two-letter ISO code, e.g. FR.",
        ),
        f"{prefix}_tax_id": forms.CharField(label="VAT / tax id", max_length=60, required=False),
        f"{prefix}_email": forms.EmailField(label="E-mail", required=False),
        f"{prefix}_phone": forms.CharField(label="Phone", max_length=40, required=False),
    }


# The seller and bill-to fields of the invoice forms: the columns of ``invoices.parties``.
PartyForm = type(
    "PartyForm", (forms.Form,), {**_party("seller", "Company name"), **_party("bill_to", "Bill to")}
)


class SessionScopeForm(forms.Form):
    """What to invoice: ``scope`` (session, host, group), ``id`` and the date range."""

    scope = forms.ChoiceField(choices=SourceScope.choices, widget=forms.HiddenInput)
    id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    date_from = DateField(required=False, widget=forms.HiddenInput)
    date_to = DateField(required=False, widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", "The end of the date range is before its start.")
        return cleaned


class SessionInvoiceForm(PartyForm, SessionScopeForm):
    """The "Generate invoice" form: details pre-filled, editable for this invoice."""

    session_ids = forms.CharField(widget=forms.HiddenInput)
    payment_terms_days = forms.IntegerField(
        label="Payment terms (days)", min_value=0, max_value=365
    )
    payment_instructions = forms.CharField(
        label="Payment instructions", required=False, widget=forms.Textarea(attrs=TEXTAREA)
    )
    notes = forms.CharField(
        label="Notes on the invoice", required=False, widget=forms.Textarea(attrs=TEXTAREA)
    )
    taxable = forms.BooleanField(label="Taxable", required=False)
    tax_rate = tax_rate_field(
        label="Tax rate (%)",
        help_text="The customer's rate, else your default rate; changes apply to this "
        "invoice only.",
    )
    amount_due = say_what_fits(
        forms.DecimalField(
            label="Total amount due",
            min_value=0,
            max_digits=15,
            decimal_places=3,
            help_text="Suggested: billable duration × hourly rate, plus tax. A different "
            "amount adds an adjustment line so the invoice still adds up.",
        )
    )
    # The total the page suggested: an amount due left at it follows the figures when the
    # tax or the rates change, instead of being kept by an adjustment line.
    suggested_total = forms.DecimalField(required=False, widget=forms.HiddenInput)

    SELLER_FIELDS = SELLER_FIELDS
    BILL_TO_FIELDS = BILL_TO_FIELDS
    TERMS_FIELDS = ("payment_terms_days", "payment_instructions", "notes")
    TAX_FIELDS = ("taxable", "tax_rate")

    def clean_session_ids(self) -> list[int]:
        raw = self.cleaned_data["session_ids"]
        try:
            return [int(value) for value in raw.split(",") if value.strip()]
        except ValueError as exc:
            raise forms.ValidationError("Invalid session list; reload the page.") from exc

    def fields_of(self, names):
        return [self[name] for name in names]

    def seller_fields(self):
        return self.fields_of(self.SELLER_FIELDS)

    def bill_to_fields(self):
        return self.fields_of(self.BILL_TO_FIELDS)

    def terms_fields(self):
        return self.fields_of(self.TERMS_FIELDS)

    def tax_fields(self):
        return self.fields_of(self.TAX_FIELDS)


class InvoiceFilterForm(TenantForm):
    STATUS_CHOICES = [
        ("", "Any status"),
        *InvoiceStatus.choices,
        (OPEN, "Open (balance due)"),
        (OVERDUE, "Overdue"),
        (DUE_SOON, "Due this week"),
        (EMAIL_FAILED, "E-mail failed"),
        *[
            (f"{RECEIVABLE_STATE_PREFIX}{state}", f"Receivable: {label.lower()}")
            for state, label in STATE_LABELS.items()
        ],
    ]

    q = forms.CharField(label="Search", required=False)
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.order_by("name"), required=False, empty_label="Any customer"
    )
    issued_from = DateField(
        label="Issued from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    issued_to = DateField(
        label="Issued to", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class InvoiceVoidForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why is this invoice voided?"}),
    )


class InvoiceDraftForm(PartyForm):
    """A draft's header: seller and bill-to blocks, dates, terms and notes."""

    issue_date = DateField(
        label="Issue date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: the day it is finalised.",
    )
    due_date = DateField(
        label="Due date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: issue date + payment terms.",
    )
    payment_terms_days = forms.IntegerField(
        label="Payment terms (days)", min_value=0, max_value=365
    )
    payment_instructions = forms.CharField(
        label="Payment instructions", required=False, widget=forms.Textarea(attrs=TEXTAREA)
    )
    notes = forms.CharField(
        label="Notes on the invoice", required=False, widget=forms.Textarea(attrs=TEXTAREA)
    )

    SELLER_FIELDS = SessionInvoiceForm.SELLER_FIELDS
    BILL_TO_FIELDS = SessionInvoiceForm.BILL_TO_FIELDS
    TERMS_FIELDS = ("issue_date", "due_date", "payment_terms_days", "payment_instructions", "notes")

    def groups(self):
        return [
            ("From", [self[name] for name in self.SELLER_FIELDS]),
            ("Bill to", [self[name] for name in self.BILL_TO_FIELDS]),
            ("Dates, terms and notes", [self[name] for name in self.TERMS_FIELDS]),
        ]


class InvoiceLineForm(TenantForm):
    """One line of a draft. Decimals stay strings and nothing is required here: the
    service checks every field at once, so an empty description and a bad price are
    both shown, each on its field."""

    KIND_CHOICES = [
        ("product", "Product / service"),
        ("fee", "Fee"),
        ("time", "Time"),
        ("discount", "Discount"),
        ("adjustment", "Adjustment"),
    ]

    kind = forms.ChoiceField(choices=KIND_CHOICES, initial="product")
    description = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"placeholder": "Description"})
    )
    sku = forms.CharField(label="SKU", max_length=60, required=False)
    quantity = forms.CharField(
        initial="1", required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    unit = forms.CharField(max_length=20, required=False)
    unit_price = forms.CharField(
        label="Unit price", required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    taxable = forms.BooleanField(required=False)
    tax_rate = forms.CharField(
        label="Tax %",
        initial="0",
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )

    def __init__(self, *args, line=None, **kwargs):
        self.line = line
        super().__init__(*args, **kwargs)
        if line is not None and line.kind not in dict(self.KIND_CHOICES):
            # A line made from billed items keeps its kind.
            self.fields["kind"].choices = [(line.kind, line.get_kind_display())]


class PaymentForm(TenantForm):
    amount = forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    received_on = DateField(label="Received on", widget=forms.DateInput(attrs={"type": "date"}))
    method = forms.ChoiceField(choices=PaymentMethod.choices)
    reference = forms.CharField(max_length=120, required=False)


class CreditNoteForm(TenantForm):
    """Credit the whole invoice, or the quantities given per line (``qty_<line id>``)."""

    SCOPE_CHOICES = [("whole", "The whole invoice"), ("lines", "Chosen lines")]

    scope = forms.ChoiceField(choices=SCOPE_CHOICES, initial="whole", widget=forms.RadioSelect)
    # No initial value: the user chooses every time, so nothing is billed twice by default.
    credit_disposition = forms.ChoiceField(
        label="The credited items",
        choices=CreditDisposition.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose whether the credited items are billed again or written off."
        },
        help_text=(
            "Applies to the time entries, sessions, fees and blocks of the lines credited "
            "in full; the items of a partly credited line stay on it."
        ),
    )
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why is this invoice credited?"}),
    )

    def __init__(self, *args, creditable=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.creditable = list(creditable)
        for line, remaining in self.creditable:
            self.fields[f"qty_{line.pk}"] = say_what_fits(
                forms.DecimalField(
                    label=line.words.description[:60],
                    required=False,
                    min_value=0,
                    max_digits=14,
                    decimal_places=4,
                    disabled=remaining <= 0,
                )
            )

    def rows(self):
        return [(line, remaining, self[f"qty_{line.pk}"]) for line, remaining in self.creditable]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("scope") == "lines" and not self.chosen_lines():
            raise forms.ValidationError("Give a quantity for at least one line.")
        return cleaned

    def chosen_lines(self):
        if self.cleaned_data.get("scope") != "lines":
            return None
        return [
            (line.pk, self.cleaned_data[f"qty_{line.pk}"])
            for line, _remaining in self.creditable
            if self.cleaned_data.get(f"qty_{line.pk}")
        ]
