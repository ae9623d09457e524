"""API routes of this app, registered on the v1 router by billing_site.api.urls."""

from .views import HostGroupViewSet, HostViewSet, RemoteSessionViewSet

urlpatterns = []


def register(router) -> None:
    """Register this app's viewsets on the shared router."""
    router.register("host-groups", HostGroupViewSet, basename="host-group")
    router.register("hosts", HostViewSet, basename="host")
    router.register("sessions", RemoteSessionViewSet, basename="session")
