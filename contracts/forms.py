"""Browser forms. They parse input; services validate and write (``_post_clean`` is skipped so
model validation happens once, in the service, with the same messages as the API)."""

from __future__ import annotations

import datetime as dt

from django import forms

from billing_site.date_fields import DateField
from billing_site.forms import TenantForm, TenantModelForm
from billing_site.models import Contact, Organization, User
from billing_site.money import currency_choices
from billing_site.tenancy import get_current_tenant

from .budgets import BUDGET_FIELDS
from .choices import TicketStatus
from .models import (
    BlockPurchase,
    BudgetKind,
    Contract,
    ContractProductLine,
    Product,
    RateRule,
    ServiceType,
    Ticket,
)
from .selectors import staff_choices, technician_choices
from .services import (
    CONTRACT_FIELDS,
    PRODUCT_FIELDS,
    RULE_FIELDS,
    SERVICE_TYPE_FIELDS,
    parse_hours,
)


def format_percent(rate) -> str:
    """A tax rate as typed in a form: "20 %", "7.65 %" (no trailing zeros)."""
    text = f"{rate:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} %"


DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TIME = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
TEXTAREA = forms.Textarea(attrs={"rows": 3})
BILLABLE_CHOICES = [("", "Service type default"), ("yes", "Billable"), ("no", "Non-billable")]


class ServiceModelForm(TenantModelForm):
    """A model form whose instance is validated by the service, not by the form."""

    def _post_clean(self):
        pass


BUDGET_HELP = {
    "budget_kind": "Hours worked, or the value of the work in the currency.",
    "budget_amount": "Hours (e.g. 40), or an amount in the currency.",
}


class BudgetFormMixin:
    """Budget fields are optional in a post: left out, the budget stays as it is; an empty
    kind is no budget and an empty threshold the default one."""

    def _optional_budget(self) -> None:
        for name in BUDGET_FIELDS:
            if name in self.fields:
                self.fields[name].required = False

    def clean(self):
        data = super().clean()
        for name in BUDGET_FIELDS:
            if name in self.fields and name not in self.data:
                data.pop(name, None)
        if data.get("budget_kind") == "":
            data["budget_kind"] = BudgetKind.NONE
        if "budget_warn_percent" in data and data["budget_warn_percent"] is None:
            data["budget_warn_percent"] = self._meta.model._meta.get_field(
                "budget_warn_percent"
            ).default
        return data


class ContractForm(BudgetFormMixin, ServiceModelForm):
    currency = forms.ChoiceField(
        required=False,
        choices=[("", "Billing organization's currency"), *currency_choices()],
    )
    anchor_day = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=31,
        help_text="Day periods start on (default: the start date's day); 29–31 clamp to the "
        "month's last day.",
    )

    class Meta:
        model = Contract
        fields = [*CONTRACT_FIELDS, *BUDGET_FIELDS]
        widgets = {"start_date": DATE, "end_date": DATE, "notes": TEXTAREA}
        field_classes = {"start_date": DateField, "end_date": DateField}
        help_texts = {
            **BUDGET_HELP,
            "billing_organization": "Who is invoiced; leave empty to invoice the customer.",
            "retainer_fee": "Retainer: fee per period.",
            "included_hours": "Retainer: hours the fee covers each period (no roll-over).",
            "overage_rate": "Retainer and block hours: hourly rate beyond the included hours "
            "or the block.",
            "block_hours": "Block hours: size of a block.",
            "block_price": "Block hours: price of a block (invoiced when bought).",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["billing_organization"].required = False
        self._optional_budget()
        if self.instance.pk:
            self.fields["customer"].disabled = True
        # Empty: the service takes the billing organization's rate, else the tenant's.
        tenant = get_current_tenant()
        default = f" ({format_percent(tenant.default_tax_rate)})" if tenant else ""
        self.fields["tax_rate"].required = False
        self.fields["tax_rate"].help_text = (
            "Percent, e.g. 20. Left empty on a taxable contract: the billing organization's "
            f"rate, else your default rate{default}."
        )

    def clean_currency(self):
        return self.cleaned_data.get("currency") or None


class ProductLineForm(ServiceModelForm):
    class Meta:
        model = ContractProductLine
        fields = ["product", "quantity_mode", "quantity", "unit_price"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = Product.objects.filter(is_active=True)


class BlockPurchaseForm(ServiceModelForm):
    hours = forms.DecimalField(required=False, max_digits=10, decimal_places=2)
    price = forms.DecimalField(required=False, max_digits=18, decimal_places=4)

    class Meta:
        model = BlockPurchase
        fields = ["purchased_on", "hours", "price", "note"]
        widgets = {"purchased_on": DATE}
        field_classes = {"purchased_on": DateField}


class ProductForm(ServiceModelForm):
    class Meta:
        model = Product
        fields = list(PRODUCT_FIELDS)
        widgets = {"description": TEXTAREA}


class ServiceTypeForm(ServiceModelForm):
    class Meta:
        model = ServiceType
        fields = list(SERVICE_TYPE_FIELDS)


class TeamForm(TenantForm):
    name = forms.CharField(max_length=120)
    description = forms.CharField(max_length=240, required=False)
    members = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Technicians of your MSP.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["members"].queryset = technician_choices()
        self.fields["members"].label_from_instance = lambda u: u.get_full_name() or u.username


class RateRuleForm(ServiceModelForm):
    currency = forms.ChoiceField(
        required=False, choices=[("", "Contract's, organization's or yours"), *currency_choices()]
    )

    class Meta:
        model = RateRule
        fields = list(RULE_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["technician"].queryset = staff_choices()
        self.fields["technician"].label_from_instance = lambda u: u.get_full_name() or u.username
        self.fields["contract"].queryset = Contract.objects.select_related("customer")

    def clean_currency(self):
        return self.cleaned_data.get("currency") or None


class TicketForm(BudgetFormMixin, ServiceModelForm):
    class Meta:
        model = Ticket
        fields = [
            "title",
            "organization",
            "contract",
            "contact",
            "status",
            "assigned_to",
            "due_date",
            "description",
            *BUDGET_FIELDS,
        ]
        widgets = {"due_date": DATE, "description": forms.Textarea(attrs={"rows": 5})}
        field_classes = {"due_date": DateField}
        help_texts = {
            **BUDGET_HELP,
            "budget_amount": "Hours (e.g. 8), or an amount in the contract's currency.",
        }

    def __init__(self, *args, can_budget: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_budget:
            # Budgets are billing terms: only roles that manage billing change them.
            for name in BUDGET_FIELDS:
                del self.fields[name]
        self._optional_budget()
        self.fields["organization"].queryset = Organization.objects.filter(is_active=True)
        self.fields["contract"].queryset = Contract.objects.select_related("customer")
        self.fields["contact"].queryset = Contact.objects.select_related("organization")
        self.fields["contact"].label_from_instance = lambda c: f"{c.name} ({c.organization})"
        self.fields["assigned_to"].queryset = staff_choices()
        self.fields["assigned_to"].label_from_instance = lambda u: u.get_full_name() or u.username
        self.fields[
            "contract"
        ].help_text = "A contract of this customer, or one billed to it (e.g. a partner's)."


class TicketStatusForm(TenantForm):
    status = forms.ChoiceField(choices=TicketStatus.choices)


class TimeEntryForm(TenantForm):
    """Manual time: a day with start and end times, or a day with a duration."""

    contract = forms.ModelChoiceField(
        queryset=Contract.objects.all(),
        required=False,
        help_text="Defaults to the ticket's contract.",
    )
    service_type = forms.ModelChoiceField(queryset=ServiceType.objects.all(), required=False)
    work_date = DateField(widget=DATE, label="Day")
    start_time = forms.TimeField(widget=TIME, required=False, label="From")
    end_time = forms.TimeField(widget=TIME, required=False, label="To")
    duration = forms.CharField(
        required=False, max_length=10, help_text="Or hours: 1.5 or 1:30", label="Duration"
    )
    billable = forms.ChoiceField(choices=BILLABLE_CHOICES, required=False)
    summary_note = forms.CharField(
        widget=TEXTAREA, required=False, help_text="May be shown to the customer."
    )
    internal_note = forms.CharField(
        widget=TEXTAREA, required=False, help_text="Staff only; never shown to customers."
    )

    def __init__(self, *args, zone=None, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zone
        contracts = Contract.objects.select_related("customer")
        if organization is not None:
            from django.db.models import Q

            contracts = contracts.filter(
                Q(customer=organization) | Q(billing_organization=organization)
            )
        self.fields["contract"].queryset = contracts
        self.fields["service_type"].queryset = ServiceType.objects.filter(is_active=True)

    def clean(self):
        data = super().clean()
        day, start, end = data.get("work_date"), data.get("start_time"), data.get("end_time")
        try:
            seconds = parse_hours(data.get("duration", ""))
        except ValueError as error:
            self.add_error("duration", str(error))
            return data
        if (start is None) != (end is None):
            self.add_error("end_time" if start else "start_time", "Give both times, or neither.")
        elif start is not None and day is not None:
            data["started_at"] = dt.datetime.combine(day, start, tzinfo=self.zone)
            data["ended_at"] = dt.datetime.combine(day, end, tzinfo=self.zone)
        elif seconds is None:
            self.add_error("duration", "Give the start and end times, or a duration.")
        data["worked_seconds"] = seconds
        return data

    def entry_data(self) -> dict:
        """Keyword arguments for ``time_entry_create`` / ``time_entry_update``."""
        data = self.cleaned_data
        billable = {"yes": True, "no": False}.get(data.get("billable") or "")
        values = {
            "contract": data.get("contract"),
            "service_type": data.get("service_type"),
            "billable": billable,
            "summary_note": data.get("summary_note", ""),
            "internal_note": data.get("internal_note", ""),
        }
        if data.get("started_at"):
            values.update(started_at=data["started_at"], ended_at=data["ended_at"])
        else:
            values.update(
                started_at=None,
                ended_at=None,
                work_date=data["work_date"],
                worked_seconds=data["worked_seconds"],
            )
        return values


class TimerStartForm(TenantForm):
    ticket = forms.ModelChoiceField(queryset=Ticket.objects.all(), required=False)
    contract = forms.ModelChoiceField(
        queryset=Contract.objects.all(), required=False, help_text="Or a contract, without ticket."
    )
    service_type = forms.ModelChoiceField(queryset=ServiceType.objects.all(), required=False)
    summary_note = forms.CharField(required=False, max_length=500, label="What are you doing?")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ticket"].queryset = Ticket.objects.exclude(
            status=TicketStatus.COMPLETE
        ).select_related("organization")
        self.fields["ticket"].label_from_instance = lambda t: (
            f"{t.reference} {t.title} ({t.organization})"
        )
        self.fields["contract"].queryset = Contract.objects.select_related("customer")
        self.fields["service_type"].queryset = ServiceType.objects.filter(is_active=True)


class TimerStopForm(TenantForm):
    summary_note = forms.CharField(required=False, max_length=2000)


class LogSessionForm(TenantForm):
    ticket = forms.ModelChoiceField(queryset=Ticket.objects.all(), required=False)
    contract = forms.ModelChoiceField(
        queryset=Contract.objects.all(), required=False, help_text="Defaults to the ticket's."
    )
    service_type = forms.ModelChoiceField(queryset=ServiceType.objects.all(), required=False)
    billable = forms.ChoiceField(choices=BILLABLE_CHOICES, required=False)
    summary_note = forms.CharField(widget=TEXTAREA, required=False)

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        tickets = Ticket.objects.select_related("organization")
        contracts = Contract.objects.select_related("customer")
        if organization is not None:
            from django.db.models import Q

            tickets = tickets.filter(organization=organization)
            contracts = contracts.filter(
                Q(customer=organization) | Q(billing_organization=organization)
            )
        self.fields["ticket"].queryset = tickets
        self.fields["ticket"].label_from_instance = lambda t: f"{t.reference} {t.title}"
        self.fields["contract"].queryset = contracts
        self.fields["service_type"].queryset = ServiceType.objects.filter(is_active=True)


class AttachmentForm(TenantForm):
    file = forms.FileField()
