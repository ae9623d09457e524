"""API viewsets of the contracts app: thin — parse, authorize, call one service or selector."""

from __future__ import annotations

import datetime as dt

from django.http import FileResponse, Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from billing_site.api.base import (
    TenantModelViewSet,
    TenantReadWriteViewSet,
    TenantViewSetMixin,
)
from billing_site.api.date_fields import DateField
from billing_site.api.parsers import JSONParser
from billing_site.roles import Cap, role_can
from billing_site.uploads import UPLOAD_TOO_LARGE_RESPONSE
from contracts import budgets, pricing, selectors, services
from contracts.models import (
    BlockPurchase,
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
from sessions.models import RemoteSession

from . import filters
from .serializers import (
    BlockPurchaseSerializer,
    BudgetQuerySerializer,
    BudgetSerializer,
    ContractProductLineSerializer,
    ContractSerializer,
    EntryIdsSerializer,
    ExplanationSerializer,
    LogSessionSerializer,
    ProductSerializer,
    RateRuleSerializer,
    ServiceTypeSerializer,
    TeamSerializer,
    TicketAttachmentSerializer,
    TicketSerializer,
    TimeEntrySerializer,
    TimerStartSerializer,
    TimerStopSerializer,
)


class ServiceTypeViewSet(TenantReadWriteViewSet):
    """Kinds of work; each sets the default billable flag of new time entries."""

    serializer_class = ServiceTypeSerializer
    queryset = ServiceType.objects.all()
    filterset_class = filters.ServiceTypeFilter
    search_fields = ["name"]
    ordering_fields = ["name"]
    read_capability = Cap.VIEW_WORK
    write_capability = Cap.MANAGE_BILLING

    def get_queryset(self):
        return selectors.service_type_list()

    def perform_create(self, serializer):
        serializer.instance = services.service_type_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.service_type_update(
            service_type=serializer.instance, **serializer.validated_data
        )


class ProductViewSet(TenantReadWriteViewSet):
    """The products and services catalog (SKU, unit price in the tenant's currency)."""

    serializer_class = ProductSerializer
    queryset = Product.objects.all()
    filterset_class = filters.ProductFilter
    search_fields = ["sku", "name"]
    ordering_fields = ["sku", "name", "unit_price"]
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING

    def get_queryset(self):
        return selectors.product_list()

    def perform_create(self, serializer):
        serializer.instance = services.product_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.product_update(
            product=serializer.instance, **serializer.validated_data
        )


class TeamViewSet(TenantReadWriteViewSet):
    """Teams of technicians (rate rules may be scoped to a team)."""

    serializer_class = TeamSerializer
    queryset = Team.objects.all()
    filterset_class = filters.TeamFilter
    search_fields = ["name"]
    read_capability = Cap.VIEW_WORK
    write_capability = Cap.MANAGE_BILLING

    def get_queryset(self):
        return selectors.team_list()

    def perform_create(self, serializer):
        serializer.instance = services.team_create(**serializer.validated_data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        services.team_update(team=serializer.instance, **data)
        serializer.instance = selectors.team_list().get(pk=serializer.instance.pk)


class ContractViewSet(TenantReadWriteViewSet):
    """Contracts: customer, billing organization, type and terms, cycle, rounding, tax."""

    serializer_class = ContractSerializer
    queryset = Contract.objects.all()
    filterset_class = filters.ContractFilter
    search_fields = ["name", "customer__name", "billing_organization__name"]
    ordering_fields = ["name", "start_date", "customer__name"]
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING

    def get_queryset(self):
        return Contract.objects.select_related("customer", "billing_organization").order_by(
            "customer__name", "name", "id"
        )

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        budget = budgets.pop_budget(data)
        organization = data.get("billing_organization") or data.get("customer")
        serializer.instance = budgets.save_with_budget(
            lambda: services.contract_create(**data),
            budget,
            currency=data.get("currency") or getattr(organization, "currency", ""),
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        budget = budgets.pop_budget(data)
        contract = serializer.instance
        serializer.instance = budgets.save_with_budget(
            lambda: services.contract_update(contract=contract, **data),
            budget,
            currency=data.get("currency") or contract.currency,
        )

    @extend_schema(
        parameters=[OpenApiParameter("as_of", OpenApiTypes.DATE, description="Default: today")],
        responses=OpenApiTypes.OBJECT,
    )
    @action(detail=True, methods=["get"], url_path="billing")
    def billing(self, request, pk=None):
        """What is unbilled, due or waiting as of a date; the state; remaining block hours."""
        contract = self.get_object()
        as_of = _date_param(request, "as_of") or timezone.localdate(timezone=request.tenant.zone)
        state = selectors.contract_billing_state([contract], as_of)[contract.pk]
        balance = pricing.block_balances([contract]).get(contract.pk)
        return Response(
            {
                "contract": contract.pk,
                "as_of": as_of,
                "state": state.state,
                "currency": contract.currency,
                "due_amount": str(state.due_amount),
                "total_amount": str(state.total_amount),
                "unposted_entries": state.unposted_entries,
                "remaining_block_hours": str(balance.remaining_hours) if balance else None,
                "items": [_item_json(item) for item in state.items],
            }
        )


def _item_json(item) -> dict:
    return {
        "key": item.key,
        "kind": item.kind,
        "due": item.due,
        "due_on": item.due_on,
        "period_start": item.period.start if item.period else None,
        "period_end": item.period.end if item.period else None,
        "description": item.description,
        "quantity": str(item.quantity),
        "unit_price": None if item.unit_price is None else str(item.unit_price),
        "amount": None if item.amount is None else str(item.amount),
        "explanation": item.explanation,
        "time_entry": item.time_entry_id,
        "product_line": item.product_line_id,
        "block_purchase": item.block_purchase_id,
        "problem": item.problem,
    }


def _date_param(request, name: str) -> dt.date | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    # The shared field: a date like 2026-01-31, in the storable range (else a 400 on ``name``).
    field = DateField()
    field.bind(name, None)
    try:
        return field.run_validation(raw)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({name: exc.detail}) from exc


class ContractProductLineViewSet(TenantModelViewSet):
    """Products billed every period on recurring contracts (fixed or per-device quantity)."""

    serializer_class = ContractProductLineSerializer
    queryset = ContractProductLine.objects.all()
    filterset_class = filters.ContractProductLineFilter
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING

    def get_queryset(self):
        return ContractProductLine.objects.select_related("contract", "product")

    def perform_create(self, serializer):
        serializer.instance = services.contract_product_line_add(**serializer.validated_data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        if data.pop("contract", serializer.instance.contract) != serializer.instance.contract:
            raise serializers.ValidationError(
                {"contract": ["A line cannot move to another contract."]}
            )
        serializer.instance = services.contract_product_line_update(
            line=serializer.instance, **data
        )

    def perform_destroy(self, instance):
        services.contract_product_line_remove(line=instance)


class BlockPurchaseViewSet(
    TenantViewSetMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Blocks of prepaid hours bought on block-hours contracts (each invoiced once); one
    not yet invoiced can be deleted."""

    serializer_class = BlockPurchaseSerializer
    queryset = BlockPurchase.objects.all()
    filterset_class = filters.BlockPurchaseFilter
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING

    def perform_create(self, serializer):
        serializer.instance = services.block_purchase_create(**serializer.validated_data)

    def perform_destroy(self, instance):
        services.block_purchase_delete(purchase=instance)


class RateRuleViewSet(TenantModelViewSet):
    """Rate rules: a rate and optional scopes; the most specific matching rule wins."""

    serializer_class = RateRuleSerializer
    queryset = RateRule.objects.all()
    filterset_class = filters.RateRuleFilter
    ordering_fields = ["rate", "currency", "created_at"]
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING

    def get_queryset(self):
        return selectors.rate_rule_list()

    def perform_create(self, serializer):
        serializer.instance = services.rate_rule_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.rate_rule_update(
            rule=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.rate_rule_delete(rule=instance)

    @extend_schema(
        parameters=[
            OpenApiParameter("time_entry", OpenApiTypes.INT),
            OpenApiParameter("session", OpenApiTypes.INT),
        ],
        responses=ExplanationSerializer,
    )
    @action(detail=False, methods=["get"])
    def explain(self, request):
        """The rules matching a time entry or a session, most specific first, and the winner."""
        entry_id = request.query_params.get("time_entry")
        session_id = request.query_params.get("session")
        if bool(entry_id) == bool(session_id):
            raise serializers.ValidationError(
                {"time_entry": ["Give either time_entry or session (an id)."]}
            )
        try:
            if entry_id:
                entry = TimeEntry.objects.select_related(
                    "contract__customer", "technician", "service_type"
                ).get(pk=int(entry_id))
                result = pricing.explain_time_entry(entry)
            else:
                session = RemoteSession.objects.select_related(
                    "host__organization", "technician"
                ).get(pk=int(session_id))
                result = pricing.explain_session(session)
        except (ValueError, TimeEntry.DoesNotExist, RemoteSession.DoesNotExist) as exc:
            raise Http404("Not found.") from exc
        return Response(ExplanationSerializer(result).data)


class TicketViewSet(TenantReadWriteViewSet):
    """Tickets of customer organizations; numbers are gapless per tenant."""

    serializer_class = TicketSerializer
    queryset = Ticket.objects.all()
    filterset_class = filters.TicketFilter
    search_fields = ["title", "organization__name"]
    ordering_fields = ["number", "created_at", "due_date", "status"]
    read_capability = Cap.VIEW_WORK
    write_capability = Cap.LOG_WORK

    def get_queryset(self):
        return Ticket.objects.select_related("organization").order_by("-number")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        budget = self._budget(data, Ticket())
        serializer.instance = budgets.save_with_budget(
            lambda: services.ticket_create(created_by=self.request.user, **data),
            budget,
            currency=_ticket_currency(data, None),
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        ticket = serializer.instance
        budget = self._budget(data, ticket)
        serializer.instance = budgets.save_with_budget(
            lambda: services.ticket_update(ticket=ticket, **data),
            budget,
            currency=_ticket_currency(data, ticket),
        )

    def _budget(self, data: dict, ticket: Ticket) -> dict:
        """The budget terms out of ``data``; changing them needs the billing capability
        (technicians edit tickets, not their budgets)."""
        budget = budgets.pop_budget(data)
        if budgets.budget_changes(ticket, budget) and not role_can(
            self.request.membership.role, Cap.MANAGE_BILLING
        ):
            raise PermissionDenied("Only billing admins set a ticket's budget.")
        return budget


def _ticket_currency(data: dict, ticket: Ticket | None) -> str:
    contract = data["contract"] if "contract" in data else getattr(ticket, "contract", None)
    if contract is not None:
        return contract.currency
    organization = data.get("organization") or getattr(ticket, "organization", None)
    return organization.currency if organization is not None else ""


@extend_schema_view(
    create=extend_schema(
        responses={201: TicketAttachmentSerializer, 413: UPLOAD_TOO_LARGE_RESPONSE}
    )
)
class TicketAttachmentViewSet(
    TenantViewSetMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Files on tickets (multipart upload); downloads go through this scoped endpoint."""

    serializer_class = TicketAttachmentSerializer
    queryset = TicketAttachment.objects.all()
    filterset_class = filters.TicketAttachmentFilter
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    read_capability = Cap.VIEW_WORK
    write_capability = Cap.LOG_WORK
    upload_kind = "attachment"  # request size limit (billing_site/uploads.py)

    def perform_create(self, serializer):
        serializer.instance = services.ticket_attachment_add(
            uploaded_by=self.request.user, **serializer.validated_data
        )

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        attachment = self.get_object()
        return attachment_response(attachment)


def attachment_response(attachment: TicketAttachment) -> FileResponse:
    """The stored file as a download; never rendered inline (no HTML from uploads)."""
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing from storage.") from exc
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.name,
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


class TimeEntryViewSet(TenantModelViewSet):
    """Time on tickets or contracts; approve and post in bulk; the timer; sessions as time."""

    serializer_class = TimeEntrySerializer
    queryset = TimeEntry.objects.all()
    filterset_class = filters.TimeEntryFilter
    search_fields = ["summary_note", "ticket__title"]
    ordering_fields = ["work_date", "started_at", "worked_seconds", "created_at"]
    read_capability = Cap.VIEW_WORK
    write_capability = Cap.LOG_WORK
    action_capabilities = {
        "approve": Cap.MANAGE_WORK,
        "post_entries": Cap.MANAGE_WORK,
        "timer_start": Cap.LOG_WORK,
        "timer_stop": Cap.LOG_WORK,
        "timer": Cap.LOG_WORK,
        "log_session": Cap.LOG_WORK,
    }

    def get_queryset(self):
        return TimeEntry.objects.order_by("-work_date", "-started_at", "-id")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        technician = data.pop("technician", None) or self.request.user
        if technician != self.request.user and not role_can(
            self.request.membership.role, Cap.MANAGE_WORK
        ):
            raise PermissionDenied("Only billing admins log time for someone else.")
        serializer.instance = services.time_entry_create(technician=technician, **data)

    def perform_update(self, serializer):
        serializer.instance = services.time_entry_update(
            entry=serializer.instance, actor=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.time_entry_delete(entry=instance, actor=self.request.user)

    @extend_schema(request=EntryIdsSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["post"])
    def approve(self, request):
        """Approve submitted entries, all or none (billing admins)."""
        ids = _ids(request)
        count = services.time_entries_approve(entry_ids=ids, actor=request.user)
        return Response({"approved": count})

    @extend_schema(request=EntryIdsSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["post"], url_path="post")
    def post_entries(self, request):
        """Post approved entries, all or none (billing admins); posted entries are frozen."""
        ids = _ids(request)
        count = services.time_entries_post(entry_ids=ids, actor=request.user)
        return Response({"posted": count})

    @extend_schema(responses=TimeEntrySerializer)
    @action(detail=False, methods=["get"])
    def timer(self, request):
        """Your running timer (404 when none runs)."""
        entry = selectors.running_timer(technician=request.user)
        if entry is None:
            raise Http404("No timer is running.")
        return Response(TimeEntrySerializer(entry).data)

    @extend_schema(request=TimerStartSerializer, responses={201: TimeEntrySerializer})
    @action(detail=False, methods=["post"], url_path="timer/start")
    def timer_start(self, request):
        """Start your timer on a ticket or contract (one running timer per technician)."""
        data = _parsed(TimerStartSerializer, request)
        entry = services.timer_start(technician=request.user, **data)
        return Response(TimeEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TimerStopSerializer, responses=TimeEntrySerializer)
    @action(detail=False, methods=["post"], url_path="timer/stop")
    def timer_stop(self, request):
        """Stop your running timer; the entry is submitted."""
        data = _parsed(TimerStopSerializer, request)
        entry = services.timer_stop(technician=request.user, **data)
        return Response(TimeEntrySerializer(entry).data)

    @extend_schema(request=LogSessionSerializer, responses={201: TimeEntrySerializer})
    @action(detail=False, methods=["post"], url_path="log-session")
    def log_session(self, request):
        """Log a remote session as a time entry (refused when billed by a session invoice)."""
        data = _parsed(LogSessionSerializer, request)
        try:
            session = RemoteSession.objects.get(pk=data.pop("session"))
        except RemoteSession.DoesNotExist as exc:
            raise serializers.ValidationError({"session": ["Session not found."]}) from exc
        entry = services.time_entry_log_session(session=session, actor=request.user, **data)
        return Response(TimeEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


def _parsed(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _ids(request) -> list[int]:
    return _parsed(EntryIdsSerializer, request)["ids"]


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("customer", OpenApiTypes.INT, description="Organization id"),
            OpenApiParameter("state", OpenApiTypes.STR, enum=budgets.BudgetState.values),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=budgets.TargetKind.values),
        ]
    )
)
class BudgetViewSet(TenantViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Budgets of contracts and tickets: hours worked (posted, unposted), billed and
    unbilled value, share used and state, the same figures as the budgets page."""

    serializer_class = BudgetSerializer
    filter_backends: list = []
    read_capability = Cap.VIEW_BILLING

    def list(self, request, *args, **kwargs):
        query = BudgetQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = budgets.budget_report(**query.validated_data)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
