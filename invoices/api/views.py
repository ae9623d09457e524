"""Invoice API: thin viewsets calling the invoices selectors and services, and the
receivables figures (summary, aging, customer statement)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import Http404
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings

from billing_site.api.base import TenantAPIView, TenantFilterSet, TenantViewSetMixin
from billing_site.api.idempotency import idempotent
from billing_site.api.pagination import StandardPagination
from billing_site.forms import TenantForm
from billing_site.models import Organization
from billing_site.roles import Cap

from .. import selectors, services
from ..emails import services as email_services
from ..emails.api import InvoiceEmailSerializer, InvoiceSendSerializer
from ..models import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PdfStatus,
    SourceScope,
)
from ..receivables import selectors as receivable_selectors
from ..receivables.forms import ReceivablesFilterForm, StatementForm
from ..views import pdf_request_message, pdf_response
from .serializers import (
    CreditNoteCreateSerializer,
    CustomerStatementSerializer,
    InvoiceDetailSerializer,
    InvoiceDraftUpdateSerializer,
    InvoiceLineCreateSerializer,
    InvoiceLineSerializer,
    InvoiceLineWriteSerializer,
    InvoiceSerializer,
    InvoiceVoidSerializer,
    PaymentCreateSerializer,
    PaymentSerializer,
    PdfRenderResultSerializer,
    ReceivablesAgingSerializer,
    ReceivablesSummarySerializer,
    SessionInvoiceCreateSerializer,
    customer_statement_data,
    receivables_aging_data,
    receivables_summary_data,
)


class PdfRenderer(BaseRenderer):
    """Lets clients ask for ``Accept: application/pdf``; errors are still JSON."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        # An error body (404, 409) is JSON and says so, whatever format was asked for.
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = JSONRenderer.media_type
        return JSONRenderer().render(data)


class InvoiceFilter(TenantFilterSet):
    status = filters.ChoiceFilter(
        choices=[
            *InvoiceStatus.choices,
            (selectors.OPEN, "Open (balance due)"),
            (selectors.OVERDUE, "Overdue"),
        ],
        method="filter_status",
        help_text="A status, or open (a balance is left) or overdue (and past due).",
    )
    organization = filters.ModelChoiceFilter(queryset=Organization.objects.all())
    number = filters.CharFilter(lookup_expr="iexact")
    issued_after = filters.DateFilter(field_name="issue_date", lookup_expr="gte")
    issued_before = filters.DateFilter(field_name="issue_date", lookup_expr="lte")
    source_scope = filters.ChoiceFilter(choices=SourceScope.choices)

    class Meta:
        model = Invoice
        fields = ["status", "organization", "number", "kind", "source", "currency"]

    def filter_status(self, queryset, name, value):
        if value == selectors.OPEN:
            return selectors.open_receivables(queryset)
        if value == selectors.OVERDUE:
            return selectors.overdue_receivables(queryset)
        return queryset.filter(status=value)


class InvoiceViewSet(
    TenantViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Invoices: list, retrieve (lines, tax per rate, pdf_url), edit and delete drafts,
    finalize, mark sent, void, PDF, from sessions."""

    queryset = Invoice.objects.all()
    filterset_class = InvoiceFilter
    search_fields = ["number", "bill_to_name", "source_label"]
    # ``balance``: the balance due annotated by ``selectors.with_balance``.
    ordering_fields = ["created_at", "issue_date", "due_date", "number", "total", "balance"]
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING

    def get_queryset(self):
        if self.action == "list":
            return selectors.invoice_list()
        if self.action in ("pdf", "render_pdf"):
            return Invoice.objects.all()
        return selectors.invoice_detail_queryset()

    def get_serializer_class(self):
        if self.action == "list":
            return InvoiceSerializer
        if self.action == "void":
            return InvoiceVoidSerializer
        if self.action == "from_sessions":
            return SessionInvoiceCreateSerializer
        if self.action == "partial_update":
            return InvoiceDraftUpdateSerializer
        return InvoiceDetailSerializer

    def _detail(self, invoice: Invoice, status_code=status.HTTP_200_OK) -> Response:
        invoice = selectors.invoice_get(pk=invoice.pk)
        context = self.get_serializer_context()
        return Response(InvoiceDetailSerializer(invoice, context=context).data, status=status_code)

    @extend_schema(request=InvoiceDraftUpdateSerializer, responses=InvoiceDetailSerializer)
    def partial_update(self, request, pk=None):
        """Edit a draft's seller and bill-to blocks, notes, dates and payment terms
        (400 for a final invoice: it is immutable)."""
        invoice = self.get_object()
        serializer = InvoiceDraftUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invoice = services.invoice_update_draft(invoice=invoice, **serializer.validated_data)
        return self._detail(invoice)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        """Delete a draft; its items return to unbilled (a final invoice is voided)."""
        services.invoice_delete_draft(invoice=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=InvoiceDetailSerializer)
    @action(detail=True, methods=["post"])
    @idempotent
    def finalize(self, request, pk=None):
        """Draft -> final: gapless number, dates, the PDF renders in the background."""
        invoice = services.invoice_finalize(invoice=self.get_object())
        return self._detail(invoice)

    @extend_schema(request=InvoiceSendSerializer, responses={202: InvoiceEmailSerializer})
    @action(detail=True, methods=["post"])
    @idempotent
    def send(self, request, pk=None):
        """E-mail the invoice with its PDF (to the billing contact unless ``to`` is given);
        it becomes sent once the mail server accepted the message."""
        invoice = self.get_object()
        serializer = InvoiceSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        draft = email_services.email_draft(
            invoice=invoice, base_url=request.build_absolute_uri("/")
        )
        given = serializer.validated_data
        email = email_services.invoice_email_send(
            invoice=invoice,
            to=given.get("to", draft.to),
            cc=given.get("cc", draft.cc),
            subject=given.get("subject", draft.subject),
            body=given.get("body", draft.body),
            created_by=request.user,
        )
        return Response(InvoiceEmailSerializer(email).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=InvoiceEmailSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def emails(self, request, pk=None):
        """The invoice's e-mails: recipients, result, Message-ID."""
        invoice = self.get_object()
        return Response(InvoiceEmailSerializer(invoice.emails.all(), many=True).data)

    @extend_schema(request=None, responses=InvoiceDetailSerializer)
    @action(detail=True, methods=["post"], url_path="mark-sent")
    @idempotent
    def mark_sent(self, request, pk=None):
        """Final -> sent."""
        invoice = services.invoice_mark_sent(invoice=self.get_object())
        return self._detail(invoice)

    @extend_schema(request=InvoiceVoidSerializer, responses=InvoiceDetailSerializer)
    @action(detail=True, methods=["post"])
    @idempotent
    def void(self, request, pk=None):
        """Void a final or sent invoice (with a reason); its items become unbilled."""
        invoice = self.get_object()
        serializer = InvoiceVoidSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invoice = services.invoice_void(invoice=invoice, reason=serializer.validated_data["reason"])
        return self._detail(invoice)

    @extend_schema(request=None, responses={202: PdfRenderResultSerializer})
    @action(detail=True, methods=["post"], url_path="render-pdf")
    def render_pdf(self, request, pk=None):
        """Render the PDF again: a failed or ready one (a new version), or a pending one
        whose render seems lost or stuck (queued again). The render runs after this
        request commits: poll the invoice until ``pdf_url`` is set. 400 for a draft."""
        done = services.invoice_pdf_request(invoice=self.get_object())
        invoice = done.invoice
        body = {
            "id": invoice.pk,
            "number": invoice.number,
            "pdf_status": invoice.pdf_status,
            "previous_pdf_status": done.previous_status,
            "new_version": done.new_version,
            "pdf_pending_since": invoice.pdf_pending_since,
            "detail": pdf_request_message(done),
        }
        return Response(PdfRenderResultSerializer(body).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, "The invoice PDF"),
            409: OpenApiResponse(description="The PDF is not rendered yet."),
        }
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, PdfRenderer])
    def pdf(self, request, pk=None):
        """Stream the invoice's PDF (409 while it is being rendered)."""
        invoice = self.get_object()
        if invoice.pdf_status != PdfStatus.READY or not invoice.pdf:
            return Response(
                {
                    "detail": f"The PDF is not ready (status: {invoice.pdf_status}).",
                    "pdf_status": invoice.pdf_status,
                },
                status=status.HTTP_409_CONFLICT,
            )
        try:
            return pdf_response(invoice, as_attachment=True)
        except Http404:
            return Response(
                {"detail": "The PDF file is missing; render it again."},
                status=status.HTTP_409_CONFLICT,
            )

    @extend_schema(request=SessionInvoiceCreateSerializer, responses={201: InvoiceDetailSerializer})
    @action(detail=False, methods=["post"], url_path="from-sessions")
    @idempotent
    def from_sessions(self, request):
        """Invoice one session, all of a host's sessions or all hosts of a group (finalised;
        the PDF renders in the background: poll the invoice until ``pdf_url`` is set)."""
        serializer = SessionInvoiceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        invoice = services.session_invoice_create(
            scope=data.pop("scope"),
            object_id=data.pop("id"),
            created_by=request.user,
            **data,
        )
        return self._detail(invoice, status.HTTP_201_CREATED)


class InvoiceLineViewSet(TenantViewSetMixin, viewsets.GenericViewSet):
    """Lines of one invoice (``/invoices/{invoice_pk}/lines/``): list them; add, change
    and delete them while the invoice is a draft (totals are recomputed each time)."""

    queryset = InvoiceLine.objects.all()
    serializer_class = InvoiceLineSerializer
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING
    url_kwarg_models = {"invoice_pk": Invoice}
    pagination_class = None

    def get_invoice(self) -> Invoice:
        try:
            return Invoice.objects.get(pk=self.kwargs["invoice_pk"])
        except Invoice.DoesNotExist as exc:
            raise Http404("Invoice not found.") from exc

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .filter(invoice_id=self.kwargs["invoice_pk"])
            .select_related("invoice")
            .order_by("position", "id")
        )

    def get_serializer_class(self):
        if self.action == "create":
            return InvoiceLineCreateSerializer
        if self.action == "partial_update":
            return InvoiceLineWriteSerializer
        return InvoiceLineSerializer

    def _line(self, line: InvoiceLine, status_code=status.HTTP_200_OK) -> Response:
        line = InvoiceLine.objects.select_related("invoice").get(pk=line.pk)
        return Response(InvoiceLineSerializer(line).data, status=status_code)

    def list(self, request, invoice_pk=None):
        self.get_invoice()
        return Response(InvoiceLineSerializer(self.get_queryset(), many=True).data)

    def retrieve(self, request, invoice_pk=None, pk=None):
        return Response(InvoiceLineSerializer(self.get_object()).data)

    @extend_schema(request=InvoiceLineCreateSerializer, responses={201: InvoiceLineSerializer})
    @idempotent
    def create(self, request, invoice_pk=None):
        invoice = self.get_invoice()
        serializer = InvoiceLineCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        line = services.invoice_line_add(invoice=invoice, **serializer.validated_data)
        return self._line(line, status.HTTP_201_CREATED)

    @extend_schema(request=InvoiceLineWriteSerializer, responses=InvoiceLineSerializer)
    def partial_update(self, request, invoice_pk=None, pk=None):
        line = self.get_object()
        serializer = InvoiceLineWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        line = services.invoice_line_update(line=line, **serializer.validated_data)
        return self._line(line)

    @extend_schema(responses={204: None})
    def destroy(self, request, invoice_pk=None, pk=None):
        services.invoice_line_delete(line=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class PaymentFilter(TenantFilterSet):
    invoice = filters.ModelChoiceFilter(queryset=Invoice.objects.all())
    received_after = filters.DateFilter(field_name="received_on", lookup_expr="gte")
    received_before = filters.DateFilter(field_name="received_on", lookup_expr="lte")
    method = filters.ChoiceFilter(choices=PaymentMethod.choices)

    class Meta:
        model = Payment
        fields = ["invoice", "method"]


class PaymentViewSet(
    TenantViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Payments: list (filter by invoice, date range, method), record, retrieve, delete.
    Recording and deleting update the invoice's amount paid and status."""

    queryset = Payment.objects.all()
    serializer_class = PaymentSerializer
    filterset_class = PaymentFilter
    ordering_fields = ["received_on", "created_at", "amount"]
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING

    def get_queryset(self):
        return selectors.payment_list()

    @extend_schema(request=PaymentCreateSerializer, responses={201: PaymentSerializer})
    @idempotent
    def create(self, request):
        serializer = PaymentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        payment = services.payment_record(created_by=request.user, **serializer.validated_data)
        payment = selectors.payment_list().get(pk=payment.pk)
        return Response(PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.payment_delete(payment=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class CreditNoteFilter(TenantFilterSet):
    credited_invoice = filters.ModelChoiceFilter(queryset=Invoice.objects.all())
    organization = filters.ModelChoiceFilter(queryset=Organization.objects.all())
    issued_after = filters.DateFilter(field_name="issue_date", lookup_expr="gte")
    issued_before = filters.DateFilter(field_name="issue_date", lookup_expr="lte")

    class Meta:
        model = Invoice
        fields = ["credited_invoice", "organization", "status", "currency"]


class CreditNoteViewSet(
    TenantViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Credit notes: list, retrieve, issue one for an invoice (wholly, or by lines with
    quantities, saying whether the credited items are released or written off). Issued
    notes are final at once, numbered CN-<year>-00001; they are never receivables."""

    queryset = Invoice.objects.filter(kind=InvoiceKind.CREDIT_NOTE)
    filterset_class = CreditNoteFilter
    search_fields = ["number", "bill_to_name", "credited_invoice__number"]
    ordering_fields = ["created_at", "issue_date", "number", "total"]
    read_capability = Cap.VIEW_BILLING
    write_capability = Cap.MANAGE_BILLING

    def get_queryset(self):
        if self.action == "list":
            return selectors.credit_note_list()
        return selectors.invoice_detail_queryset().filter(kind=InvoiceKind.CREDIT_NOTE)

    def get_serializer_class(self):
        if self.action == "list":
            return InvoiceSerializer
        if self.action == "create":
            return CreditNoteCreateSerializer
        return InvoiceDetailSerializer

    @extend_schema(request=CreditNoteCreateSerializer, responses={201: InvoiceDetailSerializer})
    @idempotent
    def create(self, request):
        serializer = CreditNoteCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        lines = data.get("lines")
        note = services.credit_note_create(
            invoice=data["invoice"],
            reason=data["reason"],
            credit_disposition=data["credit_disposition"],
            lines=None if lines is None else [(row["line"], row["quantity"]) for row in lines],
            created_by=request.user,
        )
        note = selectors.invoice_get(pk=note.pk)
        context = self.get_serializer_context()
        return Response(
            InvoiceDetailSerializer(note, context=context).data, status=status.HTTP_201_CREATED
        )


# --- Receivables ----------------------------------------------------------------------


class StatementQueryForm(TenantForm, StatementForm):
    """The statement page's period (and its rules), plus the customer the page has in
    its URL. Another tenant's customer is not a choice, like an unknown id."""

    organization = forms.ModelChoiceField(label="Customer", queryset=Organization.objects.all())

    field_order = ["organization", "date_from", "date_to"]


def form_parameters(
    form_class: type[forms.Form], names: list[str], descriptions: dict[str, str] | None = None
) -> list[OpenApiParameter]:
    """The schema's query parameters, read from the form that validates them."""
    descriptions = descriptions or {}
    parameters = []
    for name in names:
        field = form_class.base_fields[name]
        kind = OpenApiTypes.DATE if isinstance(field, forms.DateField) else OpenApiTypes.INT
        parameters.append(
            OpenApiParameter(
                name,
                kind,
                required=field.required,
                description=descriptions.get(name, str(field.label)),
            )
        )
    return parameters


def read_query(request, form_class: type[forms.Form], names: list[str]) -> dict:
    """The query read by the page's form (only ``names``): a 400 naming each field that
    cannot be read, as a serializer would answer."""
    form = form_class(request.query_params)
    for name in set(form.fields) - set(names):
        del form.fields[name]
    if not form.is_valid():
        errors = {
            api_settings.NON_FIELD_ERRORS_KEY if name == NON_FIELD_ERRORS else name: list(errs)
            for name, errs in form.errors.items()
        }
        raise ValidationError(errors)
    return form.cleaned_data


class ReceivablesAPIView(TenantAPIView):
    """Read-only receivables figures: the receivables pages' forms read the query, their
    selectors compute, in the tenant's calendar."""

    read_capability = Cap.VIEW_BILLING
    http_method_names = ["get", "head", "options"]


SUMMARY_QUERY = ["issued_from", "issued_to"]


class ReceivablesSummaryView(ReceivablesAPIView):
    """Issued invoices per currency and state (awaiting payment, partially paid, overdue,
    paid, settled by credit notes): how many, what was invoiced and what is still open."""

    @extend_schema(
        parameters=form_parameters(
            ReceivablesFilterForm,
            SUMMARY_QUERY,
            {
                "issued_from": "Only invoices issued on or after this day.",
                "issued_to": "Only invoices issued on or before this day.",
            },
        ),
        responses=ReceivablesSummarySerializer,
    )
    def get(self, request):
        query = read_query(request, ReceivablesFilterForm, SUMMARY_QUERY)
        today = selectors.tenant_today()
        summary = receivable_selectors.receivables_summary(
            today=today, issued_from=query.get("issued_from"), issued_to=query.get("issued_to")
        )
        body = receivables_summary_data(
            summary,
            as_of=today,
            issued_from=query.get("issued_from"),
            issued_to=query.get("issued_to"),
        )
        return Response(ReceivablesSummarySerializer(body).data)


AGING_QUERY = ["organization"]


class ReceivablesAgingView(ReceivablesAPIView):
    """Open balances per customer and currency by days past the due date, most overdue
    first, a page at a time; the totals per currency cover every page."""

    pagination_class = StandardPagination

    @extend_schema(
        parameters=[
            *form_parameters(
                ReceivablesFilterForm,
                AGING_QUERY,
                {"organization": "Only this customer (an organization id)."},
            ),
            OpenApiParameter("page", OpenApiTypes.INT, description="A page number."),
            OpenApiParameter(
                "page_size",
                OpenApiTypes.INT,
                description=f"Rows per page (at most {StandardPagination.max_page_size}).",
            ),
        ],
        responses=ReceivablesAgingSerializer,
    )
    def get(self, request):
        query = read_query(request, ReceivablesFilterForm, AGING_QUERY)
        aging = receivable_selectors.receivables_aging(
            today=selectors.tenant_today(), organization=query.get("organization")
        )
        paginator = self.pagination_class()
        rows = paginator.paginate_queryset(aging.rows, request, view=self)
        body = {
            **receivables_aging_data(aging, rows),
            "count": paginator.page.paginator.count,
            "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(),
        }
        return Response(ReceivablesAgingSerializer(body).data)


class CustomerStatementView(ReceivablesAPIView):
    """A customer's account for a period, per currency: the opening balance, every
    invoice (charged on its issue date), payment (on the day received) and credit note
    in date order with the running balance, and the closing balance. Drafts and void
    invoices are not on it."""

    @extend_schema(
        parameters=form_parameters(
            StatementQueryForm,
            ["organization", "date_from", "date_to"],
            {
                "organization": "The customer (an organization id).",
                "date_from": "First day (default: the first day of the month eleven months "
                "before this one). Given alone and after today, the period is today.",
                "date_to": "Last day (default: today). Given alone and before the default "
                "first day, the period is that day.",
            },
        ),
        responses=CustomerStatementSerializer,
    )
    def get(self, request):
        query = read_query(request, StatementQueryForm, ["organization", "date_from", "date_to"])
        # The statement page's period: the last twelve months unless given; one bound
        # given alone past the other's default moves that default onto it.
        start, end = receivable_selectors.default_statement_period()
        start = query.get("date_from") or start
        end = query.get("date_to") or end
        if end < start:
            start = end
        statement = receivable_selectors.customer_statement(
            organization=query["organization"], date_from=start, date_to=end
        )
        return Response(CustomerStatementSerializer(customer_statement_data(statement)).data)
