"""Auto-export: finalised invoices and voids become deliveries in the same transaction."""

from . import services


def invoices_finalized(sender, invoices, **kwargs) -> None:
    services.on_invoices_finalized(invoices)


def invoice_voided(sender, invoice, **kwargs) -> None:
    services.on_invoice_voided(invoice)
