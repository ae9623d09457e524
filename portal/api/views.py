"""Portal API: the portal's reads for token clients (portal logins only, read-only).

Views reuse the page's filter form and ``contracts.selectors_portal``, so the API
filters, sorts and hides exactly what the pages do.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from billing_site.api.base import TenantAPIMixin, TenantAPIView
from contracts import selectors_portal as selectors
from contracts.api.views import attachment_response
from contracts.models import Ticket, TicketAttachment
from portal import exports
from portal.forms import EndClientTicketFilterForm, MyTicketFilterForm

from .permissions import PortalPermission
from .renderers import CSVRenderer, PDFRenderer, XLSXRenderer
from .serializers import EndClientTicketSerializer, TicketDetailSerializer, TicketRowSerializer

NOT_A_PARTNER = "End client tickets are shown to organizations billed for their clients' work."


class PortalAPIMixin:
    """Portal logins pass the tenant binding; the organization scopes every read."""

    portal_allowed = True
    permission_classes = [PortalPermission]
    filter_backends: list = []

    @property
    def organization(self):
        return self.request.membership.organization

    def get_serializer_context(self):
        return {
            "request": self.request,
            "view": self,
            "zone": self.organization.time_zone,
        }

    def require_billing_partner(self) -> None:
        if not selectors.organization_is_billing_partner(organization=self.organization):
            raise PermissionDenied(NOT_A_PARTNER)

    def end_client_filter_form(self) -> EndClientTicketFilterForm:
        form = EndClientTicketFilterForm(self.request.query_params)
        if not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        return form


class EndClientTicketListView(PortalAPIMixin, TenantAPIMixin, generics.ListAPIView):
    """End-client tickets billed to the caller's organization.

    Filters ("starts with"): number, end_client, title, status, contact, assigned_to,
    hours; exact dates: created, due (YYYY-MM-DD); include_completed=true;
    ordering=<column> or -<column>; page, page_size.
    """

    serializer_class = EndClientTicketSerializer

    def get_queryset(self):
        self.require_billing_partner()
        form = self.end_client_filter_form()
        return selectors.end_client_ticket_list(
            organization=self.organization, filters=form.to_filters()
        )


class EndClientTicketExportView(PortalAPIMixin, TenantAPIView):
    """The filtered, sorted end-client tickets as a file: ``?format=csv|xlsx|pdf``."""

    renderer_classes = [JSONRenderer, CSVRenderer, XLSXRenderer, PDFRenderer]

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:  # an unknown ?format=: answered with a 400 by get()
            renderer = JSONRenderer()
            return renderer, renderer.media_type

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):  # errors are JSON whatever the format asked
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = request.accepted_renderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["csv", "xlsx", "pdf"], required=True)],
        responses={
            (200, media_type.split(";")[0]): OpenApiResponse(OpenApiTypes.BINARY, name)
            for name, media_type in exports.FORMATS.items()
        },
    )
    def get(self, request):
        self.require_billing_partner()
        export_format = request.query_params.get("format", "")
        if export_format not in exports.FORMATS:
            raise ValidationError({"format": ["Choose csv, xlsx or pdf."]})
        form = self.end_client_filter_form()
        try:
            return exports.export_response(
                export_format,
                tickets=selectors.end_client_ticket_list(
                    organization=self.organization, filters=form.to_filters()
                ),
                organization=self.organization,
                tenant=request.tenant,
                filters=form.to_filters(),
            )
        except exports.ExportTooLarge as error:
            raise ValidationError({"format": [str(error)]}) from error


class MyTicketListView(PortalAPIMixin, TenantAPIMixin, generics.ListAPIView):
    """The caller's organization's own tickets: q (number or title), status,
    include_completed=true."""

    serializer_class = TicketRowSerializer

    def get_queryset(self):
        form = MyTicketFilterForm(self.request.query_params)
        if not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        return selectors.own_ticket_list(
            organization=self.organization,
            search=form.cleaned_data.get("q") or "",
            status=form.cleaned_data.get("status") or "",
            include_completed=bool(form.cleaned_data.get("include_completed")),
        )


@dataclass(frozen=True)
class TicketDetail:
    ticket: Ticket
    is_end_client: bool
    entries: list
    attachments: list


class TicketDetailView(PortalAPIMixin, TenantAPIView):
    """One ticket the caller may read, with its visible work history and files."""

    url_kwarg_models = {"pk": Ticket}

    @extend_schema(responses=TicketDetailSerializer)
    def get(self, request, pk):
        try:
            portal_ticket = selectors.portal_ticket_get(organization=self.organization, pk=pk)
        except Ticket.DoesNotExist as exc:
            raise Http404("Ticket not found") from exc
        detail = TicketDetail(
            ticket=portal_ticket.ticket,
            is_end_client=portal_ticket.is_end_client,
            entries=selectors.portal_work_history(
                portal_ticket=portal_ticket, organization=self.organization
            ),
            attachments=selectors.portal_ticket_attachments(
                portal_ticket=portal_ticket, organization=self.organization
            ),
        )
        return Response(TicketDetailSerializer(detail, context=self.get_serializer_context()).data)


class AttachmentDownloadView(PortalAPIMixin, TenantAPIView):
    """Download a file the caller may see in a work history."""

    url_kwarg_models = {"pk": TicketAttachment}

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY,
                "The file as a download (never rendered inline, whatever it was uploaded as).",
            )
        }
    )
    def get(self, request, pk):
        try:
            attachment = selectors.portal_attachment_get(organization=self.organization, pk=pk)
        except TicketAttachment.DoesNotExist as exc:
            raise Http404("Attachment not found") from exc
        return attachment_response(attachment)
