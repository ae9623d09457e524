"""Read-only report endpoints: the figures of each report page, as JSON.

Each parses its query (a 400 naming the field when it cannot be read), calls the
report's selector (scoped to the request's tenant) and answers through its serializer.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from billing_site.api.base import TenantAPIView
from billing_site.roles import Cap

from .. import selectors
from . import serializers as s


class ReportAPIView(TenantAPIView):
    read_capability = Cap.VIEW_BILLING
    http_method_names = ["get", "head", "options"]
    query_serializer: type
    answer_serializer: type

    def report(self, query: dict) -> dict:
        raise NotImplementedError

    def answer(self, request):
        query = self.query_serializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(self.answer_serializer(self.report(query.validated_data)).data)


class TeamWorkReportView(ReportAPIView):
    """Hours worked, billable, non-billable and billed per month, technician and team."""

    query_serializer = s.TeamWorkQuerySerializer
    answer_serializer = s.TeamWorkSerializer

    def report(self, query):
        return s.team_work_data(
            selectors.team_work(
                date_from=query["date_from"],
                date_to=query["date_to"],
                team_id=query.get("team"),
                technician_id=query.get("technician"),
            )
        )

    @extend_schema(parameters=[s.TeamWorkQuerySerializer], responses=s.TeamWorkSerializer)
    def get(self, request):
        return self.answer(request)


class UnbilledWorkReportView(ReportAPIView):
    """Posted billable time not yet invoiced, valued as a batch prices it, by age
    (0-30, 31-60, 61-90, over 90 days since the work date) and customer."""

    query_serializer = s.UnbilledQuerySerializer
    answer_serializer = s.UnbilledSerializer

    def report(self, query):
        return s.unbilled_data(
            selectors.unbilled_work(
                customer_id=query.get("customer"), currency=query.get("currency", "")
            )
        )

    @extend_schema(parameters=[s.UnbilledQuerySerializer], responses=s.UnbilledSerializer)
    def get(self, request):
        return self.answer(request)


class RevenueReportView(ReportAPIView):
    """Issued invoices minus issued credit notes per month of issue, per currency."""

    query_serializer = s.RevenueQuerySerializer
    answer_serializer = s.RevenueSerializer

    def report(self, query):
        return s.revenue_data(
            selectors.revenue_by_month(
                date_from=query["date_from"],
                date_to=query["date_to"],
                currency=query.get("currency", ""),
            )
        )

    @extend_schema(parameters=[s.RevenueQuerySerializer], responses=s.RevenueSerializer)
    def get(self, request):
        return self.answer(request)


class ExpectedRevenueReportView(ReportAPIView):
    """Retainer and recurring fees open contracts will bill this month and the next
    ones, plus the unbilled work now."""

    query_serializer = s.ExpectedQuerySerializer
    answer_serializer = s.ExpectedSerializer

    def report(self, query):
        return s.expected_data(
            selectors.expected_revenue(
                months=query["months"],
                customer_id=query.get("customer"),
                currency=query.get("currency", ""),
            )
        )

    @extend_schema(parameters=[s.ExpectedQuerySerializer], responses=s.ExpectedSerializer)
    def get(self, request):
        return self.answer(request)
