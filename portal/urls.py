"""The client portal at /portal/ (portal users) and its staff page (billing admins)."""

from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.MyTicketsView.as_view(), name="home"),
    path("end-client-tickets/", views.EndClientTicketsView.as_view(), name="end-client-tickets"),
    path(
        "end-client-tickets/export/",
        views.EndClientTicketExportView.as_view(),
        name="end-client-tickets-export",
    ),
    path("tickets/<int:pk>/", views.TicketDetailView.as_view(), name="ticket-detail"),
    path("attachments/<int:pk>/", views.AttachmentDownloadView.as_view(), name="attachment"),
    path("logo/", views.PortalLogoView.as_view(), name="logo"),
    path(
        "set-password/<uidb64>/<token>/",
        views.PortalSetPasswordView.as_view(),
        name="set-password",
    ),
    # Staff: invite and manage portal logins.
    path("users/", views.PortalUsersView.as_view(), name="users"),
    path("users/resend/", views.PortalUserResendView.as_view(), name="user-resend"),
    path("users/revoke/", views.PortalUserRevokeView.as_view(), name="user-revoke"),
]
