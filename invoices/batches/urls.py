"""Invoice batch pages, included at /invoices/batches/ (names in the ``invoices`` namespace)."""

from django.urls import path

from ..emails import views as email_views
from . import views

urlpatterns = [
    path("", views.BatchListView.as_view(), name="batch-list"),
    path("export/", views.InvoiceSelectionExportView.as_view(), name="invoice-export"),
    path("<int:pk>/", views.BatchDetailView.as_view(), name="batch-detail"),
    path(
        "<int:pk>/contracts/<int:contract_pk>/",
        views.BatchContractView.as_view(),
        name="batch-contract",
    ),
    path("<int:pk>/selection/", views.BatchSelectionView.as_view(), name="batch-selection"),
    path("<int:pk>/run/", views.BatchRunView.as_view(), name="batch-run"),
    path("<int:pk>/progress/", views.BatchJobView.as_view(), name="batch-progress"),
    path(
        "<int:pk>/invoices/<int:invoice_pk>/delete/",
        views.BatchInvoiceDeleteView.as_view(),
        name="batch-invoice-delete",
    ),
    path("<int:pk>/generate/", views.BatchGenerateView.as_view(), name="batch-generate"),
    path("<int:pk>/export/", views.BatchExportView.as_view(), name="batch-export"),
    path("<int:pk>/email/", email_views.BatchEmailView.as_view(), name="batch-email"),
]
