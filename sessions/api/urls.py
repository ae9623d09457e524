"""API routes of this app, registered on the v1 router by billing_site.api.urls."""

from django.urls import path

from .views import (
    HostGroupViewSet,
    HostViewSet,
    ImportProfileViewSet,
    RemoteSessionViewSet,
    TeamViewerConnectionView,
    TeamViewerPullView,
)

# Before the router's routes: "sessions/teamviewer/" is not a session id.
urlpatterns = [
    path("sessions/teamviewer/", TeamViewerConnectionView.as_view(), name="session-teamviewer"),
    path("sessions/teamviewer/pull/", TeamViewerPullView.as_view(), name="session-teamviewer-pull"),
    path(
        "sessions/import-profiles/",
        ImportProfileViewSet.as_view({"get": "list", "post": "create"}),
        name="session-import-profile-list",
    ),
    path(
        "sessions/import-profiles/<int:pk>/",
        ImportProfileViewSet.as_view(
            {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
        ),
        name="session-import-profile-detail",
    ),
]


def register(router) -> None:
    """Register this app's viewsets on the shared router."""
    router.register("host-groups", HostGroupViewSet, basename="host-group")
    router.register("hosts", HostViewSet, basename="host")
    router.register("sessions", RemoteSessionViewSet, basename="session")
