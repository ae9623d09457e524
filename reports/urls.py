"""Browser routes of the reports, included at /reports/."""

from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.IndexView.as_view(), name="index"),
    path("team-work/", views.TeamWorkView.as_view(), name="team-work"),
    path("team-work/csv/", views.TeamWorkView.as_view(export=True), name="team-work-csv"),
    path("unbilled-work/", views.UnbilledWorkView.as_view(), name="unbilled-work"),
    path(
        "unbilled-work/csv/",
        views.UnbilledWorkView.as_view(export=True),
        name="unbilled-work-csv",
    ),
    path("revenue/", views.RevenueView.as_view(), name="revenue"),
    path("revenue/csv/", views.RevenueView.as_view(export=True), name="revenue-csv"),
    path("expected-revenue/", views.ExpectedRevenueView.as_view(), name="expected-revenue"),
    path(
        "expected-revenue/csv/",
        views.ExpectedRevenueView.as_view(export=True),
        name="expected-revenue-csv",
    ),
]
