"""Portal API (/api/v1/portal/), for portal users' token auth."""

from django.urls import path

from . import views

app_name = "portal-api"

urlpatterns = [
    path(
        "end-client-tickets/",
        views.EndClientTicketListView.as_view(),
        name="end-client-ticket-list",
    ),
    path(
        "end-client-tickets/export/",
        views.EndClientTicketExportView.as_view(),
        name="end-client-ticket-export",
    ),
    path("tickets/", views.MyTicketListView.as_view(), name="ticket-list"),
    path("tickets/<int:pk>/", views.TicketDetailView.as_view(), name="ticket-detail"),
    path("attachments/<int:pk>/", views.AttachmentDownloadView.as_view(), name="attachment"),
]
