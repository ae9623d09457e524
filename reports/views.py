"""Report pages and their CSV files. Thin: parse the filters, call one selector, render.

Every report page shows its filters, a chart (``billing_site.charts``) and the same
figures in a table; the same query on the ``…-csv`` route downloads that table.
"""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpResponse
from django.urls import NoReverseMatch, reverse
from django.views.generic import TemplateView

from billing_site.charts import Series, bar_chart, stacked_bar_chart
from billing_site.money import format_money
from billing_site.roles import Cap
from billing_site.views_base import StaffViewMixin
from contracts.pricing import hours

from . import exports, forms, selectors

HOURS_PLACES = Decimal("0.01")


class ReportView(StaffViewMixin, TemplateView):
    """A report page; ``as_view(export=True)`` answers its CSV file instead."""

    read_capability = Cap.VIEW_BILLING
    export = False
    form_class: type[forms.ReportFilterForm]
    csv_name = ""
    csv_columns: list[str] = []

    def build(self, **filters):
        raise NotImplementedError

    def csv_rows(self, report) -> list[list]:
        raise NotImplementedError

    def charts(self, report) -> list[dict]:
        return []

    def get(self, request, *args, **kwargs):
        form = self.form_class(request.GET)
        report = self.build(**form.filters()) if form.is_valid() else None
        if self.export:
            if report is None:
                messages = [f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()]
                return HttpResponse(
                    "Filters not understood. " + " ".join(messages),
                    status=400,
                    content_type="text/plain; charset=utf-8",
                )
            content = exports.write_csv(self.csv_columns, self.csv_rows(report))
            response = HttpResponse(content, content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{self.csv_name}.csv"'
            return response
        context = self.get_context_data(
            form=form,
            report=report,
            charts=self.charts(report) if report is not None else [],
            query=request.GET.urlencode(),
        )
        return self.render_to_response(context, status=200 if report is not None else 400)

    def money(self, currency: str):
        locale = self.request.tenant.locale or "en_US"
        return lambda amount: format_money(Decimal(amount), currency, locale)


def _hours_value(seconds: int) -> Decimal:
    return hours(seconds).quantize(HOURS_PLACES)


def _hours_text(value) -> str:
    return f"{value} h"


class IndexView(StaffViewMixin, TemplateView):
    template_name = "reports/index.html"
    read_capability = Cap.VIEW_BILLING

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            # Budgets live in the contracts app; linked once that page exists.
            context["budget_url"] = reverse("contracts:budget-report")
        except NoReverseMatch:
            context["budget_url"] = None
        return context


class TeamWorkView(ReportView):
    template_name = "reports/team_work.html"
    form_class = forms.TeamWorkFilterForm
    csv_name = "team-work"
    csv_columns = exports.TEAM_WORK_COLUMNS

    def build(self, **filters):
        return selectors.team_work(**filters)

    def csv_rows(self, report):
        return exports.team_work_rows(report)

    def charts(self, report):
        people = report.by_technician
        return [
            {
                "title": "Billable and non-billable hours per technician",
                "svg": stacked_bar_chart(
                    label="Hours worked per technician, billable and non-billable, "
                    f"{report.date_from:%d %b %Y} to {report.date_to:%d %b %Y}",
                    categories=[row.name for row in people],
                    series=[
                        Series("Billable", [_hours_value(r.billable_seconds) for r in people]),
                        Series(
                            "Non-billable",
                            [_hours_value(r.non_billable_seconds) for r in people],
                        ),
                    ],
                    format_value=_hours_text,
                ),
            }
        ]


class UnbilledWorkView(ReportView):
    template_name = "reports/unbilled_work.html"
    form_class = forms.UnbilledFilterForm
    csv_name = "unbilled-work"
    csv_columns = exports.UNBILLED_COLUMNS

    def build(self, **filters):
        return selectors.unbilled_work(**filters)

    def csv_rows(self, report):
        return exports.unbilled_rows(report)

    def get_context_data(self, **kwargs):
        return super().get_context_data(buckets=selectors.AGE_BUCKETS, **kwargs)

    def charts(self, report):
        return [
            {
                "title": f"Unbilled work by age ({row.currency})",
                "svg": bar_chart(
                    label=f"Value of unbilled work by age in {row.currency}",
                    categories=[bucket.label for bucket in selectors.AGE_BUCKETS],
                    values=[bucket.amount for bucket in row.buckets],
                    format_value=self.money(row.currency),
                ),
            }
            for row in report.currencies
        ]


class RevenueView(ReportView):
    template_name = "reports/revenue.html"
    form_class = forms.RevenueFilterForm
    csv_name = "revenue-by-month"
    csv_columns = exports.REVENUE_COLUMNS

    def build(self, **filters):
        return selectors.revenue_by_month(**filters)

    def csv_rows(self, report):
        return exports.revenue_rows(report)

    def charts(self, report):
        charts = []
        for total in report.totals:
            rows = report.rows_of(total.currency)
            charts.append(
                {
                    "title": f"Net revenue per month ({total.currency})",
                    "svg": bar_chart(
                        label=f"Revenue net of tax per month in {total.currency}",
                        categories=[f"{row.month:%b %Y}" for row in rows],
                        values=[row.net for row in rows],
                        format_value=self.money(total.currency),
                    ),
                }
            )
        return charts


class ExpectedRevenueView(ReportView):
    template_name = "reports/expected_revenue.html"
    form_class = forms.ExpectedRevenueFilterForm
    csv_name = "expected-revenue"
    csv_columns = exports.EXPECTED_COLUMNS

    def build(self, **filters):
        return selectors.expected_revenue(**filters)

    def csv_rows(self, report):
        return exports.expected_rows(report)

    def charts(self, report):
        charts = []
        for code in report.currencies:
            rows = report.rows_of(code)
            charts.append(
                {
                    "title": f"Expected revenue ({code})",
                    "svg": stacked_bar_chart(
                        label=f"Expected revenue per month in {code}: fees and unbilled work",
                        categories=[row.label for row in rows],
                        series=[
                            Series("Retainer fees", [row.retainer_fees for row in rows]),
                            Series("Recurring services", [row.recurring for row in rows]),
                            Series("Unbilled work", [row.unbilled_work for row in rows]),
                        ],
                        format_value=self.money(code),
                    ),
                }
            )
        return charts
