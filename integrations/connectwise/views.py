"""Browser pages of the ConnectWise PSA integration: the connection card (Settings ›
Integrations), "Test connection", "Send now", and each customer's ConnectWise tab
(company, product ↔ agreement, schedule)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from billing_site.models import Organization
from billing_site.roles import Cap
from billing_site.views_base import StaffViewMixin
from integrations.core import ledger, schedules, selectors
from integrations.core.errors import ProviderError
from integrations.core.models import Delivery, DeliveryAction, MappingKind

from . import mapping, services
from .client import ConnectWiseClient


class ConnectionForm(forms.Form):
    site = forms.CharField(
        max_length=255, help_text="e.g. api-na.myconnectwise.net (api-eu, api-au for the cloud)"
    )
    company = forms.CharField(
        max_length=64, label="Company id", help_text="The company you log in to ConnectWise with."
    )
    public_key = forms.CharField(max_length=200, label="Public key")
    private_key = forms.CharField(
        max_length=200, label="Private key", widget=forms.PasswordInput(render_value=False)
    )


def _words(error: ValidationError) -> str:
    return " ".join(error.messages)


def connectwise_card(request, connection) -> dict:
    """What the connections page shows of ConnectWise."""
    last = None
    if connection is not None:
        last = (
            Delivery.objects.filter(
                connection=connection, action=DeliveryAction.PUSH, period_start__isnull=False
            )
            .exclude(done_at__isnull=True)
            .order_by("-done_at")
            .first()
        )
    initial = {}
    if connection is not None:
        initial = {"site": connection.site, "company": connection.external_id}
    return {
        "connection": connection,
        "form": ConnectionForm(initial=initial),
        "next_run": selectors.next_run(connection) if connection is not None else None,
        "last_run": last,
        "customers": len(services.mapped_customer_ids()) if connection is not None else 0,
    }


class ConnectView(StaffViewMixin, View):
    """Save the site, company and keys (tried before they are stored)."""

    write_capability = Cap.MANAGE_TENANT

    def post(self, request):
        form = ConnectionForm(request.POST)
        if not form.is_valid():
            messages.error(
                request,
                "ConnectWise: "
                + "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items()),
            )
            return redirect(f"{reverse('integrations:connections')}#provider-connectwise")
        try:
            connection = services.connection_save(user=request.user, **form.cleaned_data)
        except ValidationError as error:
            messages.error(request, f"ConnectWise: {_words(error)}")
        else:
            messages.success(
                request,
                f"Connected to ConnectWise ({connection.external_name}, codebase "
                f"{connection.codebase}). Use “Test connection” to check the permissions.",
            )
        return redirect(f"{reverse('integrations:connections')}#provider-connectwise")


class TestView(StaffViewMixin, View):
    write_capability = Cap.MANAGE_TENANT

    def post(self, request):
        connection = services.live_connection()
        if connection is None:
            messages.error(request, "ConnectWise is not connected.")
        else:
            for check in services.connection_test(connection=connection):
                (messages.success if check.ok else messages.error)(
                    request, f"{check.label}: {check.words}"
                )
        return redirect(f"{reverse('integrations:connections')}#provider-connectwise")


class SendNowView(StaffViewMixin, View):
    """Push the current month for every matched customer now."""

    write_capability = Cap.MANAGE_BILLING

    def post(self, request):
        connection = services.live_connection()
        try:
            if connection is None:
                raise ValidationError({"connection": "ConnectWise is not connected."})
            result = services.send_now(connection=connection)
        except ValidationError as error:
            messages.error(request, _words(error))
        else:
            messages.success(request, f"ConnectWise: {result.message}")
        return redirect(f"{reverse('integrations:connections')}#provider-connectwise")


class CustomerView(StaffViewMixin, TemplateView):
    """A customer's ConnectWise tab: company, product ↔ agreement, schedule."""

    model = Organization
    template_name = "integrations/connectwise_customer.html"
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_TENANT

    def organization(self) -> Organization:
        return get_object_or_404(Organization.objects.all(), pk=self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        from contracts.models import Product

        context = super().get_context_data(**kwargs)
        organization = self.organization()
        connection = services.live_connection()
        book = ledger.ledger(mapping.SYSTEM)
        company = book.get(MappingKind.CUSTOMER, str(organization.pk))
        search = self.request.GET.get("search", "").strip()
        chosen_type = self.request.GET.get("type", "")
        suggestions, agreements, problem = [], [], ""
        if connection is not None and connection.is_active:
            try:
                with ConnectWiseClient(connection) as api:
                    if company is None or search:
                        suggestions = mapping.companies_matching(
                            api,
                            identifier=organization.company_number,
                            name=search or organization.name,
                        )
                    if company is not None and company.external_id:
                        agreements = mapping.company_agreements(api, company.external_id)
            except (ProviderError, ValidationError) as exc:
                problem = exc.message if isinstance(exc, ProviderError) else _words(exc)
        types = sorted({a["type"] for a in agreements if a["type"]})
        offered = [a for a in agreements if not chosen_type or a["type"] == chosen_type]
        period = schedules.month_of(schedules.local_today(self.request.tenant.time_zone, _now()))
        month, month_problems = mapping.month_products(organization.pk, period)
        rows = []
        for product in Product.objects.filter(is_active=True).order_by("sku"):
            row = book.get(
                MappingKind.AGREEMENT, mapping.agreement_key(organization.pk, product.sku)
            )
            rows.append(
                {
                    "product": product,
                    "agreement": row,
                    "this_month": month.get(product.sku),
                }
            )
        schedule = [
            r
            for r in selectors.customer_schedule_rows(organization=organization)
            if connection is not None and r.connection.pk == connection.pk
        ]
        context.update(
            organization=organization,
            connection=connection,
            company=company,
            suggestions=suggestions,
            search=search,
            agreements=offered,
            types=types,
            chosen_type=chosen_type,
            problem=problem,
            rows=rows,
            unmapped=[r for r in rows if r["this_month"] and not r["agreement"]],
            period=period,
            month_problems=month_problems,
            schedule=schedule[0] if schedule else None,
            deliveries=list(
                selectors.delivery_list().filter(organization=organization, connection=connection)[
                    :12
                ]
            )
            if connection is not None
            else [],
            can_edit=self.can(Cap.MANAGE_TENANT),
        )
        return context

    def post(self, request, pk: int):
        organization = self.organization()
        what = request.POST.get("what", "")
        try:
            if what == "company":
                services.customer_company_set(
                    organization=organization,
                    company_id=request.POST.get("company_id", ""),
                    company_name=request.POST.get("company_name", ""),
                )
                messages.success(request, f"{organization.name}: ConnectWise company saved.")
            elif what == "agreement":
                value = request.POST.get("agreement", "")
                agreement_id, _, name = value.partition("::")
                services.product_agreement_set(
                    organization=organization,
                    sku=request.POST.get("sku", ""),
                    agreement_id=agreement_id,
                    agreement_name=name,
                )
                messages.success(request, f"{organization.name}: agreement saved.")
            elif what == "send-now":
                connection = services.live_connection()
                if connection is None:
                    raise ValidationError({"connection": "ConnectWise is not connected."})
                result = services.send_now(connection=connection, organization=organization)
                messages.success(request, f"ConnectWise: {result.message}")
            else:
                messages.error(request, "Choose what to change.")
        except ValidationError as error:
            messages.error(request, _words(error))
        suffix = f"?type={request.POST['type']}" if request.POST.get("type") else ""
        return redirect(f"{reverse('integrations:connectwise-customer', args=[pk])}{suffix}")


def _now():
    return timezone.now()
