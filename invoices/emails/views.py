"""Send an invoice, or a batch's invoices, by e-mail."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import DetailView

from billing_site.roles import Cap
from billing_site.views_base import StaffViewMixin, apply_errors

from ..models import InvoiceBatch
from ..views import InvoiceObjectMixin
from . import services
from .forms import InvoiceEmailForm


class InvoiceEmailView(StaffViewMixin, InvoiceObjectMixin, DetailView):
    template_name = "invoices/invoice_email.html"
    context_object_name = "invoice"
    read_capability = write_capability = Cap.MANAGE_BILLING

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if "form" not in kwargs:
            draft = services.email_draft(
                invoice=self.object, base_url=self.request.build_absolute_uri("/")
            )
            kwargs["form"] = InvoiceEmailForm(
                initial={
                    "to": "\n".join(draft.to),
                    "cc": "\n".join(draft.cc),
                    "subject": draft.subject,
                    "body": draft.body,
                }
            )
        context["form"] = kwargs["form"]
        return context

    def post(self, request, pk):
        self.object = self.get_object()
        form = InvoiceEmailForm(request.POST)
        if form.is_valid():
            try:
                services.invoice_email_send(
                    invoice=self.object, created_by=request.user, **form.cleaned_data
                )
            except ValidationError as error:
                apply_errors(form, error)
            else:
                messages.success(
                    request,
                    f"{self.object.number} is being sent to {form.cleaned_data['to'].split()[0]}.",
                )
                return redirect("invoices:invoice-detail", pk=self.object.pk)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class BatchEmailView(StaffViewMixin, View):
    """E-mail every final invoice of a generated batch to its billing contact."""

    model = InvoiceBatch
    write_capability = Cap.MANAGE_BILLING

    def post(self, request, pk):
        batch = get_object_or_404(InvoiceBatch.objects.all(), pk=pk)
        invoices = services.batch_invoices(batch)
        try:
            emails = services.invoices_email_send(
                invoices=invoices,
                base_url=request.build_absolute_uri("/"),
                created_by=request.user,
            )
        except ValidationError as error:
            messages.error(request, "Nothing was sent: " + " ".join(error.messages))
        else:
            messages.success(request, f"{len(emails)} invoices are being sent by e-mail.")
        return redirect("invoices:batch-detail", pk=batch.pk)
