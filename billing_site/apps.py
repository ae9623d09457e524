from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting core: tenants, users and roles, customers, money and time helpers."""

    name = "billing_site"
    label = "billing_site"
    verbose_name = "Core"
