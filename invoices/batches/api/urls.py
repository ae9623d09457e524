"""Invoice batch API routes, registered from ``invoices.api.urls.register``.

``invoices/export`` is registered before the invoices viewset so its path is not read
as an invoice id.
"""

from .views import BatchViewSet, InvoiceExportViewSet


def register(router) -> None:
    router.register("invoices/export", InvoiceExportViewSet, basename="invoice-export")
    router.register("batches", BatchViewSet, basename="batch")
