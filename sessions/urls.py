from django.urls import path

from . import views

app_name = "sessions"

urlpatterns = [
    path("hosts/", views.HostTreeView.as_view(), name="host-list"),
    path("hosts/new/", views.HostCreateView.as_view(), name="host-create"),
    path("hosts/<int:pk>/", views.HostDetailView.as_view(), name="host-detail"),
    path("hosts/<int:pk>/edit/", views.HostUpdateView.as_view(), name="host-edit"),
    path("groups/new/", views.HostGroupCreateView.as_view(), name="group-create"),
    path("groups/<int:pk>/", views.HostGroupDetailView.as_view(), name="group-detail"),
    path("groups/<int:pk>/edit/", views.HostGroupUpdateView.as_view(), name="group-edit"),
    path("logs/", views.SessionListView.as_view(), name="session-list"),
    path("logs/by-client/", views.SessionByClientView.as_view(), name="session-by-client"),
    path("new/", views.SessionCreateView.as_view(), name="session-create"),
    path("<int:pk>/edit/", views.SessionUpdateView.as_view(), name="session-edit"),
    path("<int:pk>/delete/", views.SessionDeleteView.as_view(), name="session-delete"),
    path("<int:pk>/stop/", views.TimerStopView.as_view(), name="session-stop"),
    path("timer/start/", views.TimerStartView.as_view(), name="timer-start"),
    path("import/", views.SessionImportView.as_view(), name="session-import"),
    path("import/sample.csv", views.SessionImportSampleView.as_view(), name="import-sample"),
    path("import/teamviewer/", views.TeamViewerSettingsView.as_view(), name="teamviewer-settings"),
    path("import/teamviewer/pull/", views.TeamViewerPullView.as_view(), name="teamviewer-pull"),
    path("import/<int:pk>/", views.SessionImportPreviewView.as_view(), name="import-preview"),
    path(
        "import/profiles/<int:pk>/delete/",
        views.ImportProfileDeleteView.as_view(),
        name="import-profile-delete",
    ),
    path("import/<int:pk>/run/", views.SessionImportRunView.as_view(), name="import-run"),
    path(
        "import/<int:pk>/progress/",
        views.SessionImportProgressView.as_view(),
        name="import-progress",
    ),
]
