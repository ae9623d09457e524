from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self) -> None:
        from invoices.signals import invoice_voided, invoices_finalized

        from .core import receivers

        invoices_finalized.connect(receivers.invoices_finalized, dispatch_uid="integrations-push")
        invoice_voided.connect(receivers.invoice_voided, dispatch_uid="integrations-void")
