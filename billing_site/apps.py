from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting core: tenants, users and roles, customers, money and time helpers."""

    name = "billing_site"
    label = "billing_site"
    verbose_name = "Core"

    def ready(self):
        from .pgdates import register

        # Rows dated outside Python's calendar (BC timestamps) are read, not a crash.
        register()
