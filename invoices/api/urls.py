"""API routes of this app, registered on the v1 router by billing_site.api.urls."""

urlpatterns = []


def register(router) -> None:
    """Register this app's viewsets on the shared router."""
