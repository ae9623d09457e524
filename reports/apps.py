from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Read-only reports over time, invoices and contracts; owns no data."""

    name = "reports"
    verbose_name = "Reports"
