"""API routes of the contracts app, registered on the v1 router by billing_site.api.urls."""

from . import views

urlpatterns = []


def register(router) -> None:
    """Register this app's viewsets on the shared router."""
    router.register("service-types", views.ServiceTypeViewSet, basename="service-type")
    router.register("products", views.ProductViewSet, basename="product")
    router.register("teams", views.TeamViewSet, basename="team")
    router.register("contracts", views.ContractViewSet, basename="contract")
    router.register(
        "contract-product-lines", views.ContractProductLineViewSet, basename="contract-product-line"
    )
    router.register("block-purchases", views.BlockPurchaseViewSet, basename="block-purchase")
    router.register("rate-rules", views.RateRuleViewSet, basename="rate-rule")
    router.register("tickets", views.TicketViewSet, basename="ticket")
    router.register(
        "ticket-attachments", views.TicketAttachmentViewSet, basename="ticket-attachment"
    )
    router.register("time-entries", views.TimeEntryViewSet, basename="time-entry")
    router.register("budgets", views.BudgetViewSet, basename="budget")
