from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import two_factor, views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("account/", views.AccountView.as_view(), name="account"),
    path("two-factor/", two_factor.TwoFactorView.as_view(), name="two-factor"),
    path("two-factor/verify/", two_factor.TwoFactorVerifyView.as_view(), name="two-factor-verify"),
    path("tenant/switch/", views.SwitchTenantView.as_view(), name="tenant-switch"),
    path("settings/", views.TenantSettingsView.as_view(), name="tenant-settings"),
    path("settings/users/", views.StaffUsersView.as_view(), name="staff-users"),
    path("settings/logo/", views.TenantLogoView.as_view(), name="tenant-logo"),
    path("customers/", views.OrganizationListView.as_view(), name="customer-list"),
    path("customers/new/", views.OrganizationCreateView.as_view(), name="customer-create"),
    path("customers/<int:pk>/", views.OrganizationDetailView.as_view(), name="customer-detail"),
    path("customers/<int:pk>/edit/", views.OrganizationUpdateView.as_view(), name="customer-edit"),
    path(
        "customers/<int:pk>/contacts/",
        views.ContactCreateView.as_view(),
        name="customer-contact-create",
    ),
    path("sessions/", include("sessions.urls")),
    path("contracts/", include("contracts.urls")),
    path("invoices/", include("invoices.urls")),
    path("portal/", include("portal.urls")),
    path("integrations/", include("integrations.urls")),
    path("reports/", include("reports.urls")),
    path("audit/", include("audit.urls")),
    path("api/v1/", include("billing_site.api.urls")),
    path("admin/", admin.site.urls),
]

# API clients get JSON for every error, also when no route matches.
handler404 = "billing_site.api.errors.not_found"
