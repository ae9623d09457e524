"""Sessions API: thin viewsets that parse, authorize by role, and call one service."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from billing_site.api.base import TenantAPIView, TenantModelViewSet, TenantReadWriteViewSet
from billing_site.api.schema import ERROR_REF
from billing_site.roles import Cap, role_can
from billing_site.uploads import UPLOAD_TOO_LARGE_RESPONSE

from .. import selectors, services
from ..models import Host, HostGroup, ImportProfile, RemoteSession
from .filters import HostFilter, HostGroupFilter, RemoteSessionFilter
from .serializers import (
    HostGroupSerializer,
    HostSerializer,
    ImportProfileSerializer,
    ImportResultSerializer,
    RemoteSessionSerializer,
    SessionCreateSerializer,
    SessionImportSerializer,
    SessionTimerStartSerializer,
    SessionTimerStopSerializer,
    SessionUpdateSerializer,
    TeamViewerConnectionSerializer,
    TeamViewerConnectionUpdateSerializer,
)


class HostGroupViewSet(TenantReadWriteViewSet):
    """Host groups: how a company's computers are gathered (bill-to for group invoices)."""

    serializer_class = HostGroupSerializer
    queryset = HostGroup.objects.all()
    filterset_class = HostGroupFilter
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    read_capability = Cap.VIEW_WORK
    write_capability = Cap.MANAGE_WORK

    def get_queryset(self):
        return selectors.host_group_list()

    def perform_create(self, serializer):
        serializer.instance = services.host_group_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.host_group_update(
            group=serializer.instance, **serializer.validated_data
        )


class HostViewSet(TenantReadWriteViewSet):
    """Supported computers."""

    serializer_class = HostSerializer
    queryset = Host.objects.all()
    filterset_class = HostFilter
    search_fields = ["name", "external_id"]
    ordering_fields = ["name", "created_at"]
    read_capability = Cap.VIEW_WORK
    write_capability = Cap.LOG_WORK

    def get_queryset(self):
        return selectors.host_list()

    def perform_create(self, serializer):
        serializer.instance = services.host_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.host_update(
            host=serializer.instance, **serializer.validated_data
        )


class RemoteSessionViewSet(TenantModelViewSet):
    """Remote-support sessions. Technicians create and change their own; billing admins
    anyone's; accountants read. A billed session cannot be changed or deleted."""

    queryset = RemoteSession.objects.all()
    serializer_class = RemoteSessionSerializer
    filterset_class = RemoteSessionFilter
    search_fields = ["comment", "host__name", "external_id"]
    ordering_fields = ["started_at", "ended_at", "duration_seconds", "host__name"]
    read_capability = Cap.VIEW_WORK
    write_capability = Cap.LOG_WORK
    upload_kind = "session_log"  # the import's request size limit (billing_site/uploads.py)

    def get_queryset(self):
        return selectors.session_list()

    def get_serializer_context(self):
        context = super().get_serializer_context()
        membership = getattr(self.request, "membership", None)
        context["can_view_billing"] = membership is not None and role_can(
            membership.role, Cap.VIEW_BILLING
        )
        return context

    def _render(self, session, code=status.HTTP_200_OK):
        session = selectors.session_get(pk=session.pk)
        return Response(self.get_serializer(session).data, status=code)

    @extend_schema(request=SessionCreateSerializer, responses={201: RemoteSessionSerializer})
    def create(self, request, *args, **kwargs):
        data = SessionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        technician = values.pop("technician", None) or request.user
        session = services.session_create(technician=technician, actor=request.user, **values)
        return self._render(session, status.HTTP_201_CREATED)

    @extend_schema(request=SessionUpdateSerializer, responses=RemoteSessionSerializer)
    def update(self, request, *args, **kwargs):
        session = self.get_object()
        data = SessionUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.session_update(
            session=session, actor=request.user, **data.validated_data
        )
        return self._render(session)

    @extend_schema(request=SessionUpdateSerializer, responses=RemoteSessionSerializer)
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, **kwargs)

    def destroy(self, request, *args, **kwargs):
        services.session_delete(session=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=SessionTimerStartSerializer, responses={201: RemoteSessionSerializer})
    @action(detail=False, methods=["post"])
    def start(self, request):
        """Start a timer on a host for yourself (one running timer per technician)."""
        data = SessionTimerStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.session_timer_start(technician=request.user, **data.validated_data)
        return self._render(session, status.HTTP_201_CREATED)

    @extend_schema(request=SessionTimerStopSerializer, responses=RemoteSessionSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        """Stop a running timer (now, or at ``ended_at``)."""
        session = self.get_object()
        data = SessionTimerStopSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.session_timer_stop(
            session=session, actor=request.user, ended_at=data.validated_data.get("ended_at")
        )
        return self._render(session)

    @extend_schema(
        request={"multipart/form-data": SessionImportSerializer},
        responses={
            200: OpenApiResponse(ImportResultSerializer, description="Dry run: the preview."),
            201: OpenApiResponse(ImportResultSerializer, description="Imported."),
            413: UPLOAD_TOO_LARGE_RESPONSE,
            400: OpenApiResponse(
                {"anyOf": [{"$ref": "#/components/schemas/ImportResult"}, ERROR_REF]},
                description="Row errors (the result; nothing was imported; a computer "
                "found neither by device id nor by name and not in create_hosts is one, "
                "listed in new_hosts), or a field error: no file, an unknown format, date "
                "format, time zone or technician; or date_format with date_format_choices "
                "when the dates are ambiguous and a date format must be chosen.",
            ),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser],
    )
    def import_sessions(self, request):
        """Import a session log, all or nothing. ``dry_run`` returns the preview.

        New computers are created only when named in ``create_hosts`` (a dry run lists
        them in ``new_hosts``); left out, none is, and their rows are errors.
        """
        data = SessionImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        technician = None
        if values["technician"] is not None:
            technician = selectors.technician_list().filter(pk=values["technician"]).first()
            if technician is None:
                return Response(
                    {"technician": ["Not a staff member of this MSP who logs work."]},
                    status=status.HTTP_400_BAD_REQUEST,
                )
        profile = None
        if values["profile"]:
            profile = _find_profile(values["profile"])
        # Left out: none, so a typo never creates a computer; "*" is asked for explicitly.
        create_hosts = [name for name in values["create_hosts"] or () if name.strip()]
        if "*" in create_hosts:
            create_hosts = None
        try:
            result = services.session_import(
                tenant=request.tenant,
                file=values["file"],
                fmt=values["format"],
                zone=values["time_zone"] or None,
                date_format=values["date_format"],
                technician=technician,
                host=values["host"],
                dry_run=values["dry_run"],
                actor=request.user,
                mapping=values["mapping"],
                create_hosts=create_hosts,
                profile=profile,
            )
        except services.ImportSettingsRequired as required:
            return Response(
                {
                    "date_format": required.messages,
                    "date_format_choices": required.date_format_choices,
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        if values["dry_run"]:
            code = status.HTTP_200_OK
        else:
            code = status.HTTP_201_CREATED if result.imported else status.HTTP_400_BAD_REQUEST
        return Response(result.as_dict(), status=code)


def _find_profile(reference: str) -> ImportProfile:
    """The current tenant's profile by id or name; 404 otherwise (another tenant's too)."""
    profiles = selectors.import_profile_list()
    reference = reference.strip()
    found = None
    if reference.isdigit():
        found = profiles.filter(pk=int(reference)).first()
    found = found or profiles.filter(name=reference).first()
    if found is None:
        raise Http404(f"No import profile “{reference}”.")
    return found


class ImportProfileViewSet(TenantModelViewSet):
    """Saved import profiles: how a tool's files are read (layout, column mapping, date
    format, zone). Choose one on import with ``profile`` (id or name)."""

    serializer_class = ImportProfileSerializer
    queryset = ImportProfile.objects.all()
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    read_capability = write_capability = Cap.LOG_WORK

    def get_queryset(self):
        return selectors.import_profile_list()

    def perform_create(self, serializer):
        serializer.instance = services.import_profile_save(
            actor=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        profile = serializer.instance
        values = {
            "name": profile.name,
            "mapping": profile.mapping,
            "file_format": profile.file_format,
            "date_format": profile.date_format,
            "time_zone": profile.time_zone,
            **serializer.validated_data,
        }
        serializer.instance = services.import_profile_save(profile=profile, **values)

    def perform_destroy(self, instance):
        services.import_profile_delete(profile=instance)


NO_TEAMVIEWER = "No TeamViewer connection: PUT a script token first."


class TeamViewerConnectionView(TenantAPIView):
    """The tenant's TeamViewer connection (Web API connection reports): the script token
    is write-only (only whether one is set and its last four characters come back), the
    group filter, the cursor and the last pull's result."""

    read_capability = write_capability = Cap.MANAGE_WORK
    http_method_names = ["get", "put", "delete", "head", "options"]

    def _connection(self):
        connection = selectors.teamviewer_connection()
        if connection is None:
            raise Http404(NO_TEAMVIEWER)
        return connection

    @extend_schema(
        responses={
            200: TeamViewerConnectionSerializer,
            404: OpenApiResponse(ERROR_REF, description="The tenant has no connection."),
        }
    )
    def get(self, request):
        return Response(TeamViewerConnectionSerializer(self._connection()).data)

    @extend_schema(
        request=TeamViewerConnectionUpdateSerializer,
        responses={
            200: OpenApiResponse(TeamViewerConnectionSerializer, description="Changed."),
            201: OpenApiResponse(TeamViewerConnectionSerializer, description="Created."),
            400: OpenApiResponse(
                ERROR_REF,
                description="No token the first time, a malformed token or group id, or "
                "no encryption key configured (INTEGRATIONS_KEYS).",
            ),
        },
    )
    def put(self, request):
        """Create the connection, or change its token and/or group filter."""
        data = TeamViewerConnectionUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        existed = selectors.teamviewer_connection() is not None
        connection = services.teamviewer_connection_save(actor=request.user, **data.validated_data)
        code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response(TeamViewerConnectionSerializer(connection).data, status=code)

    @extend_schema(responses={204: None, 404: OpenApiResponse(ERROR_REF)})
    def delete(self, request):
        """Remove the connection (token, cursor); the sessions it imported stay."""
        self._connection()
        services.teamviewer_connection_delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamViewerPullView(TenantAPIView):
    """Pull now: the pull is queued (run at once without a broker); GET the connection
    to see its result (``last_run_at``, ``last_status``, ``last_result``)."""

    read_capability = write_capability = Cap.MANAGE_WORK
    http_method_names = ["post", "options"]

    @extend_schema(
        request=None,
        responses={
            202: OpenApiResponse(
                TeamViewerConnectionSerializer, description="Queued; pull_pending is true."
            ),
            404: OpenApiResponse(ERROR_REF, description="The tenant has no connection."),
        },
    )
    def post(self, request):
        if selectors.teamviewer_connection() is None:
            raise Http404(NO_TEAMVIEWER)
        connection = services.teamviewer_pull_request(actor=request.user)
        return Response(
            TeamViewerConnectionSerializer(connection).data, status=status.HTTP_202_ACCEPTED
        )
