"""Browser pages for hosts, session logs, the timer and imports. Thin: parse, call, render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import FormView, TemplateView

from billing_site.roles import Cap
from billing_site.timeutils import format_duration
from billing_site.views_base import ScopedObjectMixin, StaffViewMixin, apply_errors

from . import bulk_import, importers, selectors, services
from .forms import (
    DateRangeForm,
    HostForm,
    HostGroupForm,
    HostTreeFilterForm,
    ImportMappingForm,
    ImportProfileNameForm,
    ImportSettingsForm,
    SessionEditForm,
    SessionFilterForm,
    SessionForm,
    SessionImportForm,
    TeamViewerConnectionForm,
    TechnicianAliasForm,
    TimerStartForm,
    TimerStopForm,
)
from .models import Host, HostGroup, ImportProfile, ImportStatus, RemoteSession, SessionImport

SAMPLE_CSV = (
    "host,group,technician,start,end,comment,external_id\r\n"
    "Jane_OFFICE_121,ACME,tech,2026-10-12 09:05:00,2026-10-12 09:14:40,"
    "Installed Windows updates.,RS-1001\r\n"
    "Joseph_OFFICE_121,ACME,tech,2026-10-12T14:00:00+02:00,2026-10-12T14:32:10+02:00,"
    '"Printer driver, reinstalled",RS-1002\r\n'
)


class SessionsViewMixin(StaffViewMixin):
    """Adds what the templates need to decide which actions a user sees."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            can_log=self.can(Cap.LOG_WORK),
            can_manage=self.can(Cap.MANAGE_WORK),
            can_bill=self.can(Cap.MANAGE_BILLING),
            can_view_billing=self.can(Cap.VIEW_BILLING),
            can_edit_groups=self.can(Cap.MANAGE_WORK),
        )
        return context

    def safe_next(self, default: str) -> str:
        target = self.request.POST.get("next") or self.request.GET.get("next") or ""
        if url_has_allowed_host_and_scheme(
            target, allowed_hosts={self.request.get_host()}, require_https=False
        ):
            return target
        return default


def _page(request, queryset, per_page: int = 25):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


# Clients & Computers -------------------------------------------------------------------------


class HostTreeView(SessionsViewMixin, TemplateView):
    """Hosts gathered by group (company), with session count and overall duration."""

    template_name = "sessions/host_tree.html"
    read_capability = Cap.VIEW_WORK
    groups_per_page = 20

    def get_template_names(self):
        if self.request.htmx:
            return ["sessions/_host_tree_table.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = HostTreeFilterForm(self.request.GET or None)
        date_from, date_to = form.date_range()
        search = (form.value_of("q") or "").strip()
        filters = selectors.SessionFilters(
            date_from=date_from, date_to=date_to, nothing=form.refused
        )
        page = _page(
            self.request,
            selectors.host_group_summaries(filters=filters, search=search),
            self.groups_per_page,
        )
        ungrouped = None
        if not page.has_next():
            ungrouped = selectors.ungrouped_summary(filters=filters, search=search)
        context.update(
            form=form,
            page_obj=page,
            tree=selectors.host_tree(
                groups=list(page), ungrouped=ungrouped, filters=filters, search=search
            ),
            date_from=date_from,
            date_to=date_to,
            search=search,
        )
        return context


class HostDetailView(SessionsViewMixin, ScopedObjectMixin, TemplateView):
    """One host: its sessions, filterable by date range, with totals and invoice links."""

    model = Host
    template_name = "sessions/host_detail.html"
    read_capability = Cap.VIEW_WORK

    def get_queryset(self):
        return selectors.host_list()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        host = self.get_object()
        form = DateRangeForm(self.request.GET or None)
        date_from, date_to = form.date_range()
        filters = selectors.SessionFilters(
            date_from=date_from, date_to=date_to, host=host.pk, nothing=form.refused
        )
        my_timer = (
            selectors.running_sessions(technician=self.request.user).first()
            if self.can(Cap.LOG_WORK)
            else None
        )
        context.update(
            object=host,
            host=host,
            form=form,
            page_obj=_page(self.request, selectors.session_list(filters=filters)),
            totals=selectors.session_totals(filters=filters),
            date_from=date_from,
            date_to=date_to,
            my_timer=my_timer,
        )
        return context


class HostCreateView(SessionsViewMixin, FormView):
    template_name = "sessions/form_page.html"
    form_class = HostForm
    read_capability = write_capability = Cap.LOG_WORK

    def get_initial(self):
        group = self.request.GET.get("group")
        return {"group": group} if group and group.isdigit() else {}

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            title="New computer", cancel_url=reverse("sessions:host-list"), **kwargs
        )

    def form_valid(self, form):
        try:
            host = services.host_create(**form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"Computer “{host.name}” added.")
        return redirect("sessions:host-detail", pk=host.pk)


class ObjectUpdateView(SessionsViewMixin, ScopedObjectMixin, FormView):
    """Edit form of one host or group: its update service writes, then back to its page."""

    template_name = "sessions/form_page.html"
    detail_url_name = ""
    update_service = None
    update_kwarg = ""
    saved_message = ""

    def get_queryset(self):
        return self.model.objects.all()

    def get_form_kwargs(self):
        self.object = self.get_object()
        return {**super().get_form_kwargs(), "instance": self.object}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)  # builds the form, which loads the object
        context.update(
            title=f"Edit {self.object.name}",
            object=self.object,
            cancel_url=reverse(self.detail_url_name, args=[self.object.pk]),
        )
        return context

    def form_valid(self, form):
        try:
            type(self).update_service(**{self.update_kwarg: self.object}, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, self.saved_message)
        return redirect(self.detail_url_name, pk=self.object.pk)


class HostUpdateView(ObjectUpdateView):
    model = Host
    form_class = HostForm
    read_capability = write_capability = Cap.LOG_WORK
    detail_url_name = "sessions:host-detail"
    update_service = staticmethod(services.host_update)
    update_kwarg = "host"
    saved_message = "Computer saved."


class HostGroupDetailView(SessionsViewMixin, ScopedObjectMixin, TemplateView):
    """A group (company): its hosts with totals, and the group's invoice link."""

    model = HostGroup
    template_name = "sessions/group_detail.html"
    read_capability = Cap.VIEW_WORK

    def get_queryset(self):
        return selectors.host_group_list()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = DateRangeForm(self.request.GET or None)
        date_from, date_to = form.date_range()
        filters = selectors.SessionFilters(
            date_from=date_from, date_to=date_to, nothing=form.refused
        )
        group = self.get_object(selectors.host_group_summaries(filters=filters))
        node = selectors.host_tree(groups=[group], filters=filters)[0]
        context.update(
            object=group,
            group=group,
            node=node,
            form=form,
            date_from=date_from,
            date_to=date_to,
        )
        return context


class HostGroupCreateView(SessionsViewMixin, FormView):
    template_name = "sessions/form_page.html"
    form_class = HostGroupForm
    read_capability = write_capability = Cap.MANAGE_WORK

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            title="New group", cancel_url=reverse("sessions:host-list"), **kwargs
        )

    def form_valid(self, form):
        try:
            group = services.host_group_create(**form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"Group “{group.name}” created.")
        return redirect("sessions:group-detail", pk=group.pk)


class HostGroupUpdateView(ObjectUpdateView):
    model = HostGroup
    form_class = HostGroupForm
    read_capability = write_capability = Cap.MANAGE_WORK
    detail_url_name = "sessions:group-detail"
    update_service = staticmethod(services.host_group_update)
    update_kwarg = "group"
    saved_message = "Group saved."


# Logs ------------------------------------------------------------------------------------------


class SessionListView(SessionsViewMixin, TemplateView):
    """All sessions with filters, paging and the filtered totals."""

    template_name = "sessions/session_list.html"
    read_capability = Cap.VIEW_WORK

    def get_template_names(self):
        if self.request.htmx:
            return ["sessions/_session_table.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = SessionFilterForm(self.request.GET or None)
        filters = form.to_filters()
        context.update(
            form=form,
            filters=filters,
            page_obj=_page(self.request, selectors.session_list(filters=filters), 50),
            totals=selectors.session_totals(filters=filters),
            date_from=filters.date_from,
            date_to=filters.date_to,
            view_mode="list",
        )
        return context


class SessionByClientView(SessionsViewMixin, TemplateView):
    """Logs grouped by client: group -> host -> sessions, totals at every level."""

    template_name = "sessions/session_by_client.html"
    read_capability = Cap.VIEW_WORK
    groups_per_page = 10

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = SessionFilterForm(self.request.GET or None)
        filters = form.to_filters()
        page = _page(
            self.request, selectors.client_group_summaries(filters=filters), self.groups_per_page
        )
        ungrouped = None
        if not page.has_next():
            ungrouped = selectors.client_ungrouped_summary(filters=filters)
        context.update(
            form=form,
            filters=filters,
            page_obj=page,
            tree=selectors.client_tree(groups=list(page), ungrouped=ungrouped, filters=filters),
            totals=selectors.session_totals(filters=filters),
            date_from=filters.date_from,
            date_to=filters.date_to,
            view_mode="client",
        )
        return context


class SessionCreateView(SessionsViewMixin, FormView):
    """Manual entry of a finished session."""

    template_name = "sessions/session_form.html"
    form_class = SessionForm
    read_capability = write_capability = Cap.LOG_WORK

    def get_form_kwargs(self):
        return {
            **super().get_form_kwargs(),
            "tenant": self.request.tenant,
            "with_technician": self.can(Cap.MANAGE_WORK),
        }

    def get_initial(self):
        host = self.request.GET.get("host")
        return {"host": host, "billable": True} if host and host.isdigit() else {"billable": True}

    def get_context_data(self, **kwargs):
        return super().get_context_data(title="Log a session", may_edit=True, **kwargs)

    def form_valid(self, form):
        data = dict(form.cleaned_data)
        technician = data.pop("technician", None) or self.request.user
        try:
            session = services.session_create(
                technician=technician, actor=self.request.user, **data
            )
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"Session on {session.host.name} logged ({format_duration(session.duration_seconds)}).",
        )
        return redirect(self.safe_next(reverse("sessions:host-detail", args=[session.host_id])))


class SessionUpdateView(SessionsViewMixin, ScopedObjectMixin, FormView):
    """Edit an unbilled session (own, or anyone's with MANAGE_WORK); read-only otherwise."""

    model = RemoteSession
    template_name = "sessions/session_form.html"
    form_class = SessionEditForm
    read_capability = write_capability = Cap.LOG_WORK

    def get_queryset(self):
        return selectors.session_list()

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        # Refuse before looking at the input: someone else's session is not negotiable.
        if not services.may_change_session(self.object, request.user, request.membership.role):
            raise PermissionDenied("You can only change your own sessions.")
        return super().post(request, *args, **kwargs)

    def get_form_kwargs(self):
        if not hasattr(self, "object"):
            self.object = self.get_object()
        kwargs = super().get_form_kwargs()
        kwargs.update(tenant=self.request.tenant, running=self.object.is_running)
        kwargs["initial"] = {
            "host": self.object.host,
            "started_at": self.object.started_at,
            "ended_at": self.object.ended_at,
            "comment": self.object.comment,
            "billable": self.object.billable,
        }
        return kwargs

    def may_edit(self) -> bool:
        return not self.object.is_billed and services.may_change_session(
            self.object, self.request.user, self.request.membership.role
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)  # builds the form, which loads the session
        may_edit = self.may_edit()
        context.update(
            title="Edit session" if may_edit else "Session", object=self.object, may_edit=may_edit
        )
        return context

    def form_valid(self, form):
        try:
            services.session_update(
                session=self.object, actor=self.request.user, **form.cleaned_data
            )
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, "Session saved.")
        return redirect(self.safe_next(reverse("sessions:host-detail", args=[self.object.host_id])))


class SessionDeleteView(SessionsViewMixin, ScopedObjectMixin, TemplateView):
    model = RemoteSession
    template_name = "sessions/session_confirm_delete.html"
    read_capability = write_capability = Cap.LOG_WORK

    def get_queryset(self):
        return selectors.session_list()

    def get_context_data(self, **kwargs):
        session = self.get_object()
        return super().get_context_data(
            object=session,
            may_edit=not session.is_billed
            and services.may_change_session(
                session, self.request.user, self.request.membership.role
            ),
            **kwargs,
        )

    def post(self, request, pk):
        session = self.get_object()
        try:
            services.session_delete(session=session, actor=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("sessions:session-edit", pk=session.pk)
        messages.success(request, f"Session on {session.host.name} deleted.")
        return redirect(self.safe_next(reverse("sessions:host-detail", args=[session.host_id])))


# Timer -----------------------------------------------------------------------------------------


class TimerStartView(SessionsViewMixin, View):
    read_capability = write_capability = Cap.LOG_WORK
    http_method_names = ["post"]

    def post(self, request):
        form = TimerStartForm(request.POST)
        default = reverse("dashboard")
        if not form.is_valid():
            messages.error(request, "Choose the computer to start the timer on.")
            return redirect(self.safe_next(default))
        try:
            session = services.session_timer_start(
                host=form.cleaned_data["host"],
                technician=request.user,
                comment=form.cleaned_data["comment"],
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect(self.safe_next(default))
        messages.success(request, f"Timer started on {session.host.name}.")
        return redirect(self.safe_next(default))


class TimerStopView(SessionsViewMixin, ScopedObjectMixin, FormView):
    """POST stops a running timer now; the page asks for the end of a timer left running."""

    model = RemoteSession
    template_name = "sessions/timer_stop.html"
    form_class = TimerStopForm
    read_capability = write_capability = Cap.LOG_WORK

    def get_queryset(self):
        return selectors.session_list()

    def get_form_kwargs(self):
        self.object = self.get_object()
        return {**super().get_form_kwargs(), "tenant": self.request.tenant}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)  # builds the form, which loads the session
        context["object"] = self.object
        return context

    def form_valid(self, form):
        try:
            session = services.session_timer_stop(
                session=self.object, actor=self.request.user, ended_at=form.cleaned_data["ended_at"]
            )
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"Timer on {session.host.name} stopped. Add a comment so the invoice says what "
            "was done.",
        )
        return redirect("sessions:session-edit", pk=session.pk)


# Import ----------------------------------------------------------------------------------------


class SessionImportView(SessionsViewMixin, FormView):
    """Upload a session log; it is checked and kept for the preview."""

    template_name = "sessions/import_upload.html"
    form_class = SessionImportForm
    read_capability = write_capability = Cap.LOG_WORK
    upload_kind = "session_log"  # request size limit (billing_site/uploads.py)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "tenant": self.request.tenant}

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            generic_columns=[
                (
                    "host",
                    "yes*",
                    "Computer name, e.g. Jane_OFFICE_121; created if unknown and ticked.",
                ),
                ("device_id", "no", "The tool's id of the computer; matched before the name."),
                ("group", "no", "Company / group; used when the computer is created."),
                (
                    "technician",
                    "no",
                    "Username, e-mail or full name of a staff member; empty: the technician "
                    "chosen on the form.",
                ),
                (
                    "start",
                    "yes",
                    "e.g. 2026-10-12 09:05:00, 2026-10-12T09:05:00+02:00 or 12/10/2026 09:05 "
                    "(in the date format chosen above).",
                ),
                ("end", "yes**", "After the start, at most 24 h later, not in the future."),
                ("duration", "no**", "H:MM:SS or with a unit (15m, 1h 30m); used without end."),
                ("comment", "no", "What was done; printed on the invoice."),
                ("external_id", "no", "The tool's session id; makes re-imports safe."),
            ],
            layouts=[
                layout
                for key, layout in importers.LAYOUTS.items()
                if key != importers.FORMAT_GENERIC
            ],
            recent=selectors.recent_imports(
                user=self.request.user, may_manage=self.can(Cap.MANAGE_WORK)
            ),
            profiles=selectors.import_profile_list(),
            teamviewer=self._teamviewer(kwargs.pop("teamviewer_form", None)),
            **kwargs,
        )

    def _teamviewer(self, form=None) -> dict | None:
        """The TeamViewer card, for those who may manage everyone's work."""
        if not self.can(Cap.MANAGE_WORK):
            return None
        connection = selectors.teamviewer_connection()
        return {
            "connection": connection,
            "form": form or TeamViewerConnectionForm(connection=connection),
            "result": connection.last_result if connection else {},
            "layout": importers.LAYOUTS[importers.FORMAT_TEAMVIEWER_API],
        }

    def form_valid(self, form):
        upload = form.cleaned_data["file"]
        try:
            # Big CSV files are kept for a streamed import (sessions/bulk_import.py).
            staged, _ = bulk_import.session_import_stage(
                tenant=self.request.tenant,
                actor=self.request.user,
                file=upload,
                filename=upload.name,
                fmt=form.cleaned_data["format"],
                zone=form.cleaned_data["time_zone"] or None,
                date_format=form.cleaned_data["date_format"] or importers.DATE_FORMAT_AUTO,
                technician=form.cleaned_data["technician"],
                host=form.cleaned_data["host"],
                profile=form.cleaned_data["profile"],
            )
        except ValidationError as error:
            apply_errors(form, error)
            return self.form_invalid(form)
        return redirect("sessions:import-preview", pk=staged.pk)


class ImportProfileDeleteView(SessionsViewMixin, ScopedObjectMixin, View):
    """POST: delete a saved import profile (staged files read with it keep their mapping)."""

    model = ImportProfile
    read_capability = write_capability = Cap.LOG_WORK
    http_method_names = ["post"]

    def get_queryset(self):
        return selectors.import_profile_list()

    def post(self, request, pk):
        profile = self.get_object()
        services.import_profile_delete(profile=profile)
        messages.success(request, f"Import profile “{profile.name}” deleted.")
        return redirect(reverse("sessions:session-import") + "#profiles")


TEAMVIEWER_ANCHOR = "#teamviewer"


class TeamViewerSettingsView(SessionImportView):
    """POST: save the TeamViewer script token and group filter (or remove the connection);
    errors are shown on the import page's TeamViewer card."""

    read_capability = write_capability = Cap.MANAGE_WORK
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        import_page = reverse("sessions:session-import") + TEAMVIEWER_ANCHOR
        if "remove" in request.POST:
            services.teamviewer_connection_delete()
            messages.success(
                request, "TeamViewer connection removed; the sessions it imported stay."
            )
            return redirect(import_page)
        connection = selectors.teamviewer_connection()
        form = TeamViewerConnectionForm(request.POST, connection=connection)
        if form.is_valid():
            try:
                services.teamviewer_connection_save(
                    actor=request.user,
                    token=form.cleaned_data["token"],
                    group_id=form.cleaned_data["group_id"],
                )
            except ValidationError as error:
                apply_errors(form, error)
            else:
                messages.success(request, "TeamViewer connection saved.")
                return redirect(import_page)
        upload_form = SessionImportForm(tenant=request.tenant)
        return self.render_to_response(
            self.get_context_data(form=upload_form, teamviewer_form=form), status=400
        )


class TeamViewerPullView(SessionsViewMixin, View):
    """POST: "Pull now" — queued as a task (run at once without a broker)."""

    read_capability = write_capability = Cap.MANAGE_WORK
    http_method_names = ["post"]

    def post(self, request):
        try:
            services.teamviewer_pull_request(actor=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.info(request, "Pull from TeamViewer started; its result is shown below.")
        return redirect(reverse("sessions:session-import") + TEAMVIEWER_ANCHOR)


class SessionImportSampleView(SessionsViewMixin, View):
    read_capability = Cap.LOG_WORK
    http_method_names = ["get"]

    def get(self, request):
        response = HttpResponse(SAMPLE_CSV, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="session-import-sample.csv"'
        return response


def _wizard_context(staged, result, kwargs, new_hosts=None) -> dict:
    """The mapping step, the profile form, inline aliases and the new computers (those
    of ``result``, unless given)."""
    if new_hosts is None:
        new_hosts = result.new_hosts if result is not None else []
    mapping_form = kwargs.pop("mapping_form", None)
    proposal = None
    if staged.status == ImportStatus.PENDING:
        try:
            proposal = services.session_import_columns(staged)
        except importers.FileFormatError:
            proposal = None
    if proposal is not None and mapping_form is None:
        mapping_form = ImportMappingForm(
            columns=proposal.columns,
            initial_fields=[proposal.field_of(i) for i in range(len(proposal.columns))],
        )
    unmatched = result.unmatched_technicians if result is not None else []
    return {
        "proposal": proposal,
        "mapping_form": mapping_form,
        "mapping_guessed": staged.mapping_source == services.MAPPING_GUESSED,
        "profile_form": kwargs.pop("profile_form", None) or ImportProfileNameForm(),
        "alias_forms": [
            (name, TechnicianAliasForm(initial={"alias": name})) for name in unmatched[:50]
        ],
        "new_hosts": new_hosts,
        "new_hosts_total": len(new_hosts),
        "new_hosts_unchosen": sum(1 for host in new_hosts if not host["create"]),
    }


def _new_hosts_of(staged, actor) -> list[dict]:
    """Every new computer of a staged file (read in full, streamed for a big one)."""
    if bulk_import.is_big(staged):
        return bulk_import.survey(staged).new_hosts
    return services.session_import_preview(staged=staged, actor=actor).new_hosts


class SessionImportPreviewView(SessionsViewMixin, ScopedObjectMixin, TemplateView):
    """GET: every row with its status and errors, and how the file is read.
    POST: with ``date_format``, change how it is read; else import (all or nothing)."""

    model = SessionImport
    template_name = "sessions/import_preview.html"
    read_capability = write_capability = Cap.LOG_WORK

    def get_queryset(self):
        # Someone else's upload is not found, unless one may manage everyone's work.
        return selectors.session_import_list(
            user=self.request.user, may_manage=self.can(Cap.MANAGE_WORK)
        )

    def _settings_form(self, staged, *, allowed=None, posted=None):
        form = ImportSettingsForm(
            posted,
            tenant=self.request.tenant,
            allowed=allowed,
            initial={
                "date_format": staged.date_format or importers.DATE_FORMAT_AUTO,
                "time_zone": staged.time_zone,
            },
        )
        if posted is not None:
            form.is_valid()  # show why the choice sent was refused, among the offered ones
        return form

    def get_context_data(self, **kwargs):
        staged = kwargs.pop("staged", None) or self.get_object()
        result = kwargs.pop("result", None)
        settings_form = kwargs.pop("settings_form", None)
        posted = kwargs.pop("posted", None)
        needs_date_format = ""
        if result is None and staged.status == ImportStatus.PENDING:
            try:
                result = services.session_import_preview(staged=staged, actor=self.request.user)
            except services.ImportSettingsRequired as required:
                needs_date_format = " ".join(required.messages)
                settings_form = settings_form or self._settings_form(
                    staged, allowed=required.date_format_choices, posted=posted
                )
            except ValidationError as error:
                messages.error(self.request, " ".join(error.messages))
        if settings_form is None and result is not None and staged.status == ImportStatus.PENDING:
            choices = [importers.DATE_FORMAT_AUTO, *result.date_format_choices]
            if result.date_format not in choices:
                choices.append(result.date_format)
            settings_form = self._settings_form(staged, allowed=choices, posted=posted)
        return super().get_context_data(
            object=staged,
            result=result,
            settings_form=settings_form,
            needs_date_format=needs_date_format,
            **_wizard_context(staged, result, kwargs),
            **kwargs,
        )

    def _wizard_post(self, request, staged, action):
        if action == "mapping":
            proposal = services.session_import_columns(staged)
            form = ImportMappingForm(request.POST, columns=proposal.columns, initial_fields=[])
            if form.is_valid():
                try:
                    services.session_import_mapping(
                        staged=staged, actor=request.user, columns=form.cleaned_data["choices"]
                    )
                except ValidationError as error:
                    apply_errors(form, error)
                else:
                    messages.success(request, "Columns saved; the file was read again with them.")
                    return redirect("sessions:import-preview", pk=staged.pk)
            return self.render_to_response(
                self.get_context_data(staged=staged, mapping_form=form), status=400
            )
        if action == "profile":
            form = ImportProfileNameForm(request.POST)
            if form.is_valid():
                try:
                    profile = services.import_profile_from_staged(
                        staged=staged, name=form.cleaned_data["name"], actor=request.user
                    )
                except ValidationError as error:
                    apply_errors(form, error)
                else:
                    messages.success(
                        request,
                        f"Saved as import profile “{profile.name}”; choose it when you upload "
                        "this tool's next file.",
                    )
                    return redirect("sessions:import-preview", pk=staged.pk)
            return self.render_to_response(
                self.get_context_data(staged=staged, profile_form=form), status=400
            )
        if action == "alias":
            form = TechnicianAliasForm(request.POST)
            if form.is_valid():
                try:
                    alias = services.technician_alias_create(
                        alias=form.cleaned_data["alias"],
                        user=form.cleaned_data["user"],
                        actor=request.user,
                    )
                except ValidationError as error:
                    messages.error(request, " ".join(error.messages))
                else:
                    messages.success(
                        request,
                        f"“{alias.alias}” is now an alias of {alias.user.username}; the file "
                        "was read again.",
                    )
            else:
                messages.error(request, "Choose the staff member this name stands for.")
            return redirect("sessions:import-preview", pk=staged.pk)
        # "hosts": keep the ticked new computers (of the page shown) and read again;
        # "hosts_all": tick every new computer of the file.
        if action == "hosts_all":
            ticked, shown = [host["name"] for host in _new_hosts_of(staged, request.user)], None
        else:
            ticked = request.POST.getlist("create_host")
            shown = request.POST.getlist("shown_host") if "shown_host" in request.POST else None
        services.session_import_hosts(
            staged=staged, actor=request.user, create_hosts=ticked, shown=shown
        )
        target = reverse("sessions:import-preview", args=[staged.pk])
        page = request.POST.get("page", "")
        return redirect(target + (f"?page={page}" if page.isdigit() else "") + "#new-hosts")

    def get(self, request, *args, **kwargs):
        staged = self.get_object()
        if bulk_import.is_big(staged):  # previewed and imported streamed, with progress
            target = reverse("sessions:import-run", args=[staged.pk])
            query = request.GET.urlencode()
            return redirect(target + (f"?{query}" if query else ""))
        return self.render_to_response(self.get_context_data(staged=staged))

    def post(self, request, pk):
        staged = self.get_object()
        action = request.POST.get("action", "")
        if action in ("mapping", "profile", "alias", "hosts", "hosts_all"):
            try:
                return self._wizard_post(request, staged, action)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                return redirect("sessions:import-preview", pk=staged.pk)
        if "date_format" in request.POST:
            return self._change_settings(request, staged)
        if bulk_import.is_big(staged):
            return redirect("sessions:import-run", pk=staged.pk)
        create_hosts = (
            request.POST.getlist("create_host") if "hosts_shown" in request.POST else None
        )
        try:
            result = services.session_import_confirm(
                staged=staged, actor=request.user, create_hosts=create_hosts
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("sessions:import-preview", pk=staged.pk)
        if not result.imported:
            messages.error(request, "Nothing was imported: fix the rows below and upload again.")
            return self.render_to_response(self.get_context_data(staged=staged, result=result))
        messages.success(
            request,
            f"Imported {result.sessions_created} session(s); "
            f"{result.hosts_created} new computer(s), {result.groups_created} new group(s); "
            f"{result.duplicates} already imported.",
        )
        return redirect("sessions:session-list")

    def _change_settings(self, request, staged):
        form = ImportSettingsForm(request.POST, tenant=request.tenant)
        if form.is_valid():
            try:
                services.session_import_settings(
                    staged=staged,
                    actor=request.user,
                    date_format=form.cleaned_data["date_format"],
                    zone=form.cleaned_data["time_zone"] or None,
                )
            except ValidationError as error:
                apply_errors(form, error)
            else:
                return redirect("sessions:import-preview", pk=staged.pk)
            return self.render_to_response(self.get_context_data(staged=staged, settings_form=form))
        # Refused as sent: offered again with the formats this file allows.
        return self.render_to_response(self.get_context_data(staged=staged, posted=request.POST))


class SessionImportRunView(SessionsViewMixin, ScopedObjectMixin, TemplateView):
    """A big file (``bulk_import``). GET: how it is read, its first rows and, once started,
    the import's progress. POST: import it (a task; the page polls the progress)."""

    model = SessionImport
    template_name = "sessions/import_run.html"
    read_capability = write_capability = Cap.LOG_WORK
    hosts_per_page = 100

    def get_queryset(self):
        return selectors.session_import_list(
            user=self.request.user, may_manage=self.can(Cap.MANAGE_WORK)
        )

    def get_context_data(self, **kwargs):
        staged = self.get_object()
        progress = bulk_import.progress_of(staged)
        found = head = settings_form = None
        needs_date_format = ""
        if staged.status == ImportStatus.PENDING and not (progress and progress.active):
            try:
                found = bulk_import.survey(staged)
                head = bulk_import.head_preview(staged, found, self.request.user)
            except importers.DateFormatRequired as required:
                needs_date_format = str(required)
                settings_form = ImportSettingsForm(
                    tenant=self.request.tenant,
                    allowed=required.choices,
                    initial={"date_format": importers.DATE_FORMAT_AUTO},
                )
            except importers.FileFormatError as error:
                messages.error(self.request, str(error))
            except ValidationError as error:
                messages.error(self.request, " ".join(error.messages))
            if found is not None:
                choices = [importers.DATE_FORMAT_AUTO, *found.date_format_choices]
                if found.date_format not in choices:
                    choices.append(found.date_format)
                settings_form = ImportSettingsForm(
                    tenant=self.request.tenant,
                    allowed=choices,
                    initial={
                        "date_format": staged.date_format or importers.DATE_FORMAT_AUTO,
                        "time_zone": staged.time_zone,
                    },
                )
        new_hosts = found.new_hosts if found is not None else []
        wizard = _wizard_context(staged, head, kwargs, new_hosts=new_hosts)
        # Every new computer is listed, a page at a time (a file may name thousands).
        wizard["new_hosts_page"] = page = Paginator(new_hosts, self.hosts_per_page).get_page(
            self.request.GET.get("page")
        )
        wizard["new_hosts"] = list(page)
        return super().get_context_data(
            object=staged,
            survey=found,
            head=head,
            progress=progress,
            settings_form=settings_form,
            needs_date_format=needs_date_format,
            **wizard,
            **kwargs,
        )

    def post(self, request, pk):
        staged = self.get_object()
        try:
            bulk_import.start(staged=staged, actor=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect("sessions:import-run", pk=staged.pk)


class SessionImportProgressView(SessionsViewMixin, ScopedObjectMixin, TemplateView):
    """The progress of a big file's import: the page's block (htmx polls it while the
    import runs), or JSON with ``?format=json``."""

    model = SessionImport
    template_name = "sessions/_import_progress.html"
    read_capability = Cap.LOG_WORK
    http_method_names = ["get"]

    def get_queryset(self):
        return selectors.session_import_list(
            user=self.request.user, may_manage=self.can(Cap.MANAGE_WORK)
        ).defer("content")

    def get(self, request, *args, **kwargs):
        staged = self.get_object()
        progress = bulk_import.progress_of(staged)
        if request.GET.get("format") == "json":
            return JsonResponse(
                {
                    "status": staged.status,
                    "sessions_created": staged.sessions_created,
                    "progress": progress.as_dict() if progress else None,
                }
            )
        return self.render_to_response(
            self.get_context_data(object=staged, progress=progress, **kwargs)
        )
