"""API v1 root. Each app registers its viewsets in ``<app>/api/urls.py`` (``register(router)``)."""

from importlib import import_module

from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.routers import DefaultRouter

from .views import ContactViewSet, ObtainTokenView, OrganizationViewSet

router = DefaultRouter()
router.register("organizations", OrganizationViewSet, basename="organization")
router.register("contacts", ContactViewSet, basename="contact")

APP_API_MODULES = ["sessions", "contracts", "invoices", "integrations", "reports", "audit"]
extra_patterns = []
for app in APP_API_MODULES:
    module = import_module(f"{app}.api.urls")
    module.register(router)
    extra_patterns += getattr(module, "urlpatterns", [])

# The docs pages under the site's strict CSP, widened only as each needs: Swagger UI (the
# split view serves its start-up script as a file, not inline) shows data: icons; ReDoc
# also runs its search in a blob: worker.
docs_view = csp_update({"img-src": ["data:"]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")
)
redoc_view = csp_update({"img-src": ["data:"], "worker-src": ["'self'", "blob:"]})(
    SpectacularRedocView.as_view(url_name="api-schema")
)

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", docs_view, name="api-docs"),
    path("redoc/", redoc_view, name="api-redoc"),
    *extra_patterns,
    path("portal/", include("portal.api.urls")),
    path("", include(router.urls)),
]
