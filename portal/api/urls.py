"""Portal API (/api/v1/portal/), for portal users' token auth."""

app_name = "portal-api"

urlpatterns = []
