"""Browser views of the contracts app. Thin: parse, authorize (StaffViewMixin), call one
service or selector, render."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import DetailView, FormView, TemplateView

from billing_site.date_fields import DateField
from billing_site.models import MAX_ID, Organization
from billing_site.money import format_money
from billing_site.roles import Cap
from billing_site.selectors import organization_tax_rate
from billing_site.timeutils import format_duration
from billing_site.views_base import ScopedObjectMixin, StaffViewMixin, apply_errors
from invoices.models import InvoiceLine
from sessions.models import RemoteSession

from . import budgets, pricing, selectors, services
from .choices import (
    BillingState,
    ContractStatus,
    ContractType,
    TicketStatus,
    TimeEntryState,
)
from .forms import (
    AttachmentForm,
    BlockPurchaseForm,
    ContractForm,
    LogSessionForm,
    ProductForm,
    ProductLineForm,
    RateRuleForm,
    ServiceTypeForm,
    TeamForm,
    TicketForm,
    TicketStatusForm,
    TimeEntryForm,
    TimerStartForm,
    TimerStopForm,
)
from .models import (
    BlockPurchase,
    Contract,
    ContractProductLine,
    Product,
    RateRule,
    ServiceType,
    Team,
    Ticket,
    TicketAttachment,
    TimeEntry,
)
from .pricing.periods import contract_periods, period_containing

PAGE_SIZE = 25


def _today(request) -> dt.date:
    return timezone.localdate(timezone=request.tenant.zone)


def _date_param(source, name: str) -> tuple[dt.date | None, str]:
    """A date from a query string or form through the shared date field: ``(day, "")``,
    ``(None, "")`` when it is not given, ``(None, reason)`` when it is refused (not a date,
    or outside the storable range)."""
    raw = (source.get(name) or "").strip()
    if not raw:
        return None, ""
    try:
        return DateField().clean(raw), ""
    except ValidationError as error:
        return None, " ".join(error.messages)


def _scoped(model, pk):
    """An object of the current tenant by id from a query string, or None."""
    try:
        return model.objects.get(pk=int(pk)) if pk else None
    except (ValueError, model.DoesNotExist):
        return None


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


class HtmxPartialMixin:
    """An htmx request (filters, paging, bulk actions) gets only the table, not the page."""

    partial_template_name = ""

    def get_template_names(self):
        if self.request.htmx:
            return [self.partial_template_name]
        return [self.template_name]


class ModelObjectMixin(ScopedObjectMixin):
    """The URL's ``pk`` of ``model`` through its scoped manager: another tenant's id is a 404."""

    def get_queryset(self):
        return self.model.objects.all()


class EditObjectMixin(ModelObjectMixin):
    """A create form view turned into the edit form of the URL's object."""

    def get_form_kwargs(self):
        self.object = self.get_object()
        return super().get_form_kwargs()


# ------------------------------------------------------------------ contracts


class ContractListView(StaffViewMixin, HtmxPartialMixin, TemplateView):
    template_name = "contracts/contract_list.html"
    partial_template_name = "contracts/_contract_table.html"
    read_capability = Cap.VIEW_BILLING

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        get = self.request.GET
        filters = {
            "search": get.get("q", "").strip(),
            "customer": _scoped(Organization, get.get("customer")),
            "billing_organization": _scoped(Organization, get.get("billing_organization")),
            "contract_type": get.get("type", "") if get.get("type") in ContractType.values else "",
            "status": get.get("status", "active") if get.get("status") != "all" else "",
        }
        if filters["status"] and filters["status"] not in ContractStatus.values:
            filters["status"] = ""
        page = _page(self.request, selectors.contract_list(**filters))
        as_of = _today(self.request)
        states = selectors.contract_billing_state(list(page.object_list), as_of)
        context.update(
            page_obj=page,
            rows=[(contract, states[contract.pk]) for contract in page.object_list],
            filters=filters,
            status_value=get.get("status", "active"),
            organizations=Organization.objects.order_by("name").only("id", "name"),
            contract_types=ContractType.choices,
            statuses=ContractStatus.choices,
            as_of=as_of,
            can_manage=self.can(Cap.MANAGE_BILLING),
        )
        return context


class ContractDetailView(StaffViewMixin, ScopedObjectMixin, DetailView):
    model = Contract
    template_name = "contracts/contract_detail.html"
    read_capability = Cap.VIEW_BILLING

    def get_queryset(self):
        return Contract.objects.select_related("customer", "billing_organization")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        contract = self.object
        as_of, as_of_error = _date_param(self.request.GET, "as_of")
        can_manage = self.can(Cap.MANAGE_BILLING)
        common = {
            "BillingState": BillingState,
            "product_lines": contract.product_lines.select_related("product"),
            "block_purchases": contract.block_purchases.all(),
            "tickets": contract.tickets.select_related("assigned_to").order_by("-number")[:10],
            "rate_rules": selectors.rate_rules_by_specificity(
                selectors.rate_rule_list().filter(contract=contract)
            ),
            "can_manage": can_manage,
            # Tickets are opened by roles that log work; the link is not shown to others.
            "can_log": self.can(Cap.LOG_WORK),
            "line_form": ProductLineForm() if can_manage else None,
            "budget": budgets.budget_of(contract),
        }
        if as_of_error:
            # A refused "as of" shows its error and no figures as of another day.
            context.update(
                common, as_of_error=as_of_error, as_of_value=self.request.GET.get("as_of")
            )
            return context
        as_of = as_of or _today(self.request)
        book = pricing.load_rate_book()
        state = selectors.contract_billing_state([contract], as_of, book=book)[contract.pk]
        current = period_containing(contract, as_of)
        periods = contract_periods(contract, current.end)[-6:]
        if contract.end_date is None or current.end < contract.end_date:
            periods.append(period_containing(contract, current.end + dt.timedelta(days=1)))
        amounts = pricing.contract_period_amounts([(contract, p) for p in periods], book=book)
        period_rows = []
        for period, amount in zip(periods, amounts, strict=True):
            status = "closed" if period.usage_due(as_of) else "open"
            if period.start > as_of:
                status = "upcoming"
            period_rows.append({"period": period, "amount": amount, "status": status})
        context.update(
            common,
            as_of=as_of,
            state=state,
            period_rows=list(reversed(period_rows)),
            balance=pricing.block_balances([contract], book=book).get(contract.pk),
            block_form=BlockPurchaseForm(initial={"purchased_on": as_of}) if can_manage else None,
        )
        return context


class ContractFormView(StaffViewMixin, FormView):
    template_name = "contracts/contract_form.html"
    form_class = ContractForm
    read_capability = write_capability = Cap.MANAGE_BILLING
    object = None

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "instance": self.object or Contract()}

    def get_context_data(self, **kwargs):
        return super().get_context_data(object=self.object, **kwargs)

    def form_valid(self, form):
        data = {name: value for name, value in form.cleaned_data.items()}
        budget = budgets.pop_budget(data)
        try:
            if self.object is None:
                contract = budgets.save_with_budget(
                    lambda: services.contract_create(**data),
                    budget,
                    currency=_contract_currency(data, None),
                )
                messages.success(self.request, f"Contract “{contract.name}” created.")
            else:
                data.pop("customer", None)
                contract = budgets.save_with_budget(
                    lambda: services.contract_update(contract=self.object, **data),
                    budget,
                    currency=_contract_currency(data, self.object),
                )
                messages.success(self.request, "Contract saved.")
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        return redirect("contracts:contract-detail", pk=contract.pk)


def _contract_currency(data: dict, contract: Contract | None) -> str:
    """The currency a contract form saves (as ``contract_create`` defaults it)."""
    if data.get("currency"):
        return data["currency"]
    if contract is not None:
        return contract.currency
    organization = data.get("billing_organization") or data.get("customer")
    return organization.currency if organization else ""


class ContractCreateView(ContractFormView):
    def get_initial(self):
        customer = _scoped(Organization, self.request.GET.get("customer"))
        # Taxable when a rate is known (the customer's, else the tenant's default); the rate
        # is left empty so the billing organization chosen decides it when saving.
        rate = organization_tax_rate(organization=customer, tenant=self.request.tenant)
        return {
            "customer": customer,
            "start_date": _today(self.request),
            "taxable": rate > 0,
            "tax_rate": None,
        }


class ContractUpdateView(EditObjectMixin, ContractFormView):
    model = Contract


class ScopedPostView(StaffViewMixin, ModelObjectMixin, View):
    """A POST-only action on one object of the current tenant."""

    read_capability = write_capability = Cap.MANAGE_BILLING
    http_method_names = ["post"]


class ContractFormPostView(ScopedPostView):
    """POST a small form for a contract (from its detail page) to one service.

    Errors go to a flash message, not a page of their own, and the user is always sent back
    to the contract.
    """

    model = Contract
    form_class = None
    service = None
    success_message = ""
    error_prefix = ""

    def post(self, request, pk):
        contract = self.get_object()
        form = self.form_class(request.POST)
        if form.is_valid():
            try:
                type(self).service(contract=contract, **form.cleaned_data)
                messages.success(request, self.success_message)
            except ValidationError as error:
                messages.error(request, self.error_prefix + " ".join(error.messages))
        else:
            messages.error(request, self.error_prefix + _form_errors(form))
        return redirect("contracts:contract-detail", pk=contract.pk)


class ContractLineAddView(ContractFormPostView):
    form_class = ProductLineForm
    service = staticmethod(services.contract_product_line_add)
    success_message = "Product line added."
    error_prefix = "Product line not added: "


class ContractLineRemoveView(ScopedPostView):
    model = ContractProductLine

    def post(self, request, pk):
        line = self.get_object()
        try:
            services.contract_product_line_remove(line=line)
            messages.success(request, "Product line removed.")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect("contracts:contract-detail", pk=line.contract_id)


class BlockPurchaseAddView(ContractFormPostView):
    form_class = BlockPurchaseForm
    service = staticmethod(services.block_purchase_create)
    success_message = "Block purchase recorded; it is due from its date."
    error_prefix = "Block not recorded: "


class BlockPurchaseRemoveView(ScopedPostView):
    model = BlockPurchase

    def post(self, request, pk):
        purchase = self.get_object()
        try:
            services.block_purchase_delete(purchase=purchase)
            messages.success(request, "Block purchase deleted.")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect("contracts:contract-detail", pk=purchase.contract_id)


# -------------------------------------------------------------------- budgets


def _budget_filters(source) -> dict:
    state, kind = source.get("state", ""), source.get("kind", "")
    return {
        "customer": _scoped(Organization, source.get("customer")),
        "state": state if state in budgets.BudgetState.values else "",
        "kind": kind if kind in budgets.TargetKind.values else "",
    }


class BudgetReportView(StaffViewMixin, HtmxPartialMixin, TemplateView):
    """Every budget of contracts and tickets: used against budget, share and state."""

    template_name = "contracts/budget_report.html"
    partial_template_name = "contracts/_budget_table.html"
    read_capability = Cap.VIEW_BILLING

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filters = _budget_filters(self.request.GET)
        page = _page(self.request, budgets.budget_report(**filters))
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(
            page_obj=page,
            filters=filters,
            states=budgets.BudgetState.choices,
            kinds=budgets.TargetKind.choices,
            organizations=Organization.objects.order_by("name").only("id", "name"),
            query=query.urlencode(),
        )
        return context


class BudgetReportCsvView(StaffViewMixin, View):
    """The budget report's rows (same filters, every page) as a CSV file."""

    read_capability = Cap.VIEW_BILLING
    http_method_names = ["get"]

    def get(self, request):
        rows = budgets.budget_report(**_budget_filters(request.GET))
        response = HttpResponse(budgets.budget_csv(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="budgets.csv"'
        return response


def _form_errors(form) -> str:
    return "; ".join(
        f"{form.fields[name].label if name in form.fields else ''}: {' '.join(errors)}".strip(": ")
        for name, errors in form.errors.items()
    )


# -------------------------------------------------------------------- catalog


class CatalogView(StaffViewMixin, TemplateView):
    template_name = "contracts/catalog.html"
    read_capability = Cap.VIEW_BILLING

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        search = self.request.GET.get("q", "").strip()
        context.update(
            search=search,
            page_obj=_page(self.request, selectors.product_list(search=search)),
            service_types=selectors.service_type_list(),
            teams=selectors.team_list(),
            can_manage=self.can(Cap.MANAGE_BILLING),
        )
        return context


class CatalogFormView(StaffViewMixin, FormView):
    """Create or edit a catalog object (product, service type) through its services."""

    template_name = "contracts/simple_form.html"
    read_capability = write_capability = Cap.MANAGE_BILLING
    model = None
    title = ""
    create_service = None
    update_service = None
    update_kwarg = ""
    object = None

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.editing = "pk" in kwargs

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        if self.editing:
            self.object = ScopedObjectMixin.get_object(self, self.model.objects.all())
        kwargs["instance"] = self.object or self.model()
        return kwargs

    def get_context_data(self, **kwargs):
        title = f"Edit {self.object}" if self.object else f"New {self.title}"
        return super().get_context_data(
            title=title, back_url=reverse("contracts:catalog"), **kwargs
        )

    def form_valid(self, form):
        try:
            if self.object is None:
                type(self).create_service(**form.cleaned_data)
            else:
                type(self).update_service(**{self.update_kwarg: self.object}, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"{self.title.capitalize()} saved.")
        return redirect("contracts:catalog")


class ProductFormView(CatalogFormView):
    model = Product
    form_class = ProductForm
    title = "product"
    create_service = staticmethod(services.product_create)
    update_service = staticmethod(services.product_update)
    update_kwarg = "product"


class ServiceTypeFormView(CatalogFormView):
    model = ServiceType
    form_class = ServiceTypeForm
    title = "service type"
    create_service = staticmethod(services.service_type_create)
    update_service = staticmethod(services.service_type_update)
    update_kwarg = "service_type"


class TeamFormView(StaffViewMixin, FormView):
    template_name = "contracts/simple_form.html"
    form_class = TeamForm
    read_capability = write_capability = Cap.MANAGE_BILLING
    model = Team
    object = None

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.editing = "pk" in kwargs

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        if self.editing:
            self.object = ScopedObjectMixin.get_object(self, Team.objects.all())
            kwargs["initial"] = {
                "name": self.object.name,
                "description": self.object.description,
                "members": list(self.object.members.all()),
            }
        return kwargs

    def get_context_data(self, **kwargs):
        title = f"Edit team {self.object}" if self.object else "New team"
        return super().get_context_data(
            title=title, back_url=reverse("contracts:catalog"), **kwargs
        )

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            if self.object is None:
                services.team_create(
                    name=data["name"], description=data["description"], members=data["members"]
                )
            else:
                services.team_update(
                    team=self.object,
                    name=data["name"],
                    description=data["description"],
                    members=data["members"],
                )
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, "Team saved.")
        return redirect("contracts:catalog")


# -------------------------------------------------------------------- tickets


class TicketListView(StaffViewMixin, HtmxPartialMixin, TemplateView):
    template_name = "contracts/ticket_list.html"
    partial_template_name = "contracts/_ticket_table.html"
    read_capability = Cap.VIEW_WORK

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        get = self.request.GET
        status = get.get("status", "")
        assigned = get.get("assigned", "")
        filters = {
            "search": get.get("q", "").strip(),
            "status": status if status in TicketStatus.values else "",
            "include_completed": get.get("completed") == "1",
            "organization": _scoped(Organization, get.get("organization")),
            "contract": _scoped(Contract, get.get("contract")),
            "assigned_to": self.request.user if assigned == "me" else None,
        }
        context.update(
            page_obj=_page(self.request, selectors.ticket_list(**filters)),
            filters=filters,
            assigned=assigned,
            statuses=TicketStatus.choices,
            organizations=Organization.objects.order_by("name").only("id", "name"),
            can_log=self.can(Cap.LOG_WORK),
        )
        return context


class TicketDetailView(StaffViewMixin, ScopedObjectMixin, DetailView):
    """A ticket and its work history; technicians log time, upload files, change status."""

    model = Ticket
    template_name = "contracts/ticket_detail.html"
    read_capability = Cap.VIEW_WORK
    write_capability = Cap.LOG_WORK
    upload_kind = "attachment"  # request size limit (billing_site/uploads.py)

    def get_queryset(self):
        return Ticket.objects.select_related(
            "organization", "contract", "contract__billing_organization", "contact", "assigned_to"
        )

    def _forms(self, bound: dict | None = None):
        ticket = self.object
        zone = self.request.tenant.zone
        forms = {
            "time_form": TimeEntryForm(
                zone=zone,
                organization=ticket.organization,
                initial={"work_date": _today(self.request), "contract": ticket.contract},
            ),
            "attachment_form": AttachmentForm(),
            "status_form": TicketStatusForm(initial={"status": ticket.status}),
        }
        forms.update(bound or {})
        return forms

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        history = selectors.ticket_work_history(self.object)
        entries = [item["entry"] for item in history if item["kind"] == "time"]
        context.update(
            history=history,
            worked_seconds=sum(e.worked_seconds for e in entries),
            billable_seconds=sum(e.worked_seconds for e in entries if e.billable),
            can_log=self.can(Cap.LOG_WORK),
            zone=self.request.tenant.time_zone,
            budget=budgets.budget_of(self.object),
            # Amounts are billing figures: other roles see the hours and the share used.
            show_money=self.can(Cap.VIEW_BILLING),
            can_edit_budget=self.can(Cap.MANAGE_BILLING),
        )
        if context["can_log"]:
            context.update(self._forms(kwargs.get("bound")))
        return context

    def post(self, request, pk):
        self.object = self.get_object()
        ticket = self.object
        action = request.POST.get("action")
        if action == "time":
            form = TimeEntryForm(
                request.POST, zone=request.tenant.zone, organization=ticket.organization
            )
            if form.is_valid():
                try:
                    services.time_entry_create(
                        technician=request.user, ticket=ticket, **form.entry_data()
                    )
                    messages.success(request, "Time logged; it awaits approval.")
                    return redirect("contracts:ticket-detail", pk=ticket.pk)
                except ValidationError as error:
                    apply_errors(form, error)
            return self._invalid(time_form=form)
        if action == "attachment":
            form = AttachmentForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    services.ticket_attachment_add(
                        ticket=ticket, file=form.cleaned_data["file"], uploaded_by=request.user
                    )
                    messages.success(request, "File attached.")
                    return redirect("contracts:ticket-detail", pk=ticket.pk)
                except ValidationError as error:
                    apply_errors(form, error)
            return self._invalid(attachment_form=form)
        if action == "status":
            form = TicketStatusForm(request.POST)
            if form.is_valid():
                services.ticket_update(ticket=ticket, status=form.cleaned_data["status"])
                messages.success(request, f"Status: {ticket.get_status_display()}.")
                return redirect("contracts:ticket-detail", pk=ticket.pk)
            return self._invalid(status_form=form)
        messages.error(request, "Unknown action.")
        return redirect("contracts:ticket-detail", pk=ticket.pk)

    def _invalid(self, **bound):
        context = self.get_context_data(object=self.object, bound=bound)
        return self.render_to_response(context, status=400)


class TicketFormView(StaffViewMixin, FormView):
    template_name = "contracts/simple_form.html"
    form_class = TicketForm
    read_capability = write_capability = Cap.LOG_WORK
    object = None

    def get_form_kwargs(self):
        return {
            **super().get_form_kwargs(),
            "instance": self.object or Ticket(),
            "can_budget": self.can(Cap.MANAGE_BILLING),
        }

    def get_context_data(self, **kwargs):
        title = f"Edit {self.object}" if self.object else "New ticket"
        back = (
            reverse("contracts:ticket-detail", args=[self.object.pk])
            if self.object
            else reverse("contracts:ticket-list")
        )
        return super().get_context_data(title=title, back_url=back, **kwargs)

    def form_valid(self, form):
        data = dict(form.cleaned_data)
        budget = budgets.pop_budget(data)
        contract = data.get("contract")
        organization = data.get("organization")
        currency = contract.currency if contract else getattr(organization, "currency", "")
        try:
            if self.object is None:
                ticket = budgets.save_with_budget(
                    lambda: services.ticket_create(created_by=self.request.user, **data),
                    budget,
                    currency=currency,
                )
                messages.success(self.request, f"Ticket {ticket.reference} opened.")
            else:
                ticket = budgets.save_with_budget(
                    lambda: services.ticket_update(ticket=self.object, **data),
                    budget,
                    currency=currency,
                )
                messages.success(self.request, "Ticket saved.")
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        return redirect("contracts:ticket-detail", pk=ticket.pk)


class TicketCreateView(TicketFormView):
    def get_initial(self):
        organization = _scoped(Organization, self.request.GET.get("organization"))
        return {"organization": organization, "assigned_to": self.request.user}


class TicketUpdateView(EditObjectMixin, TicketFormView):
    model = Ticket


class AttachmentDownloadView(StaffViewMixin, ModelObjectMixin, View):
    """Serves a ticket attachment to staff of its tenant only (never a public media URL)."""

    model = TicketAttachment
    read_capability = Cap.VIEW_WORK
    http_method_names = ["get"]

    def get(self, request, pk):
        from .api.views import attachment_response

        return attachment_response(self.get_object())


# -------------------------------------------------------------- time tracking


def _monday(day: dt.date) -> dt.date:
    return selectors.week_start(day)


class TimesheetView(StaffViewMixin, TemplateView):
    """The technician's week (grid of rows × Mon–Sun) and the browser timer.

    A refused save shows the week as typed: every value kept, the cell or row at fault
    marked with its message; nothing is saved. "Add a row" without JavaScript posts the
    grid back the same way and gets one more empty row.
    """

    template_name = "contracts/timesheet.html"
    read_capability = write_capability = Cap.LOG_WORK
    blank_rows = 3

    def get(self, request, *args, **kwargs):
        week, error = _date_param(request.GET, "week")
        if error:
            # A refused week shows its error and no grid of another week.
            today = _today(request)
            context = super().get_context_data(
                week_error=error,
                week_value=request.GET.get("week"),
                today=today,
                previous_week=today - dt.timedelta(days=7),
                next_week=today + dt.timedelta(days=7),
                running=selectors.running_timer(technician=request.user),
            )
            return self.render_to_response(context)
        return super().get(request, *args, start=_monday(week or _today(request)), **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        start = kwargs.get("start") or _monday(_today(self.request))
        week_rows = selectors.timesheet_week(technician=self.request.user, start=start)
        days = [start + dt.timedelta(days=i) for i in range(7)]
        errors = kwargs.get("errors") or {}
        posted = kwargs.get("posted")
        if posted is None:
            lines = [_week_line(index, row) for index, row in enumerate(week_rows)]
            lines += [
                _blank_line(index) for index in range(len(lines), len(lines) + self.blank_rows)
            ]
        else:
            lines = _posted_lines(posted, week_rows, errors)
            lines += [_blank_line(len(lines) + n) for n in range(kwargs.get("add_rows", 0))]
        template_line = _blank_line("__n__")
        for line in [*lines, template_line]:
            _finish_line(line, days)
        totals = [sum(line["cells"][day]["seconds"] for line in lines) for day in range(7)]
        start_form = TimerStartForm()
        context.update(
            start=start,
            days=days,
            grid=lines,
            row_count=len(lines),
            template_line=template_line,
            totals=totals,
            week_total=sum(totals),
            previous_week=start - dt.timedelta(days=7),
            next_week=start + dt.timedelta(days=7),
            running=selectors.running_timer(technician=self.request.user),
            start_form=start_form,
            stop_form=TimerStopForm(),
            tickets=start_form.fields["ticket"].queryset,
            contracts=start_form.fields["contract"].queryset,
            service_types=start_form.fields["service_type"].queryset,
            billable_choices=TIMESHEET_BILLABLE_CHOICES,
            errors=errors,
            error_list=_error_list(lines, days),
            today=_today(self.request),
        )
        return context

    def post(self, request):
        week, error = _date_param(request.POST, "week")
        if error:
            messages.error(request, f"Nothing was saved: week: {error}")
            return self.render_to_response(
                super().get_context_data(week_error=error, today=_today(request)), status=400
            )
        start = _monday(week or _today(request))
        rows, errors = _parse_grid(request.POST)
        if "add_row" in request.POST:
            # Without JavaScript: the grid as typed, one row longer; nothing saved yet.
            context = self.get_context_data(start=start, posted=rows, add_rows=1)
            return self.render_to_response(context)
        if not errors:
            try:
                changed = services.timesheet_save(
                    technician=request.user, week_start=start, rows=rows
                )
                messages.success(request, f"Timesheet saved ({changed} day(s) changed).")
                return HttpResponseRedirect(
                    f"{reverse('contracts:timesheet')}?week={start.isoformat()}"
                )
            except ValidationError as error:
                errors = {key: " ".join(value) for key, value in error.message_dict.items()}
        messages.error(request, "Nothing was saved: fix the marked rows and cells.")
        context = self.get_context_data(start=start, errors=errors, posted=rows)
        return self.render_to_response(context, status=400)


TIMESHEET_BILLABLE_CHOICES = [
    ("", "As the service type"),
    ("yes", "Billable"),
    ("no", "Non-billable"),
]
# More rows than a week's grid needs; a longer post is cut here.
MAX_TIMESHEET_ROWS = 200


def _billable_value(billable: bool | None) -> str:
    return "" if billable is None else ("yes" if billable else "no")


def _cell(value: str, seconds: int, *, locked=False, other=0, error=None) -> dict:
    # ``seconds`` counts what the cell adds to the totals: the value typed (when it reads
    # as hours) and the time of other sources beside it.
    return {"value": value, "seconds": seconds, "locked": locked, "other": other, "error": error}


def _week_line(index: int, row: selectors.TimesheetRow) -> dict:
    return {
        "index": index,
        "fixed": True,
        "ticket": row.ticket,
        "contract": row.contract,
        "service_type": row.service_type,
        "billable": row.billable,
        "billable_value": _billable_value(row.billable),
        "error": None,
        "cells": [
            _cell(
                _hours_text(cell["seconds"]),
                cell["seconds"] + cell["other_seconds"],
                locked=cell["locked"],
                other=cell["other_seconds"],
            )
            for cell in row.cells
        ],
    }


def _blank_line(index: int) -> dict:
    return {
        "index": index,
        "fixed": False,
        "ticket": None,
        "contract": None,
        "service_type": None,
        "billable": None,
        "billable_value": "",
        "error": None,
        "cells": [_cell("", 0) for _ in range(7)],
    }


def _posted_lines(posted: list[dict], week_rows, errors: dict[str, str]) -> list[dict]:
    """The grid as it was posted: each row's choices and typed values, the cells and rows
    at fault marked; rows already saved keep what the week says about them (approved
    cells, time from other sources), and rows saved meanwhile are added after them."""
    saved = {row.key: row for row in week_rows}
    lines, shown = [], set()
    for index, row in enumerate(posted):
        ticket, service_type = row["ticket"], row["service_type"]
        contract = row["contract"] or (ticket.contract if ticket else None)
        week_row = None
        if row["fixed"] and contract is not None:
            billable = services.timesheet_row_billable(
                billable=row["billable"], service_type=service_type
            )
            key = (ticket.pk if ticket else None, contract.pk, getattr(service_type, "pk", None))
            week_row = saved.get((*key, billable))
            if week_row is not None:
                shown.add(week_row.key)
        cells = []
        for day in range(7):
            week_cell = week_row.cells[day] if week_row else None
            other = week_cell["other_seconds"] if week_cell else 0
            cells.append(
                _cell(
                    row["raw"][day],
                    (row["seconds"][day] or 0) + other,
                    locked=bool(week_cell and week_cell["locked"]),
                    other=other,
                    error=errors.get(f"row-{index}-d{day}"),
                )
            )
        lines.append(
            {
                "index": index,
                "fixed": week_row is not None,
                "ticket": ticket,
                "contract": contract if week_row is not None else row["contract"],
                "service_type": service_type,
                "billable": row["billable"] if week_row is None else week_row.billable,
                "billable_value": _billable_value(
                    row["billable"] if week_row is None else week_row.billable
                ),
                "error": errors.get(f"row-{index}"),
                "cells": cells,
            }
        )
    for week_row in week_rows:
        if week_row.key not in shown:
            lines.append(_week_line(len(lines), week_row))
    return lines


def _finish_line(line: dict, days: list[dt.date]) -> None:
    """What the row template shows besides the values: the row's number (1-based, as its
    labels and messages say), whether it is at fault, its total, each cell's day."""
    index = line["index"]
    line["number"] = index + 1 if isinstance(index, int) else "__row__"
    line["marked"] = bool(line["error"]) or any(cell["error"] for cell in line["cells"])
    line["total"] = sum(cell["seconds"] for cell in line["cells"])
    for day, cell in zip(days, line["cells"], strict=True):
        cell["day"] = day


def _line_name(line: dict) -> str:
    if line["ticket"] is not None:
        return f"{line['ticket'].reference} {line['ticket'].title}"
    if line["contract"] is not None:
        return str(line["contract"])
    return "no ticket or contract"


def _error_list(lines: list[dict], days: list[dt.date]) -> list[str]:
    """Every message of the grid, each saying which row (and day) it is about."""
    found = []
    for line in lines:
        name = f"Row {line['index'] + 1} ({_line_name(line)})"
        if line["error"]:
            found.append(f"{name}: {line['error']}")
        for day, cell in zip(days, line["cells"], strict=True):
            if cell["error"]:
                found.append(f"{name}, {day:%a} {day.day} {day:%b}: {cell['error']}")
    return found


def _hours_text(seconds: int) -> str:
    """An input value ``parse_hours`` reads back exactly: '1:30', or '1:30:05' with seconds."""
    if not seconds:
        return ""
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if secs else f"{hours}:{minutes:02d}"


def _ids_in(post, names: list[str], model) -> dict[str, object]:
    """The objects the posted ids name, by id text, in one query (another tenant's id
    or what is not an id names nothing)."""
    wanted = {post.get(name, "").strip() for name in names}
    ids = {int(value) for value in wanted if value.isdigit() and 0 < int(value) <= MAX_ID}
    return {str(pk): obj for pk, obj in model.objects.in_bulk(ids).items()} if ids else {}


def _parse_grid(post) -> tuple[list[dict], dict[str, str]]:
    """Rows of the timesheet form: row-<n>-ticket / -contract / -service_type / -billable
    / -fixed (a row already saved) / -d0..d6, each with the values as typed."""
    rows, errors = [], {}
    try:
        count = int(post.get("row_count") or 0)
    except ValueError:
        count = 0
    prefixes = [f"row-{index}-" for index in range(max(0, min(count, MAX_TIMESHEET_ROWS)))]
    found = {
        name: _ids_in(post, [prefix + name for prefix in prefixes], model)
        for name, model in (
            ("ticket", Ticket),
            ("contract", Contract),
            ("service_type", ServiceType),
        )
    }
    for prefix in prefixes:
        raw = [post.get(f"{prefix}d{day}", "") for day in range(7)]
        seconds = []
        for day, text in enumerate(raw):
            try:
                seconds.append(services.parse_hours(text))
            except ValueError as error:
                errors[f"{prefix}d{day}"] = str(error)
                seconds.append(None)
        rows.append(
            {
                **{
                    name: found[name].get(post.get(prefix + name, "").strip())
                    for name in ("ticket", "contract", "service_type")
                },
                "billable": {"yes": True, "no": False}.get(post.get(prefix + "billable", "")),
                "fixed": post.get(prefix + "fixed") == "1",
                "seconds": seconds,
                "raw": raw,
            }
        )
    return rows, errors


class TimerStartView(StaffViewMixin, View):
    read_capability = write_capability = Cap.LOG_WORK
    http_method_names = ["post"]

    def post(self, request):
        form = TimerStartForm(request.POST)
        if form.is_valid():
            try:
                services.timer_start(technician=request.user, **form.cleaned_data)
                messages.success(request, "Timer started.")
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
        else:
            messages.error(request, "Timer not started: " + _form_errors(form))
        return redirect(_safe_next(request, reverse("contracts:timesheet")))


class TimerStopView(StaffViewMixin, View):
    read_capability = write_capability = Cap.LOG_WORK
    http_method_names = ["post"]

    def post(self, request):
        form = TimerStopForm(request.POST)
        summary = form.cleaned_data["summary_note"] if form.is_valid() else None
        try:
            entry = services.timer_stop(technician=request.user, summary_note=summary or None)
            messages.success(request, _stopped_message(entry, request.tenant.zone))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect(_safe_next(request, reverse("contracts:timesheet")))


def _stopped_message(entry: TimeEntry, zone) -> str:
    """What a stopped timer saved, read back from the database: its duration to the
    second, on what, and when ("Timer stopped: 1 h 02 min 07 s logged on #12 Printer jam
    (10:00–11:02), awaiting approval.")."""
    saved = TimeEntry.objects.select_related("ticket", "contract").get(pk=entry.pk)
    what = (
        f"{saved.ticket.reference} {saved.ticket.title}"
        if saved.ticket_id
        else f"contract {saved.contract}"
    )
    start, end = saved.started_at.astimezone(zone), saved.ended_at.astimezone(zone)
    return (
        f"Timer stopped: {format_duration(saved.worked_seconds)} logged on {what} "
        f"({start:%H:%M}–{end:%H:%M}), awaiting approval."
    )


class TimeEntryEditView(StaffViewMixin, ScopedObjectMixin, FormView):
    model = TimeEntry
    template_name = "contracts/time_entry_form.html"
    form_class = TimeEntryForm
    read_capability = write_capability = Cap.LOG_WORK

    def get_queryset(self):
        return TimeEntry.objects.select_related("ticket", "contract", "technician")

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.object = None

    def get_form_kwargs(self):
        self.object = self.object or self.get_object()
        entry = self.object
        zone = self.request.tenant.zone
        kwargs = super().get_form_kwargs()
        kwargs.update(zone=zone, organization=entry.ticket.organization if entry.ticket else None)
        if self.request.method == "GET":
            kwargs["initial"] = {
                "contract": entry.contract,
                "service_type": entry.service_type,
                "work_date": entry.work_date,
                "start_time": entry.started_at.astimezone(zone).time()
                if entry.started_at
                else None,
                "end_time": entry.ended_at.astimezone(zone).time() if entry.ended_at else None,
                "duration": "" if entry.started_at else _hours_text(entry.worked_seconds),
                "billable": "yes" if entry.billable else "no",
                "summary_note": entry.summary_note,
                "internal_note": entry.internal_note,
            }
        return kwargs

    def get_context_data(self, **kwargs):
        self.object = self.object or self.get_object()
        return super().get_context_data(entry=self.object, **kwargs)

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        if request.POST.get("action") == "delete":
            try:
                services.time_entry_delete(entry=self.object, actor=request.user)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                return redirect("contracts:time-entry-edit", pk=self.object.pk)
            messages.success(request, "Time entry deleted.")
            return redirect(self._back())
        return super().post(request, *args, **kwargs)

    def _back(self) -> str:
        if self.object.ticket_id:
            return reverse("contracts:ticket-detail", args=[self.object.ticket_id])
        return reverse("contracts:timesheet")

    def form_valid(self, form):
        data = form.entry_data()
        if self.object.remote_session_id or self.object.is_running:
            for name in ("started_at", "ended_at", "worked_seconds", "work_date"):
                data.pop(name, None)
        try:
            services.time_entry_update(entry=self.object, actor=self.request.user, **data)
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, "Time entry saved.")
        return redirect(self._back())


def _entry_ids(values) -> list[int]:
    """Ticked entry ids from a form; what is not an id is left to the service to refuse."""
    ids = []
    for value in values:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            continue
    return ids


def totals_text(totals: selectors.TimeTotals, *, locale: str, show_money: bool) -> str:
    """'4 h 30 min worked (4 h billable), 427,50 €' for messages; amounts only for roles
    that see billing."""
    text = f"{format_duration(totals.worked_seconds)} worked"
    if totals.billable_seconds != totals.worked_seconds:
        text += f" ({format_duration(totals.billable_seconds)} billable)"
    if show_money and totals.amounts:
        text += ", " + " + ".join(
            format_money(amount, currency, locale) for currency, amount in totals.amounts
        )
    return text


def _entries_word(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"


class ApprovalQueueView(StaffViewMixin, HtmxPartialMixin, TemplateView):
    """Time awaiting approval or posting, with the queue's and the selection's hours and
    amounts; bulk approve, and post after a confirmation (htmx, or plain forms)."""

    template_name = "contracts/approvals.html"
    partial_template_name = "contracts/_approval_table.html"
    confirm_template_name = "contracts/_approval_confirm.html"
    read_capability = write_capability = Cap.MANAGE_WORK

    def _filters(self, source) -> tuple[dict, dict]:
        """The list's filters, and the reasons a date filter is refused (by field)."""
        state = source.get("state", TimeEntryState.SUBMITTED)
        date_from, from_error = _date_param(source, "from")
        date_to, to_error = _date_param(source, "to")
        errors = {name: error for name, error in (("from", from_error), ("to", to_error)) if error}
        return {
            "state": state if state in TimeEntryState.values else "",
            "technician": _staff(source.get("technician")),
            "organization": _scoped(Organization, source.get("organization")),
            "date_from": date_from,
            "date_to": date_to,
        }, errors

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        source = kwargs.get("source") or self.request.GET
        filters, filter_errors = self._filters(source)
        entries = selectors.time_entry_list(**filters)
        if filter_errors:
            # A refused filter shows its error and no rows, never the whole queue unfiltered.
            entries = entries.none()
        page = _page(self.request, entries)
        selected = kwargs.get("selected") or []
        context.update(
            page_obj=page,
            filters=filters,
            filter_errors=filter_errors,
            raw_from=source.get("from", ""),
            raw_to=source.get("to", ""),
            states=TimeEntryState.choices,
            technicians=selectors.staff_choices(),
            organizations=Organization.objects.order_by("name").only("id", "name"),
            query=self.request.GET.urlencode(),
            queue_totals=selectors.time_entry_totals(entries),
            # Ticks a refused action keeps, so the user corrects rather than re-ticks.
            selected={str(pk) for pk in selected},
            selection_totals=_selection_totals(selected),
            show_money=self.can(Cap.VIEW_BILLING),
        )
        return context

    def _message(self, verb: str, count: int, ids: list[int]) -> str:
        totals = _selection_totals(ids)
        return (
            f"{_entries_word(count)} {verb}: "
            + totals_text(
                totals, locale=self.request.tenant.locale, show_money=self.can(Cap.VIEW_BILLING)
            )
            + "."
        )

    def post(self, request):
        ids = _entry_ids(request.POST.getlist("ids"))
        action = request.POST.get("action")
        try:
            if action == "approve":
                count = services.time_entries_approve(entry_ids=ids, actor=request.user)
                messages.success(request, self._message("approved", count, ids))
            elif action == "post" and request.POST.get("confirmed") != "yes":
                # Posting freezes the entries: a confirmation first, stating what.
                rows = services.time_entries_post_check(entry_ids=ids, actor=request.user)
                return self._confirm(rows)
            elif action == "post":
                count = services.time_entries_post(entry_ids=ids, actor=request.user)
                messages.success(request, self._message("posted", count, ids))
            else:
                raise ValidationError("Choose approve or post.")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return self._answer(status=400, selected=ids)
        return self._answer(status=200)

    def _answer(self, *, status: int, selected=()):
        """The refreshed table (htmx) with the flash, or the page; a success reloads the
        page (no form resubmitted on reload), a refusal shows it with the ticks kept."""
        request = self.request
        if request.htmx or status != 200:
            context = self.get_context_data(selected=list(selected))
            if request.htmx:
                context["flash"] = list(messages.get_messages(request))
            return self.render_to_response(context, status=status)
        return redirect(f"{reverse('contracts:approvals')}?{request.GET.urlencode()}")

    def _confirm(self, rows):
        ids = [row.pk for row in rows]
        context = self.get_context_data(selected=ids)
        context.update(
            confirm_rows=rows,
            confirm_ids=ids,
            confirm_totals=context["selection_totals"],
            confirm_count=_entries_word(len(rows)),
            confirm_labels=[services.entry_label(row) for row in rows[:10]],
            confirm_more=max(0, len(rows) - 10),
        )
        if self.request.htmx:
            return TemplateResponse(self.request, self.confirm_template_name, context)
        context["confirming"] = True
        return self.render_to_response(context)


def _selection_totals(ids) -> selectors.TimeTotals:
    return selectors.time_entry_totals(
        TimeEntry.objects.filter(pk__in=[pk for pk in ids if 0 < pk <= MAX_ID])
    )


class ApprovalSelectionView(StaffViewMixin, TemplateView):
    """Hours and amounts of the ticked entries, refreshed as boxes are ticked (htmx)."""

    template_name = "contracts/_approval_selection.html"
    read_capability = Cap.MANAGE_WORK
    http_method_names = ["get"]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            selection_totals=_selection_totals(_entry_ids(self.request.GET.getlist("ids"))),
            show_money=self.can(Cap.VIEW_BILLING),
        )
        return context


def _staff(pk):
    from billing_site.models import User

    try:
        return selectors.staff_choices().get(pk=int(pk)) if pk else None
    except (ValueError, User.DoesNotExist):
        return None


class LogSessionView(StaffViewMixin, FormView):
    """Log a remote session as a time entry on a ticket or contract."""

    template_name = "contracts/log_session.html"
    form_class = LogSessionForm
    read_capability = write_capability = Cap.LOG_WORK
    url_kwarg_models = {"session_pk": RemoteSession}

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.session = None

    def get_session(self):
        if self.session is None:
            try:
                self.session = RemoteSession.objects.select_related(
                    "host__organization", "technician"
                ).get(pk=self.kwargs["session_pk"])
            except RemoteSession.DoesNotExist as exc:
                raise Http404("Session not found") from exc
        return self.session

    def get_form_kwargs(self):
        session = self.get_session()
        kwargs = super().get_form_kwargs()
        kwargs["organization"] = session.host.organization
        kwargs.setdefault("initial", {})["summary_note"] = session.comment
        return kwargs

    def get_context_data(self, **kwargs):
        session = self.get_session()
        return super().get_context_data(
            session=session,
            logged=TimeEntry.objects.filter(remote_session=session).first(),
            **kwargs,
        )

    def form_valid(self, form):
        data = dict(form.cleaned_data)
        data["billable"] = {"yes": True, "no": False}.get(data.get("billable") or "")
        try:
            entry = services.time_entry_log_session(
                session=self.get_session(), actor=self.request.user, **data
            )
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, "Session logged as time; it awaits approval.")
        if entry.ticket_id:
            return redirect("contracts:ticket-detail", pk=entry.ticket_id)
        return redirect("contracts:timesheet")


# ---------------------------------------------------------------- rate rules


class RateRuleFormMixin:
    """Saving a rate rule through one service; a tie links to the rule it would tie with."""

    tie_rule = None

    def save_rule(self, form, service, **kwargs):
        try:
            return service(**kwargs, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
            tie = services.tie_rule_id(error)
            self.tie_rule = RateRule.objects.filter(pk=tie).first() if tie else None
            return None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.tie_rule is not None:
            context.update(
                error_link=reverse("contracts:rate-rule-edit", args=[self.tie_rule.pk]),
                error_link_text=f"Edit rule “{self.tie_rule.label}”",
            )
        return context


class RateRuleListView(StaffViewMixin, RateRuleFormMixin, FormView):
    template_name = "contracts/rate_rules.html"
    form_class = RateRuleForm
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "instance": RateRule()}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rules = selectors.rate_rules_by_specificity(selectors.rate_rule_list())
        paginator = Paginator(rules, PAGE_SIZE)
        context.update(
            page_obj=paginator.get_page(self.request.GET.get("page")),
            default_rate=self.request.tenant.default_hourly_rate,
            can_manage=self.can(Cap.MANAGE_BILLING),
            scopes=RateRule.SCOPES,
        )
        return context

    def form_valid(self, form):
        rule = self.save_rule(form, services.rate_rule_create)
        if rule is None:
            return self.form_invalid(form)
        messages.success(self.request, f"Rate rule “{rule.label}” added.")
        return redirect("contracts:rate-rule-list")


class RateRuleUpdateView(StaffViewMixin, RateRuleFormMixin, EditObjectMixin, FormView):
    """Change a rate rule's rate, scopes or description (the checks of a new rule)."""

    template_name = "contracts/rate_rule_form.html"
    form_class = RateRuleForm
    model = RateRule
    read_capability = write_capability = Cap.MANAGE_BILLING

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        # A copy: a refused change must not show as saved in the page's title.
        return {**kwargs, "instance": RateRule.objects.get(pk=self.object.pk)}

    def get_context_data(self, **kwargs):
        if "form" not in kwargs:
            kwargs["form"] = self.get_form()  # looks the rule up first
        return super().get_context_data(object=self.object, **kwargs)

    def form_valid(self, form):
        rule = self.save_rule(form, services.rate_rule_update, rule=form.instance)
        if rule is None:
            return self.form_invalid(form)
        messages.success(self.request, f"Rate rule “{rule.label}” saved.")
        return redirect("contracts:rate-rule-list")


class RateRuleDeleteView(ScopedPostView):
    model = RateRule

    def post(self, request, pk):
        rule = self.get_object()
        label = rule.label
        services.rate_rule_delete(rule=rule)
        messages.success(request, f"Rate rule “{label}” deleted.")
        return redirect("contracts:rate-rule-list")


def _line_items(line: InvoiceLine) -> list[tuple[str, int, str]]:
    """(kind, id, label) of the time entries and sessions an invoice line bills: one query
    each, in time order."""
    entries = TimeEntry.objects.filter(invoice_line=line).order_by("work_date", "id")
    sessions = RemoteSession.objects.filter(invoice_line=line).select_related("host")
    return [
        ("time_entry", entry.pk, f"Time entry of {entry.work_date:%Y-%m-%d}") for entry in entries
    ] + [
        ("session", session.pk, f"Session on {session.host.name}")
        for session in sessions.order_by("started_at", "id")
    ]


class RateRuleExplainView(StaffViewMixin, TemplateView):
    """Which rules match a time entry or a session, and which one wins."""

    template_name = "contracts/explain.html"
    read_capability = Cap.VIEW_BILLING

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        entry_id = self.request.GET.get("time_entry", "").strip()
        session_id = self.request.GET.get("session", "").strip()
        line_id = self.request.GET.get("invoice_line", "").strip()
        result, missing, priced, line, line_items = None, False, None, None, []
        if line_id:
            # An invoice line: its words as billed, and each item it bills, explained one
            # by one (a line of one item is explained at once).
            line = _scoped(InvoiceLine, line_id)
            if line is None:
                missing = True
            else:
                line_items = _line_items(line)
                if len(line_items) == 1:
                    kind, item_id, _label = line_items[0]
                    entry_id, session_id = (
                        (str(item_id), "") if kind == "time_entry" else ("", str(item_id))
                    )
        if entry_id:
            entry = _scoped(TimeEntry, entry_id)
            if entry is None:
                missing = True
            else:
                result = pricing.explain_time_entry(entry)
                priced = pricing.price_time_entries([entry]).get(entry.pk)
        elif session_id:
            session = _scoped(RemoteSession, session_id)
            if session is None:
                missing = True
            else:
                result = pricing.explain_session(session)
        context.update(
            result=result,
            priced=priced,
            missing=missing,
            entry_id=entry_id,
            session_id=session_id,
            line=line,
            line_items=line_items,
            scope_labels=["Contract", "Organization", "Technician", "Team", "Service type"],
            can_manage=self.can(Cap.MANAGE_BILLING),
        )
        return context
