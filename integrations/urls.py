from django.urls import path

from . import views
from .connectwise import views as connectwise
from .core.models import ACCOUNTING_PROVIDERS

app_name = "integrations"

urlpatterns = [
    path("", views.ConnectionsView.as_view(), name="connections"),
    # One fixed path per provider: the redirect URI registered with each app.
    *[
        path(
            f"connect/{provider}/",
            views.ConnectView.as_view(),
            {"provider": provider},
            name=f"connect-{provider}",
        )
        for provider in ACCOUNTING_PROVIDERS
    ],
    *[
        path(
            f"callback/{provider}/",
            views.CallbackView.as_view(),
            {"provider": provider},
            name=f"callback-{provider}",
        )
        for provider in ACCOUNTING_PROVIDERS
    ],
    path(
        "connections/<int:pk>/organisation/",
        views.ChooseTenantView.as_view(),
        name="choose-tenant",
    ),
    *[
        path(
            f"connections/<int:pk>/{what}/",
            views.ConnectionActionView.as_view(),
            {"what": what},
            name=f"connection-{what}",
        )
        for what in views.ConnectionActionView.ACTIONS
    ],
    path(
        "customers/<int:pk>/schedule/",
        views.CustomerScheduleView.as_view(),
        name="customer-schedule",
    ),
    path("connectwise/connect/", connectwise.ConnectView.as_view(), name="connectwise-connect"),
    path("connectwise/test/", connectwise.TestView.as_view(), name="connectwise-test"),
    path("connectwise/send-now/", connectwise.SendNowView.as_view(), name="connectwise-send-now"),
    path(
        "connectwise/customers/<int:pk>/",
        connectwise.CustomerView.as_view(),
        name="connectwise-customer",
    ),
    path("mapping/", views.MappingView.as_view(), name="mapping"),
    path("deliveries/", views.DeliveryListView.as_view(), name="deliveries"),
    path(
        "deliveries/retry-failed/",
        views.DeliveriesRetryFailedView.as_view(),
        name="deliveries-retry-failed",
    ),
    path("deliveries/<int:pk>/", views.DeliveryDetailView.as_view(), name="delivery-detail"),
    path("deliveries/<int:pk>/retry/", views.DeliveryRetryView.as_view(), name="delivery-retry"),
    path("invoices/<int:pk>/push/", views.InvoicePushView.as_view(), name="invoice-push"),
]
