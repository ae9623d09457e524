"""API serializers of the contracts app. They parse and present; services validate and write.

Related fields take the scoped MANAGER (``Contract.objects``), re-evaluated per request,
so an id of another tenant is "object does not exist", never a reference.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing_site.api.date_fields import DateField, DateTimeField
from billing_site.api.serializers import (
    DecimalNumberField,
    StaffMemberField,
    StrictModelSerializer,
    StrictSerializerMixin,
)
from billing_site.models import MAX_ID, Contact, Organization
from billing_site.uploads import LimitedFileField
from contracts.budgets import BUDGET_FIELDS, BudgetState, TargetKind
from contracts.models import (
    BlockPurchase,
    BudgetKind,
    Contract,
    ContractProductLine,
    Product,
    RateRule,
    ServiceType,
    Team,
    Ticket,
    TicketAttachment,
    TimeEntry,
)
from contracts.services import (
    CONTRACT_FIELDS,
    ENTRY_FIELDS,
    PRODUCT_FIELDS,
    RULE_FIELDS,
    SERVICE_TYPE_FIELDS,
)


class ServiceTypeSerializer(StrictModelSerializer):
    class Meta:
        model = ServiceType
        fields = ["id", *SERVICE_TYPE_FIELDS]
        read_only_fields = ["id"]


class ProductSerializer(StrictModelSerializer):
    class Meta:
        model = Product
        fields = ["id", *PRODUCT_FIELDS, "created_at"]
        read_only_fields = ["id", "created_at"]


class TeamSerializer(StrictModelSerializer):
    members = StaffMemberField(many=True, required=False, help_text="Technicians' user ids.")

    class Meta:
        model = Team
        fields = ["id", "name", "description", "members"]
        read_only_fields = ["id"]

    def to_representation(self, instance):
        # Members come from the prefetched memberships: no query per team.
        return {
            "id": instance.pk,
            "name": instance.name,
            "description": instance.description,
            "members": [membership.user_id for membership in instance.memberships.all()],
        }


class ContractProductLineSerializer(StrictModelSerializer):
    contract = serializers.PrimaryKeyRelatedField(queryset=Contract.objects)
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects)

    class Meta:
        model = ContractProductLine
        fields = [
            "id",
            "contract",
            "product",
            "quantity_mode",
            "quantity",
            "unit_price",
            "position",
        ]
        read_only_fields = ["id"]


class BlockPurchaseSerializer(StrictModelSerializer):
    contract = serializers.PrimaryKeyRelatedField(queryset=Contract.objects)
    hours = DecimalNumberField(max_digits=10, decimal_places=2, required=False)
    price = DecimalNumberField(max_digits=18, decimal_places=4, required=False)

    class Meta:
        model = BlockPurchase
        fields = ["id", "contract", "purchased_on", "hours", "price", "note", "invoice_line"]
        read_only_fields = ["id", "invoice_line"]


# The budget terms (``contracts.budgets``): written by ``budget_set`` after the contract
# or ticket service.
BUDGET_EXTRA_KWARGS = {
    "budget_kind": {"help_text": "none, hours (time worked) or money (value of the work)."},
    "budget_amount": {
        "help_text": "Hours (2 places at most), or an amount in the budget's currency (its "
        "minor unit at most); null when there is no budget."
    },
    "budget_warn_percent": {"help_text": "Warn when this percentage of the budget is used."},
}


class ContractSerializer(StrictModelSerializer):
    customer = serializers.PrimaryKeyRelatedField(queryset=Organization.objects)
    billing_organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects,
        required=False,
        allow_null=True,
        help_text="Who is invoiced; defaults to the customer.",
    )
    currency = serializers.CharField(
        max_length=3, required=False, help_text="Defaults to the billing organization's."
    )
    anchor_day = serializers.IntegerField(
        min_value=1, max_value=31, required=False, help_text="Defaults to the start date's day."
    )
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    billing_organization_name = serializers.CharField(
        source="billing_organization.name", read_only=True
    )

    class Meta:
        model = Contract
        fields = [
            "id",
            *CONTRACT_FIELDS,
            *BUDGET_FIELDS,
            "customer_name",
            "billing_organization_name",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = BUDGET_EXTRA_KWARGS


class RateRuleSerializer(StrictModelSerializer):
    contract = serializers.PrimaryKeyRelatedField(
        queryset=Contract.objects, required=False, allow_null=True
    )
    organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects, required=False, allow_null=True
    )
    technician = StaffMemberField(required=False, allow_null=True)
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects, required=False, allow_null=True
    )
    service_type = serializers.PrimaryKeyRelatedField(
        queryset=ServiceType.objects, required=False, allow_null=True
    )
    currency = serializers.CharField(
        max_length=3,
        required=False,
        help_text="Defaults to the contract's, organization's or tenant's.",
    )
    scopes = serializers.CharField(source="scope_label", read_only=True)

    class Meta:
        model = RateRule
        fields = ["id", *RULE_FIELDS, "scopes", "created_at"]
        read_only_fields = ["id", "created_at"]


class TicketSerializer(StrictModelSerializer):
    organization = serializers.PrimaryKeyRelatedField(queryset=Organization.objects)
    contract = serializers.PrimaryKeyRelatedField(
        queryset=Contract.objects, required=False, allow_null=True
    )
    contact = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects, required=False, allow_null=True
    )
    assigned_to = StaffMemberField(required=False, allow_null=True)
    organization_name = serializers.CharField(source="organization.name", read_only=True)

    class Meta:
        model = Ticket
        fields = [
            "id",
            "number",
            "title",
            "description",
            "organization",
            "organization_name",
            "contract",
            "contact",
            "status",
            "assigned_to",
            "due_date",
            *BUDGET_FIELDS,
            "created_at",
            "updated_at",
            "completed_at",
        ]
        read_only_fields = ["id", "number", "created_at", "updated_at", "completed_at"]
        extra_kwargs = BUDGET_EXTRA_KWARGS


class TicketAttachmentSerializer(StrictModelSerializer):
    ticket = serializers.PrimaryKeyRelatedField(queryset=Ticket.objects)
    time_entry = serializers.PrimaryKeyRelatedField(
        queryset=TimeEntry.objects, required=False, allow_null=True
    )
    file = LimitedFileField(kind="attachment", write_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = TicketAttachment
        fields = [
            "id",
            "ticket",
            "time_entry",
            "file",
            "name",
            "content_type",
            "size",
            "uploaded_by",
            "uploaded_at",
            "download_url",
        ]
        read_only_fields = ["id", "name", "content_type", "size", "uploaded_by", "uploaded_at"]

    def get_download_url(self, obj) -> str:
        from django.urls import reverse

        return reverse("ticket-attachment-download", kwargs={"pk": obj.pk})


class TimeEntrySerializer(StrictModelSerializer):
    ticket = serializers.PrimaryKeyRelatedField(
        queryset=Ticket.objects, required=False, allow_null=True
    )
    contract = serializers.PrimaryKeyRelatedField(
        queryset=Contract.objects,
        required=False,
        allow_null=True,
        help_text="Defaults to the ticket's contract.",
    )
    technician = StaffMemberField(required=False, help_text="Defaults to you.")
    service_type = serializers.PrimaryKeyRelatedField(
        queryset=ServiceType.objects, required=False, allow_null=True
    )
    billable = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Defaults to the service type's."
    )
    worked_seconds = serializers.IntegerField(
        required=False, min_value=0, help_text="Duration when no start and end are given."
    )
    work_date = DateField(required=False)
    is_running = serializers.BooleanField(read_only=True)

    class Meta:
        model = TimeEntry
        fields = [
            "id",
            *ENTRY_FIELDS,
            "state",
            "source",
            "remote_session",
            "invoice_line",
            "is_running",
            "approved_at",
            "posted_at",
            "created_at",
        ]
        read_only_fields = [
            "id",
            "state",
            "source",
            "remote_session",
            "invoice_line",
            "approved_at",
            "posted_at",
            "created_at",
        ]


class EntryIdsSerializer(StrictSerializerMixin, serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), allow_empty=False
    )


class TimerStartSerializer(StrictSerializerMixin, serializers.Serializer):
    ticket = serializers.PrimaryKeyRelatedField(
        queryset=Ticket.objects, required=False, allow_null=True
    )
    contract = serializers.PrimaryKeyRelatedField(
        queryset=Contract.objects, required=False, allow_null=True
    )
    service_type = serializers.PrimaryKeyRelatedField(
        queryset=ServiceType.objects, required=False, allow_null=True
    )
    summary_note = serializers.CharField(required=False, allow_blank=True, default="")
    billable = serializers.BooleanField(required=False, allow_null=True, default=None)


class TimerStopSerializer(StrictSerializerMixin, serializers.Serializer):
    ended_at = DateTimeField(required=False, allow_null=True, default=None)
    summary_note = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, default=None
    )


class LogSessionSerializer(StrictSerializerMixin, serializers.Serializer):
    session = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    ticket = serializers.PrimaryKeyRelatedField(
        queryset=Ticket.objects, required=False, allow_null=True
    )
    contract = serializers.PrimaryKeyRelatedField(
        queryset=Contract.objects, required=False, allow_null=True
    )
    service_type = serializers.PrimaryKeyRelatedField(
        queryset=ServiceType.objects, required=False, allow_null=True
    )
    billable = serializers.BooleanField(required=False, allow_null=True, default=None)
    summary_note = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, default=None
    )
    internal_note = serializers.CharField(required=False, allow_blank=True, default="")


class RuleSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rate = serializers.DecimalField(max_digits=18, decimal_places=4)
    currency = serializers.CharField()
    scopes = serializers.CharField(source="scope_label")
    specificity = serializers.SerializerMethodField()

    def get_specificity(self, rule) -> list[str]:
        return [name for name, named in zip(RateRule.SCOPES, rule.scope_key, strict=True) if named]


class ExplanationSerializer(serializers.Serializer):
    subject = serializers.CharField()
    facts = serializers.SerializerMethodField()
    matches = RuleSummarySerializer(many=True)
    winner = serializers.SerializerMethodField()
    rate = serializers.DecimalField(max_digits=18, decimal_places=4, allow_null=True)
    source = serializers.CharField()
    explanation = serializers.CharField()
    applied_note = serializers.CharField()

    def get_facts(self, obj) -> dict[str, str]:
        return dict(obj.facts)

    def get_winner(self, obj) -> int | None:
        return obj.winner.pk if obj.winner else None


@extend_schema_field({"type": "string", "format": "decimal", "example": "32.80"})
class DecimalText(serializers.CharField):
    """A decimal as the figures give it: hours to the hundredth, money in its minor unit."""


class BudgetSerializer(serializers.Serializer):
    """A budget and what is used against it (``contracts.budgets.BudgetFigures``)."""

    key = serializers.CharField(help_text='"contract:<id>" or "ticket:<id>".')
    target_kind = serializers.ChoiceField(choices=TargetKind.choices)
    target_id = serializers.IntegerField()
    customer_id = serializers.IntegerField()
    customer = serializers.CharField()
    name = serializers.CharField()
    budget_kind = serializers.ChoiceField(choices=BudgetKind.choices)
    unit = serializers.CharField(help_text='"h", or the currency of a money budget.')
    currency = serializers.CharField(help_text="The currency of the amounts.")
    budget = DecimalText()
    warn_percent = serializers.IntegerField()
    posted_seconds = serializers.IntegerField()
    unposted_seconds = serializers.IntegerField()
    billed_seconds = serializers.IntegerField(help_text="Worked time billed on issued invoices.")
    posted_hours = DecimalText()
    unposted_hours = DecimalText()
    worked_hours = DecimalText()
    billed_hours = DecimalText()
    billed_amount = DecimalText(help_text="Line amounts of issued invoices billing the work.")
    unbilled_amount = DecimalText(help_text="The rest of the billable work, as it would bill.")
    value_amount = DecimalText()
    used = DecimalText(help_text="Hours worked, or the value of the work.")
    remaining = DecimalText(help_text="Budget minus used; negative when over.")
    percent_used = DecimalText(help_text="Tenth of a percent, rounded down.")
    budget_state = serializers.ChoiceField(choices=BudgetState.choices)
    problems = serializers.ListField(child=serializers.CharField())

    def to_representation(self, instance):
        return instance.as_row()


class BudgetQuerySerializer(serializers.Serializer):
    """The report's filters, from the query string (paging parameters beside them)."""

    customer = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects, required=False, allow_null=True, default=None
    )
    state = serializers.ChoiceField(
        choices=BudgetState.choices, required=False, allow_blank=True, default=""
    )
    kind = serializers.ChoiceField(
        choices=TargetKind.choices, required=False, allow_blank=True, default=""
    )
