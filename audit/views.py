"""The audit log page: every recorded change of the tenant, filtered and paged. Read only:
the app has no route that changes or removes an entry."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils import timezone
from django.views.generic import TemplateView

from billing_site.views_base import StaffViewMixin

from . import selectors
from .forms import AuditFilterForm


class AuditLogView(StaffViewMixin, TemplateView):
    template_name = "audit/log.html"
    read_capability = selectors.READ_CAPABILITY
    http_method_names = ["get", "head"]
    paginate_by = 50

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = AuditFilterForm(self.request.GET or None, tenant=self.request.tenant)
        if form.is_bound and not form.is_valid():
            rows = selectors.entry_list().none()
        else:
            filters = form.filters() if form.is_bound else {}
            rows = selectors.entry_list(**filters, zone=timezone.get_current_timezone())
        page = Paginator(rows, self.paginate_by).get_page(self.request.GET.get("page"))
        context.update(form=form, page_obj=page, entries=page.object_list)
        return context
