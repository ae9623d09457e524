"""Browser routes of the contracts app, included at /contracts/."""

from django.urls import path

from . import views

app_name = "contracts"

urlpatterns = [
    # Contracts live under agreements/ so the navigation highlights one item per page.
    path("agreements/", views.ContractListView.as_view(), name="contract-list"),
    path("agreements/new/", views.ContractCreateView.as_view(), name="contract-create"),
    path("agreements/<int:pk>/", views.ContractDetailView.as_view(), name="contract-detail"),
    path("agreements/<int:pk>/edit/", views.ContractUpdateView.as_view(), name="contract-edit"),
    path(
        "agreements/<int:pk>/product-lines/",
        views.ContractLineAddView.as_view(),
        name="contract-line-add",
    ),
    path("agreements/<int:pk>/blocks/", views.BlockPurchaseAddView.as_view(), name="block-add"),
    path("blocks/<int:pk>/remove/", views.BlockPurchaseRemoveView.as_view(), name="block-remove"),
    path(
        "product-lines/<int:pk>/remove/",
        views.ContractLineRemoveView.as_view(),
        name="contract-line-remove",
    ),
    path("budgets/", views.BudgetReportView.as_view(), name="budget-report"),
    path("budgets/export.csv", views.BudgetReportCsvView.as_view(), name="budget-report-csv"),
    path("catalog/", views.CatalogView.as_view(), name="catalog"),
    path("catalog/products/new/", views.ProductFormView.as_view(), name="product-create"),
    path("catalog/products/<int:pk>/", views.ProductFormView.as_view(), name="product-edit"),
    path(
        "catalog/service-types/new/",
        views.ServiceTypeFormView.as_view(),
        name="service-type-create",
    ),
    path(
        "catalog/service-types/<int:pk>/",
        views.ServiceTypeFormView.as_view(),
        name="service-type-edit",
    ),
    path("catalog/teams/new/", views.TeamFormView.as_view(), name="team-create"),
    path("catalog/teams/<int:pk>/", views.TeamFormView.as_view(), name="team-edit"),
    path("tickets/", views.TicketListView.as_view(), name="ticket-list"),
    path("tickets/new/", views.TicketCreateView.as_view(), name="ticket-create"),
    path("tickets/<int:pk>/", views.TicketDetailView.as_view(), name="ticket-detail"),
    path("tickets/<int:pk>/edit/", views.TicketUpdateView.as_view(), name="ticket-edit"),
    path(
        "attachments/<int:pk>/",
        views.AttachmentDownloadView.as_view(),
        name="attachment-download",
    ),
    path("timesheet/", views.TimesheetView.as_view(), name="timesheet"),
    path("timer/start/", views.TimerStartView.as_view(), name="timer-start"),
    path("timer/stop/", views.TimerStopView.as_view(), name="timer-stop"),
    path("time/<int:pk>/", views.TimeEntryEditView.as_view(), name="time-entry-edit"),
    path(
        "sessions/<int:session_pk>/log-time/",
        views.LogSessionView.as_view(),
        name="session-log-time",
    ),
    path("approvals/", views.ApprovalQueueView.as_view(), name="approvals"),
    path(
        "approvals/selection/",
        views.ApprovalSelectionView.as_view(),
        name="approval-selection",
    ),
    path("rate-rules/", views.RateRuleListView.as_view(), name="rate-rule-list"),
    path("rate-rules/explain/", views.RateRuleExplainView.as_view(), name="rate-rule-explain"),
    path("rate-rules/<int:pk>/edit/", views.RateRuleUpdateView.as_view(), name="rate-rule-edit"),
    path(
        "rate-rules/<int:pk>/delete/", views.RateRuleDeleteView.as_view(), name="rate-rule-delete"
    ),
]
