"""Browser pages of the integrations: connections, OAuth callback, mapping, delivery log."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from billing_site.models import Organization
from billing_site.roles import Cap
from billing_site.views_base import StaffViewMixin
from invoices.models import Invoice

from .core import ledger, oauth, selectors, services
from .core.models import (
    ACCOUNTING_PROVIDERS,
    Connection,
    ConnectionStatus,
    Delivery,
    DeliveryStatus,
    Provider,
)
from .forms import DeliveryFilterForm, MappingForm, TenantChoiceForm


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def _callback_url(request, provider: str) -> str:
    """The redirect URI of ``provider`` (registered with the app at the provider)."""
    return request.build_absolute_uri(reverse(f"integrations:callback-{provider}"))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class ConnectionsView(StaffViewMixin, TemplateView):
    template_name = "integrations/connections.html"
    read_capability = Cap.MANAGE_TENANT

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        # "Connect" posts here and is redirected to the provider's consent page; the
        # browser applies this page's form-action to that redirect, so the providers'
        # authorization origins are allowed (django-csp's per-response update).
        response._csp_update = {
            "form-action": sorted(
                {
                    _origin(oauth.provider_settings(key)["authorize_url"])
                    for key in ACCOUNTING_PROVIDERS
                }
            )
        }
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        live = selectors.live_connections()
        context["providers"] = [
            {
                "key": key,
                "label": label,
                "connection": live.get(key),
                "next_run": selectors.next_run(live[key]) if key in live else None,
                "connect_url": reverse(f"integrations:connect-{key}"),
                "callback": _callback_url(self.request, key),
            }
            for key, label in Provider.choices
            if key in ACCOUNTING_PROVIDERS
        ]
        from .connectwise.views import connectwise_card

        context["connectwise"] = connectwise_card(self.request, live.get(Provider.CONNECTWISE))
        return context


class ConnectView(StaffViewMixin, View):
    write_capability = Cap.MANAGE_TENANT

    def post(self, request, provider: str):
        if provider not in ACCOUNTING_PROVIDERS:
            raise Http404("Unknown provider")
        callback = _callback_url(request, provider)
        try:
            url = services.connection_start(
                provider_key=provider, redirect_uri=callback, user=request.user
            )
        except ValidationError as error:
            messages.error(request, _error_text(error))
            return redirect("integrations:connections")
        return HttpResponseRedirect(url)


class CallbackView(StaffViewMixin, View):
    """Where the provider sends the browser back after consent (the redirect URI)."""

    read_capability = Cap.MANAGE_TENANT

    def get(self, request, provider: str):
        if provider not in ACCOUNTING_PROVIDERS:
            raise Http404("Unknown provider")
        try:
            connection = services.connection_complete(
                provider_key=provider,
                state=request.GET.get("state", ""),
                code=request.GET.get("code", ""),
                realm_id=request.GET.get("realmId", ""),
                error=request.GET.get("error", ""),
            )
        except ValidationError as error:
            messages.error(request, f"Not connected: {_error_text(error)}")
            return redirect("integrations:connections")
        if connection.status == ConnectionStatus.CHOOSE_TENANT:
            return redirect("integrations:choose-tenant", pk=connection.pk)
        messages.success(request, f"Connected to {connection}.")
        return redirect("integrations:connections")


class ChooseTenantView(StaffViewMixin, TemplateView):
    model = Connection
    template_name = "integrations/choose_tenant.html"
    read_capability = write_capability = Cap.MANAGE_TENANT

    def connection(self) -> Connection:
        return get_object_or_404(Connection.objects.all(), pk=self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        connection = self.connection()
        context.update(
            connection=connection,
            form=kwargs.get("form") or TenantChoiceForm(choices=connection.tenant_choices),
        )
        return context

    def post(self, request, pk: int):
        connection = self.connection()
        form = TenantChoiceForm(request.POST, choices=connection.tenant_choices)
        if form.is_valid():
            try:
                connection = services.connection_choose_tenant(
                    connection=connection, external_id=form.cleaned_data["tenant"]
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"Connected to {connection}.")
                return redirect("integrations:connections")
        return self.render_to_response(self.get_context_data(form=form))


class ConnectionActionView(StaffViewMixin, View):
    """Disconnect, switch auto-export, or sync payments now."""

    model = Connection
    write_capability = Cap.MANAGE_TENANT
    ACTIONS = ("disconnect", "auto-export", "sync", "schedule")

    def post(self, request, pk: int, what: str):
        connection = get_object_or_404(Connection.objects.all(), pk=pk)
        try:
            if what == "disconnect":
                services.connection_disconnect(connection=connection)
                messages.success(request, f"{connection} disconnected; nothing more is pushed.")
            elif what == "auto-export":
                on = request.POST.get("auto_export") == "on"
                services.connection_update(connection=connection, auto_export=on)
                messages.success(
                    request,
                    f"{connection}: invoices are {'pushed when finalised' if on else 'pushed only on request'}.",
                )
            elif what == "schedule":
                connection = services.connection_schedule_set(
                    connection=connection,
                    schedule=request.POST.get("schedule", ""),
                    day=request.POST.get("schedule_day") or None,
                )
                if connection.provider == Provider.CONNECTWISE:
                    when = (
                        f"every month on day {connection.schedule_day}"
                        if connection.schedule == "monthly"
                        else "only when you press “Send now”"
                    )
                    messages.success(request, f"{connection}: billing is sent {when}.")
                else:
                    when = (
                        f"monthly on day {connection.schedule_day}"
                        if connection.schedule == "monthly"
                        else "when they are finalised"
                    )
                    messages.success(request, f"{connection}: invoices are sent {when}.")
            elif what == "sync":
                result = services.payments_sync(connection=connection)
                if result.problems:
                    messages.error(request, "Payment sync: " + "; ".join(result.problems))
                else:
                    messages.success(
                        request,
                        f"Payment sync: {result.recorded} recorded, {result.removed} removed.",
                    )
            else:
                raise Http404("Unknown action")
        except ValidationError as error:
            messages.error(request, _error_text(error))
        return redirect("integrations:connections")


class CustomerScheduleView(StaffViewMixin, View):
    """A customer's schedule on one connection (from the customer's page)."""

    model = Organization
    write_capability = Cap.MANAGE_TENANT

    def post(self, request, pk: int):
        organization = get_object_or_404(Organization.objects.all(), pk=pk)
        chosen = request.POST.get("connection", "")
        connection = Connection.objects.filter(pk=chosen).first() if chosen.isdigit() else None
        if connection is None:
            messages.error(request, "Choose the connection whose schedule changes.")
        else:
            try:
                services.customer_schedule_set(
                    connection=connection,
                    organization=organization,
                    mode=request.POST.get("mode", ""),
                    day=request.POST.get("day") or None,
                )
            except ValidationError as error:
                messages.error(request, _error_text(error))
            else:
                messages.success(request, f"{organization}: schedule on {connection} saved.")
        if connection is not None and connection.provider == Provider.CONNECTWISE:
            return redirect(
                f"{reverse('integrations:connectwise-customer', args=[organization.pk])}#schedule"
            )
        return redirect(f"{reverse('customer-detail', args=[organization.pk])}#accounting-schedule")


class MappingView(StaffViewMixin, TemplateView):
    template_name = "integrations/mapping.html"
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_TENANT
    paginate_by = 50

    def system(self) -> str:
        system = (
            self.request.GET.get("system") or self.request.POST.get("system") or Provider.QUICKBOOKS
        )
        if system not in ACCOUNTING_PROVIDERS:
            raise Http404("Unknown system")
        return system

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        system = self.system()
        rows = ledger.ledger_rows(system)
        show = self.request.GET.get("show", "")
        missing_required = sum(1 for row in rows if row.required and row.mapping is None)
        if show == "unmapped":
            rows = [row for row in rows if row.mapping is None]
        page = Paginator(rows, self.paginate_by).get_page(self.request.GET.get("page"))
        context.update(
            system=system,
            systems=[(k, v) for k, v in Provider.choices if k in ACCOUNTING_PROVIDERS],
            show=show,
            page_obj=page,
            missing_required=missing_required,
            can_edit=self.can(Cap.MANAGE_TENANT),
        )
        return context

    def post(self, request):
        system = self.system()
        form = MappingForm(request.POST)
        if form.is_valid():
            try:
                ledger.mapping_set(system=system, **form.cleaned_data)
            except ValidationError as error:
                messages.error(request, _error_text(error))
            else:
                messages.success(request, "Mapping saved.")
        else:
            messages.error(
                request,
                "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()),
            )
        page = request.POST.get("page", "")
        suffix = f"&page={page}" if page.isdigit() else ""
        return redirect(f"{reverse('integrations:mapping')}?system={system}{suffix}")


class DeliveryListView(StaffViewMixin, TemplateView):
    template_name = "integrations/deliveries.html"
    read_capability = Cap.VIEW_BILLING
    paginate_by = 50

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = DeliveryFilterForm(self.request.GET or None)
        filters = form.cleaned_data if form.is_valid() else {}
        rows = selectors.delivery_list(
            status=filters.get("status") or "",
            action=filters.get("action") or "",
            provider=filters.get("provider") or "",
            search=(filters.get("q") or "").strip(),
            drift=bool(filters.get("drift")),
        )
        if form.is_bound and not form.is_valid():
            rows = rows.none()
        page = Paginator(rows, self.paginate_by).get_page(self.request.GET.get("page"))
        context.update(
            form=form,
            page_obj=page,
            can_retry=self.can(Cap.MANAGE_BILLING),
            # Connections are the owner's page: a link others would get a 403 from is left out.
            can_connect=self.can(Cap.MANAGE_TENANT),
            attention=selectors.attention(),
            retryable=selectors.retryable_failures(),
        )
        return context


class DeliveryDetailView(StaffViewMixin, TemplateView):
    model = Delivery
    template_name = "integrations/delivery_detail.html"
    read_capability = Cap.VIEW_BILLING

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        delivery = get_object_or_404(
            selectors.delivery_list().prefetch_related("attempt_log"), pk=self.kwargs["pk"]
        )
        if delivery.invoice_id:
            currency = delivery.invoice.currency
        elif delivery.organization_id:
            currency = delivery.organization.currency
        else:
            currency = ""
        context.update(delivery=delivery, currency=currency, can_retry=self.can(Cap.MANAGE_BILLING))
        return context


class DeliveryRetryView(StaffViewMixin, View):
    model = Delivery
    write_capability = Cap.MANAGE_BILLING

    def post(self, request, pk: int):
        delivery = get_object_or_404(Delivery.objects.all(), pk=pk)
        try:
            delivery = services.delivery_retry(delivery=delivery)
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            delivery.refresh_from_db()
            messages.success(
                request,
                f"Retried: {delivery.get_status_display().lower()}. {delivery.last_error or delivery.summary}",
            )
        return redirect(request.POST.get("next") or reverse("integrations:deliveries"))


class DeliveriesRetryFailedView(StaffViewMixin, View):
    write_capability = Cap.MANAGE_BILLING

    def post(self, request):
        try:
            rows = services.deliveries_retry_failed()
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(request, f"{len(rows)} failed deliveries are being retried.")
        return redirect("integrations:deliveries")


class InvoicePushView(StaffViewMixin, View):
    model = Invoice
    write_capability = Cap.MANAGE_BILLING

    def post(self, request, pk: int):
        invoice = get_object_or_404(Invoice.objects.all(), pk=pk)
        try:
            rows = services.invoice_push(invoice=invoice)
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            sending = [str(d.connection) for d in rows if d.status != DeliveryStatus.DONE]
            done = [str(d.connection) for d in rows if d.status == DeliveryStatus.DONE]
            parts = [f"sending to {', '.join(sending)}"] if sending else []
            parts += [f"already in {', '.join(done)}"] if done else []
            messages.success(request, f"{invoice.number}: {'; '.join(parts)}.")
        return redirect("invoices:invoice-detail", pk=invoice.pk)
