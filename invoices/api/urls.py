"""API routes of this app, registered on the v1 router by billing_site.api.urls."""

from django.urls import path

from ..batches.api.urls import register as batch_register
from .views import (
    CreditNoteViewSet,
    CustomerStatementView,
    InvoiceLineViewSet,
    InvoiceViewSet,
    PaymentViewSet,
    ReceivablesAgingView,
    ReceivablesSummaryView,
)

# Lines live under their invoice: /api/v1/invoices/{invoice_pk}/lines/[{pk}/].
urlpatterns = [
    path(
        "invoices/<int:invoice_pk>/lines/",
        InvoiceLineViewSet.as_view({"get": "list", "post": "create"}),
        name="invoice-line-list",
    ),
    path(
        "invoices/<int:invoice_pk>/lines/<int:pk>/",
        InvoiceLineViewSet.as_view(
            {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
        ),
        name="invoice-line-detail",
    ),
    # Receivables figures (read-only): the overview's summary and aging, a statement.
    path("receivables/summary/", ReceivablesSummaryView.as_view(), name="receivables-summary"),
    path("receivables/aging/", ReceivablesAgingView.as_view(), name="receivables-aging"),
    path(
        "receivables/statement/",
        CustomerStatementView.as_view(),
        name="receivables-statement",
    ),
]


def register(router) -> None:
    """Register this app's viewsets on the shared router."""
    batch_register(router)
    router.register("invoices", InvoiceViewSet, basename="invoice")
    router.register("payments", PaymentViewSet, basename="payment")
    router.register("credit-notes", CreditNoteViewSet, basename="credit-note")
