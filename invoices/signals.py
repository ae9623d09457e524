"""Signals other apps listen to, sent inside the transaction that made the change
(receivers record their work in it; anything external happens after commit)."""

from django.dispatch import Signal

# invoices: the list of Invoice just finalised (invoices and credit notes, numbered).
invoices_finalized = Signal()
# invoice: the Invoice just voided.
invoice_voided = Signal()
