"""Browser views of the invoices app: thin, each calls one selector or service."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views import View
from django.views.generic import DetailView, TemplateView

from billing_site.money import format_money
from billing_site.roles import Cap
from billing_site.views_base import ScopedObjectMixin, StaffViewMixin, apply_errors

from . import selectors, services
from .document import bill_to_party, seller_party
from .emails import services as email_services
from .forms import (
    CreditNoteForm,
    InvoiceDraftForm,
    InvoiceFilterForm,
    InvoiceLineForm,
    InvoiceVoidForm,
    PaymentForm,
    SessionInvoiceForm,
    SessionScopeForm,
)
from .models import Invoice, InvoiceKind, InvoiceLine, InvoiceStatus, Payment, PdfStatus
from .pdf import render_invoice_pdf
from .pricing import SessionInvoicePlan, plan_session_invoice, session_invoice_tax


class InvoiceListView(StaffViewMixin, TemplateView):
    template_name = "invoices/invoice_list.html"
    read_capability = Cap.VIEW_BILLING
    paginate_by = 25

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = InvoiceFilterForm(self.request.GET or None)
        filters = form.cleaned_data if form.is_valid() else {}
        queryset = selectors.invoice_list(
            status=filters.get("status") or "",
            organization=filters.get("organization"),
            search=(filters.get("q") or "").strip(),
            issued_from=filters.get("issued_from"),
            issued_to=filters.get("issued_to"),
        )
        if form.is_bound and not form.is_valid():
            # A refused filter shows its error and no rows, never the whole list unfiltered.
            queryset = queryset.none()
        page = Paginator(queryset, self.paginate_by).get_page(self.request.GET.get("page"))
        context.update(
            form=form,
            page_obj=page,
            today=selectors.tenant_today(),
            filtered=any(filters.values()),
        )
        return context

    def get_template_names(self):
        if self.request.htmx:
            return ["invoices/_invoice_table.html"]
        return [self.template_name]


class InvoiceObjectMixin(ScopedObjectMixin):
    model = Invoice

    def get_queryset(self):
        return selectors.invoice_detail_queryset()


class InvoiceDetailView(StaffViewMixin, InvoiceObjectMixin, DetailView):
    template_name = "invoices/invoice_detail.html"
    read_capability = Cap.VIEW_BILLING
    context_object_name = "invoice"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        invoice = self.object
        lines = list(invoice.lines.all())
        billed_entries = selectors.invoice_time_entries(invoice=invoice)
        for line in lines:
            line.billed_entries = billed_entries.get(line.pk, [])
        can_manage = self.can(Cap.MANAGE_BILLING)
        is_invoice = invoice.kind == InvoiceKind.INVOICE
        context.update(
            lines=lines,
            tax_rows=selectors.invoice_tax_breakdown(invoice=invoice),
            seller_lines=seller_party(invoice).address_lines(invoice.locale),
            bill_to_lines=bill_to_party(invoice).address_lines(invoice.locale),
            overall_seconds=selectors.invoice_overall_seconds(invoice=invoice),
            payments=list(invoice.payments.all()),
            credit_notes=getattr(invoice, "issued_credit_notes", []),
            credited_total=invoice.credited_total,
            balance=invoice.balance_due,
            is_credited=invoice.is_credited,
            can_manage=can_manage,
            can_void=can_manage and is_invoice and invoice.status in services.VOIDABLE,
            can_send=can_manage and is_invoice and invoice.status == InvoiceStatus.FINAL,
            can_email=can_manage and invoice.status in email_services.SENDABLE,
            can_pay=can_manage and is_invoice and invoice.status in services.PAYABLE,
            can_credit=can_manage and is_invoice and invoice.status in services.CREDITABLE,
            void_form=InvoiceVoidForm(),
            payment_form=kwargs.get("payment_form")
            or PaymentForm(initial={"received_on": selectors.tenant_today()}),
            today=selectors.tenant_today(),
        )
        return context


class InvoicePdfStatusView(StaffViewMixin, InvoiceObjectMixin, DetailView):
    """The PDF block of the detail page; htmx polls it while the PDF renders."""

    template_name = "invoices/_pdf_status.html"
    read_capability = Cap.VIEW_BILLING
    context_object_name = "invoice"

    def get_queryset(self):
        return Invoice.objects.all()

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            can_manage=self.can(Cap.MANAGE_BILLING), today=selectors.tenant_today(), **kwargs
        )


class InvoicePdfDownloadView(StaffViewMixin, InvoiceObjectMixin, View):
    """Serves the stored PDF to billing readers of the same tenant; never via /media/."""

    read_capability = Cap.VIEW_BILLING

    def get_queryset(self):
        return Invoice.objects.all()

    def get(self, request, pk):
        invoice = self.get_object()
        if invoice.pdf_status != PdfStatus.READY or not invoice.pdf:
            raise Http404("The PDF of this invoice is not ready.")
        return pdf_response(invoice, as_attachment="download" in request.GET)


class InvoicePdfPreviewView(StaffViewMixin, InvoiceObjectMixin, View):
    """A draft as its PDF would print, stamped DRAFT: rendered on request by the same
    document code as the final PDF, and never stored, numbered or frozen."""

    read_capability = Cap.VIEW_BILLING

    def get(self, request, pk):
        invoice = self.get_object()
        if invoice.status != InvoiceStatus.DRAFT:
            raise Http404("Only a draft is previewed; a numbered invoice has its own PDF.")
        response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="draft-{invoice.pk}.pdf"'
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response


def pdf_response(invoice: Invoice, *, as_attachment: bool) -> FileResponse:
    try:
        handle = invoice.pdf.open("rb")
    except (FileNotFoundError, ValueError) as exc:
        raise Http404("The PDF file is missing; render it again.") from exc
    response = FileResponse(
        handle,
        as_attachment=as_attachment,
        filename=f"{invoice.number}.pdf",
        content_type="application/pdf",
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class InvoiceVoidView(StaffViewMixin, InvoiceObjectMixin, View):
    read_capability = write_capability = Cap.MANAGE_BILLING
    http_method_names = ["post"]

    def post(self, request, pk):
        invoice = self.get_object()
        form = InvoiceVoidForm(request.POST)
        if form.is_valid():
            try:
                services.invoice_void(invoice=invoice, reason=form.cleaned_data["reason"])
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                messages.success(request, f"Invoice {invoice} voided; its sessions are unbilled.")
        else:
            messages.error(request, "Give a reason to void the invoice.")
        return redirect("invoices:invoice-detail", pk=invoice.pk)


class InvoiceDeleteDraftView(StaffViewMixin, InvoiceObjectMixin, View):
    read_capability = write_capability = Cap.MANAGE_BILLING
    http_method_names = ["post"]

    def post(self, request, pk):
        invoice = self.get_object()
        try:
            released = services.invoice_delete_draft(invoice=invoice)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("invoices:invoice-detail", pk=invoice.pk)
        messages.success(request, f"Draft deleted; {released} item(s) are unbilled again.")
        return redirect("invoices:invoice-list")


class InvoicePdfRenderView(StaffViewMixin, InvoiceObjectMixin, View):
    """Render the PDF again: a failed one, or a pending one whose render seems stuck."""

    read_capability = write_capability = Cap.MANAGE_BILLING
    http_method_names = ["post"]

    def get_queryset(self):
        return Invoice.objects.all()

    def post(self, request, pk):
        invoice = self.get_object()
        try:
            done = services.invoice_pdf_request(invoice=invoice)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, pdf_request_message(done))
        return redirect("invoices:invoice-detail", pk=invoice.pk)


def pdf_request_message(done: services.PdfRequest) -> str:
    """What "Render again" queued, in words (the page's message and the API's detail)."""
    number = done.invoice.number
    if done.new_version:
        return f"A new PDF of {number} is queued for rendering (it was {done.previous_status})."
    return f"The pending PDF of {number} is queued for rendering again."


class SessionInvoiceCreateView(StaffViewMixin, TemplateView):
    """Generate an invoice for one session, a host or a group: review, edit, Save to PDF."""

    template_name = "invoices/session_invoice_form.html"
    read_capability = write_capability = Cap.MANAGE_BILLING

    def _scope(self, data) -> dict | HttpResponseBadRequest:
        scope_form = SessionScopeForm(data)
        if not scope_form.is_valid():
            dates = {
                name: " ".join(scope_form.errors[name])
                for name in ("date_from", "date_to")
                if name in scope_form.errors
            }
            if dates:
                # A date range refused (outside the storable range): say why, not "not found".
                return HttpResponseBadRequest(
                    "; ".join(f"{name}: {reason}" for name, reason in dates.items())
                )
            raise Http404("Choose a session, host or group to invoice.")
        return scope_form.cleaned_data

    def _preview(self, scope: dict) -> selectors.SessionInvoicePreview:
        try:
            return selectors.session_invoice_preview(
                scope=scope["scope"],
                object_id=scope["id"],
                date_from=scope.get("date_from"),
                date_to=scope.get("date_to"),
            )
        except ObjectDoesNotExist as exc:
            raise Http404("Nothing to invoice here.") from exc

    @staticmethod
    def _plan(preview, taxable=None, tax_rate=None) -> SessionInvoicePlan | None:
        """The suggested figures at the given tax (default: the customer's), computed as
        the invoice will be; None when the sessions cannot be priced."""
        tax = session_invoice_tax(
            organization=preview.target.organization, taxable=taxable, rate=tax_rate
        )
        if preview.error is not None:
            return None
        return plan_session_invoice(preview.lines, currency=preview.currency, tax=tax)

    def get(self, request, *args, **kwargs):
        scope = self._scope(request.GET)
        if isinstance(scope, HttpResponseBadRequest):
            return scope
        preview = self._preview(scope)
        plan = self._plan(preview)
        suggested = plan.suggested.total if plan else preview.suggested_amount
        tax = plan.tax if plan else session_invoice_tax(organization=preview.target.organization)
        initial = {
            **selectors.session_invoice_defaults(target=preview.target),
            "scope": scope["scope"],
            "id": scope["id"],
            "date_from": scope.get("date_from"),
            "date_to": scope.get("date_to"),
            "session_ids": ",".join(str(s.pk) for s in preview.sessions),
            "taxable": tax.taxable,
            "tax_rate": f"{tax.rate.normalize():f}",
            "amount_due": suggested,
            "suggested_total": suggested,
        }
        form = SessionInvoiceForm(initial=initial)
        return self.render_to_response(self.get_context_data(form=form, preview=preview, plan=plan))

    def post(self, request, *args, **kwargs):
        scope = self._scope(request.POST)
        if isinstance(scope, HttpResponseBadRequest):
            return scope
        form = SessionInvoiceForm(request.POST)
        preview = self._preview(scope)
        if not form.is_valid():
            plan = self._plan(preview, *self._posted_tax(form))
            return self.render_to_response(
                self.get_context_data(form=form, preview=preview, plan=plan)
            )
        data = form.cleaned_data
        plan = self._plan(preview, data["taxable"], data["tax_rate"])
        shown = data.get("suggested_total")
        follows_suggestion = data["amount_due"] == shown
        same_sessions = {s.pk for s in preview.sessions} == set(data["session_ids"])
        if (
            plan is not None
            and same_sessions  # else the service says which sessions changed
            and (
                "recalculate" in request.POST
                or (follows_suggestion and plan.suggested.total != shown)
            )
        ):
            # Other figures than the page showed (another tax rate, or changed rates):
            # show them first, so the amount billed is the amount the user saw.
            fresh = request.POST.copy()
            fresh["suggested_total"] = str(plan.suggested.total)
            if follows_suggestion:
                fresh["amount_due"] = str(plan.suggested.total)
            context = self.get_context_data(
                form=SessionInvoiceForm(fresh), preview=preview, plan=plan, figures_updated=True
            )
            return self.render_to_response(context)
        try:
            invoice = services.session_invoice_create(
                scope=data["scope"],
                object_id=data["id"],
                date_from=data.get("date_from"),
                date_to=data.get("date_to"),
                session_ids=data["session_ids"],
                amount_due=data["amount_due"],
                created_by=request.user,
                **{
                    name: data[name]
                    for name in (
                        *form.SELLER_FIELDS,
                        *form.BILL_TO_FIELDS,
                        *form.TERMS_FIELDS,
                        *form.TAX_FIELDS,
                    )
                },
            )
        except ValidationError as error:
            apply_errors(form, error)
            return self.render_to_response(
                self.get_context_data(form=form, preview=preview, plan=plan)
            )
        messages.success(request, f"Invoice {invoice.number} created.")
        return redirect("invoices:invoice-detail", pk=invoice.pk)

    @staticmethod
    def _posted_tax(form) -> tuple[bool | None, object]:
        """The posted tax when it is valid (the figures follow it), else the default."""
        if "tax_rate" in form.errors:
            return None, None
        return form.cleaned_data.get("taxable"), form.cleaned_data.get("tax_rate")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        preview = context["preview"]
        if not preview.sessions and preview.target.scope == "session":
            context["blocked_reason"] = selectors.session_not_billable_reason(
                session=preview.target.object
            )
        context["pricing_errors"] = preview.error.messages if preview.error else []
        context["tenant"] = self.request.tenant
        return context


# --- Draft editing -------------------------------------------------------------------


def _draft_lines_context(invoice: Invoice, **extra) -> dict:
    invoice = selectors.invoice_get(pk=invoice.pk)
    return {
        "invoice": invoice,
        "lines": list(invoice.lines.all()),
        "tax_rows": selectors.invoice_tax_breakdown(invoice=invoice),
        "add_form": extra.pop("add_form", None) or InvoiceLineForm(),
        **extra,
    }


class DraftMixin(InvoiceObjectMixin):
    """Draft pages: a numbered invoice sends the user back to its detail page."""

    def get_draft(self):
        invoice = self.get_object()
        if invoice.status != InvoiceStatus.DRAFT:
            messages.error(self.request, services.IMMUTABLE)
            return invoice, redirect("invoices:invoice-detail", pk=invoice.pk)
        return invoice, None

    def lines_response(self, invoice: Invoice, status: int = 200, **extra):
        if not self.request.htmx:
            return redirect("invoices:invoice-edit", pk=invoice.pk)
        return render(
            self.request,
            "invoices/_draft_lines.html",
            _draft_lines_context(invoice, **extra),
            status=status,
        )


class InvoiceDraftEditView(StaffViewMixin, DraftMixin, View):
    """Edit a draft: its header in a form, its lines in place (htmx)."""

    read_capability = write_capability = Cap.MANAGE_BILLING

    template_name = "invoices/invoice_edit.html"

    def _render(self, invoice, form, status=200):
        context = _draft_lines_context(invoice, form=form)
        return render(self.request, self.template_name, context, status=status)

    def get(self, request, pk):
        invoice, refused = self.get_draft()
        if refused:
            return refused
        initial = {name: getattr(invoice, name) for name in InvoiceDraftForm.base_fields}
        return self._render(invoice, InvoiceDraftForm(initial=initial))

    def post(self, request, pk):
        invoice, refused = self.get_draft()
        if refused:
            return refused
        form = InvoiceDraftForm(request.POST)
        if form.is_valid():
            try:
                services.invoice_update_draft(invoice=invoice, **form.cleaned_data)
            except ValidationError as error:
                apply_errors(form, error)
            else:
                messages.success(request, "Draft saved.")
                return redirect("invoices:invoice-edit", pk=invoice.pk)
        return self._render(invoice, form, status=400)


class InvoiceLineAddView(StaffViewMixin, DraftMixin, View):
    http_method_names = ["post"]
    read_capability = write_capability = Cap.MANAGE_BILLING

    def post(self, request, pk):
        invoice, refused = self.get_draft()
        if refused:
            return refused
        form = InvoiceLineForm(request.POST)
        if form.is_valid():
            try:
                services.invoice_line_add(invoice=invoice, **form.cleaned_data)
            except ValidationError as error:
                apply_errors(form, error)
            else:
                return self.lines_response(invoice)
        if not request.htmx:
            messages.error(request, "The line was not added: " + " ".join(_errors(form)))
        return self.lines_response(invoice, status=400, add_form=form)


def _errors(form) -> list[str]:
    return [f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()]


class LineMixin(DraftMixin):
    url_kwarg_models = {"line_pk": InvoiceLine}

    def get_line(self, invoice: Invoice) -> InvoiceLine:
        try:
            return InvoiceLine.objects.get(pk=self.kwargs["line_pk"], invoice=invoice)
        except InvoiceLine.DoesNotExist as exc:
            raise Http404("Line not found") from exc


class InvoiceLineEditView(StaffViewMixin, LineMixin, View):
    """GET: the line as a form row; POST: save it (errors next to the fields)."""

    read_capability = write_capability = Cap.MANAGE_BILLING

    def get(self, request, pk, line_pk):
        invoice, refused = self.get_draft()
        if refused:
            return refused
        line = self.get_line(invoice)
        initial = {name: getattr(line, name) for name in InvoiceLineForm.base_fields}
        # The words as shown: saving them unchanged keeps them rendered from the facts.
        initial["description"] = line.words.description
        initial["unit_price"] = abs(line.unit_price) if line.kind == "discount" else line.unit_price
        form = InvoiceLineForm(initial=initial, line=line)
        return self.lines_response(invoice, edit_line=line.pk, edit_form=form)

    def post(self, request, pk, line_pk):
        invoice, refused = self.get_draft()
        if refused:
            return refused
        line = self.get_line(invoice)
        form = InvoiceLineForm(request.POST, line=line)
        if form.is_valid():
            try:
                services.invoice_line_update(line=line, **form.cleaned_data)
            except ValidationError as error:
                apply_errors(form, error)
            else:
                return self.lines_response(invoice)
        if not request.htmx:
            messages.error(request, "The line was not saved: " + " ".join(_errors(form)))
        return self.lines_response(invoice, status=400, edit_line=line.pk, edit_form=form)


class InvoiceLineDeleteView(StaffViewMixin, LineMixin, View):
    http_method_names = ["post"]
    read_capability = write_capability = Cap.MANAGE_BILLING

    def post(self, request, pk, line_pk):
        invoice, refused = self.get_draft()
        if refused:
            return refused
        released = services.invoice_line_delete(line=self.get_line(invoice))
        if released:
            messages.info(request, f"{released} item(s) are unbilled again.")
        return self.lines_response(invoice)


class InvoiceFinalizeView(StaffViewMixin, InvoiceObjectMixin, View):
    read_capability = write_capability = Cap.MANAGE_BILLING
    http_method_names = ["post"]

    def post(self, request, pk):
        invoice = self.get_object()
        try:
            invoice = services.invoice_finalize(invoice=invoice)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Invoice {invoice.number} finalised; the PDF is rendering.")
        return redirect("invoices:invoice-detail", pk=invoice.pk)


class InvoiceMarkSentView(StaffViewMixin, InvoiceObjectMixin, View):
    read_capability = write_capability = Cap.MANAGE_BILLING
    http_method_names = ["post"]

    def post(self, request, pk):
        invoice = self.get_object()
        try:
            services.invoice_mark_sent(invoice=invoice)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Invoice {invoice} marked as sent.")
        return redirect("invoices:invoice-detail", pk=invoice.pk)


# --- Payments ------------------------------------------------------------------------


class PaymentCreateView(StaffViewMixin, InvoiceObjectMixin, View):
    """Record a payment from the detail page; errors are shown next to its fields."""

    read_capability = write_capability = Cap.MANAGE_BILLING
    http_method_names = ["post"]

    def post(self, request, pk):
        invoice = self.get_object()
        form = PaymentForm(request.POST)
        if form.is_valid():
            try:
                payment = services.payment_record(
                    invoice=invoice, created_by=request.user, **form.cleaned_data
                )
            except ValidationError as error:
                apply_errors(form, error)
            else:
                amount = format_money(payment.amount, invoice.currency, request.tenant.locale)
                messages.success(request, f"Payment of {amount} recorded.")
                return redirect("invoices:invoice-detail", pk=invoice.pk)
        detail = InvoiceDetailView()
        detail.setup(request, pk=pk)
        detail.object = invoice
        context = detail.get_context_data(object=invoice, payment_form=form)
        return render(request, InvoiceDetailView.template_name, context, status=400)


class PaymentDeleteView(StaffViewMixin, InvoiceObjectMixin, View):
    read_capability = write_capability = Cap.MANAGE_BILLING
    http_method_names = ["post"]
    url_kwarg_models = {"payment_pk": Payment}

    def post(self, request, pk, payment_pk):
        invoice = self.get_object()
        try:
            payment = Payment.objects.get(pk=payment_pk, invoice=invoice)
        except Payment.DoesNotExist as exc:
            raise Http404("Payment not found") from exc
        try:
            services.payment_delete(payment=payment)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "Payment removed; the balance is due again.")
        return redirect("invoices:invoice-detail", pk=invoice.pk)


# --- Credit notes --------------------------------------------------------------------


class CreditNoteCreateView(StaffViewMixin, InvoiceObjectMixin, View):
    """Issue a credit note for a final invoice: wholly, or by lines with quantities."""

    read_capability = write_capability = Cap.MANAGE_BILLING
    template_name = "invoices/credit_note_form.html"

    def _render(self, invoice, form, status=200):
        context = {
            "invoice": invoice,
            "form": form,
            "credited_total": invoice.credited_total,
        }
        return render(self.request, self.template_name, context, status=status)

    def _form(self, invoice, data=None):
        creditable = selectors.invoice_creditable_lines(invoice=invoice)
        return CreditNoteForm(data, creditable=creditable)

    def _refuse(self, invoice):
        if invoice.kind != InvoiceKind.INVOICE or invoice.status not in services.CREDITABLE:
            messages.error(self.request, "Only a numbered, not void invoice can be credited.")
            return redirect("invoices:invoice-detail", pk=invoice.pk)
        return None

    def get(self, request, pk):
        invoice = self.get_object()
        return self._refuse(invoice) or self._render(invoice, self._form(invoice))

    def post(self, request, pk):
        invoice = self.get_object()
        refused = self._refuse(invoice)
        if refused:
            return refused
        form = self._form(invoice, request.POST)
        if form.is_valid():
            try:
                note = services.credit_note_create(
                    invoice=invoice,
                    reason=form.cleaned_data["reason"],
                    credit_disposition=form.cleaned_data["credit_disposition"],
                    lines=form.chosen_lines(),
                    created_by=request.user,
                )
            except ValidationError as error:
                apply_errors(form, error)
            else:
                messages.success(
                    request, f"Credit note {note.number} issued. {note.credit_disposition_text}"
                )
                return redirect("invoices:invoice-detail", pk=note.pk)
        return self._render(invoice, form, status=400)
