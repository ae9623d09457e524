"""API v1 root. Each app registers its viewsets in ``<app>/api/urls.py`` (``register(router)``)."""

from importlib import import_module

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from .views import ContactViewSet, ObtainTokenView, OrganizationViewSet

router = DefaultRouter()
router.register("organizations", OrganizationViewSet, basename="organization")
router.register("contacts", ContactViewSet, basename="contact")

APP_API_MODULES = ["sessions", "contracts", "invoices", "integrations"]
extra_patterns = []
for app in APP_API_MODULES:
    module = import_module(f"{app}.api.urls")
    module.register(router)
    extra_patterns += getattr(module, "urlpatterns", [])

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    *extra_patterns,
    path("portal/", include("portal.api.urls")),
    path("", include(router.urls)),
]
