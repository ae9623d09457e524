"""Invoice batch API: thin viewsets over the batch selectors and services.

``?format=`` names the export file format here, so these views use a content
negotiation that ignores it (DRF would otherwise read it as a renderer suffix).
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response

from billing_site.api.base import TenantAPIMixin, TenantViewSetMixin
from billing_site.api.idempotency import idempotent
from billing_site.roles import Cap
from integrations.core.ledger import export_file
from invoices.emails import services as email_services
from invoices.emails.api import InvoiceEmailSerializer

from .. import selectors as batch_selectors
from .. import services as batch_services
from ..models import InvoiceBatch
from .serializers import (
    BatchCreateSerializer,
    BatchDetailSerializer,
    BatchSerializer,
    BatchUpdateSerializer,
    DraftDeleteSerializer,
    GenerateSerializer,
    SelectionSerializer,
    batch_detail_data,
)

FORMAT_PARAM = OpenApiParameter(
    "format", str, enum=["csv", "iif", "xero"], description="Export file format."
)
SHORTEN_PARAM = OpenApiParameter(
    "shorten_numbers",
    bool,
    description="iif: shorten invoice numbers longer than QuickBooks Desktop's 11 characters "
    "(INV-2026-00042 -> INV2600042) instead of refusing them.",
)


def _shorten(request) -> bool:
    return request.query_params.get("shorten_numbers", "").lower() in {"1", "true", "yes", "on"}


# The export file as sent: csv and xero are CSV, iif is QuickBooks Desktop's IIF.
EXPORT_RESPONSES = {
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, "csv or xero"),
    (200, "application/x-iif"): OpenApiResponse(OpenApiTypes.BINARY, "iif"),
}


class IgnoreFormatNegotiation(DefaultContentNegotiation):
    """``format`` is the export file format, not a renderer choice."""

    def select_renderer(self, request, renderers, format_suffix=None):
        # File responses bypass renderers; errors are rendered as JSON (the first one).
        return renderers[0], renderers[0].media_type


def file_response(filename: str, content_type: str, content: bytes) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class BatchViewSet(
    TenantViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Invoice batches: create ("Save as"), read with contracts, items and details,
    change the selection, run, generate (optionally consolidated), export."""

    queryset = InvoiceBatch.objects.all()
    serializer_class = BatchSerializer
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING
    content_negotiation_class = IgnoreFormatNegotiation
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if self.action == "list":
            return batch_selectors.batch_list()
        return InvoiceBatch.objects.all()

    def _detail(self, batch, status_code=status.HTTP_200_OK) -> Response:
        batch.refresh_from_db()
        # Every contract is listed with its items: price them all up front.
        preview = batch_selectors.batch_preview(batch, itemized=True) if batch.is_draft else None
        invoices = batch_selectors.batch_invoices(batch)
        data = batch_detail_data(batch, preview, invoices, self.get_serializer_context())
        return Response(data, status=status_code)

    @extend_schema(responses=BatchDetailSerializer)
    def retrieve(self, request, *args, **kwargs):
        return self._detail(self.get_object())

    @extend_schema(request=BatchCreateSerializer, responses={201: BatchDetailSerializer})
    def create(self, request):
        serializer = BatchCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        batch = batch_services.batch_create(**serializer.validated_data, created_by=request.user)
        return self._detail(batch, status.HTTP_201_CREATED)

    @extend_schema(request=BatchUpdateSerializer, responses=BatchDetailSerializer)
    def partial_update(self, request, *args, **kwargs):
        batch = self.get_object()
        serializer = BatchUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        batch = batch_services.batch_update(batch=batch, **serializer.validated_data)
        return self._detail(batch)

    def perform_destroy(self, instance):
        batch_services.batch_delete(batch=instance)

    @extend_schema(request=SelectionSerializer, responses=BatchDetailSerializer)
    @action(detail=True, methods=["post", "patch"])
    def selection(self, request, pk=None):
        """Include or exclude one item (by key) or a whole contract."""
        batch = self.get_object()
        serializer = SelectionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        batch_services.batch_selection_set(
            batch=batch, contract=data["contract"], include=data["include"], item_key=data["item"]
        )
        return self._detail(batch)

    @extend_schema(request=None, responses=BatchDetailSerializer)
    @action(detail=True, methods=["post"])
    @idempotent
    def run(self, request, pk=None):
        """Create the draft invoices (one per contract); items are claimed for them."""
        batch = self.get_object()
        batch_services.batch_run(batch=batch, created_by=request.user)
        return self._detail(batch)

    @extend_schema(request=DraftDeleteSerializer, responses=BatchDetailSerializer)
    @action(detail=True, methods=["post"], url_path="delete-invoice")
    def delete_invoice(self, request, pk=None):
        """Delete an unwanted draft of the run batch; its items return to unbilled."""
        batch = self.get_object()
        serializer = DraftDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        batch_services.batch_invoice_delete(
            batch=batch, invoice=serializer.validated_data["invoice"]
        )
        return self._detail(batch)

    @extend_schema(request=GenerateSerializer, responses=BatchDetailSerializer)
    @action(detail=True, methods=["post"])
    @idempotent
    def generate(self, request, pk=None):
        """Finalise the batch's drafts (``consolidate``: one per billing organization and
        currency); PDFs render in the background."""
        batch = self.get_object()
        serializer = GenerateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        batch_services.batch_generate(
            batch=batch, consolidate=serializer.validated_data["consolidate"]
        )
        return self._detail(batch)

    @extend_schema(request=None, responses={202: InvoiceEmailSerializer(many=True)})
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    @idempotent
    def send(self, request, pk=None):
        """E-mail every final invoice of the batch to its billing contact (all or nothing:
        an invoice without an address refuses the send, naming it)."""
        batch = self.get_object()
        invoices = email_services.batch_invoices(batch)
        emails = email_services.invoices_email_send(
            invoices=invoices, base_url=request.build_absolute_uri("/"), created_by=request.user
        )
        return Response(
            InvoiceEmailSerializer(emails, many=True).data, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(parameters=[FORMAT_PARAM, SHORTEN_PARAM], responses=EXPORT_RESPONSES)
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        """The batch's final invoices as csv, iif (QuickBooks Desktop) or xero, with the
        accounts and tax names of the mapping (Integrations › Mapping)."""
        batch = self.get_object()
        invoices = batch_selectors.invoices_for_export(batch=batch)
        return file_response(
            *export_file(
                invoices=invoices,
                fmt=request.query_params.get("format", "csv"),
                basename=batch.name,
                shorten_numbers=_shorten(request),
            )
        )


class InvoiceExportViewSet(TenantAPIMixin, viewsets.ViewSet):
    """Any selection of final invoices as an export file: ``?ids=1,2,3&format=csv``."""

    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING
    content_negotiation_class = IgnoreFormatNegotiation

    @extend_schema(
        parameters=[
            FORMAT_PARAM,
            SHORTEN_PARAM,
            OpenApiParameter("ids", str, description="1,2,3"),
        ],
        responses=EXPORT_RESPONSES,
    )
    def list(self, request):
        ids = batch_services.invoice_ids(request.query_params.get("ids", ""))
        invoices = batch_selectors.invoices_for_export(ids=ids)
        return file_response(
            *export_file(
                invoices=invoices,
                fmt=request.query_params.get("format", "csv"),
                shorten_numbers=_shorten(request),
            )
        )
