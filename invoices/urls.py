from django.urls import include, path

from . import views
from .emails import views as email_views
from .receivables import views as receivable_views

app_name = "invoices"

urlpatterns = [
    path("", views.InvoiceListView.as_view(), name="invoice-list"),
    path("batches/", include("invoices.batches.urls")),
    path("receivables/", receivable_views.ReceivablesView.as_view(), name="receivables"),
    path(
        "receivables/customers/<int:pk>/statement/",
        receivable_views.StatementView.as_view(),
        name="statement",
    ),
    path(
        "receivables/customers/<int:pk>/statement.pdf",
        receivable_views.StatementPdfView.as_view(),
        name="statement-pdf",
    ),
    path(
        "from-sessions/",
        views.SessionInvoiceCreateView.as_view(),
        name="session-invoice-new",
    ),
    path("<int:pk>/", views.InvoiceDetailView.as_view(), name="invoice-detail"),
    path("<int:pk>/pdf/", views.InvoicePdfDownloadView.as_view(), name="invoice-pdf"),
    path(
        "<int:pk>/pdf/preview/", views.InvoicePdfPreviewView.as_view(), name="invoice-pdf-preview"
    ),
    path("<int:pk>/pdf/status/", views.InvoicePdfStatusView.as_view(), name="invoice-pdf-status"),
    path("<int:pk>/pdf/render/", views.InvoicePdfRenderView.as_view(), name="invoice-pdf-render"),
    path("<int:pk>/void/", views.InvoiceVoidView.as_view(), name="invoice-void"),
    path("<int:pk>/delete/", views.InvoiceDeleteDraftView.as_view(), name="invoice-delete"),
    path("<int:pk>/edit/", views.InvoiceDraftEditView.as_view(), name="invoice-edit"),
    path("<int:pk>/lines/add/", views.InvoiceLineAddView.as_view(), name="invoice-line-add"),
    path(
        "<int:pk>/lines/<int:line_pk>/",
        views.InvoiceLineEditView.as_view(),
        name="invoice-line-edit",
    ),
    path(
        "<int:pk>/lines/<int:line_pk>/delete/",
        views.InvoiceLineDeleteView.as_view(),
        name="invoice-line-delete",
    ),
    path("<int:pk>/finalize/", views.InvoiceFinalizeView.as_view(), name="invoice-finalize"),
    path("<int:pk>/mark-sent/", views.InvoiceMarkSentView.as_view(), name="invoice-mark-sent"),
    path("<int:pk>/email/", email_views.InvoiceEmailView.as_view(), name="invoice-email"),
    path("<int:pk>/payments/", views.PaymentCreateView.as_view(), name="payment-create"),
    path(
        "<int:pk>/payments/<int:payment_pk>/delete/",
        views.PaymentDeleteView.as_view(),
        name="payment-delete",
    ),
    path("<int:pk>/credit-note/", views.CreditNoteCreateView.as_view(), name="credit-note-new"),
]
