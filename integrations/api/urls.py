"""API routes of this app, registered on the v1 router by billing_site.api.urls."""

from django.urls import path

from .views import (
    ConnectionViewSet,
    CustomerScheduleViewSet,
    DeliveryViewSet,
    InvoicePushView,
    MappingViewSet,
)

urlpatterns = [
    path("invoices/<int:pk>/push/", InvoicePushView.as_view(), name="invoice-push"),
]


def register(router) -> None:
    """Register this app's viewsets on the shared router."""
    router.register(
        "integrations/connections", ConnectionViewSet, basename="integration-connection"
    )
    router.register("integrations/mappings", MappingViewSet, basename="integration-mapping")
    router.register(
        "integrations/customer-schedules",
        CustomerScheduleViewSet,
        basename="integration-customer-schedule",
    )
    router.register("integrations/deliveries", DeliveryViewSet, basename="integration-delivery")
