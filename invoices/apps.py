from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    name = "invoices"

    def ready(self) -> None:
        # The words of the session, adjustment, hand-made and credit lines.
        from .words import register_renderers

        register_renderers()
