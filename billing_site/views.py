from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import DatabaseError, connection
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView, FormView, TemplateView
from kombu.exceptions import KombuError

from . import selectors, services
from .forms import ContactForm, OrganizationForm, StaffUserForm, TenantSettingsForm
from .models import Membership, Organization, Tenant
from .roles import Cap
from .tenancy import TenantMiddleware
from .views_base import ScopedObjectMixin, StaffViewMixin, apply_errors


class DashboardView(StaffViewMixin, TemplateView):
    template_name = "billing_site/dashboard.html"

    def dispatch(self, request, *args, **kwargs):
        # Everyone lands here after login; portal users belong in the portal.
        membership = getattr(request, "membership", None)
        if membership is not None and membership.is_portal:
            return redirect("portal:home")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        from .dashboard import dashboard_panels

        context = super().get_context_data(**kwargs)
        context["panels"] = dashboard_panels(self.request)
        context["organization_count"] = selectors.organization_list(active=True).count()
        return context


class OrganizationListView(StaffViewMixin, TemplateView):
    template_name = "billing_site/organization_list.html"
    read_capability = Cap.VIEW_CUSTOMERS
    paginate_by = 25

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        search = self.request.GET.get("q", "").strip()
        status = self.request.GET.get("status", "active")
        active = {"active": True, "inactive": False}.get(status)
        page = Paginator(
            selectors.organization_list(search=search, active=active), self.paginate_by
        ).get_page(self.request.GET.get("page"))
        context.update(
            page_obj=page, search=search, status=status, can_manage=self.can(Cap.MANAGE_CUSTOMERS)
        )
        return context

    def get_template_names(self):
        if self.request.htmx:
            return ["billing_site/_organization_table.html"]
        return [self.template_name]


class OrganizationDetailView(StaffViewMixin, ScopedObjectMixin, DetailView):
    model = Organization
    template_name = "billing_site/organization_detail.html"
    read_capability = Cap.VIEW_CUSTOMERS

    def get_queryset(self):
        return selectors.organization_list()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["contacts"] = selectors.contact_list(organization=self.object)
        context["tax_rate"] = selectors.organization_tax_rate(organization=self.object)
        context["terms"] = selectors.organization_payment_terms(organization=self.object)
        context["contact_form"] = ContactForm()
        context["can_edit"] = self.can(Cap.MANAGE_CUSTOMERS)
        context["can_see_billing"] = self.can(Cap.VIEW_BILLING)
        context.update(self.related(self.object))
        return context

    # Rows shown per section; the section links to its full list for the rest.
    SHOWN = 10

    def related(self, organization: Organization) -> dict:
        """The customer's contracts, open invoices and balance, tickets, computers and
        portal logins, each read by its app's selector in one query (a fixed number for
        any customer), and only what the role may open."""
        from django.db.models import Q

        from contracts import selectors as contracts
        from invoices import selectors as invoices
        from sessions import selectors as sessions

        shown = self.SHOWN
        found = {
            "portal_users": list(selectors.organization_portal_users(organization=organization))
        }
        if self.can(Cap.VIEW_BILLING):
            found["contracts"] = list(
                contracts.contract_list(status="")
                .filter(Q(customer=organization) | Q(billing_organization=organization))
                .order_by("status", "name", "id")
            )
            open_invoices = list(
                invoices.open_receivables()
                .filter(organization=organization)
                .order_by("due_date", "id")
            )
            balances: dict[str, object] = {}
            for invoice in open_invoices:
                balances[invoice.currency] = balances.get(invoice.currency, 0) + invoice.balance
            found.update(
                open_invoices=open_invoices,
                balances=sorted(balances.items()),
                today=invoices.tenant_today(),
            )
        if self.can(Cap.VIEW_WORK):
            tickets = list(
                contracts.ticket_list(organization=organization, include_completed=False)[
                    : shown + 1
                ]
            )
            hosts = list(
                sessions.host_list(active=True).filter(
                    Q(organization=organization) | Q(group__organization=organization)
                )[: shown + 1]
            )
            found.update(
                tickets=tickets[:shown],
                more_tickets=len(tickets) > shown,
                hosts=hosts[:shown],
                more_hosts=len(hosts) > shown,
            )
        found["can_manage_portal"] = self.can(Cap.MANAGE_CUSTOMERS)
        found["can_see_work"] = self.can(Cap.VIEW_WORK)
        return found


class OrganizationCreateView(StaffViewMixin, FormView):
    template_name = "billing_site/organization_form.html"
    form_class = OrganizationForm
    read_capability = write_capability = Cap.MANAGE_CUSTOMERS

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "tenant": self.request.tenant}

    def form_valid(self, form):
        try:
            organization = services.organization_create(**form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"Customer “{organization.name}” created.")
        return redirect("customer-detail", pk=organization.pk)


class OrganizationUpdateView(StaffViewMixin, ScopedObjectMixin, FormView):
    model = Organization
    template_name = "billing_site/organization_form.html"
    form_class = OrganizationForm
    read_capability = write_capability = Cap.MANAGE_CUSTOMERS

    def get_queryset(self):
        return Organization.objects.all()

    def dispatch(self, request, *args, **kwargs):
        self.object = None
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "instance": self.get_scoped_object()}

    def get_context_data(self, **kwargs):
        return super().get_context_data(object=self.get_scoped_object(), **kwargs)

    def get_scoped_object(self) -> Organization:
        if self.object is None:
            self.object = self.get_object()
        return self.object

    def form_valid(self, form):
        try:
            services.organization_update(organization=self.object, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, "Customer saved.")
        return redirect("customer-detail", pk=self.object.pk)


class ContactCreateView(StaffViewMixin, ScopedObjectMixin, View):
    model = Organization
    read_capability = write_capability = Cap.MANAGE_CUSTOMERS
    http_method_names = ["post"]

    def get_queryset(self):
        return Organization.objects.all()

    def post(self, request, pk):
        organization = self.get_object()
        form = ContactForm(request.POST)
        if form.is_valid():
            try:
                services.contact_create(organization=organization, **form.cleaned_data)
                messages.success(request, "Contact added.")
            except ValidationError as error:
                messages.error(request, "; ".join(error.messages))
        else:
            messages.error(
                request,
                "Contact not added: "
                + "; ".join(f"{field}: {' '.join(errs)}" for field, errs in form.errors.items()),
            )
        return redirect("customer-detail", pk=organization.pk)


class SwitchTenantView(StaffViewMixin, View):
    """Staff in several MSPs choose which one they act for."""

    http_method_names = ["post"]

    def post(self, request):
        try:
            membership = Membership.objects.get(
                user=request.user, tenant__slug=request.POST.get("tenant")
            )
        except Membership.DoesNotExist as exc:
            raise Http404("Unknown tenant") from exc
        request.session[TenantMiddleware.SESSION_KEY] = membership.tenant_id
        return HttpResponseRedirect(reverse("dashboard"))


def healthz(request):
    """Database and broker status as JSON; 503 when one is down.

    ``?worker=1`` also sends a probe task through the broker and waits briefly for
    a worker to answer it.
    """
    from django.conf import settings

    status = {"database": "ok", "broker": "eager (in-process)"}
    healthy = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        status["database"] = f"error: {exc.__class__.__name__}"
        healthy = False
    if settings.CELERY_BROKER_URL:
        from billing_site.celery import app

        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            status["broker"] = "ok"
        except (OSError, KombuError) as exc:
            status["broker"] = f"error: {exc.__class__.__name__}"
            healthy = False
        if healthy and request.GET.get("worker"):
            from .tasks import worker_probe_task

            try:
                status["worker"] = worker_probe_task.delay().get(timeout=5)["database"]
            except CeleryTimeoutError:
                status["worker"] = "no answer within 5 s"
                healthy = False
    status["status"] = "ok" if healthy else "error"
    return JsonResponse(status, status=200 if healthy else 503)


class TenantSettingsView(StaffViewMixin, FormView):
    """Company details on invoices, numbering prefixes, defaults and branding."""

    template_name = "billing_site/tenant_settings.html"
    form_class = TenantSettingsForm
    read_capability = write_capability = Cap.MANAGE_TENANT
    upload_kind = "logo"  # request size limit (billing_site/uploads.py)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        # A copy, so a rejected form never leaves the request's tenant half-changed.
        kwargs["instance"] = Tenant.objects.get(pk=self.request.tenant.pk)
        return kwargs

    def form_valid(self, form):
        try:
            services.tenant_update(tenant=form.instance)
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, "Settings saved.")
        return redirect("tenant-settings")


class StaffUsersView(StaffViewMixin, FormView):
    """The tenant's logins and roles; owners add staff here."""

    template_name = "billing_site/staff_users.html"
    form_class = StaffUserForm
    read_capability = write_capability = Cap.MANAGE_TENANT

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["memberships"] = (
            Membership.objects.filter(tenant=self.request.tenant)
            .select_related("user", "organization")
            .order_by("role", "user__username")
        )
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from .two_factor import REQUIRED_ROLES

        context["two_factor_users"] = set(
            TOTPDevice.objects.filter(
                confirmed=True, user__memberships__tenant=self.request.tenant
            ).values_list("user_id", flat=True)
        )
        context["two_factor_required_roles"] = (
            REQUIRED_ROLES if self.request.tenant.require_two_factor else ()
        )
        return context

    def form_valid(self, form):
        try:
            services.staff_user_add(tenant=self.request.tenant, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"User {form.cleaned_data['username']} added.")
        return redirect("staff-users")


class TenantLogoView(StaffViewMixin, View):
    """The tenant's logo, served only to its own users."""

    def get(self, request):
        from django.http import FileResponse

        if not request.tenant.logo:
            raise Http404("No logo")
        return FileResponse(request.tenant.logo.open("rb"))


class AccountView(StaffViewMixin, TemplateView):
    """Your account: two-factor sign-in and your API token (issue, revoke)."""

    template_name = "billing_site/account.html"

    def get_context_data(self, **kwargs):
        from rest_framework.authtoken.models import Token

        from .api.tokens import token_expires_at, token_is_expired
        from .two_factor import confirmed_authenticator, is_required

        context = super().get_context_data(**kwargs)
        token = Token.objects.filter(user=self.request.user).first()
        context.update(
            two_factor=confirmed_authenticator(self.request.user),
            two_factor_required=is_required(self.request.membership),
            token=token,
            token_expires_at=token_expires_at(token) if token else None,
            token_expired=token_is_expired(token) if token else False,
            token_days=settings.API_TOKEN_DAYS,
        )
        return context

    def post(self, request):
        from .api.tokens import token_issue, token_revoke

        if request.POST.get("action") == "new":
            token = token_issue(user=request.user)
            messages.success(request, "New API token made; the one before no longer works.")
            return self.render_to_response(self.get_context_data(new_key=token.key))
        if request.POST.get("action") == "revoke":
            if token_revoke(user=request.user):
                messages.success(request, "API token revoked: requests with it are refused.")
            return redirect("account")
        return redirect("account")


def link_lifetime() -> str:
    """How long a one-time link works (``PASSWORD_RESET_TIMEOUT``), in words."""
    seconds = settings.PASSWORD_RESET_TIMEOUT
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset (single-use, time-limited links), saying how long the link works."""

    email_template_name = "registration/password_reset_email.txt"

    def get_context_data(self, **kwargs):
        return super().get_context_data(link_lifetime=link_lifetime(), **kwargs)

    def form_valid(self, form):
        self.extra_email_context = {"link_lifetime": link_lifetime()}
        return super().form_valid(form)
