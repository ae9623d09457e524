"""API routes of the reports, added to /api/v1/ by billing_site.api.urls."""

from django.urls import path

from . import views

urlpatterns = [
    path("reports/team-work/", views.TeamWorkReportView.as_view(), name="report-team-work"),
    path(
        "reports/unbilled-work/",
        views.UnbilledWorkReportView.as_view(),
        name="report-unbilled-work",
    ),
    path("reports/revenue/", views.RevenueReportView.as_view(), name="report-revenue"),
    path(
        "reports/expected-revenue/",
        views.ExpectedRevenueReportView.as_view(),
        name="report-expected-revenue",
    ),
]


def register(router) -> None:
    """The reports have no viewset: their routes are ``urlpatterns``."""
