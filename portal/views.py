"""The client portal (read-only pages for portal users) and the staff page that invites them.

Portal pages inherit :class:`PortalViewMixin`: login required, a portal membership of
the request's tenant, everything read through ``contracts.selectors_portal`` for the
membership's organization. They answer GET only: the portal writes nothing.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import PasswordResetConfirmView
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse, reverse_lazy
from django.views import View
from django.views.generic import FormView, TemplateView

from billing_site.models import Membership
from billing_site.roles import Cap, Role
from billing_site.views_base import StaffViewMixin, apply_errors
from contracts import selectors_portal as selectors
from contracts.api.views import attachment_response
from contracts.models import Ticket, TicketAttachment

from . import exports, services
from .forms import (
    EndClientTicketFilterForm,
    MyTicketFilterForm,
    PortalInviteForm,
    PortalMembershipForm,
    PortalSetPasswordForm,
)

END_CLIENT_PAGE_SIZE = 50
MY_TICKETS_PAGE_SIZE = 25


class PortalViewMixin(LoginRequiredMixin):
    """A portal page: a logged-in portal user of this tenant, scoped to their organization.

    Staff (of any MSP) get 403: portal pages show a customer's view, not the MSP's.
    Objects outside the organization's view are 404, as are other tenants' objects.
    """

    http_method_names = ["get", "head"]

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        membership = getattr(request, "membership", None)
        if membership is None or membership.role != Role.PORTAL:
            raise PermissionDenied("The client portal is for customers' portal logins.")
        self.organization = membership.organization
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            organization=self.organization,
            zone=self.organization.time_zone,
            is_billing_partner=self.is_billing_partner(),
        )
        return context

    def is_billing_partner(self) -> bool:
        if not hasattr(self, "_is_billing_partner"):
            self._is_billing_partner = selectors.organization_is_billing_partner(
                organization=self.organization
            )
        return self._is_billing_partner

    def require_billing_partner(self) -> None:
        """End Client Tickets exist only for organizations billed for others' work."""
        if not self.is_billing_partner():
            raise PermissionDenied(
                "End client tickets are shown to organizations billed for their clients' work."
            )


class MyTicketsView(PortalViewMixin, TemplateView):
    """The organization's own tickets: the portal's home page."""

    template_name = "portal/my_tickets.html"

    def get_template_names(self):
        if self.request.htmx:
            return ["portal/_my_ticket_rows.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = MyTicketFilterForm(self.request.GET or None)
        data = form.cleaned_data if form.is_valid() else {}
        tickets = selectors.own_ticket_list(
            organization=self.organization,
            search=data.get("q") or "",
            status=data.get("status") or "",
            include_completed=bool(data.get("include_completed")),
        )
        context.update(
            form=form,
            page_obj=Paginator(tickets, MY_TICKETS_PAGE_SIZE).get_page(
                self.request.GET.get("page")
            ),
        )
        return context


def end_client_tickets(view, form: EndClientTicketFilterForm):
    """The filtered, sorted queryset of the page and its exports (same parsing)."""
    return selectors.end_client_ticket_list(
        organization=view.organization, filters=form.to_filters()
    )


class EndClientTicketsView(PortalViewMixin, TemplateView):
    """Tickets of the organization's end clients billed to it, with a filter per column."""

    template_name = "portal/end_client_tickets.html"

    def get(self, request, *args, **kwargs):
        self.require_billing_partner()
        return super().get(request, *args, **kwargs)

    def get_template_names(self):
        if self.request.htmx:
            return ["portal/_end_client_rows.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = EndClientTicketFilterForm(self.request.GET)
        if form.is_valid():
            tickets = end_client_tickets(self, form)
            ordering = form.cleaned_data.get("ordering") or selectors.DEFAULT_ORDERING
        else:
            tickets = Ticket.objects.none()
            ordering = selectors.DEFAULT_ORDERING
        query = self.request.GET.copy()
        query.pop("page", None)
        query.setlist("ordering", [ordering])
        context.update(
            form=form,
            ordering=ordering,
            query=query.urlencode(),
            page_obj=Paginator(tickets, END_CLIENT_PAGE_SIZE).get_page(
                self.request.GET.get("page")
            ),
            columns=sort_columns(form, ordering),
        )
        return context


def sort_columns(form: EndClientTicketFilterForm, ordering: str) -> list[dict]:
    """Each column's heading, filter field and the ordering its heading switches to."""
    columns = []
    for key, label in COLUMNS:
        if ordering == key:
            state, following = "ascending", f"-{key}"
        elif ordering == f"-{key}":
            state, following = "descending", key
        else:
            state, following = "none", key
        columns.append(
            {"key": key, "label": label, "field": form[key], "sort": state, "next": following}
        )
    return columns


# Column key (sort and filter name), heading.
COLUMNS = [
    ("number", "Ticket"),
    ("end_client", "End client"),
    ("title", "Title"),
    ("status", "Status"),
    ("contact", "Contact"),
    ("assigned_to", "Assigned resource"),
    ("created", "Created"),
    ("due", "Due"),
    ("hours", "Hours worked"),
]


class EndClientTicketExportView(PortalViewMixin, View):
    """The filtered, sorted table, every page: ``?format=csv|xlsx|pdf`` plus the filters."""

    def get(self, request):
        self.require_billing_partner()
        export_format = request.GET.get("format", "")
        if export_format not in exports.FORMATS:
            return HttpResponseBadRequest("Choose format=csv, xlsx or pdf.")
        form = EndClientTicketFilterForm(request.GET)
        if not form.is_valid():
            return HttpResponseBadRequest(
                "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
            )
        try:
            return exports.export_response(
                export_format,
                tickets=end_client_tickets(self, form),
                organization=self.organization,
                tenant=request.tenant,
                filters=form.to_filters(),
            )
        except exports.ExportTooLarge as error:
            return HttpResponseBadRequest(str(error))


class TicketDetailView(PortalViewMixin, TemplateView):
    """One ticket, read-only: facts, description and the work history the viewer may see."""

    model = Ticket
    template_name = "portal/ticket_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            portal_ticket = selectors.portal_ticket_get(
                organization=self.organization, pk=self.kwargs["pk"]
            )
        except Ticket.DoesNotExist as exc:
            raise Http404("Ticket not found") from exc
        context.update(
            ticket=portal_ticket.ticket,
            is_end_client=portal_ticket.is_end_client,
            entries=selectors.portal_work_history(
                portal_ticket=portal_ticket, organization=self.organization
            ),
            attachments=selectors.portal_ticket_attachments(
                portal_ticket=portal_ticket, organization=self.organization
            ),
        )
        return context


class AttachmentDownloadView(PortalViewMixin, View):
    """A file the viewer may see in a work history, served from private storage."""

    model = TicketAttachment

    def get(self, request, pk):
        try:
            attachment = selectors.portal_attachment_get(organization=self.organization, pk=pk)
        except TicketAttachment.DoesNotExist as exc:
            raise Http404("Attachment not found") from exc
        # The staff download's rule: never rendered or run by the browser.
        return attachment_response(attachment)


class PortalLogoView(PortalViewMixin, View):
    """The MSP's logo, for the portal header."""

    def get(self, request):
        if not request.tenant.logo:
            raise Http404("No logo")
        return FileResponse(request.tenant.logo.open("rb"))


class PortalSetPasswordView(PasswordResetConfirmView):
    """The invitation link: a portal user chooses a password, then lands in the portal.

    Public by design (the signed, expiring token is the credential); only portal logins
    are accepted, so the link can never set a staff password.
    """

    template_name = "portal/set_password.html"
    form_class = PortalSetPasswordForm
    post_reset_login = True
    # Named because the login throttle adds a backend (which checks, but logs nobody in).
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"
    success_url = reverse_lazy("portal:home")

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        if user is None or not user.is_active:
            return None
        if not Membership.objects.filter(user=user, role=Role.PORTAL).exists():
            return None
        return user

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        membership = (
            Membership.objects.select_related("tenant")
            .filter(user=self.user, role=Role.PORTAL)
            .order_by("id")
            .first()
            if self.user is not None
            else None
        )
        context["brand_tenant"] = membership.tenant if membership else None
        return context


# ------------------------------------------------------------------ staff pages


class PortalUsersView(StaffViewMixin, FormView):
    """Billing admins list the portal logins and invite a customer's contact."""

    template_name = "portal/staff_portal_users.html"
    form_class = PortalInviteForm
    read_capability = write_capability = Cap.MANAGE_CUSTOMERS
    paginate_by = 25

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        search = self.request.GET.get("q", "").strip()
        memberships = (
            Membership.objects.filter(tenant=self.request.tenant, role=Role.PORTAL)
            .select_related("user", "organization", "contact")
            .order_by("organization__name", "user__username")
        )
        if search:
            memberships = memberships.filter(
                Q(organization__name__istartswith=search)
                | Q(user__username__istartswith=search)
                | Q(user__email__istartswith=search)
                | Q(contact__name__istartswith=search)
            )
        context.update(
            search=search,
            page_obj=Paginator(memberships, self.paginate_by).get_page(
                self.request.GET.get("page")
            ),
        )
        return context

    def form_valid(self, form):
        try:
            membership = services.portal_user_invite(
                tenant=self.request.tenant,
                base_url=self.request.build_absolute_uri("/"),
                **form.cleaned_data,
            )
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"Portal login “{membership.user.username}” created for {membership.contact.name} "
            f"({membership.organization.name}); the invitation was sent to {membership.user.email}.",
        )
        return redirect("portal:users")


class _PortalUserActionView(StaffViewMixin, View):
    read_capability = write_capability = Cap.MANAGE_CUSTOMERS
    http_method_names = ["post"]

    def post(self, request):
        form = PortalMembershipForm(request.POST)
        if not form.is_valid():
            raise Http404("Portal user not found")
        try:
            self.act(form.cleaned_data["membership"])
        except ValidationError as error:
            if "Portal user not found." in error.messages:
                raise Http404("Portal user not found") from error
            messages.error(request, "; ".join(error.messages))
        return redirect(reverse("portal:users"))


class PortalUserResendView(_PortalUserActionView):
    """E-mail a fresh password-set link to a portal user."""

    def act(self, membership_id: int) -> None:
        membership = services.portal_invitation_resend(
            tenant=self.request.tenant,
            membership_id=membership_id,
            base_url=self.request.build_absolute_uri("/"),
        )
        messages.success(self.request, f"A new link was sent to {membership.user.email}.")


class PortalUserRevokeView(_PortalUserActionView):
    """Take a portal user's access away."""

    def act(self, membership_id: int) -> None:
        user = services.portal_user_revoke(tenant=self.request.tenant, membership_id=membership_id)
        messages.success(self.request, f"Portal access of {user.username} removed.")
