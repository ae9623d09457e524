from django.urls import path

from . import views

app_name = "integrations"

urlpatterns = [
    path("", views.ConnectionsView.as_view(), name="connections"),
    path("connect/<str:provider>/", views.ConnectView.as_view(), name="connect"),
    path("callback/<str:provider>/", views.CallbackView.as_view(), name="callback"),
    path(
        "connections/<int:pk>/organisation/", views.ChooseTenantView.as_view(), name="choose-tenant"
    ),
    path(
        "connections/<int:pk>/<str:what>/",
        views.ConnectionActionView.as_view(),
        name="connection-action",
    ),
    path("mapping/", views.MappingView.as_view(), name="mapping"),
    path("deliveries/", views.DeliveryListView.as_view(), name="deliveries"),
    path("deliveries/<int:pk>/", views.DeliveryDetailView.as_view(), name="delivery-detail"),
    path("deliveries/<int:pk>/retry/", views.DeliveryRetryView.as_view(), name="delivery-retry"),
    path("invoices/<int:pk>/push/", views.InvoicePushView.as_view(), name="invoice-push"),
]
