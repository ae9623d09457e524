from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting core: tenants, users and roles, customers, money and time helpers."""

    name = "billing_site"
    label = "billing_site"
    verbose_name = "Core"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from . import two_factor
        from .pgdates import register

        user_logged_in.connect(two_factor.remember_at_login, dispatch_uid="two-factor-login")

        # Rows dated outside Python's calendar (BC timestamps) are read, not a crash.
        register()
