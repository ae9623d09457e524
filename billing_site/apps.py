from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting core: tenants, users and roles, customers, money and time helpers."""

    name = "billing_site"
    label = "billing_site"
    verbose_name = "Core"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from . import rls, two_factor
        from .pgdates import register

        # The second tenancy wall (PostgreSQL row-level security): the tenant goes with
        # every statement, and every tenant-owned table gets its policy after migrate.
        connection_created.connect(rls.install, dispatch_uid="rls-install")
        post_migrate.connect(rls.apply_policies, sender=self, dispatch_uid="rls-policies")

        user_logged_in.connect(two_factor.remember_at_login, dispatch_uid="two-factor-login")

        # Rows dated outside Python's calendar (BC timestamps) are read, not a crash.
        register()
