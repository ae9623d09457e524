"""Integrations API: connections (read, auto-export, sync), the mapping ledger, the
delivery log (list, filter, retry) and pushing one invoice."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from billing_site.api.base import TenantAPIView, TenantFilterSet, TenantViewSetMixin
from billing_site.api.idempotency import idempotent
from billing_site.roles import Cap
from invoices.models import Invoice

from ..core import ledger, selectors, services
from ..core.models import (
    Connection,
    CustomerSchedule,
    Delivery,
    DeliveryAction,
    DeliveryStatus,
    Mapping,
    MappingKind,
    Provider,
)
from .serializers import (
    ConnectionSerializer,
    ConnectionUpdateSerializer,
    CustomerScheduleSerializer,
    DeliverySerializer,
    MappingSerializer,
    ScheduleSerializer,
    SendNowSerializer,
)


class ConnectionViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Accounting connections. Connecting is an OAuth consent in the browser
    (Integrations › Connections); here they are read, switched and synced."""

    queryset = Connection.objects.all()
    serializer_class = ConnectionSerializer
    read_capability = Cap.MANAGE_TENANT
    write_capability = Cap.MANAGE_TENANT
    filterset_fields = ["provider", "status"]
    ordering_fields = ["provider", "created_at"]

    def get_queryset(self):
        return selectors.connection_list()

    @extend_schema(request=ConnectionUpdateSerializer, responses=ConnectionSerializer)
    @action(detail=True, methods=["post"], url_path="auto-export")
    def auto_export(self, request, pk=None):
        """Switch pushing on finalisation on or off."""
        connection = self.get_object()
        serializer = ConnectionUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        connection = services.connection_update(
            connection=connection, auto_export=serializer.validated_data["auto_export"]
        )
        return Response(ConnectionSerializer(connection).data)

    @extend_schema(request=ScheduleSerializer, responses=ConnectionSerializer)
    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        """When invoices are sent: on finalisation, or monthly on a day (1–31)."""
        connection = self.get_object()
        serializer = ScheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        connection = services.connection_schedule_set(
            connection=connection,
            schedule=serializer.validated_data["schedule"],
            day=serializer.validated_data.get("schedule_day"),
        )
        return Response(ConnectionSerializer(connection).data)

    @extend_schema(request=None, responses={202: ConnectionSerializer})
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        """Read payments made there since the last sync, in the background now (the run
        appears in the delivery log). Not inside this request's transaction: a token
        rotated during the sync must be kept whatever the request's outcome."""
        connection = services.payments_sync_request(connection=self.get_object())
        return Response(ConnectionSerializer(connection).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: SendNowSerializer})
    @action(detail=True, methods=["post"], url_path="send-now")
    @idempotent
    def send_now(self, request, pk=None):
        """ConnectWise: push the current month (tenant's zone) for every matched customer
        not switched off, or for ``organization``. A month already sent is not sent again
        (``already_sent`` says so)."""
        from billing_site.models import Organization
        from integrations.connectwise.services import send_now

        organization = None
        chosen = str(request.data.get("organization") or "")
        if chosen:
            if not chosen.isdigit():
                raise serializers.ValidationError({"organization": "An organization id."})
            organization = get_object_or_404(Organization.objects.all(), pk=int(chosen))
        result = send_now(connection=self.get_object(), organization=organization)
        body = {
            "period": result.period.isoformat(),
            "queued": [o.pk for o in result.queued],
            "retried": [o.pk for o in result.retried],
            "already_sent": [o.pk for o, d in result.already if d.status == DeliveryStatus.DONE],
            "on_its_way": [o.pk for o, d in result.already if d.status != DeliveryStatus.DONE],
            "message": result.message,
        }
        return Response(SendNowSerializer(body).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=ConnectionSerializer)
    @action(detail=True, methods=["post"])
    def disconnect(self, request, pk=None):
        connection = services.connection_disconnect(connection=self.get_object())
        return Response(ConnectionSerializer(connection).data)


class CustomerScheduleViewSet(
    TenantViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Customers' own schedules per connection. POST sets one (created or changed,
    keyed by connection and organization): ``global``, ``custom`` with a day, or ``off``."""

    queryset = CustomerSchedule.objects.all()
    serializer_class = CustomerScheduleSerializer
    filterset_fields = ["connection", "organization", "mode"]
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_TENANT

    def get_queryset(self):
        return CustomerSchedule.objects.order_by("connection_id", "organization_id")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        row = services.customer_schedule_set(
            connection=data["connection"],
            organization=data["organization"],
            mode=data["mode"],
            day=data.get("day"),
        )
        return Response(CustomerScheduleSerializer(row).data, status=status.HTTP_201_CREATED)


class MappingFilter(TenantFilterSet):
    system = filters.ChoiceFilter(choices=Provider.choices)
    kind = filters.ChoiceFilter(choices=MappingKind.choices)

    class Meta:
        model = Mapping
        fields = ["system", "kind"]


class MappingViewSet(
    TenantViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The mapping ledger. POST sets one mapping (created or changed, keyed by system,
    kind and local key); DELETE removes it."""

    queryset = Mapping.objects.all()
    serializer_class = MappingSerializer
    filterset_class = MappingFilter
    search_fields = ["local_key", "external_id", "external_name"]
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_TENANT

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = ledger.mapping_set(**serializer.validated_data)
        if row is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(MappingSerializer(row).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        ledger.mapping_set(system=instance.system, kind=instance.kind, local_key=instance.local_key)


class DeliveryFilter(TenantFilterSet):
    status = filters.ChoiceFilter(choices=DeliveryStatus.choices)
    action = filters.ChoiceFilter(choices=DeliveryAction.choices)
    provider = filters.ChoiceFilter(field_name="connection__provider", choices=Provider.choices)
    invoice = filters.NumberFilter(field_name="invoice_id")

    class Meta:
        model = Delivery
        fields = ["status", "action", "provider", "invoice"]


class DeliveryViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """The delivery log: every push, void and payment sync with its attempts."""

    queryset = Delivery.objects.all()
    serializer_class = DeliverySerializer
    filterset_class = DeliveryFilter
    search_fields = ["invoice__number", "external_id", "external_number"]
    ordering_fields = ["created_at", "updated_at", "status"]
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING

    def get_queryset(self):
        return selectors.delivery_list().prefetch_related("attempt_log")

    @extend_schema(request=None, responses=DeliverySerializer(many=True))
    @action(
        detail=False,
        methods=["post"],
        url_path="retry-failed",
        pagination_class=None,
        filter_backends=[],
    )
    def retry_failed(self, request):
        """Try every failed push and void again now (after fixing the mapping, say)."""
        rows = services.deliveries_retry_failed()
        queryset = self.get_queryset().filter(pk__in=[d.pk for d in rows])
        return Response(DeliverySerializer(queryset, many=True).data)

    @extend_schema(request=None, responses=DeliverySerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Try a failed push or void again now."""
        delivery = services.delivery_retry(delivery=self.get_object())
        delivery = self.get_queryset().get(pk=delivery.pk)
        return Response(DeliverySerializer(delivery).data)


class InvoicePushView(TenantAPIView):
    """Push one final invoice to every connected accounting system now."""

    url_kwarg_models = {"pk": Invoice}

    read_capability = Cap.MANAGE_BILLING
    write_capability = Cap.MANAGE_BILLING

    @extend_schema(request=None, responses=DeliverySerializer(many=True))
    @idempotent
    def post(self, request, pk: int):
        invoice = get_object_or_404(Invoice.objects.all(), pk=pk)
        services.invoice_push(invoice=invoice)
        rows = selectors.delivery_list().filter(invoice=invoice, action=DeliveryAction.PUSH)
        return Response(DeliverySerializer(rows.prefetch_related("attempt_log"), many=True).data)
