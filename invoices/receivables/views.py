"""Receivables overview, aging and customer statements (billing admins, accountants)."""

from __future__ import annotations

import datetime as dt

from babel.dates import format_date
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from billing_site.models import Organization
from billing_site.money import format_money
from billing_site.roles import Cap
from billing_site.views_base import StaffViewMixin

from ..parties import document_language, document_locale
from ..selectors import tenant_today
from . import selectors
from .forms import ReceivablesFilterForm, StatementForm


class ReceivablesView(StaffViewMixin, TemplateView):
    template_name = "invoices/receivables/overview.html"
    read_capability = Cap.VIEW_BILLING
    paginate_by = 50

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = ReceivablesFilterForm(self.request.GET or None)
        valid = form.is_valid() if form.is_bound else True
        filters = form.cleaned_data if form.is_bound and valid else {}
        today = tenant_today()
        summary = aging = None
        if valid:
            summary = selectors.receivables_summary(
                today=today,
                issued_from=filters.get("issued_from"),
                issued_to=filters.get("issued_to"),
            )
            aging = selectors.receivables_aging(
                today=today, organization=filters.get("organization")
            )
        context.update(
            form=form,
            today=today,
            summary=summary,
            aging=aging,
            aging_page=Paginator(aging.rows if aging else [], self.paginate_by).get_page(
                self.request.GET.get("page")
            ),
        )
        return context


class StatementMixin(StaffViewMixin):
    read_capability = Cap.VIEW_BILLING
    url_kwarg_models = {"pk": Organization}

    def statement(self):
        organization = get_object_or_404(Organization.objects.all(), pk=self.kwargs["pk"])
        form = StatementForm(self.request.GET or None)
        start, end = selectors.default_statement_period()
        if form.is_bound and form.is_valid():
            start = form.cleaned_data.get("date_from") or start
            end = form.cleaned_data.get("date_to") or end
            if end < start:
                start = end
        elif form.is_bound:
            return organization, form, None
        else:
            form = StatementForm(initial={"date_from": start, "date_to": end})
        return (
            organization,
            form,
            selectors.customer_statement(organization=organization, date_from=start, date_to=end),
        )


class StatementView(StatementMixin, TemplateView):
    template_name = "invoices/receivables/statement.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        organization, form, statement = self.statement()
        context.update(form=form, statement=statement, organization=organization)
        return context


class StatementPdfView(StatementMixin, TemplateView):
    def get(self, request, *args, **kwargs):
        from ..pdf import render_pdf

        _, form, statement = self.statement()
        if statement is None:
            return HttpResponse(
                "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items()),
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        html = render_statement_html(request.tenant, statement)
        response = HttpResponse(render_pdf(html), content_type="application/pdf")
        name = f"statement-{statement.organization.company_number}-{statement.date_to.isoformat()}"
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
        return response


def render_statement_html(tenant, statement) -> str:
    """The statement as HTML, wholly in the customer's language (else the tenant's)."""
    locale = document_locale(statement.organization, tenant.locale)
    with translation.override(document_language(locale)):
        return render_to_string(
            "invoices/pdf/statement.html", statement_print_context(tenant, statement)
        )


def _entry_detail(entry, day) -> str:
    """A statement entry's detail in the active language ("due …", "for …", "credits …":
    the selector's English words, the references they name kept as they are)."""
    if entry.due_date:
        return _("due %(date)s") % {"date": day(entry.due_date)}
    for english, words in (("for ", _("for %(what)s")), ("credits ", _("credits %(what)s"))):
        if entry.detail.startswith(english):
            return words % {"what": entry.detail[len(english) :]}
    return entry.detail


def statement_print_context(tenant, statement) -> dict:
    """The statement as printed: amounts, dates and country in the customer's locale
    (``document_locale``); its labels are translated by the template."""
    from ..pdf import _logo_data_uri, page_counter_css

    locale = document_locale(statement.organization, tenant.locale)

    def day(value: dt.date) -> str:
        return format_date(value, "medium", locale=locale)

    currencies = []
    for block in statement.currencies:
        money = lambda amount, c=block.currency: format_money(amount, c, locale)  # noqa: E731
        currencies.append(
            {
                "currency": block.currency,
                "opening": money(block.opening),
                "closing": money(block.closing),
                "invoiced": money(block.invoiced),
                "paid": money(block.paid),
                "credited": money(block.credited),
                "entries": [
                    {
                        "date": day(entry.date),
                        "kind": entry.kind,
                        "reference": _("Payment") if entry.kind == "payment" else entry.reference,
                        "detail": _entry_detail(entry, day),
                        "charge": money(entry.charge) if entry.charge else "",
                        "credit": money(entry.credit) if entry.credit else "",
                        "balance": money(entry.balance),
                    }
                    for entry in block.entries
                ],
            }
        )
    organization = statement.organization
    return {
        "brand_color": tenant.brand_color,
        "logo": _logo_data_uri(tenant),
        "seller": {
            "name": tenant.company_name,
            "email": tenant.email,
            "phone": tenant.phone,
            "tax_id": tenant.tax_id,
        },
        "customer": {
            "name": organization.name,
            "lines": [
                *[line for line in organization.street.splitlines() if line.strip()],
                " ".join(part for part in (organization.postcode, organization.city) if part),
            ],
            "number": organization.company_number,
        },
        "date_from": day(statement.date_from),
        "date_to": day(statement.date_to),
        "printed_on": day(tenant_today()),
        "currencies": currencies,
        "lang": document_language(locale),
        "page_counter": page_counter_css(),
    }
