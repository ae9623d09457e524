"""Invoice batch pages (Atera's billing page): thin views over the batch selectors and
services. Billing admins change things; accountants read and export."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from billing_site.roles import Cap
from billing_site.views_base import ScopedObjectMixin, StaffViewMixin, apply_errors
from contracts.models import Contract
from integrations.core.ledger import export_file

from ..exports import EXPORT_FORMATS
from ..models import Invoice
from ..selectors import tenant_today
from . import jobs
from . import selectors as batch_selectors
from . import services as batch_services
from .forms import BatchFilterForm, BatchForm, ExportForm, GenerateForm, SelectionForm
from .models import BatchStatus, InvoiceBatch


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def _refusal(text: str) -> HttpResponse:
    """A refused htmx action: plain text, which the page shows next to the control the
    user acted on (static/js/app.js) while the row stays as it was."""
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")


class BatchBase(StaffViewMixin, ScopedObjectMixin):
    model = InvoiceBatch
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING

    def get_queryset(self):
        return InvoiceBatch.objects.all()

    @property
    def batch(self) -> InvoiceBatch:
        if not hasattr(self, "_batch"):
            self._batch = self.get_object()
        return self._batch

    def detail_url(self) -> str:
        return reverse("invoices:batch-detail", args=[self.batch.pk])


class BatchListView(StaffViewMixin, TemplateView):
    """Saved batches, and "New invoice batch" (Save as)."""

    template_name = "invoices/batch/batch_list.html"
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING
    paginate_by = 25

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        page = Paginator(batch_selectors.batch_list(), self.paginate_by).get_page(
            self.request.GET.get("page")
        )
        today = tenant_today()
        context.update(
            page_obj=page,
            form=form or BatchForm(initial={"as_of": today.replace(day=1)}),
            can_manage=self.can(Cap.MANAGE_BILLING),
        )
        return context

    def post(self, request):
        form = BatchForm(request.POST)
        if form.is_valid():
            try:
                batch = batch_services.batch_create(**form.cleaned_data, created_by=request.user)
            except ValidationError as error:
                apply_errors(form, error)
            else:
                messages.success(request, f"Batch “{batch.name}” saved.")
                return redirect("invoices:batch-detail", pk=batch.pk)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class BatchDetailView(BatchBase, TemplateView):
    """The billing page: contracts with state and balances (filters, paging), batch
    details, and after the run the drafts to delete, consolidate and generate."""

    template_name = "invoices/batch/batch_detail.html"
    paginate_by = 50

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        batch = self.batch
        job = jobs.job_of(batch)
        running = jobs.running_job()
        context.update(
            batch=batch,
            can_manage=self.can(Cap.MANAGE_BILLING),
            formats=EXPORT_FORMATS.values(),
            job=job,
            job_active=job is not None and job.active,
            # A job's success is told once, on the first page shown after it.
            show_done=jobs.tell_done(batch, job),
            # Another batch's job holds the tenant: Run and Generate wait for it.
            other_job=running if running is not None and running.batch_id != batch.pk else None,
        )
        if batch.status != BatchStatus.DRAFT:
            # After the run: the batch's invoices, a page at a time (a batch has thousands).
            page = Paginator(batch_selectors.batch_invoices(batch), self.paginate_by).get_page(
                self.request.GET.get("page")
            )
            batch_selectors.attach_contracts(page.object_list)
            context["page_obj"] = page
        if batch.status == BatchStatus.DRAFT:
            form = BatchFilterForm(self.request.GET or None)
            filters = form.cleaned_data if form.is_valid() else {}
            preview = batch_selectors.batch_preview(batch)
            rows = batch_selectors.filter_rows(
                preview.rows,
                customer_id=getattr(filters.get("customer"), "pk", None),
                billing_organization_id=getattr(filters.get("billing_organization"), "pk", None),
                contract_type=filters.get("contract_type") or "",
                state=filters.get("state") or "",
            )
            page = Paginator(rows, self.paginate_by).get_page(self.request.GET.get("page"))
            batch_selectors.attach_holds(page.object_list)
            context.update(
                filter_form=form,
                filtered=any(filters.values()),
                page_obj=page,
                details=preview.details,
                edit_form=BatchForm(initial={"name": batch.name, "as_of": batch.as_of}),
            )
        return context

    def get_template_names(self):
        if self.request.htmx and self.request.GET.get("partial") == "contracts":
            return ["invoices/batch/_contracts.html"]
        return [self.template_name]

    def post(self, request, pk):
        """Rename the batch or move its as-of date; or "Save as new batch": a new batch
        with this one's selection."""
        form = BatchForm(request.POST)
        if form.is_valid():
            try:
                if "save_as" in request.POST:
                    new = batch_services.batch_save_as(
                        batch=self.batch, **form.cleaned_data, created_by=request.user
                    )
                else:
                    batch_services.batch_update(batch=self.batch, **form.cleaned_data)
            except ValidationError as error:
                messages.error(request, _error_text(error))
            else:
                if "save_as" in request.POST:
                    messages.success(
                        request, f"Saved as “{new.name}”, a new batch with the same selection."
                    )
                    return redirect("invoices:batch-detail", pk=new.pk)
                messages.success(request, "Batch saved.")
        else:
            messages.error(request, "Enter a name and an as-of date.")
        return redirect(self.detail_url())


class BatchContractView(BatchBase, TemplateView):
    """One contract's row, expanded to its items (htmx)."""

    template_name = "invoices/batch/_contract_row.html"
    url_kwarg_models = {"contract_pk": Contract}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            contract = Contract.objects.get(pk=self.kwargs["contract_pk"])
        except Contract.DoesNotExist as exc:
            raise Http404("Contract not found") from exc
        preview = batch_selectors.batch_preview(
            self.batch, contract_ids=[contract.pk], itemized=True
        )
        row = preview.row(contract.pk)
        if row is None:
            raise Http404("Not an active contract")
        batch_selectors.attach_holds([row])
        job = jobs.job_of(self.batch)
        context.update(
            job_active=job is not None and job.active,
            batch=self.batch,
            row=row,
            expanded=self.request.GET.get("collapse") != "1",
            can_manage=self.can(Cap.MANAGE_BILLING),
        )
        return context


class BatchSelectionView(BatchBase, View):
    """Include or exclude an item or a contract; answers (htmx) with the contract's row
    and the batch details, recomputed set-wise, without a page reload."""

    def post(self, request, pk):
        batch = self.batch  # another tenant's batch is a 404 before anything else
        form = SelectionForm(request.POST)
        if not form.is_valid():
            return _refusal("Choose an item to include or exclude.")
        contract = form.cleaned_data["contract"]
        try:
            batch_services.batch_selection_set(
                batch=batch,
                contract=contract,
                include=form.cleaned_data["include"],
                item_key=form.cleaned_data["item"] or "",
            )
        except ValidationError as error:
            if request.htmx:
                return _refusal(_error_text(error))
            messages.error(request, _error_text(error))
            return redirect(self.detail_url())
        if not request.htmx:
            return redirect(self.detail_url())
        preview = batch_selectors.batch_preview(self.batch)
        row = preview.row(contract.pk)
        batch_selectors.attach_holds([row])
        context = {
            "batch": self.batch,
            "row": row,
            "expanded": bool(form.cleaned_data["item"]),
            "details": preview.details,
            "can_manage": True,
            "oob": True,
        }
        html = render_to_string("invoices/batch/_contract_row.html", context, request=request)
        # In a <template>: after the row's <tbody> the details' table would be parsed as
        # part of the contract table; htmx swaps out-of-band content found in templates.
        details = render_to_string("invoices/batch/_details.html", context, request=request)
        html += f"<template>{details}</template>"
        return HttpResponse(html)


def _job_started(request, batch: InvoiceBatch, action: str, **options) -> None:
    """Queue a Run or Generate; without a worker (the demo) it is already over here."""
    try:
        jobs.start(batch=batch, action=action, actor=request.user, **options)
    except ValidationError as error:
        messages.error(request, _error_text(error))


class BatchRunView(BatchBase, View):
    """Run: a background job; the page shows its progress."""

    def post(self, request, pk):
        _job_started(request, self.batch, jobs.RUN)
        return redirect(self.detail_url())


class BatchJobView(BatchBase, TemplateView):
    """The progress of the batch's Run or Generate (htmx polls it while the job is in
    progress); when it is over, the page reloads to show the outcome. ``?format=json``
    answers the progress record."""

    template_name = "invoices/batch/_job.html"
    http_method_names = ["get"]

    def get(self, request, *args, **kwargs):
        job = jobs.job_of(self.batch)
        if request.GET.get("format") == "json":
            return JsonResponse(
                {"status": self.batch.status, "job": job.as_dict() if job else None}
            )
        response = self.render_to_response(
            self.get_context_data(batch=self.batch, job=job, polled=True)
        )
        if request.htmx and (job is None or not job.active):
            response["HX-Refresh"] = "true"  # the page shows the outcome
        return response


class BatchInvoiceDeleteView(BatchBase, View):
    url_kwarg_models = {"invoice_pk": Invoice}

    def post(self, request, pk, invoice_pk):
        try:
            invoice = Invoice.objects.get(pk=invoice_pk)
        except Invoice.DoesNotExist as exc:
            raise Http404("Invoice not found") from exc
        name = f"the draft for {invoice.bill_to_name}"
        try:
            released = batch_services.batch_invoice_delete(batch=self.batch, invoice=invoice)
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(request, f"Deleted {name}; {released} item(s) are unbilled again.")
        return redirect(self.detail_url())


class BatchGenerateView(BatchBase, TemplateView):
    """Generate: first what it will do (how many invoices, their totals; numbers are
    taken for good), then, confirmed, a background job like Run."""

    template_name = "invoices/batch/generate_confirm.html"
    http_method_names = ["post"]

    def post(self, request, pk):
        batch = self.batch
        form = GenerateForm(request.POST)
        form.is_valid()
        consolidate = form.cleaned_data.get("consolidate", False)
        if not form.cleaned_data.get("confirm"):
            if batch.status != BatchStatus.RUN:
                messages.error(request, "Only a run batch can be generated.")
                return redirect(self.detail_url())
            plan = batch_selectors.generate_plan(batch, consolidate=consolidate)
            return self.render_to_response(
                self.get_context_data(batch=batch, plan=plan, consolidate=consolidate)
            )
        _job_started(request, batch, jobs.GENERATE, consolidate=consolidate)
        return redirect(self.detail_url())


class BatchExportView(BatchBase, View):
    """The batch's final invoices as csv, iif or xero."""

    def get(self, request, pk):
        return _export(request, batch=self.batch, basename=self.batch.name)


class InvoiceSelectionExportView(StaffViewMixin, View):
    """Any selection of final invoices: ``?ids=1,2,3&format=csv``."""

    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING

    def get(self, request):
        return _export(request, batch=None, basename="invoices")


def _export(request, *, batch, basename: str) -> HttpResponse:
    form = ExportForm(request.GET)
    if not form.is_valid():
        return HttpResponse("Choose a format: csv, iif or xero.", status=400)
    try:
        ids = batch_services.invoice_ids(form.cleaned_data["ids"]) if batch is None else ()
        invoices = batch_selectors.invoices_for_export(batch=batch, ids=ids)
        filename, content_type, content = export_file(
            invoices=invoices,
            fmt=form.cleaned_data["format"],
            basename=basename,
            shorten_numbers=form.cleaned_data["shorten_numbers"],
        )
    except ValidationError as error:
        return HttpResponse(_error_text(error), status=400, content_type="text/plain")
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
